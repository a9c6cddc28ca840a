// The calibration hidden states kept on the GPU or in host memory: the same values either way,
// for the store alone and for whole pipeline runs (SparseGPT, and SparseLLM with the pruned-input
// FFN, which also moves the dense layer's outputs).

import assert from "node:assert/strict";
import type { PrunedTensors } from "../../mod.ts";
import { getGpu } from "../../src/gpu/device.ts";
import { prunePipeline } from "../../src/prune/pipeline.ts";
import type { PipelineResult } from "../../src/prune/report.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import { type PruneOptionsInput, resolvePruneOptions } from "../../src/prune/options.ts";
import { withTiny } from "./_tiny.ts";

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
