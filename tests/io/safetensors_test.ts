import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import * as st from "safetensors";
import {
  CheckpointError,
  MAX_HEADER_SIZE,
  parseSafetensorsHeader,
  SafetensorsFile,
  SafetensorsWriter,
} from "../../io.ts";
import { buildSafetensors, MODELS, numel, randomBytes, withTempDir } from "./_helpers.ts";

const FIXTURES = ["opt-tiny", "opt-small", "llama-small"].flatMap((
  m,
) => [m, `${m}-f16`, `${m}-bf16`]);
const f32 = (shape: number[], begin: number) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, begin + 4 * numel(shape)],
});

const withByte = (bytes: Uint8Array, i: number, v: number) => (bytes[i] = v, bytes);

// Each malformed file with a substring its error message must contain.
const MALFORMED: [string, Uint8Array, RegExp][] = [
  ["truncated file", new Uint8Array(5), /is 5 bytes, too short for a safetensors file/],
  ["empty file", new Uint8Array(0), /is 0 bytes, too short/],
  [
    "header length beyond file",
    buildSafetensors({}, 0, 1000n),
    /Header length 1000 .* exceeds the file size 10/,
  ],
  [
    "absurd header length",
    buildSafetensors({}, 0, 2n ** 63n),
    new RegExp(`Header length ${2n ** 63n} .* exceeds the limit of ${MAX_HEADER_SIZE} bytes`),
  ],
  [
    "header not JSON",
    buildSafetensors('{"x": {"dtype": "F32",'),
    /Header of ".*" is not valid JSON/,
  ],
  [
    "header not UTF-8",
    withByte(buildSafetensors('{"xx": 1}'), 10, 0xff),
    /Header of ".*" is not valid UTF-8/,
  ],
  ["header not an object", buildSafetensors([1, 2]), /must be a JSON object, got an array/],
  ["header is a number", buildSafetensors("42"), /must be a JSON object, got number/],
  [
    "unknown dtype",
    buildSafetensors({ x: { dtype: "Q4", shape: [2], data_offsets: [0, 1] } }, 1),
    /Tensor "x" .* has unsupported dtype "Q4"/,
  ],
  [
    "shape/byte-length mismatch",
    buildSafetensors({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8),
    /Tensor "x" .* has 8 bytes but shape \[3\] of F32 needs 12/,
  ],
  [
    "offsets out of range",
    buildSafetensors({ x: f32([4], 0) }, 8),
    /Cannot read tensor "x" in ".*": offsets \[0, 16\] exceed data size 8/,
  ],
  [
    "overlapping offsets",
    buildSafetensors({ a: f32([2], 0), b: f32([2], 4) }, 12),
    /Tensors "a" \[0, 8\] and "b" \[4, 12\] in ".*" overlap/,
  ],
  [
    "duplicate names",
    buildSafetensors(`{"x":${JSON.stringify(f32([1], 0))},"x":${JSON.stringify(f32([1], 4))}}`, 8),
    /Tensor "x" appears more than once/,
  ],
  [
    "duplicate names after unescaping",
    buildSafetensors(
      `{"ab":${JSON.stringify(f32([1], 0))},"\\u0061b":${JSON.stringify(f32([1], 4))}}`,
      8,
    ),
    /Tensor "ab" appears more than once/,
  ],
  [
    "begin > end",
    buildSafetensors({ x: { dtype: "U8", shape: [0], data_offsets: [4, 2] } }, 8),
    /Tensor "x" .* has data_offsets \[4, 2\] with begin > end/,
  ],
  [
    "bad metadata type",
    buildSafetensors({ __metadata__: { format: "pt", step: 3 } }),
    /Invalid __metadata__ in ".*": it must map strings to strings \(at "step": .*expected string/,
  ],
  ["metadata not an object", buildSafetensors({ __metadata__: "pt" }), /Invalid __metadata__/],
  [
    "negative dimension",
    buildSafetensors({ x: { dtype: "U8", shape: [-1], data_offsets: [0, 0] } }),
    /Invalid entry for tensor "x" in ".*": at "shape.0": Too small/,
  ],
  [
    "missing data_offsets",
    buildSafetensors({ x: { dtype: "U8", shape: [1] } }, 1),
    /Invalid entry for tensor "x" .* at "data_offsets"/,
  ],
  [
    "fractional offset",
    buildSafetensors({ x: { dtype: "U8", shape: [1], data_offsets: [0.5, 1] } }, 1),
    /at "data_offsets.0": .*expected int/,
  ],
  [
    "tensor entry not an object",
    buildSafetensors({ x: [0, 1] }, 1),
    /Invalid entry for tensor "x"/,
  ],
];

Deno.test("parseSafetensorsHeader() rejects malformed headers with specific messages", () => {
  for (const [what, bytes, message] of MALFORMED) {
    throws(() => parseSafetensorsHeader(bytes, bytes.length, "bad.safetensors"), (e) => {
      ok(e instanceof CheckpointError, `${what}: ${e}`);
      ok(message.test(e.message), `${what}: ${e.message}`);
      ok(e.message.includes('"bad.safetensors"'), `${what}: ${e.message}`);
      return true;
    });
  }
});

Deno.test("SafetensorsFile.open() rejects malformed files with the same messages", async () => {
  await withTempDir(async (dir) => {
    for (const [i, [what, bytes, message]] of MALFORMED.entries()) {
      const path = `${dir}/bad${i}.safetensors`;
      await Deno.writeFile(path, bytes);
      await rejects(SafetensorsFile.open(path), (e: Error) => {
        ok(
          e instanceof CheckpointError && message.test(e.message) && e.message.includes(path),
          `${what}: ${e}`,
        );
        return true;
      });
    }
    await rejects(
      SafetensorsFile.open(`${dir}/none.safetensors`),
      /Cannot open ".*none.safetensors": file not found/,
    );
  });
});

Deno.test("parseSafetensorsHeader() accepts edge cases: empty header, scalars, zero-size tensors, padding", () => {
  const bytes = buildSafetensors(
    '{"__metadata__":{"format":"pt"},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
      '"e":{"dtype":"BOOL","shape":[0,3],"data_offsets":[8,8]},"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}}   ',
    10,
  );
  const h = parseSafetensorsHeader(bytes, bytes.length, "ok.safetensors");
  deepStrictEqual(h.metadata, { format: "pt" });
  strictEqual(h.dataSize, 10);
  deepStrictEqual(h.tensors.map((t) => [t.name, t.begin - h.dataStart, t.end - h.dataStart]), [
    ["s", 0, 8],
    ["e", 8, 8],
    ["b", 8, 10],
  ]);
  deepStrictEqual(parseSafetensorsHeader(buildSafetensors({}), 10, "x").tensors, []);
  // Same key nested in different entries, and a tensor named like a metadata key, are not duplicates.
  const nested = buildSafetensors({ __metadata__: { a: "1" }, a: f32([1], 0), b: f32([1], 4) }, 8);
  strictEqual(parseSafetensorsHeader(nested, nested.length, "x").tensors.length, 2);
});

Deno.test("fixture headers agree with npm:safetensors and tensors read back identically", async () => {
  for (const model of FIXTURES) {
    const path = `${MODELS}/${model}/model.safetensors`;
    const whole = await Deno.readFile(path); // Test only: the reference parser needs the whole file.
    const ours = parseSafetensorsHeader(whole, whole.length, path);
    deepStrictEqual(ours.metadata, { format: "pt" });
    strictEqual(ours.headerSize % 8, 0);
    // npm:safetensors@0.0.1 treats every key as a tensor, so hide __metadata__ behind spaces.
    const json = JSON.parse(new TextDecoder().decode(whole.subarray(8, ours.dataStart)));
    delete json.__metadata__;
    const text = new TextEncoder().encode(JSON.stringify(json));
    const copy = whole.slice();
    copy.fill(0x20, 8, ours.dataStart);
    copy.set(text, 8);
    const ref = new st.default.SafeTensor(copy);
    deepStrictEqual(
      [...ref.metadata].map(([name, m]) => ({
        name,
        dtype: m.dtype,
        shape: m.shape,
        begin: m.data_offsets[0],
        end: m.data_offsets[1],
      })),
      ours.tensors,
    );
    const file = await SafetensorsFile.open(path);
    try {
      deepStrictEqual(file.tensors(), ours.tensors);
      strictEqual(file.size, whole.length);
      // Concurrent reads of all tensors must not interleave seeks.
      const raws = await Promise.all(ours.tensors.map((t) => file.readRaw(t.name)));
      ours.tensors.forEach((t, i) =>
        deepStrictEqual(raws[i], ref.getTensor(t.name) as Uint8Array, t.name)
      );
    } finally {
      file.close();
    }
  }
});

Deno.test("SafetensorsFile reads F32, rejects unknown names and non-float reads, detects truncation", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.safetensors`;
    const data = new Uint8Array(12);
    data.set(new Uint8Array(new Float32Array([1.5, -2]).buffer));
    data.set([7, 8, 9, 10], 8);
    await Deno.writeFile(
      path,
      buildSafetensors(
        { w: f32([2], 0), ids: { dtype: "U8", shape: [4], data_offsets: [8, 12] } },
        data,
      ),
    );
    const file = await SafetensorsFile.open(path);
    try {
      deepStrictEqual([...await file.readF32("w")], [1.5, -2]);
      deepStrictEqual([...await file.readRaw("ids")], [7, 8, 9, 10]);
      ok(file.has("w") && !file.has("v"));
      await rejects(file.readRaw("v"), {
        name: "CheckpointError",
        message: /Tensor "v" not found in ".*t.safetensors"/,
      });
      await rejects(file.readF32("ids"), /Cannot read tensor "ids" in ".*" as float32: dtype U8/);
      await Deno.truncate(path, (await Deno.stat(path)).size - 2);
      await rejects(
        file.readRaw("ids"),
        /Unexpected end of file in ".*t.safetensors": wanted 4 bytes/,
      );
    } finally {
      file.close();
    }
  });
});

Deno.test("SafetensorsWriter rewrites a fixture byte for byte, writing tensors in reverse order", async () => {
  await withTempDir(async (dir) => {
    const src = await SafetensorsFile.open(`${MODELS}/opt-tiny/model.safetensors`);
    const out = `${dir}/copy.safetensors`;
    const w = await SafetensorsWriter.create(out, src.tensors());
    deepStrictEqual(w.tensors(), src.tensors());
    await Promise.all(
      src.tensors().reverse().map(async (t) => w.write(t.name, await src.readRaw(t.name))),
    );
    await w.close();
    src.close();
    deepStrictEqual(
      await Deno.readFile(out),
      await Deno.readFile(`${MODELS}/opt-tiny/model.safetensors`),
    );
  });
});

Deno.test("SafetensorsWriter pads the header, keeps format=pt, and validates every write", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/w.safetensors`;
    const plan = [
      { name: "a", dtype: "F16", shape: [3] },
      { name: "β", dtype: "I64", shape: [] },
      { name: "c", dtype: "U8", shape: [0] },
      { name: "d", dtype: "BF16", shape: [2, 2] },
    ];
    const w = await SafetensorsWriter.create(path, plan, { step: "7", format: "np" });
    const a = randomBytes(6);
    const b = randomBytes(8, 2);
    const d = randomBytes(8, 3);
    await w.write("d", d);
    await rejects(w.write("d", d), /Cannot write tensor "d" to ".*w.safetensors" twice/);
    await rejects(w.write("a", new Uint8Array(4)), /got 4 bytes, shape \[3\] of F16 needs 6/);
    await rejects(w.write("zz", new Uint8Array(1)), /Cannot write tensor "zz": it is not planned/);
    await w.write("β", b);
    await w.write("a", a);
    await rejects(w.close(), {
      name: "CheckpointError",
      message: /1 tensor\(s\) were not written: "c"/,
    });
    await rejects(w.write("c", new Uint8Array(0)), /is closed/);

    const w2 = await SafetensorsWriter.create(path, plan, { step: "7", format: "np" });
    for (const [name, bytes] of [["a", a], ["β", b], ["c", new Uint8Array(0)], ["d", d]] as const) {
      await w2.write(name, bytes);
    }
    await w2.close();
    const bytes = await Deno.readFile(path);
    strictEqual(bytes.length, w2.size);
    const h = parseSafetensorsHeader(bytes, bytes.length, path);
    strictEqual(h.headerSize % 8, 0);
    ok(
      new TextDecoder().decode(bytes.subarray(8, h.dataStart)).endsWith(" ") ||
        h.headerSize % 8 === 0,
    );
    deepStrictEqual(h.metadata, { step: "7", format: "pt" });
    deepStrictEqual(h.tensors.map((t) => [t.name, t.begin - h.dataStart, t.end - h.dataStart]), [
      ["a", 0, 6],
      ["β", 6, 14],
      ["c", 14, 14],
      ["d", 14, 22],
    ]);
    deepStrictEqual(bytes.subarray(h.dataStart), new Uint8Array([...a, ...b, ...d]));
  });
});

Deno.test("SafetensorsWriter.create() rejects bad plans", async () => {
  await withTempDir(async (dir) => {
    const p = `${dir}/x.safetensors`;
    await rejects(
      SafetensorsWriter.create(p, [{ name: "a", dtype: "F32", shape: [1] }, {
        name: "a",
        dtype: "F32",
        shape: [1],
      }]),
      /Tensor "a" is planned twice/,
    );
    await rejects(
      SafetensorsWriter.create(p, [{ name: "a", dtype: "F4", shape: [1] }]),
      /Unsupported dtype "F4"/,
    );
    await rejects(
      SafetensorsWriter.create(p, [{ name: "a", dtype: "F32", shape: [2, -1] }]),
      /Tensor "a" has invalid shape \[2, -1\]/,
    );
    await rejects(
      SafetensorsWriter.create(p, [{ name: "__metadata__", dtype: "F32", shape: [1] }]),
      /Invalid tensor name "__metadata__"/,
    );
  });
});
