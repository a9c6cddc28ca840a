// Test-only: small random checkpoints of any supported family.

import type { Architecture } from "../../src/models/arch.ts";
import { architectureFor } from "../../src/models/families.ts";
import { expectedShapes } from "../../src/models/tensor_names.ts";
import { type ModelConfig, parseModelConfig } from "../../src/models/config.ts";
import { MemoryWeightSource } from "../../src/models/weights.ts";
import { randomF32 } from "../reference/model_ref.ts";

/** A random model: config, architecture and in-memory weights. */
export interface RandomModel {
  config: ModelConfig;
  arch: Architecture;
  source: MemoryWeightSource;
}

/** Random weights for a config JSON; `prefix` is `model.` or empty. */
export function randomModel(
  json: Record<string, unknown>,
  seed = 1,
  prefix = "model.",
): RandomModel {
  const config = parseModelConfig(json, "random");
  const embed = config.modelType === "opt"
    ? `${prefix}decoder.embed_tokens.weight`
    : `${prefix}embed_tokens.weight`;
  const names = [embed, ...(config.tieWordEmbeddings ? [] : ["lm_head.weight"])];
  const arch = architectureFor(config, names);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let s = seed;
  for (const [name, shape] of expectedShapes(arch)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNormWeight = shape.length === 1 && /norm\.weight$/.test(name);
    const isBias = shape.length === 1 && !isNormWeight;
    const data = randomF32(n, ++s * 7919, isBias ? 0.1 : isNormWeight ? 0.2 : 0.5);
    if (isNormWeight) { for (let i = 0; i < n; i++) data[i] += 1; }
    if (shape.length === 2 && shape[1] > 64) {
      const k = 1 / Math.sqrt(shape[1] / 64);
      for (let i = 0; i < n; i++) data[i] *= k;
    }
    tensors.set(name, { shape, data });
  }
  return { config, arch, source: new MemoryWeightSource(tensors) };
}

/** A small OPT config. */
export const OPT_JSON: Record<string, unknown> = {
  model_type: "opt",
  vocab_size: 40,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  ffn_dim: 80,
  max_position_embeddings: 64,
  do_layer_norm_before: true,
  word_embed_proj_dim: 32,
};

/** A small LLaMA config with grouped-query attention and head_dim ≠ hidden / heads. */
export const LLAMA_GQA_JSON: Record<string, unknown> = {
  model_type: "llama",
  vocab_size: 48,
  hidden_size: 32,
  intermediate_size: 72,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 12,
  rms_norm_eps: 1e-5,
  rope_theta: 1000,
  max_position_embeddings: 64,
  tie_word_embeddings: false,
};

/** A small Qwen2 config: q/k/v biases, tied embeddings. */
export const QWEN2_JSON: Record<string, unknown> = {
  model_type: "qwen2",
  vocab_size: 40,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  tie_word_embeddings: true,
  max_position_embeddings: 64,
};
