import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { countZeros } from "../_zeros.ts";
import { ColumnNormAccumulator } from "../../src/prune/stats.ts";
import type { SparsityPattern } from "../../src/prune/types.ts";
import { wandaPrune } from "../../src/prune/wanda.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import {
  distinctWeights,
  exactColVec,
  exactWeights,
  firstDifference,
  nmMaskRef,
  rng,
  rowMaskRef,
  scoresRef,
  wandaScoresF32,
  zeroMask,
} from "../reference/mask_ref.ts";

const SHAPES: [number, number][] = [[7, 13], [64, 100], [257, 300], [70, 1024]];

Deno.test("wandaPrune unstructured: exactly floor(cols·s) smallest |W|·sqrt(s_j) per row", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of SHAPES) {
    for (const sparsity of [0.5, 0.7]) {
      // scores exact in f32, so the float64 reference decides every comparison the same way
      const w = exactWeights(rows * cols, rows * cols);
      const s = exactColVec(cols, rows);
      const tw = gpu.upload(w, [rows, cols], "w");
      const ts = gpu.upload(s, [cols], "colSq");
      const batch = gpu.batch("wanda");
      wandaPrune(batch, tw, rows, cols, ts, { kind: "unstructured", sparsity });
      batch.submit();
      const got = zeroMask(await gpu.read(tw));
      const want = rowMaskRef(scoresRef(w, rows, cols, "wanda", s), rows, cols, sparsity);
      assert.equal(firstDifference(got, want), -1, `${rows}×${cols} s=${sparsity}`);
      const counts = await countZeros(gpu, tw);
      assert.ok(counts.counts.every((c) => c === Math.floor(cols * sparsity)));
      gpu.free(tw, ts);
    }
  }
});

Deno.test("wandaPrune N:M (2:4, 4:8) keeps M−N of each group by |W|·sqrt(s_j)", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of [[7, 16], [64, 96], [257, 304]]) {
    for (const [n, m] of [[2, 4], [4, 8]]) {
      const w = exactWeights(rows * cols, cols + n);
      const s = exactColVec(cols, rows + m);
      const tw = gpu.upload(w, [rows, cols], "w");
      const ts = gpu.upload(s, [cols], "colSq");
      const batch = gpu.batch("wanda-nm");
      wandaPrune(batch, tw, rows, cols, ts, { kind: "nm", n, m });
      batch.submit();
      const got = zeroMask(await gpu.read(tw));
      const want = nmMaskRef(scoresRef(w, rows, cols, "wanda", s), rows, cols, n, m);
      assert.equal(firstDifference(got, want), -1, `${n}:${m} ${rows}×${cols}`);
      const counts = await countZeros(gpu, tw, { group: m });
      assert.ok(counts.counts.every((c) => c === n));
      gpu.free(tw, ts);
    }
  }
});

Deno.test("wandaPrune with statistics from ColumnNormAccumulator, one batch end to end", async () => {
  const gpu = await getGpu();
  const rows = 96, cols = 160, tokens = 300, nseq = 3;
  const r = rng(5);
  const x = Float32Array.from({ length: tokens * cols }, () => r() * 2 - 1);
  const w = distinctWeights(rows * cols, 8);
  const tx = gpu.upload(x, [tokens, cols], "x");
  const tw = gpu.upload(w, [rows, cols], "w");
  const acc = new ColumnNormAccumulator(gpu, cols);
  const batch = gpu.batch("wanda-e2e");
  acc.add(batch, tx, nseq);
  wandaPrune(batch, tw, rows, cols, acc.colSq, { kind: "unstructured", sparsity: 0.5 });
  batch.submit();
  const got = zeroMask(await gpu.read(tw));
  // the reference uses the GPU's statistic and f32 scores, as the kernel computes them
  const colSq = await gpu.read(acc.colSq);
  const want = rowMaskRef(wandaScoresF32(w, rows, cols, colSq), rows, cols, 0.5);
  assert.equal(firstDifference(got, want), -1);
  acc.free();
  gpu.free(tx, tw);
});

Deno.test("wandaPrune prunes nothing when floor(cols·s) is 0 and rejects short colSq", async () => {
  const gpu = await getGpu();
  const tw = gpu.upload(new Float32Array(30), [3, 10], "w");
  const ts = gpu.upload(new Float32Array(9), [9], "colSq");
  const batch = gpu.batch("wanda-edge");
  wandaPrune(batch, tw, 3, 10, ts, { kind: "unstructured", sparsity: 0.09 });
  assert.equal(batch.length, 0);
  assert.throws(
    () => wandaPrune(batch, tw, 3, 10, ts, { kind: "unstructured", sparsity: 0.5 }),
    /colVec has 9 elements, but columns 0..9 are needed/,
  );
  gpu.free(tw, ts);
});

Deno.test("wandaPrune of a weight larger than the binding limit: same result, in row blocks", async () => {
  const gpu = await getGpu();
  const rows = 257, cols = 304;
  const w = exactWeights(rows * cols, 71);
  const s = exactColVec(cols, 72);
  const scores = scoresRef(w, rows, cols, "wanda", s);
  const ts = gpu.upload(s, [cols], "colSq");
  const cases: [SparsityPattern, Uint8Array][] = [
    [{ kind: "unstructured", sparsity: 0.5 }, rowMaskRef(scores, rows, cols, 0.5)],
    [{ kind: "nm", n: 4, m: 8 }, nmMaskRef(scores, rows, cols, 4, 8)],
  ];
  for (const [pattern, want] of cases) {
    const run = async () => {
      const tw = gpu.upload(w, [rows, cols], "w");
      const batch = gpu.batch("wanda-split");
      wandaPrune(batch, tw, rows, cols, ts, pattern);
      batch.submit();
      const got = await gpu.read(tw);
      gpu.free(tw);
      return got;
    };
    // 16 KiB bindings: 4032 elements, 13 rows of W per block
    const split = await withBindingLimit(gpu, 16384, run);
    assert.equal(firstDifference(zeroMask(split), want), -1, pattern.kind);
    assert.equal(firstDifference(split, await run()), -1, `${pattern.kind}: split differs`);
  }
  gpu.free(ts);
});
