// Pruning today's families through the CLI: every fixture keeps its tensor names, shapes and
// dtypes (fused qkv_proj / gate_up_proj stay fused, tied embeddings stay tied: no lm_head.weight
// written) and its prunable matrices reach the target sparsity (fused matrices counted whole);
// `inspect` describes family, features and prunable matrices.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, ROOT, runCli, TRAIN_TXT } from "../_cli_helpers.ts";
import { SafetensorsSource } from "./_fixtures.ts";

const ARCH = "testdata/models/arch";

/** Zero fraction of each prunable matrix, plus every tensor's dtype and shape. */
async function readOut(dir: string) {
  const bytes = await Deno.readFile(join(dir, "model.safetensors"));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  delete header.__metadata__;
  const layout: Record<string, string> = {};
  for (const [k, v] of Object.entries(header) as [string, { dtype: string; shape: number[] }][]) {
    layout[k] = `${v.dtype}[${v.shape.join(",")}]`;
  }
  const src = new SafetensorsSource(bytes);
  const sparsity: Record<string, number> = {};
  for (const name of src.names()) {
    if (!/layers\.\d+\..*(proj|fc\d)\.weight$/.test(name)) continue;
    const w = await src.readF32(name);
    sparsity[name] = w.reduce((z, v) => z + (v === 0 ? 1 : 0), 0) / w.length;
  }
  return { layout, sparsity };
}

for (
  const [model, method, extra, check] of [
    ["phi3-tiny", "sparsegpt", ["--sparsity", "0.5"], "unstructured"],
    ["phi3-tiny", "wanda", ["--pattern", "2:4"], "2:4"],
    ["phi3-tiny", "magnitude", ["--sparsity", "0.5", "--layers", "1-1"], "layer1"],
    ["gemma-tiny", "sparsegpt", ["--sparsity", "0.5"], "unstructured"],
    ["llama3-tiny", "wanda", ["--sparsity", "0.5"], "unstructured"],
    ["mistral-tiny", "sparsegpt", ["--pattern", "2:4"], "2:4"],
    ["qwen3-tiny", "sparsegpt", ["--sparsity", "0.5"], "unstructured"],
    ["qwen3-tiny", "sparsellm", ["--sparsity", "0.5", "--iters", "2"], "unstructured"],
    ["phi3-tiny", "sparsellm", ["--sparsity", "0.5", "--iters", "2"], "unstructured"],
    ["gemma-tiny", "sparsellm", ["--pattern", "2:4", "--iters", "2"], "2:4"],
    ["qwen2-tiny-bf16", "sparsegpt", ["--sparsity", "0.5"], "unstructured"],
  ] as const
) {
  Deno.test(`prune ${model} with ${method} ${extra.join(" ")}: same tensors, shapes and dtypes; target sparsity`, async () => {
    const out = await Deno.makeTempDir({ prefix: `families-${model}-${method}-` });
    try {
      const r = await runCli([
        "prune",
        "--model",
        `${ARCH}/${model}`,
        "--method",
        method,
        ...extra,
        "--calib",
        TRAIN_TXT,
        "--nsamples",
        "8",
        "--seqlen",
        "64",
        "--seed",
        "0",
        "--out",
        out,
        "--force",
        "--quiet",
      ]);
      assert.equal(r.code, 0, describe(r));
      const input = await readOut(join(ROOT, ARCH, model));
      const output = await readOut(out);
      assert.deepEqual(output.layout, input.layout);
      assert.equal("lm_head.weight" in output.layout, "lm_head.weight" in input.layout);
      for (const [name, s] of Object.entries(output.sparsity)) {
        const layer = Number(/layers\.(\d+)\./.exec(name)![1]);
        if (check === "layer1" && layer === 0) {
          assert.equal(s, input.sparsity[name], `${name} must be unchanged`);
          continue;
        }
        assert.ok(s >= 0.5 && s < 0.51, `${name}: sparsity ${s}`);
      }
      if (check === "2:4") {
        const src = await SafetensorsSource.open(join(out, "model.safetensors"));
        for (const name of Object.keys(output.sparsity)) {
          const w = await src.readF32(name);
          for (let g = 0; g < w.length; g += 4) {
            const nz = [0, 1, 2, 3].filter((i) => w[g + i] !== 0).length;
            assert.ok(nz <= 2, `${name}: group ${g / 4} keeps ${nz} of 4`);
          }
        }
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}

Deno.test("inspect shows the family, the features in use and the prunable matrices (fused ones whole)", async () => {
  const expect: Record<string, RegExp[]> = {
    "phi3-tiny": [
      /family +llama \(model_type phi3\): grouped-query attention \(4 heads, 2 kv heads\)/,
      /fused qkv, gate_up/,
      /untied lm_head/,
      /qkv +model\.layers\.\{i\}\.self_attn\.qkv_proj\.weight 128x64 \(fused, pruned whole: q 0\.\.63 \| k 64\.\.95 \| v 96\.\.127\)/,
      /gate_up +model\.layers\.\{i\}\.mlp\.gate_up_proj\.weight 384x64 \(fused, pruned whole: gate 0\.\.191 \| up 192\.\.383\)/,
    ],
    "gemma-tiny": [
      /multi-query attention \(4 heads, 1 kv head\)/,
      /rmsnorm x\*\(1\+w\)/,
      /gelu-tanh gated/,
      /embeddings x 9\.79795/,
      /tied embeddings/,
    ],
    "llama3-tiny": [
      /rope \(theta 500000, llama3, factor 8, low\/high freq factor 1\/4, original context 64\)/,
      /head_dim 32/,
      /tied embeddings/,
    ],
    "mistral-tiny": [/sliding window 32/, /untied lm_head/],
    "qwen3-tiny": [/q\/k rmsnorm per head/],
    "qwen2-tiny": [/biases on q, k, v/, /tied embeddings/],
  };
  for (const [model, res] of Object.entries(expect)) {
    const r = await runCli(["inspect", "--model", `${ARCH}/${model}`]);
    assert.equal(r.code, 0, describe(r));
    for (const re of res) assert.match(r.stdout, re, model);
  }
});
