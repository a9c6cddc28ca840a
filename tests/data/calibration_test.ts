import { deepStrictEqual, notDeepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { sampleCalibration } from "../../src/data/calibration.ts";

const range = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);

Deno.test("sampleCalibration: stream windows are contiguous and in range", () => {
  const stream = range(1000);
  const samples = sampleCalibration(stream, 64, 128, 0);
  strictEqual(samples.length, 64);
  for (const w of samples) {
    strictEqual(w.length, 128);
    ok(w[0] >= 0 && w[0] <= 1000 - 128, `start ${w[0]}`);
    deepStrictEqual(w, range(128, w[0]));
    ok(w.buffer !== stream.buffer, "windows are copies");
  }
});

Deno.test("sampleCalibration: same seed, same windows; other seed, other windows", () => {
  const stream = range(100_000);
  const a = sampleCalibration(stream, 32, 256, 1234);
  deepStrictEqual(sampleCalibration(stream, 32, 256, 1234), a);
  notDeepStrictEqual(sampleCalibration(stream, 32, 256, 1235), a);
  // A longer draw starts with the same windows.
  deepStrictEqual(sampleCalibration(stream, 40, 256, 1234).slice(0, 32), a);
  // Pinned: the sampler must not change between releases.
  deepStrictEqual(a.slice(0, 3).map((w) => w[0]), [4314, 54932, 50455]);
});

Deno.test("sampleCalibration: every start position can be drawn, ends included", () => {
  const stream = range(10);
  const starts = new Set(sampleCalibration(stream, 400, 8, 5).map((w) => w[0]));
  deepStrictEqual([...starts].sort(), [0, 1, 2]);
  // Exactly one window long: the only window is the whole stream.
  for (const w of sampleCalibration(range(8), 3, 8, 9)) deepStrictEqual(w, range(8));
});

Deno.test("sampleCalibration: documents shorter than seqlen + 1 are never used", () => {
  const docs = [range(50, 0), range(300, 1000), range(16, 5000), range(17, 9000)];
  const seen = new Set<number>();
  for (const w of sampleCalibration(docs, 200, 16, 3)) {
    const doc = Math.floor(w[0] / 1000) * 1000;
    seen.add(doc);
    ok(doc !== 5000, "a document of exactly seqlen tokens was used");
    deepStrictEqual(w, range(16, w[0]));
    const length = docs.find((d) => d[0] === doc)!.length;
    ok(w[0] - doc <= length - 16);
  }
  deepStrictEqual([...seen].sort((x, y) => x - y), [0, 1000, 9000]);
  deepStrictEqual(sampleCalibration(docs, 5, 16, 3), sampleCalibration(docs, 5, 16, 3));
});

Deno.test("sampleCalibration: the KJV training text", async () => {
  const bytes = await Deno.readFile(new URL("../../testdata/kjv/train.txt", import.meta.url));
  const ids = Int32Array.from(bytes);
  const samples = sampleCalibration(ids, 128, 256, 0);
  strictEqual(samples.length, 128);
  deepStrictEqual(sampleCalibration(ids, 128, 256, 0), samples);
  const text = new TextDecoder().decode(Uint8Array.from(samples[0]));
  ok(new TextDecoder().decode(bytes).includes(text));
});

Deno.test("sampleCalibration: clear errors", () => {
  throws(() => sampleCalibration(range(100), 4, 256, 0), {
    name: "RangeError",
    message: "The calibration text has 100 tokens, fewer than one window of 256 tokens (seqlen).",
  });
  throws(() => sampleCalibration([range(100), range(256)], 4, 256, 0), {
    name: "RangeError",
    message:
      "No calibration document has more than 256 tokens (seqlen): the longest of the 2 documents has 256 tokens.",
  });
  throws(() => sampleCalibration([], 4, 256, 0), {
    name: "RangeError",
    message: "There are no calibration documents.",
  });
  throws(() => sampleCalibration(range(1000), 0, 256, 0), {
    name: "RangeError",
    message: "The number of calibration samples (nsamples) must be a positive integer, got 0.",
  });
  throws(() => sampleCalibration(range(1000), 4, 1.5, 0), {
    name: "RangeError",
    message: "The window length (seqlen) must be a positive integer, got 1.5.",
  });
  throws(() => sampleCalibration(range(1000), 4, 256, -3), {
    name: "RangeError",
    message: /random seed must be an integer from 0 to 4294967295, got -3/,
  });
});
