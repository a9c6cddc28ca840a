import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { evalWindows } from "../../src/data/windows.ts";

const testBytes = await Deno.readFile(new URL("../../testdata/kjv/test.txt", import.meta.url));
const testIds = Int32Array.from(testBytes);

Deno.test("evalWindows: test.txt at seqlen 256 gives 834 windows", () => {
  const windows = evalWindows(testIds, 256);
  strictEqual(windows.length, 834);
  strictEqual(Math.floor(213_753 / 256), 834);
  for (const w of windows) strictEqual(w.length, 256);
  deepStrictEqual(windows[0], testIds.slice(0, 256));
  deepStrictEqual(windows[833], testIds.slice(833 * 256, 834 * 256));
});

Deno.test("evalWindows: non-overlapping, tail dropped, windows are views", () => {
  const ids = Int32Array.from({ length: 10 }, (_, i) => i);
  const windows = evalWindows(ids, 3);
  deepStrictEqual(windows.map((w) => Array.from(w)), [[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  ok(windows.every((w) => w.buffer === ids.buffer));
  deepStrictEqual(evalWindows(ids, 10).map((w) => Array.from(w)), [[...ids]]);
});

Deno.test("evalWindows: maxWindows keeps the first windows", () => {
  strictEqual(evalWindows(testIds, 256, 32).length, 32);
  strictEqual(evalWindows(testIds, 512, 10_000).length, 417);
  deepStrictEqual(evalWindows(testIds, 256, 2), evalWindows(testIds, 256).slice(0, 2));
});

Deno.test("evalWindows: clear errors", () => {
  throws(() => evalWindows(new Int32Array(100), 256), {
    name: "RangeError",
    message: "The evaluation text has 100 tokens, fewer than one window of 256 tokens (seqlen).",
  });
  for (const seqlen of [0, -1, 2.5, NaN]) {
    throws(() => evalWindows(testIds, seqlen), {
      name: "RangeError",
      message: `The window length (seqlen) must be a positive integer, got ${seqlen}.`,
    });
  }
  throws(() => evalWindows(testIds, 256, 0), {
    name: "RangeError",
    message: "The maximum number of windows must be a positive integer, got 0.",
  });
});
