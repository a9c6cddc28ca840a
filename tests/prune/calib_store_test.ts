// The calibration hidden states kept on the GPU or in host memory: the same values either way,
// for the store alone and for whole pipeline runs (SparseGPT, and SparseLLM with the pruned-input
// FFN, which also moves the dense layer's outputs).

import assert from "node:assert/strict";
import {
  CalibStore,
  getGpu,
  type PipelineResult,
  type PrunedTensors,
  prunePipeline,
} from "../../mod.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import { type PruneOptionsInput, resolvePruneOptions } from "../../src/options.ts";
import { addScaled } from "../../src/kernels/add_scaled.ts";
import { withTiny } from "./_tiny.ts";

Deno.test("CalibStore: a pass, swap and read back give the same values resident and spilled", async () => {
  const gpu = await getGpu();
  const d = 8;
  const sizes = [{ nseq: 2, tokens: 6 }, { nseq: 1, tokens: 3 }, { nseq: 2, tokens: 6 }];
  const inputs = sizes.map((s, i) =>
    Float32Array.from({ length: s.tokens * d }, (_, j) => (i + 1) * 100 + j)
  );
  const results: Float32Array[][] = [];
  for (const spilled of [false, true]) {
    const store = CalibStore.create(gpu, sizes, d, spilled);
    try {
      assert.equal(store.spilled, spilled);
      inputs.forEach((x, i) => store.setHidden(i, x));
      // Two layers: out = 2 · hidden, then swap.
      for (let layer = 0; layer < 2; layer++) {
        await store.each("double", { writes: ["out"] }, (b, c) => {
          b.copy(c.hidden.buffer, 0, c.out.buffer, 0, c.tokens * d * 4);
          addScaled(b, { out: c.out, x: c.hidden, count: c.tokens * d });
        });
        store.swap();
      }
      results.push(await store.readHidden());
    } finally {
      store.free();
    }
  }
  for (const r of results) {
    assert.equal(r.length, 3);
    r.forEach((h, i) => assert.deepEqual([...h], [...inputs[i]].map((v) => 4 * v), `chunk ${i}`));
  }
  assert.throws(
    () => CalibStore.create(gpu, sizes, d, true).setHidden(0, new Float32Array(5)),
    /Calibration chunk 0 needs 48 hidden values, got 5/,
  );
});

async function pruneTiny(
  o: PruneOptionsInput,
): Promise<{ result: PipelineResult; tensors: PrunedTensors }> {
  const tensors: PrunedTensors = new Map();
  let result: PipelineResult | undefined;
  await withTiny(async ({ calibration }, reader) => {
    result = await prunePipeline({
      gpu: await getGpu(),
      config: parseModelConfig(reader.config, "opt-tiny config.json"),
      source: reader,
      calibration,
      seqlen: 64,
      options: resolvePruneOptions(o),
      chunkTokens: 128, // 2 sequences per chunk: 2 chunks
      onLayer: (_l, t) => Promise.resolve(t.forEach((v, k) => tensors.set(k, v))),
    });
  });
  return { result: result!, tensors };
}

for (
  const o of [
    { method: "sparsegpt", sparsity: 0.6 },
    { method: "sparsellm", sparsity: 0.6, iters: 1, ffnInput: "pruned" },
  ] as PruneOptionsInput[]
) {
  Deno.test(`prunePipeline ${o.method}: hidden states in host memory give identical weights`, async () => {
    const resident = await pruneTiny(o);
    // 4 windows × 64 tokens × 64 hidden × 4 bytes × 2 copies = 128 KiB: a 64 KiB budget spills.
    const spilled = await pruneTiny({ ...o, gpuMemory: "64KiB" });
    assert.equal(resident.result.calibrationOnHost, false);
    assert.equal(spilled.result.calibrationOnHost, true);
    assert.equal(spilled.tensors.size, 12);
    for (const [name, w] of resident.tensors) {
      assert.deepEqual(spilled.tensors.get(name), w, `${name} differs`);
    }
    const errors = (r: PipelineResult) =>
      r.layers.flatMap((l) => l.matrices.map((m) => m.relError));
    assert.deepEqual(errors(spilled.result), errors(resident.result));
    assert.ok(errors(resident.result).every((e) => e > 0 && e < 1), "errors in (0, 1)");
  });
}
