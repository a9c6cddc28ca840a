/**
 * Config parsing per family: the zod schemas of OPT and of the LLaMA-like families, and their
 * normalisation into a {@linkcode ModelConfig} (family defaults, refusals of variants the forward
 * pass does not implement).
 *
 * @module
 */

import { z } from "zod";
import type { HiddenAct, ModelConfig, ModelType } from "./config.ts";
import { fail, num, parse, parseRopeScaling } from "./config_refusals.ts";

const posInt = z.number().int().positive();
const posNum = z.number().positive();

const Base = z.object({
  model_type: z.string(),
  torch_dtype: z.string().optional(),
  dtype: z.string().optional(),
  vocab_size: posInt,
  hidden_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  tie_word_embeddings: z.boolean().optional(),
});

const Opt = Base.extend({
  ffn_dim: posInt,
  max_position_embeddings: posInt,
  do_layer_norm_before: z.boolean().optional(),
  word_embed_proj_dim: posInt.optional(),
  enable_bias: z.boolean().optional(),
  layer_norm_elementwise_affine: z.boolean().optional(),
  activation_function: z.string().optional(),
});

const Llama = Base.extend({
  intermediate_size: posInt,
  max_position_embeddings: posInt.optional(),
  num_key_value_heads: posInt.nullable().optional(),
  head_dim: posInt.nullable().optional(),
  rms_norm_eps: posNum.optional(),
  rope_theta: posNum.optional(),
  rope_scaling: z.unknown().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  hidden_act: z.string().optional(),
  sliding_window: posInt.nullable().optional(),
  use_sliding_window: z.boolean().optional(),
  partial_rotary_factor: z.number().optional(),
  rope_parameters: z.unknown().optional(),
  hidden_activation: z.string().nullable().optional(),
  attn_logit_softcapping: z.number().nullable().optional(),
  final_logit_softcapping: z.number().nullable().optional(),
  query_pre_attn_scalar: z.number().nullable().optional(),
});

/**
 * Parses and normalises an OPT config, refusing the variants the forward pass does not implement.
 *
 * @example Normalise an OPT config
 * ```ts
 * import { parseOpt } from "./config_families.ts";
 *
 * const config = parseOpt({
 *   model_type: "opt",
 *   vocab_size: 50272,
 *   hidden_size: 768,
 *   num_hidden_layers: 12,
 *   num_attention_heads: 12,
 *   ffn_dim: 3072,
 *   max_position_embeddings: 2048,
 * }, "opt-125m/config.json");
 * console.log(config.headDim); // 64
 * ```
 *
 * @param json The parsed JSON of `config.json`.
 * @param where Where it came from (a path), for error messages.
 * @returns The normalised configuration.
 * @throws {TypeError} When a required field is missing or has the wrong type.
 * @throws {RangeError} When a variant is not supported (the message names the field).
 */
export function parseOpt(json: unknown, where: string): ModelConfig {
  const c = parse(Opt, json, where);
  if (c.do_layer_norm_before === false) {
    fail(
      where,
      "OPT with do_layer_norm_before = false (post-LayerNorm, as in opt-350m) is not supported",
    );
  }
  if (c.word_embed_proj_dim !== undefined && c.word_embed_proj_dim !== c.hidden_size) {
    fail(
      where,
      `OPT with word_embed_proj_dim ${c.word_embed_proj_dim} != hidden_size ${c.hidden_size} ` +
        "(project_in/project_out, as in opt-350m) is not supported",
    );
  }
  if (c.layer_norm_elementwise_affine === false) {
    fail(where, "OPT with layer_norm_elementwise_affine = false is not supported");
  }
  if (c.activation_function !== undefined && c.activation_function !== "relu") {
    fail(
      where,
      `OPT activation_function "${c.activation_function}" is not supported (only "relu")`,
    );
  }
  if (c.hidden_size % c.num_attention_heads !== 0) {
    fail(
      where,
      `hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}`,
    );
  }
  const bias = c.enable_bias ?? true;
  return {
    modelType: "opt",
    hiddenSize: c.hidden_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads: c.num_attention_heads,
    headDim: c.hidden_size / c.num_attention_heads,
    ffnSize: c.ffn_dim,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings,
    normEps: 1e-5,
    ropeTheta: 0,
    tieWordEmbeddings: c.tie_word_embeddings ?? true,
    attentionBias: bias,
    mlpBias: bias,
    torchDtype: c.torch_dtype ?? c.dtype ?? "float32",
    slidingWindow: null,
    ropeScaling: { type: "default" },
    hiddenAct: "relu",
    normWeightOffset: 0,
    embedScale: 1,
    qkNorm: false,
    fusedProjections: false,
  };
}

const DEFAULT_ACT: Record<Exclude<ModelType, "opt">, string> = {
  llama: "silu",
  mistral: "silu",
  qwen2: "silu",
  qwen3: "silu",
  phi3: "silu",
  gemma: "gelu_pytorch_tanh",
};

/**
 * Parses and normalises a config of a LLaMA-like family (LLaMA, Mistral, Qwen2, Qwen3, Gemma,
 * Phi-3) with the family's defaults, refusing the features the forward pass does not implement.
 *
 * @example Normalise a Mistral config (its sliding window defaults to 4096)
 * ```ts
 * import { parseLlama } from "./config_families.ts";
 *
 * const config = parseLlama({
 *   model_type: "mistral",
 *   vocab_size: 32000,
 *   hidden_size: 4096,
 *   num_hidden_layers: 32,
 *   num_attention_heads: 32,
 *   num_key_value_heads: 8,
 *   intermediate_size: 14336,
 * }, "config.json", "mistral");
 * console.log(config.slidingWindow); // 4096
 * ```
 *
 * @param json The parsed JSON of `config.json`.
 * @param where Where it came from (a path), for error messages.
 * @param type The config's `model_type`.
 * @returns The normalised configuration.
 * @throws {TypeError} When a required field is missing or has the wrong type.
 * @throws {RangeError} When a feature is not supported (the message names the field).
 */
export function parseLlama(
  json: unknown,
  where: string,
  type: Exclude<ModelType, "opt">,
): ModelConfig {
  const c = parse(Llama, json, where);
  const heads = c.num_attention_heads;
  const kv = c.num_key_value_heads ?? heads;
  // Family defaults of head_dim when the config omits it (GemmaConfig 256, Qwen3Config 128).
  const defaultHeadDim = type === "gemma" ? 256 : type === "qwen3" ? 128 : undefined;
  if (c.head_dim == null && defaultHeadDim === undefined && c.hidden_size % heads !== 0) {
    fail(where, `hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${heads}`);
  }
  const headDim = c.head_dim ?? defaultHeadDim ?? c.hidden_size / heads;
  if (heads % kv !== 0) {
    fail(where, `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kv}`);
  }
  if (headDim % 2 !== 0) fail(where, `head_dim ${headDim} must be even for rotary embeddings`);
  const params = c.rope_parameters as Record<string, unknown> | null | undefined;
  const ropeScaling = parseRopeScaling(c, where, type);
  if (c.partial_rotary_factor !== undefined && c.partial_rotary_factor !== 1) {
    fail(
      where,
      `partial_rotary_factor ${c.partial_rotary_factor} is not supported (only 1: every ` +
        `dimension rotates)`,
    );
  }
  if (params && typeof params === "object" && num(params.partial_rotary_factor) !== undefined) {
    if (params.partial_rotary_factor !== 1) {
      fail(
        where,
        `rope_parameters.partial_rotary_factor ${params.partial_rotary_factor} is not supported`,
      );
    }
  }
  for (const key of ["attn_logit_softcapping", "final_logit_softcapping"] as const) {
    if (c[key] !== undefined && c[key] !== null) {
      fail(where, `${key} ${c[key]} (logit soft-capping, as in Gemma 2) is not supported`);
    }
  }
  if (c.query_pre_attn_scalar != null && c.query_pre_attn_scalar !== headDim) {
    fail(
      where,
      `query_pre_attn_scalar ${c.query_pre_attn_scalar} != head_dim ${headDim} is not supported`,
    );
  }
  // Gemma: older transformers read hidden_activation, newer hidden_act; real checkpoints carry
  // hidden_activation "gelu_pytorch_tanh" next to hidden_act "gelu", and were trained with the
  // tanh approximation, so hidden_activation wins when present.
  const actField = type === "gemma" && c.hidden_activation != null
    ? "hidden_activation"
    : "hidden_act";
  const act = (actField === "hidden_activation" ? c.hidden_activation : c.hidden_act) ??
    DEFAULT_ACT[type];
  let hiddenAct: HiddenAct;
  if (act === "silu" || act === "swish") hiddenAct = "silu";
  else if (type === "gemma" && (act === "gelu_pytorch_tanh" || act === "gelu_new")) {
    hiddenAct = "gelu_tanh";
  } else {
    const ok = type === "gemma" ? '"gelu_pytorch_tanh" or "silu"' : '"silu"';
    fail(where, `${actField} "${act}" is not supported (only ${ok})`);
  }
  let sliding: number | null = null;
  // MistralConfig defaults sliding_window to 4096 when the key is absent.
  if (type === "mistral") sliding = c.sliding_window === undefined ? 4096 : c.sliding_window;
  if ((type === "qwen2" || type === "qwen3") && c.use_sliding_window === true) {
    fail(
      where,
      `use_sliding_window true (a sliding window on layers from max_window_layers on) is not ` +
        `supported for ${type}`,
    );
  }
  if ((type === "llama" || type === "gemma") && c.sliding_window != null) {
    fail(where, `sliding_window ${c.sliding_window} is not supported for ${type}`);
  }
  if (type === "phi3") sliding = c.sliding_window ?? null;
  const theta = c.rope_theta ?? num(params?.rope_theta) ?? 10000;
  return {
    modelType: type,
    hiddenSize: c.hidden_size,
    numLayers: c.num_hidden_layers,
    numHeads: heads,
    numKvHeads: kv,
    headDim,
    ffnSize: c.intermediate_size,
    vocabSize: c.vocab_size,
    maxPositions: c.max_position_embeddings ?? (type === "llama" ? 2048 : 32768),
    normEps: c.rms_norm_eps ?? (type === "phi3" ? 1e-5 : 1e-6),
    ropeTheta: theta,
    // Gemma ties by default (GemmaConfig); the others do not.
    tieWordEmbeddings: c.tie_word_embeddings ?? type === "gemma",
    attentionBias: type === "qwen2" ? true : type === "phi3" ? false : c.attention_bias ?? false,
    mlpBias: type === "phi3" || type === "gemma" ? false : c.mlp_bias ?? false,
    torchDtype: c.torch_dtype ?? c.dtype ?? "float32",
    slidingWindow: sliding,
    ropeScaling,
    hiddenAct,
    normWeightOffset: type === "gemma" ? 1 : 0,
    embedScale: type === "gemma" ? Math.fround(Math.sqrt(c.hidden_size)) : 1,
    qkNorm: type === "qwen3",
    fusedProjections: type === "phi3",
  };
}
