// Whole pruning runs with the binding limit lowered far below the fixtures' matrices: every
// kernel then binds windows and splits its work into row blocks, as it would for matrices past
// maxStorageBufferBindingSize (128 MiB on lavapipe). With the same chunks of calibration tokens
// (the default chunk size follows the limit, and another chunking rounds the Hessians
// differently) the pruned weights must equal those of the unsplit run.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type MethodName,
  type PrunedTensors,
  resolvePruneOptions,
  sampleCalibration,
  TextTokenizer,
} from "../../mod.ts";
import { getGpu } from "../../src/gpu/device.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import { prunePipeline } from "../../src/prune/pipeline.ts";
import { CheckpointReader } from "../../io.ts";
import { ROOT, TRAIN_TXT } from "../_cli_helpers.ts";
import { assertSameValues, withBindingLimit } from "../_binding_limit.ts";

async function compare(model: string, methods: MethodName[], limit: number): Promise<void> {
  const dir = join(ROOT, "testdata/models", model);
  const reader = await CheckpointReader.open(dir);
  try {
    const tok = new TextTokenizer(JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json"))));
    const text = (await Deno.readTextFile(join(ROOT, TRAIN_TXT))).slice(0, 20_000);
    const seqlen = 8;
    const calibration = sampleCalibration(tok.encode(text), 4, seqlen, 0);
    const gpu = await getGpu();
    for (const method of methods) {
      const run = async () => {
        const tensors: PrunedTensors = new Map();
        await prunePipeline({
          gpu,
          config: parseModelConfig(reader.config, "config.json"),
          source: reader,
          calibration,
          seqlen,
          chunkTokens: seqlen,
          options: resolvePruneOptions({ method, sparsity: 0.5, seqlen }),
          onLayer: (_l, t) => Promise.resolve(t.forEach((v, k) => tensors.set(k, v))),
        });
        return tensors;
      };
      const whole = await run();
      const split = await withBindingLimit(gpu, limit, run);
      let largest = 0;
      for (const [name, w] of whole) {
        largest = Math.max(largest, w.length * 4);
        assertSameValues(split.get(name), w, `${model} ${method}: ${name}`);
      }
      assert.ok(largest > 2 * limit, `${model}: the largest weight (${largest} B) is split`);
    }
  } finally {
    reader.close();
  }
}

Deno.test("pruning opt-tiny with 20 KiB bindings gives the unsplit result, every method", async () => {
  // d 64, f 256: the FFN Hessian is 256 KiB (13 windows), fc1 and fc2 64 KiB (4 windows)
  await compare("opt-tiny", ["magnitude", "wanda", "sparsegpt", "sparsellm"], 20 * 1024);
});

Deno.test("pruning llama-small with 64 KiB bindings gives the unsplit result (SparseLLM)", async () => {
  // d 256, f 688: the down_proj Hessian is 1.9 MB (29 windows), gate/up/down 704 KB (11); the
  // attention projections go through SparseGPT
  await compare("llama-small", ["sparsellm"], 64 * 1024);
});
