import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { ColumnNormAccumulator } from "../../src/prune/stats.ts";
import { columnSqRef, rng } from "../reference/mask_ref.ts";

function activations(rows: number, cols: number, seed: number): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  // per-feature scales spanning 4 decades, like LLM activations with outlier channels
  const scale = Array.from({ length: cols }, (_, j) => 10 ** ((j * 7919) % 5 - 2));
  return Float32Array.from({ length: rows * cols }, (_, i) => (r() * 2 - 1) * scale[i % cols]);
}

Deno.test("ColumnNormAccumulator matches Wanda's running mean of squared norms in f64", async () => {
  const gpu = await getGpu();
  const cases: { cols: number; batches: [number, number][] }[] = [
    { cols: 7, batches: [[13, 1], [5, 2]] }, // [tokens, sequences]
    { cols: 100, batches: [[64, 2], [300, 3], [1, 1]] },
    { cols: 300, batches: [[257, 1], [512, 4]] },
    { cols: 3, batches: [[40_000, 128]] }, // more than 64 slabs of 256 rows
  ];
  for (const { cols, batches } of cases) {
    const acc = new ColumnNormAccumulator(gpu, cols);
    const xs = batches.map(([t, nseq], i) => ({ x: activations(t, cols, cols + i), nseq }));
    const tensors = xs.map(({ x }) => gpu.upload(x, [x.length / cols, cols], "x"));
    const batch = gpu.batch("colnorm");
    xs.forEach(({ nseq }, i) => acc.add(batch, tensors[i], nseq));
    batch.submit();
    const got = await gpu.read(acc.colSq);
    const want = columnSqRef(xs, cols);
    for (let j = 0; j < cols; j++) {
      const rel = Math.abs(got[j] - want[j]) / want[j];
      assert.ok(rel <= 1e-5, `cols ${cols}, column ${j}: ${got[j]} vs ${want[j]} (rel ${rel})`);
    }
    assert.equal(acc.nsamples, batches.reduce((a, [, s]) => a + s, 0));
    acc.free();
    gpu.free(...tensors);
  }
});

Deno.test("ColumnNormAccumulator.add rejects bad sequence counts and partial rows", async () => {
  const gpu = await getGpu();
  const acc = new ColumnNormAccumulator(gpu, 4);
  const x = gpu.upload(new Float32Array(10), [10], "x");
  const batch = gpu.batch("colnorm-errors");
  assert.throws(() => acc.add(batch, x, 0), /of 0 sequences/);
  assert.throws(() => acc.add(batch, x, 1), /10 elements are not whole rows of 4 columns/);
  assert.throws(() => new ColumnNormAccumulator(gpu, 0), /for 0 columns/);
  assert.equal(batch.length, 0);
  acc.free();
  gpu.free(x);
});
