/**
 * Model configuration: the parts of a Hugging Face `config.json` that the forward pass needs,
 * validated with zod and normalised across families (OPT; LLaMA and the LLaMA-like Mistral and
 * Qwen2).
 *
 * @module
 */

import { z } from "zod";

/**
 * Model families with a forward pass here (`mistral` and `qwen2` run as LLaMA-like).
 *
 * @example Tell the families apart
 * ```ts
 * import { type ModelType, parseModelConfig } from "@sparsellm/sparsellm";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/llama-small/config.json"));
 * const type: ModelType = parseModelConfig(json, "config.json").modelType;
 * console.log(type === "opt" ? "learned positions" : "rotary embeddings");
 * ```
 */
export type ModelType = "opt" | "llama" | "mistral" | "qwen2";

/**
 * The normalised configuration of a causal language model.
 *
 * @example Read sizes from a LLaMA config
 * ```ts
 * import { type ModelConfig, parseModelConfig } from "@sparsellm/sparsellm";
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
}

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
});

function fail(where: string, detail: string): never {
  throw new RangeError(`Cannot use model config "${where}": ${detail}`);
}

function parse<T>(schema: z.ZodType<T>, json: unknown, where: string): T {
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.length ? i.path.join(".") : "(root)";
    const missing = i.code === "invalid_type" &&
      (json as Record<string, unknown> | null)?.[String(i.path[0])] === undefined &&
      i.path.length === 1;
    return missing ? `field "${path}" is missing` : `field "${path}": ${i.message}`;
  });
  throw new TypeError(`Cannot read model config "${where}": ${issues.join("; ")}`);
}

/**
 * Validates a parsed `config.json` and normalises it.
 *
 * @example Normalise an OPT config
 * ```ts
 * import { parseModelConfig } from "@sparsellm/sparsellm";
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
 * embedding, RoPE scaling, an activation other than the family's) is not supported, or when
 * sizes are inconsistent.
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
  if (type === "llama" || type === "mistral" || type === "qwen2") {
    return parseLlama(json, where, type);
  }
  fail(
    where,
    `model_type ${JSON.stringify(type)} is not supported (supported: opt, llama, mistral, qwen2)`,
  );
}

function parseOpt(json: unknown, where: string): ModelConfig {
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
  };
}

function parseLlama(
  json: unknown,
  where: string,
  type: "llama" | "mistral" | "qwen2",
): ModelConfig {
  const c = parse(Llama, json, where);
  const heads = c.num_attention_heads;
  const kv = c.num_key_value_heads ?? heads;
  if (c.head_dim == null && c.hidden_size % heads !== 0) {
    fail(where, `hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${heads}`);
  }
  const headDim = c.head_dim ?? c.hidden_size / heads;
  if (heads % kv !== 0) {
    fail(where, `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kv}`);
  }
  if (headDim % 2 !== 0) fail(where, `head_dim ${headDim} must be even for rotary embeddings`);
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    const t = (c.rope_scaling as { rope_type?: unknown; type?: unknown }).rope_type ??
      (c.rope_scaling as { type?: unknown }).type;
    if (t !== "default") {
      fail(where, `rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported`);
    }
  }
  if (c.partial_rotary_factor !== undefined && c.partial_rotary_factor !== 1) {
    fail(where, `partial_rotary_factor ${c.partial_rotary_factor} is not supported`);
  }
  const act = c.hidden_act ?? "silu";
  if (act !== "silu") {
    fail(where, `hidden_act "${act}" is not supported (only "silu")`);
  }
  let sliding: number | null = null;
  if (type === "mistral") sliding = c.sliding_window ?? null;
  if (type === "qwen2" && c.use_sliding_window === true) sliding = c.sliding_window ?? null;
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
    normEps: c.rms_norm_eps ?? 1e-6,
    ropeTheta: c.rope_theta ?? 10000,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    attentionBias: type === "qwen2" ? true : c.attention_bias ?? false,
    mlpBias: c.mlp_bias ?? false,
    torchDtype: c.torch_dtype ?? c.dtype ?? "float32",
    slidingWindow: sliding,
  };
}
