import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { selectOutSize } from "../../src/kernels/select.ts";
import { magnitudePrune } from "../../src/prune/magnitude.ts";
import { countZeros } from "../_zeros.ts";
import { parseNM, type SparsityPattern } from "../../src/prune/types.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import {
  distinctWeights,
  firstDifference,
  nmMaskRef,
  rng,
  scoresRef,
  thresholdMaskRef,
  zeroMask,
} from "../reference/mask_ref.ts";

const SHAPES: [number, number][] = [[7, 13], [64, 100], [257, 300]];

Deno.test("magnitudePrune unstructured matches the reference threshold mask", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of SHAPES) {
    for (const sparsity of [0.1, 0.5, 0.9]) {
      const w = distinctWeights(rows * cols, rows + cols);
      const tw = gpu.upload(w, [rows, cols], "w");
      const batch = gpu.batch("magnitude");
      magnitudePrune(batch, tw, rows, cols, { kind: "unstructured", sparsity });
      batch.submit();
      const got = await gpu.read(tw);
      const want = thresholdMaskRef(scoresRef(w, rows, cols), sparsity);
      assert.equal(firstDifference(zeroMask(got), want), -1, `${rows}×${cols} s=${sparsity}`);
      const zeros = (await countZeros(gpu, tw)).total;
      assert.ok(zeros >= Math.floor(rows * cols * sparsity), `${zeros} zeros`);
      gpu.free(tw);
    }
  }
});

Deno.test("magnitudePrune N:M (2:4, 4:8) zeroes the N smallest |W| of each group", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of [[7, 16], [64, 96], [257, 304]]) {
    for (const text of ["2:4", "4:8"]) {
      const pattern = parseNM(text);
      if (pattern.kind !== "nm") throw new Error("unreachable");
      const w = distinctWeights(rows * cols, cols);
      const tw = gpu.upload(w, [rows, cols], "w");
      const batch = gpu.batch("magnitude-nm");
      magnitudePrune(batch, tw, rows, cols, pattern);
      batch.submit();
      const got = zeroMask(await gpu.read(tw));
      const want = nmMaskRef(scoresRef(w, rows, cols), rows, cols, pattern.n, pattern.m);
      assert.equal(firstDifference(got, want), -1, `${text} ${rows}×${cols}`);
      const counts = await countZeros(gpu, tw, { group: pattern.m });
      assert.ok(counts.counts.every((c) => c === pattern.n));
      gpu.free(tw);
    }
  }
});

Deno.test("magnitudePrune with scratch on 4.2M elements; per-element counts fold", async () => {
  const gpu = await getGpu();
  // Magnitudes are a shuffle of (i+1)/2^23, so the k-th smallest is (k+1)/2^23. Counting zeros
  // per element (group 1) takes 2049²/64 = 65 601 workgroups: more than 65 535, so folded.
  const rows = 2049, cols = 2049, n = rows * cols;
  const r = rng(17);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = (i + 1) / 2 ** 23;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = w[i];
    w[i] = r() < 0.5 ? -w[j] : w[j];
    w[j] = t;
  }
  const tw = gpu.upload(w, [rows, cols], "w");
  const scratch = gpu.alloc([selectOutSize(1)], "scratch", "u32");
  const sparsity = 0.7;
  const k = Math.floor(n * sparsity);
  const batch = gpu.batch("magnitude-large");
  magnitudePrune(batch, tw, rows, cols, { kind: "unstructured", sparsity }, { scratch });
  batch.submit();
  const got = await gpu.read(tw);
  assert.equal(new Float32Array((await gpu.readU32(scratch)).buffer)[0], (k + 1) / 2 ** 23);
  const thr = (k + 1) / 2 ** 23;
  let zeros = 0;
  for (let i = 0; i < n; i++) {
    const want = Math.abs(w[i]) <= thr ? 0 : w[i];
    if (got[i] !== want) assert.fail(`element ${i}: got ${got[i]}, want ${want}`);
    if (got[i] === 0) zeros++;
  }
  assert.equal(zeros, k + 1);
  const perElement = await countZeros(gpu, tw, { group: 1 });
  assert.equal(perElement.total, k + 1);
  for (let i = 0; i < n; i++) {
    if (perElement.counts[i] !== (got[i] === 0 ? 1 : 0)) assert.fail(`count ${i} is wrong`);
  }
  gpu.free(tw, scratch);
});

Deno.test("magnitudePrune at sparsity 0 records nothing", async () => {
  const gpu = await getGpu();
  const tw = gpu.upload(new Float32Array([1, 2, 3, 4]), [2, 2], "w");
  const batch = gpu.batch("noop");
  magnitudePrune(batch, tw, 2, 2, { kind: "unstructured", sparsity: 0 });
  assert.equal(batch.length, 0);
  assert.throws(
    () => magnitudePrune(batch, tw, 2, 2, { kind: "nm", n: 2, m: 4 }),
    /input columns 2 is not a multiple of M = 4/,
  );
  gpu.free(tw);
});

Deno.test("magnitudePrune of a weight larger than the binding limit: same result, in row blocks", async () => {
  const gpu = await getGpu();
  const rows = 257, cols = 304;
  const w = distinctWeights(rows * cols, 61);
  const scores = scoresRef(w, rows, cols);
  const scratch = gpu.alloc([selectOutSize(1)], "scratch", "u32");
  const cases: [SparsityPattern, boolean, Uint8Array][] = [
    [{ kind: "unstructured", sparsity: 0.7 }, false, thresholdMaskRef(scores, 0.7)],
    [{ kind: "unstructured", sparsity: 0.5 }, true, thresholdMaskRef(scores, 0.5)],
    [{ kind: "nm", n: 2, m: 4 }, false, nmMaskRef(scores, rows, cols, 2, 4)],
  ];
  for (const [pattern, withScratch, want] of cases) {
    const run = async () => {
      const tw = gpu.upload(w, [rows, cols], "w");
      const batch = gpu.batch("magnitude-split");
      magnitudePrune(batch, tw, rows, cols, pattern, withScratch ? { scratch } : {});
      batch.submit();
      const got = await gpu.read(tw);
      gpu.free(tw);
      return got;
    };
    const what = `${JSON.stringify(pattern)}, scratch ${withScratch}`;
    // 16 KiB bindings: 4032 elements, 13 rows of W per block
    const split = await withBindingLimit(gpu, 16384, run);
    assert.equal(firstDifference(zeroMask(split), want), -1, what);
    assert.equal(firstDifference(split, await run()), -1, `${what}: split differs from unsplit`);
  }
  gpu.free(scratch);
});
