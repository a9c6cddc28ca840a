/**
 * Model configuration: the parts of a Hugging Face `config.json` that the forward pass needs,
 * validated with zod and normalised across families (OPT; LLaMA and the LLaMA-like Mistral,
 * Qwen2, Qwen3, Gemma and Phi-3). A config that names a feature the forward pass does not
 * implement is refused here, before any work, with a message naming the field.
 *
 * @module
 */

import { z } from "zod";

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
    ropeScaling: { type: "default" },
    hiddenAct: "relu",
    normWeightOffset: 0,
    embedScale: 1,
    qkNorm: false,
    fusedProjections: false,
  };
}

const num = (v: unknown): number | undefined => typeof v === "number" ? v : undefined;

/** Reads `rope_scaling` (v4 key) or `rope_parameters` (v5 key); refuses what is not implemented. */
function parseRopeScaling(
  c: { rope_scaling?: unknown; rope_parameters?: unknown; max_position_embeddings?: number },
  where: string,
  type: ModelType,
): RopeScaling {
  const field = c.rope_parameters !== undefined && c.rope_parameters !== null
    ? "rope_parameters"
    : "rope_scaling";
  const raw = field === "rope_parameters" ? c.rope_parameters : c.rope_scaling;
  if (raw === undefined || raw === null) return { type: "default" };
  if (typeof raw !== "object" || Array.isArray(raw)) {
    fail(where, `${field} ${JSON.stringify(raw)} is not an object`);
  }
  const r = raw as Record<string, unknown>;
  const t = r.rope_type ?? r.type ?? "default";
  const show = JSON.stringify(raw);
  if (t === "default") return { type: "default" };
  if (type === "phi3" && (t === "longrope" || t === "su")) {
    fail(
      where,
      `${field} type "${t}" (Phi-3 long-context LongRoPE) is not supported; use a 4k-context ` +
        `checkpoint such as microsoft/Phi-3-mini-4k-instruct (${show})`,
    );
  }
  const factor = num(r.factor);
  if (t === "linear") {
    if (factor === undefined || !(factor > 0)) {
      fail(where, `${field} of type "linear" needs a positive "factor" (${show})`);
    }
    return { type: "linear", factor };
  }
  if (t === "llama3") {
    const low = num(r.low_freq_factor), high = num(r.high_freq_factor);
    const orig = num(r.original_max_position_embeddings);
    if (
      factor === undefined || low === undefined || high === undefined || orig === undefined ||
      !(factor > 0) || !(orig > 0) || !(high > low)
    ) {
      fail(
        where,
        `${field} of type "llama3" needs a positive "factor", "low_freq_factor" < ` +
          `"high_freq_factor" and a positive "original_max_position_embeddings" (${show})`,
      );
    }
    return {
      type: "llama3",
      factor,
      lowFreqFactor: low,
      highFreqFactor: high,
      originalMaxPositions: orig,
    };
  }
  fail(
    where,
    `${field} type ${JSON.stringify(t)} is not supported (supported: default, linear, llama3) ` +
      `(${show})`,
  );
}

const DEFAULT_ACT: Record<Exclude<ModelType, "opt">, string> = {
  llama: "silu",
  mistral: "silu",
  qwen2: "silu",
  qwen3: "silu",
  phi3: "silu",
  gemma: "gelu_pytorch_tanh",
};

function parseLlama(
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
