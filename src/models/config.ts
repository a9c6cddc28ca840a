/**
 * Model configuration: the parts of a Hugging Face `config.json` that the forward pass needs,
 * validated with zod and normalised across families (OPT; LLaMA and the LLaMA-like Mistral,
 * Qwen2, Qwen3, Gemma and Phi-3). A config that names a feature the forward pass does not
 * implement is refused here, before any work, with a message naming the field.
 *
 * @module
 */

import { parseLlama, parseOpt } from "./config_families.ts";
import { fail } from "./config_refusals.ts";

/**
 * Model families with a forward pass here (all but `opt` run as LLaMA-like).
 *
 * @example Tell the families apart
 * ```ts
 * import { type ModelType, parseModelConfig } from "./config.ts";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/llama-small/config.json"));
 * const type: ModelType = parseModelConfig(json, "config.json").modelType;
 * console.log(type === "opt" ? "learned positions" : "rotary embeddings");
 * ```
 */
export type ModelType = "opt" | "llama" | "mistral" | "qwen2" | "qwen3" | "gemma" | "phi3";

/** The `model_type` values {@linkcode parseModelConfig} accepts. */
export const SUPPORTED_MODEL_TYPES: readonly ModelType[] = [
  "opt",
  "llama",
  "mistral",
  "qwen2",
  "qwen3",
  "gemma",
  "phi3",
];

/**
 * RoPE frequency scaling (`rope_scaling` / `rope_parameters` of the config): none, `linear`
 * (every inverse frequency divided by `factor`) or Llama 3's `llama3` (low frequencies divided by
 * `factor`, high ones kept, a smooth blend between).
 *
 * @example Describe the scaling of a config
 * ```ts
 * import { parseModelConfig, type RopeScaling } from "./config.ts";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/arch/llama3-tiny/config.json"));
 * const s: RopeScaling = parseModelConfig(json, "config.json").ropeScaling;
 * console.log(s.type === "llama3" ? `llama3, factor ${s.factor}` : s.type); // llama3, factor 8
 * ```
 */
export type RopeScaling =
  | { readonly type: "default" }
  | { readonly type: "linear"; readonly factor: number }
  | {
    readonly type: "llama3";
    /** Divisor of the low frequencies. */
    readonly factor: number;
    /** `low_freq_factor`. */
    readonly lowFreqFactor: number;
    /** `high_freq_factor`. */
    readonly highFreqFactor: number;
    /** `original_max_position_embeddings`. */
    readonly originalMaxPositions: number;
  };

/**
 * Feed-forward activation of the config: OPT's `relu`, `silu` (SwiGLU) or the tanh approximation
 * of GELU (`gelu_pytorch_tanh`, Gemma's GeGLU).
 *
 * @example Tell SwiGLU from GeGLU
 * ```ts
 * import type { HiddenAct, ModelConfig } from "./config.ts";
 *
 * declare const config: ModelConfig;
 * const act: HiddenAct = config.hiddenAct;
 * console.log(act === "gelu_tanh" ? "GeGLU" : act === "silu" ? "SwiGLU" : "ReLU");
 * ```
 */
export type HiddenAct = "relu" | "silu" | "gelu_tanh";

/**
 * The normalised configuration of a causal language model.
 *
 * @example Read sizes from a LLaMA config
 * ```ts
 * import { type ModelConfig, parseModelConfig } from "./config.ts";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/llama-small/config.json"));
 * const config: ModelConfig = parseModelConfig(json, "testdata/models/llama-small/config.json");
 * console.log(config.numLayers, config.hiddenSize, config.numKvHeads, config.ropeTheta);
 * ```
 */
export interface ModelConfig {
  /** `model_type` of the config. */
  modelType: ModelType;
  /** Width of the residual stream. */
  hiddenSize: number;
  /** Decoder layers. */
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (equal to `numHeads` without grouped-query attention). */
  numKvHeads: number;
  /** Values per head. */
  headDim: number;
  /** Inner width of the feed-forward block. */
  ffnSize: number;
  /** Rows of the token embedding and of the output head. */
  vocabSize: number;
  /** Positions the model was built for (`max_position_embeddings`). */
  maxPositions: number;
  /** Epsilon of the LayerNorms / RMSNorms. */
  normEps: number;
  /** RoPE base; 0 for learned positions (OPT). */
  ropeTheta: number;
  /** Whether the output head shares the token embedding. */
  tieWordEmbeddings: boolean;
  /** Whether the attention projections have biases (Qwen2: q, k and v only). */
  attentionBias: boolean;
  /** Whether the feed-forward projections have biases. */
  mlpBias: boolean;
  /** `torch_dtype` of the checkpoint (default `float32`). */
  torchDtype: string;
  /** Sliding attention window (Mistral), or `null` for full causal attention. */
  slidingWindow: number | null;
  /** RoPE frequency scaling (`{ type: "default" }` without; OPT has no RoPE). */
  ropeScaling: RopeScaling;
  /** Feed-forward activation. */
  hiddenAct: HiddenAct;
  /** Added to the RMSNorm weights before they scale (Gemma: 1, `x·(1 + w)`; others 0). */
  normWeightOffset: number;
  /** Factor on the token embeddings (Gemma: `sqrt(hidden)` rounded to f32; others 1). */
  embedScale: number;
  /** Per-head RMSNorm of queries and keys before RoPE (`q_norm` / `k_norm`, Qwen3). */
  qkNorm: boolean;
  /** Fused `qkv_proj` (rows q | k | v) and `gate_up_proj` (rows gate | up), as in Phi-3. */
  fusedProjections: boolean;
}

/**
 * Validates a parsed `config.json` and normalises it.
 *
 * @example Normalise an OPT config
 * ```ts
 * import { parseModelConfig } from "./config.ts";
 *
 * const config = parseModelConfig({
 *   model_type: "opt",
 *   vocab_size: 50272,
 *   hidden_size: 768,
 *   num_hidden_layers: 12,
 *   num_attention_heads: 12,
 *   ffn_dim: 3072,
 *   max_position_embeddings: 2048,
 * }, "opt-125m/config.json");
 * console.log(config.headDim, config.tieWordEmbeddings); // 64 true
 * ```
 *
 * @param json The parsed JSON of `config.json`.
 * @param where Where it came from (a path), for error messages.
 * @returns The normalised configuration.
 * @throws {TypeError} When a required field is missing or has the wrong type.
 * @throws {RangeError} When the model type or a variant (post-LN OPT, a projected OPT
 * embedding, a RoPE scaling type other than `linear` / `llama3`, partial rotary embeddings,
 * logit soft-capping, an activation other than the family's) is not supported, or when sizes
 * are inconsistent. The message names the field.
 */
export function parseModelConfig(json: unknown, where: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError(`Cannot read model config "${where}": expected a JSON object`);
  }
  const type = (json as { model_type?: unknown }).model_type;
  if (type === undefined) {
    throw new TypeError(`Cannot read model config "${where}": field "model_type" is missing`);
  }
  if (type === "opt") return parseOpt(json, where);
  if (typeof type === "string" && (SUPPORTED_MODEL_TYPES as readonly string[]).includes(type)) {
    return parseLlama(json, where, type as Exclude<ModelType, "opt">);
  }
  fail(
    where,
    `model_type ${JSON.stringify(type)} is not supported (supported: ${
      SUPPORTED_MODEL_TYPES.join(", ")
    })`,
  );
}
