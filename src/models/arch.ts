/**
 * Architectures as data: tensor names, norm kind, activation, position scheme, biases and the
 * linear layers of a decoder layer, for the OPT and LLaMA families (Mistral, Qwen2, Qwen3,
 * Gemma and Phi-3 are LLaMA-like; Phi-3's fused `qkv_proj` / `gate_up_proj` are one linear each,
 * whose output rows the layer runner splits). One layer runner ({@linkcode ./layer.ts}) reads these descriptions.
 *
 * @module
 */

import type { ModelConfig, RopeScaling } from "./config.ts";
import type { WeightInfo } from "./weights.ts";

/**
 * The linear layers of a decoder layer.
 *
 * @example Name the fc1 tensors of layer 0
 * ```ts
 * import { type LinearRole } from "@sparsellm/sparsellm";
 * import { type Architecture, linearTensorName } from "./arch.ts";
 *
 * declare const arch: Architecture; // an OPT checkpoint
 * const role: LinearRole = "fc1";
 * linearTensorName(arch, 0, role);
 * // { weight: "model.decoder.layers.0.fc1.weight", bias: "model.decoder.layers.0.fc1.bias" }
 * ```
 */
export type LinearRole =
  | "q"
  | "k"
  | "v"
  | "o"
  | "fc1"
  | "fc2"
  | "gate"
  | "up"
  | "down"
  | "qkv"
  | "gate_up";

/**
 * A block of output rows of a fused linear layer that plays one role: Phi-3's `qkv_proj` has
 * parts q | k | v, its `gate_up_proj` gate | up. Rows `start .. start + rows - 1` of the weight
 * (and of the bias, when there is one).
 *
 * @example Find the up half of a fused gate_up_proj
 * ```ts
 * import { type Architecture, linearSpec, type LinearPart } from "./arch.ts";
 *
 * declare const arch: Architecture; // a Phi-3 checkpoint
 * const up: LinearPart = linearSpec(arch, "gate_up").parts!.find((p) => p.role === "up")!;
 * console.log(up.start, up.rows); // ffnSize ffnSize
 * ```
 */
export interface LinearPart {
  /** The role the rows play. */
  readonly role: "q" | "k" | "v" | "gate" | "up";
  /** First row. */
  readonly start: number;
  /** Number of rows. */
  readonly rows: number;
}

/**
 * Activations a decoder layer exposes: the inputs of its linear layers.
 *
 * @example Record which activations a layer produced
 * ```ts
 * import type { ActivationTap } from "./arch.ts";
 * import type { LayerTaps } from "./layer.ts";
 *
 * const seen = new Set<ActivationTap>();
 * const taps: LayerTaps = { onInput: (tap) => void seen.add(tap) };
 * ```
 */
export type ActivationTap = "attn_in" | "attn_out" | "ffn_in" | "ffn_act";

/**
 * One linear layer of a decoder layer: `y = x · Wᵀ (+ b)`, `W` stored `[rows, cols]`.
 *
 * @example Shape of fc1
 * ```ts
 * import { type Architecture, linearSpec, type LinearSpec } from "./arch.ts";
 *
 * declare const arch: Architecture; // an OPT checkpoint
 * const fc1: LinearSpec = linearSpec(arch, "fc1");
 * console.log(fc1.weight, fc1.rows, fc1.cols); // model.decoder.layers.{i}.fc1.weight ...
 * ```
 */
export interface LinearSpec {
  /** Its role. */
  readonly role: LinearRole;
  /** Weight tensor name, with `{i}` for the layer index. */
  readonly weight: string;
  /** Bias tensor name (with `{i}`), when the layer has a bias. */
  readonly bias?: string;
  /** Output features (rows of the weight). */
  readonly rows: number;
  /** Input features (columns of the weight). */
  readonly cols: number;
  /** The activation that feeds it. */
  readonly input: ActivationTap;
  /**
   * For a fused linear (Phi-3's `qkv` and `gate_up`): the row blocks and the roles they play,
   * in row order. The matrix is still pruned as one (one tensor, one input Hessian).
   */
  readonly parts?: readonly LinearPart[];
}

/**
 * A LayerNorm or RMSNorm's tensors (names may hold `{i}`).
 *
 * @example Tensor names of layer 0's attention norm
 * ```ts
 * import { type Architecture, layerName, type NormSpec } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * const norm: NormSpec = arch.attnNorm;
 * const names = [norm.weight, ...(norm.bias ? [norm.bias] : [])].map((n) => layerName(n, 0));
 * ```
 */
export interface NormSpec {
  /** Scale tensor name. */
  readonly weight: string;
  /** Shift tensor name (LayerNorm only). */
  readonly bias?: string;
}

/**
 * Position scheme: learned absolute positions (OPT) or rotary embeddings (LLaMA).
 *
 * @example Describe the position scheme
 * ```ts
 * import type { Architecture, PositionSpec } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * const pos: PositionSpec = arch.positions;
 * console.log(pos.kind === "rope" ? `RoPE, base ${pos.theta}` : `learned, table ${pos.tensor}`);
 * ```
 */
export type PositionSpec =
  | {
    readonly kind: "learned";
    /** Table tensor name. */
    readonly tensor: string;
    /** Row of position 0 (2 for OPT). */
    readonly offset: number;
    /** Rows of the table. */
    readonly rows: number;
  }
  | {
    readonly kind: "rope";
    /** RoPE base. */
    readonly theta: number;
    /** Frequency scaling. */
    readonly scaling: RopeScaling;
  };

/**
 * A model family described as data.
 *
 * @example Describe a checkpoint's family
 * ```ts
 * import { type Architecture, architectureFor } from "./arch.ts";
 * import { parseModelConfig } from "./config.ts";
 * import { CheckpointReader } from "@sparsellm/sparsellm/io";
 *
 * const reader = await CheckpointReader.open("testdata/models/llama-small");
 * const config = parseModelConfig(reader.config, "config.json");
 * const arch: Architecture = architectureFor(config, reader.names());
 * console.log(arch.family, arch.norm, arch.activation); // llama rmsnorm silu-glu
 * reader.close();
 * ```
 */
export interface Architecture {
  /** Family of the forward pass. */
  readonly family: "opt" | "llama";
  /** The configuration it was built from. */
  readonly config: ModelConfig;
  /** Prefix of the base-model tensors (`model.` or empty). */
  readonly prefix: string;
  /** Residual width. */
  readonly hiddenSize: number;
  /** Query heads. */
  readonly numHeads: number;
  /** Key/value heads. */
  readonly numKvHeads: number;
  /** Values per head. */
  readonly headDim: number;
  /** Feed-forward width. */
  readonly ffnSize: number;
  /** Vocabulary size. */
  readonly vocabSize: number;
  /** Decoder layers. */
  readonly numLayers: number;
  /** Norm kind. */
  readonly norm: "layernorm" | "rmsnorm";
  /** Norm epsilon. */
  readonly normEps: number;
  /** Feed-forward activation: `relu(fc1)`, `silu(gate) · up` or `gelu_tanh(gate) · up` (Gemma). */
  readonly activation: "relu" | "silu-glu" | "gelu-tanh-glu";
  /** Added to the norm weights before they scale (Gemma's RMSNorm `x·(1 + w)`: 1; else 0). */
  readonly normWeightOffset: number;
  /** Factor on the token embeddings (Gemma: f32 `sqrt(hidden)`; else 1). */
  readonly embedScale: number;
  /** Per-head RMSNorms of queries and keys before RoPE (Qwen3), weights `[headDim]`, or `null`. */
  readonly qkNorm: { readonly q: NormSpec; readonly k: NormSpec } | null;
  /** Position scheme. */
  readonly positions: PositionSpec;
  /** Attention score scale (`headDim^-0.5`; OPT applies it to q after q_proj, same value). */
  readonly attnScale: number;
  /** Token embedding tensor name. */
  readonly embedTokens: string;
  /** Output head tensor name (the token embedding when tied). */
  readonly lmHead: string;
  /** Whether the head is the token embedding. */
  readonly tiedHead: boolean;
  /** Final norm before the head. */
  readonly finalNorm: NormSpec;
  /** Norm before attention (names with `{i}`). */
  readonly attnNorm: NormSpec;
  /** Norm before the feed-forward block (names with `{i}`). */
  readonly ffnNorm: NormSpec;
  /** Linear layers in forward order. */
  readonly linears: readonly LinearSpec[];
  /** Roles of the attention block's linears. */
  readonly attnRoles: readonly LinearRole[];
  /** Roles of the feed-forward block's linears (input side first, output last). */
  readonly ffnRoles: readonly LinearRole[];
  /** Sliding attention window, or `null`. */
  readonly slidingWindow: number | null;
}

const PREFIXES = ["model.", ""] as const;

function optNames(p: string) {
  const l = `${p}decoder.layers.{i}.`;
  return {
    embed: `${p}decoder.embed_tokens.weight`,
    positions: `${p}decoder.embed_positions.weight`,
    finalNorm: {
      weight: `${p}decoder.final_layer_norm.weight`,
      bias: `${p}decoder.final_layer_norm.bias`,
    },
    attnNorm: { weight: `${l}self_attn_layer_norm.weight`, bias: `${l}self_attn_layer_norm.bias` },
    ffnNorm: { weight: `${l}final_layer_norm.weight`, bias: `${l}final_layer_norm.bias` },
    linear: {
      q: `${l}self_attn.q_proj`,
      k: `${l}self_attn.k_proj`,
      v: `${l}self_attn.v_proj`,
      o: `${l}self_attn.out_proj`,
      fc1: `${l}fc1`,
      fc2: `${l}fc2`,
    } as Partial<Record<LinearRole, string>>,
  };
}

function llamaNames(p: string) {
  const l = `${p}layers.{i}.`;
  return {
    embed: `${p}embed_tokens.weight`,
    finalNorm: { weight: `${p}norm.weight` },
    attnNorm: { weight: `${l}input_layernorm.weight` },
    ffnNorm: { weight: `${l}post_attention_layernorm.weight` },
    linear: {
      q: `${l}self_attn.q_proj`,
      k: `${l}self_attn.k_proj`,
      v: `${l}self_attn.v_proj`,
      o: `${l}self_attn.o_proj`,
      gate: `${l}mlp.gate_proj`,
      up: `${l}mlp.up_proj`,
      down: `${l}mlp.down_proj`,
      qkv: `${l}self_attn.qkv_proj`,
      gate_up: `${l}mlp.gate_up_proj`,
    } as Partial<Record<LinearRole, string>>,
    qkNorm: {
      q: { weight: `${l}self_attn.q_norm.weight` },
      k: { weight: `${l}self_attn.k_norm.weight` },
    },
  };
}

const LM_HEAD = "lm_head.weight";

/**
 * Builds the architecture of a checkpoint from its configuration and tensor names: detects the
 * `model.` prefix (or its absence) and a tied or missing output head.
 *
 * @example Detect the tensor prefix and a tied head
 * ```ts
 * import { architectureFor } from "./arch.ts";
 * import { parseModelConfig } from "./config.ts";
 * import { CheckpointReader } from "@sparsellm/sparsellm/io";
 *
 * const reader = await CheckpointReader.open("testdata/models/opt-tiny");
 * const arch = architectureFor(parseModelConfig(reader.config, "config.json"), reader.names());
 * console.log(arch.prefix, arch.tiedHead); // model. true
 * reader.close();
 * ```
 *
 * @param config The parsed configuration.
 * @param tensorNames Names of the checkpoint's tensors.
 * @returns The architecture description.
 * @throws {RangeError} When the token embedding is found under no known prefix, or the output
 * head is missing from an untied model.
 */
export function architectureFor(config: ModelConfig, tensorNames: readonly string[]): Architecture {
  const names = new Set(tensorNames);
  const family = config.modelType === "opt" ? "opt" : "llama";
  const namer = family === "opt" ? optNames : llamaNames;
  const prefix = PREFIXES.find((p) => names.has(namer(p).embed));
  if (prefix === undefined) {
    throw new RangeError(
      `Cannot find the token embedding of this ${config.modelType} checkpoint: expected a tensor ` +
        `named "${namer("model.").embed}" or "${namer("").embed}"`,
    );
  }
  const n = namer(prefix);
  const hasHead = names.has(LM_HEAD);
  const tied = config.tieWordEmbeddings || (!hasHead && family === "opt");
  if (!tied && !hasHead) {
    throw new RangeError(
      `Cannot find the output head "${LM_HEAD}": the checkpoint lacks it and config ` +
        `tie_word_embeddings is false`,
    );
  }
  const d = config.hiddenSize, hd = config.headDim;
  const qd = config.numHeads * hd, kvd = config.numKvHeads * hd, f = config.ffnSize;
  const attnBias = config.attentionBias;
  const oBias = family === "opt" ? attnBias : config.modelType === "qwen2" ? false : attnBias;
  const mlpBias = config.mlpBias;
  const lin = (
    role: LinearRole,
    rows: number,
    cols: number,
    input: ActivationTap,
    bias: boolean,
    parts?: LinearPart[],
  ): LinearSpec => {
    const base = n.linear[role]!;
    return {
      role,
      weight: `${base}.weight`,
      ...(bias ? { bias: `${base}.bias` } : {}),
      rows,
      cols,
      input,
      ...(parts ? { parts } : {}),
    };
  };
  const fused = config.fusedProjections;
  const attn = fused
    ? [
      lin("qkv", qd + 2 * kvd, d, "attn_in", attnBias, [
        { role: "q", start: 0, rows: qd },
        { role: "k", start: qd, rows: kvd },
        { role: "v", start: qd + kvd, rows: kvd },
      ]),
      lin("o", d, qd, "attn_out", oBias),
    ]
    : [
      lin("q", qd, d, "attn_in", attnBias),
      lin("k", kvd, d, "attn_in", attnBias),
      lin("v", kvd, d, "attn_in", attnBias),
      lin("o", d, qd, "attn_out", oBias),
    ];
  const ffn = family === "opt"
    ? [lin("fc1", f, d, "ffn_in", mlpBias), lin("fc2", d, f, "ffn_act", mlpBias)]
    : fused
    ? [
      lin("gate_up", 2 * f, d, "ffn_in", mlpBias, [
        { role: "gate", start: 0, rows: f },
        { role: "up", start: f, rows: f },
      ]),
      lin("down", d, f, "ffn_act", mlpBias),
    ]
    : [
      lin("gate", f, d, "ffn_in", mlpBias),
      lin("up", f, d, "ffn_in", mlpBias),
      lin("down", d, f, "ffn_act", mlpBias),
    ];
  const ln = family === "llama" ? llamaNames(prefix) : undefined;
  const optN = family === "opt" ? optNames(prefix) : undefined;
  return {
    family,
    config,
    prefix,
    hiddenSize: d,
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: hd,
    ffnSize: f,
    vocabSize: config.vocabSize,
    numLayers: config.numLayers,
    norm: family === "opt" ? "layernorm" : "rmsnorm",
    normEps: config.normEps,
    activation: family === "opt"
      ? "relu"
      : config.hiddenAct === "gelu_tanh"
      ? "gelu-tanh-glu"
      : "silu-glu",
    normWeightOffset: config.normWeightOffset,
    embedScale: config.embedScale,
    qkNorm: ln && config.qkNorm ? ln.qkNorm : null,
    positions: optN
      ? { kind: "learned", tensor: optN.positions, offset: 2, rows: config.maxPositions + 2 }
      : { kind: "rope", theta: config.ropeTheta, scaling: config.ropeScaling },
    attnScale: 1 / Math.sqrt(hd),
    embedTokens: n.embed,
    lmHead: tied ? n.embed : LM_HEAD,
    tiedHead: tied,
    finalNorm: n.finalNorm,
    attnNorm: n.attnNorm,
    ffnNorm: n.ffnNorm,
    linears: [...attn, ...ffn],
    attnRoles: attn.map((l) => l.role),
    ffnRoles: ffn.map((l) => l.role),
    slidingWindow: config.slidingWindow,
  };
}

/**
 * Builds the architecture by probing a weight source for the known tensor names (for sources
 * that cannot list their tensors).
 *
 * @example Architecture of in-memory weights
 * ```ts
 * import { architectureForSource } from "./arch.ts";
 * import type { ModelConfig } from "./config.ts";
 * import type { MemoryWeightSource } from "./weights.ts";
 *
 * declare const config: ModelConfig;
 * declare const source: MemoryWeightSource;
 * const arch = architectureForSource(config, source);
 * ```
 *
 * @param config The parsed configuration.
 * @param source Anything that tells whether a tensor exists.
 * @returns The architecture description.
 */
export function architectureForSource(
  config: ModelConfig,
  source: { has(name: string): boolean },
): Architecture {
  const namer = config.modelType === "opt" ? optNames : llamaNames;
  const candidates = [LM_HEAD, ...PREFIXES.map((p) => namer(p).embed)];
  return architectureFor(config, candidates.filter((c) => source.has(c)));
}

function spec(arch: Architecture, role: LinearRole): LinearSpec {
  const s = arch.linears.find((l) => l.role === role);
  if (!s) {
    throw new RangeError(
      `A ${arch.family} decoder layer has no "${role}" linear layer (it has ${
        arch.linears.map((l) => l.role).join(", ")
      })`,
    );
  }
  return s;
}

function checkLayer(arch: Architecture, layer: number): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= arch.numLayers) {
    throw new RangeError(`Layer ${layer} does not exist: the model has ${arch.numLayers} layers`);
  }
}

/**
 * Substitutes the layer index into a tensor-name pattern.
 *
 * @example Fill in the layer index
 * ```ts
 * import { layerName } from "./arch.ts";
 *
 * layerName("model.layers.{i}.mlp.up_proj.weight", 3); // "model.layers.3.mlp.up_proj.weight"
 * ```
 */
export function layerName(pattern: string, layer: number): string {
  return pattern.replace("{i}", String(layer));
}

/**
 * The linear layer spec of a role (throws when the family has no such role).
 *
 * @example The down projection reads the FFN activation
 * ```ts
 * import { type Architecture, linearSpec } from "./arch.ts";
 *
 * declare const arch: Architecture; // a LLaMA checkpoint
 * const down = linearSpec(arch, "down");
 * console.log(down.cols === arch.ffnSize, down.input); // true ffn_act
 * ```
 */
export function linearSpec(arch: Architecture, role: LinearRole): LinearSpec {
  return spec(arch, role);
}

/**
 * The tensor names of one linear layer of one decoder layer.
 *
 * @example Read the query projection of layer 5
 * ```ts
 * import { type WeightSource } from "@sparsellm/sparsellm";
 * import { type Architecture, linearTensorName } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * declare const source: WeightSource;
 * const { weight, bias } = linearTensorName(arch, 5, "q");
 * const w = await source.readF32(weight);
 * ```
 *
 * @returns `weight` and, when the layer has one, `bias`.
 */
export function linearTensorName(
  arch: Architecture,
  layer: number,
  role: LinearRole,
): { weight: string; bias?: string } {
  checkLayer(arch, layer);
  const s = spec(arch, role);
  return {
    weight: layerName(s.weight, layer),
    ...(s.bias ? { bias: layerName(s.bias, layer) } : {}),
  };
}

/**
 * Every tensor name of one decoder layer (norms, then linear weights and biases).
 *
 * @example Find the tensors a layer lacks
 * ```ts
 * import { type WeightSource } from "@sparsellm/sparsellm";
 * import { type Architecture, layerTensorNames } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * declare const source: WeightSource;
 * const missing = layerTensorNames(arch, 0).filter((name) => !source.has(name));
 * ```
 */
export function layerTensorNames(arch: Architecture, layer: number): string[] {
  checkLayer(arch, layer);
  const out: string[] = [];
  for (const nrm of [arch.attnNorm, arch.ffnNorm]) {
    out.push(layerName(nrm.weight, layer));
    if (nrm.bias) out.push(layerName(nrm.bias, layer));
  }
  if (arch.qkNorm) {
    out.push(layerName(arch.qkNorm.q.weight, layer), layerName(arch.qkNorm.k.weight, layer));
  }
  for (const l of arch.linears) {
    out.push(layerName(l.weight, layer));
    if (l.bias) out.push(layerName(l.bias, layer));
  }
  return out;
}

/**
 * The prunable linear layers of a decoder layer, in forward order.
 *
 * @example The matrices pruning touches
 * ```ts
 * import { type Architecture, prunableLinears } from "./arch.ts";
 *
 * declare const arch: Architecture; // an OPT checkpoint
 * prunableLinears(arch); // ["q", "k", "v", "o", "fc1", "fc2"]
 * ```
 */
export function prunableLinears(arch: Architecture): LinearRole[] {
  return arch.linears.map((l) => l.role);
}

/**
 * Every tensor the forward pass needs, with its expected shape.
 *
 * @example List every tensor with its shape
 * ```ts
 * import { type Architecture, expectedShapes } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * for (const [name, shape] of expectedShapes(arch)) console.log(name, shape.join("x"));
 * ```
 */
export function expectedShapes(arch: Architecture): Map<string, number[]> {
  const d = arch.hiddenSize;
  const m = new Map<string, number[]>();
  m.set(arch.embedTokens, [arch.vocabSize, d]);
  if (!arch.tiedHead) m.set(arch.lmHead, [arch.vocabSize, d]);
  if (arch.positions.kind === "learned") m.set(arch.positions.tensor, [arch.positions.rows, d]);
  m.set(arch.finalNorm.weight, [d]);
  if (arch.finalNorm.bias) m.set(arch.finalNorm.bias, [d]);
  for (let i = 0; i < arch.numLayers; i++) {
    for (const nrm of [arch.attnNorm, arch.ffnNorm]) {
      m.set(layerName(nrm.weight, i), [d]);
      if (nrm.bias) m.set(layerName(nrm.bias, i), [d]);
    }
    if (arch.qkNorm) {
      m.set(layerName(arch.qkNorm.q.weight, i), [arch.headDim]);
      m.set(layerName(arch.qkNorm.k.weight, i), [arch.headDim]);
    }
    for (const l of arch.linears) {
      m.set(layerName(l.weight, i), [l.rows, l.cols]);
      if (l.bias) m.set(layerName(l.bias, i), [l.rows]);
    }
  }
  return m;
}

const FLOAT = new Set(["F32", "F16", "BF16"]);

/**
 * Checks one tensor's presence, shape and dtype.
 *
 * @example Catch a transposed tensor
 * ```ts
 * import { checkTensor } from "./arch.ts";
 * import { MemoryWeightSource } from "./weights.ts";
 *
 * const source = new MemoryWeightSource({
 *   "lm_head.weight": { shape: [2, 3], data: new Float32Array(6) },
 * });
 * checkTensor(source, "lm_head.weight", [2, 3]); // passes
 * checkTensor(source, "lm_head.weight", [3, 2]); // throws RangeError naming both shapes
 * ```
 *
 * @throws {RangeError} Naming the tensor and both shapes when it is missing or misshapen.
 */
export function checkTensor(
  source: { has(name: string): boolean; info(name: string): WeightInfo },
  name: string,
  shape: readonly number[],
): void {
  if (!source.has(name)) {
    throw new RangeError(`Tensor "${name}" of shape [${shape.join(", ")}] is missing`);
  }
  const info = source.info(name);
  if (info.shape.length !== shape.length || info.shape.some((v, i) => v !== shape[i])) {
    throw new RangeError(
      `Tensor "${name}" has shape [${info.shape.join(", ")}] but the config implies [${
        shape.join(", ")
      }]`,
    );
  }
  if (!FLOAT.has(info.dtype)) {
    throw new RangeError(
      `Tensor "${name}" has dtype ${info.dtype}; expected one of F32, F16, BF16`,
    );
  }
}

/**
 * Checks that every tensor the forward pass needs exists with the right shape and a float
 * dtype.
 *
 * @example Validate a checkpoint before loading it
 * ```ts
 * import { architectureForSource, validateWeights } from "./arch.ts";
 * import { parseModelConfig } from "./config.ts";
 * import { CheckpointReader } from "@sparsellm/sparsellm/io";
 *
 * const reader = await CheckpointReader.open("testdata/models/llama-small");
 * const arch = architectureForSource(parseModelConfig(reader.config, "config.json"), reader);
 * validateWeights(arch, reader); // throws RangeError naming the first bad tensor
 * reader.close();
 * ```
 *
 * @throws {RangeError} Naming the first missing or misshapen tensor and both shapes.
 */
export function validateWeights(
  arch: Architecture,
  source: { has(name: string): boolean; info(name: string): WeightInfo },
): void {
  for (const [name, shape] of expectedShapes(arch)) checkTensor(source, name, shape);
}

/**
 * Where the rows of one projection live: its own linear (`start` 0, all rows) or a block of a
 * fused linear (Phi-3's q, k, v in `qkv`, gate and up in `gate_up`).
 *
 * @example Locate the key projection in a fused qkv_proj
 * ```ts
 * import { type Architecture, projectionRows } from "./arch.ts";
 *
 * declare const arch: Architecture; // a Phi-3 checkpoint
 * const k = projectionRows(arch, "k");
 * console.log(k.linear.role, k.start, k.rows); // qkv numHeads·headDim numKvHeads·headDim
 * ```
 *
 * @throws {RangeError} When no linear of the family plays the role.
 */
export function projectionRows(
  arch: Architecture,
  role: LinearRole,
): { linear: LinearSpec; start: number; rows: number } {
  for (const l of arch.linears) {
    if (l.role === role) return { linear: l, start: 0, rows: l.rows };
    const p = l.parts?.find((x) => x.role === role);
    if (p) return { linear: l, start: p.start, rows: p.rows };
  }
  return { linear: spec(arch, role), start: 0, rows: 0 };
}

/**
 * A human-readable description of an architecture: the family, the config features in use and
 * the prunable matrices of one decoder layer.
 *
 * @example Print what `inspect` shows about a checkpoint's family
 * ```ts
 * import { type ArchitectureDescription, describeArchitecture } from "./arch.ts";
 * import type { Architecture } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * const d: ArchitectureDescription = describeArchitecture(arch);
 * console.log(d.family, d.features.join(", "));
 * for (const m of d.matrices) console.log(m.name, `${m.rows}x${m.cols}`, m.parts ?? "");
 * ```
 */
export interface ArchitectureDescription {
  /** The config's `model_type`. */
  modelType: string;
  /** Forward-pass family: `opt` or `llama` (LLaMA-like). */
  family: string;
  /** Features in use, one short phrase each (attention kind, window, rope, norm, fused, tied...). */
  features: string[];
  /** The prunable matrices of decoder layer 0 (the same in every layer), in forward order. */
  matrices: {
    role: LinearRole;
    name: string;
    rows: number;
    cols: number;
    /** Fused matrices: the row blocks, e.g. `q 0..63 | k 64..95 | v 96..127`. */
    parts?: string;
  }[];
}

/**
 * Describes an architecture for `inspect`: family, features (GQA / MQA, sliding window, RoPE
 * type and scaling, norm kind, activation, fused projections, tied embeddings, q/k norms) and the
 * prunable matrices with their shapes.
 */
export function describeArchitecture(arch: Architecture): ArchitectureDescription {
  const c = arch.config, f: string[] = [];
  if (arch.numKvHeads === arch.numHeads) f.push(`multi-head attention (${arch.numHeads} heads)`);
  else if (arch.numKvHeads === 1) {
    f.push(`multi-query attention (${arch.numHeads} heads, 1 kv head)`);
  } else f.push(`grouped-query attention (${arch.numHeads} heads, ${arch.numKvHeads} kv heads)`);
  if (arch.headDim * arch.numHeads !== arch.hiddenSize) {
    f.push(
      `head_dim ${arch.headDim} (heads x head_dim ${
        arch.numHeads * arch.headDim
      } != hidden ${arch.hiddenSize})`,
    );
  }
  if (arch.slidingWindow !== null) f.push(`sliding window ${arch.slidingWindow}`);
  const p = arch.positions;
  if (p.kind === "learned") f.push(`learned positions (${p.rows - p.offset})`);
  else {
    const s = p.scaling;
    const scaling = s.type === "default"
      ? "default"
      : s.type === "linear"
      ? `linear, factor ${s.factor}`
      : `llama3, factor ${s.factor}, low/high freq factor ${s.lowFreqFactor}/${s.highFreqFactor}, ` +
        `original context ${s.originalMaxPositions}`;
    f.push(`rope (theta ${p.theta}, ${scaling})`);
  }
  f.push(
    arch.norm === "layernorm"
      ? "layernorm"
      : arch.normWeightOffset !== 0
      ? `rmsnorm x*(${arch.normWeightOffset}+w)`
      : "rmsnorm",
  );
  if (arch.qkNorm) f.push("q/k rmsnorm per head");
  f.push(
    arch.activation === "relu"
      ? "relu"
      : arch.activation === "silu-glu"
      ? "silu gated (SwiGLU)"
      : "gelu-tanh gated (GeGLU)",
  );
  if (arch.embedScale !== 1) f.push(`embeddings x ${arch.embedScale}`);
  const fusedRoles = arch.linears.filter((l) => l.parts).map((l) => l.role);
  if (fusedRoles.length) f.push(`fused ${fusedRoles.join(", ")}`);
  const biased = arch.linears.filter((l) => l.bias).map((l) => l.role);
  if (biased.length) f.push(`biases on ${biased.join(", ")}`);
  f.push(arch.tiedHead ? "tied embeddings" : "untied lm_head");
  return {
    modelType: c.modelType,
    family: arch.family,
    features: f,
    matrices: arch.linears.map((l) => ({
      role: l.role,
      name: layerName(l.weight, 0),
      rows: l.rows,
      cols: l.cols,
      ...(l.parts
        ? {
          parts: l.parts.map((x) => `${x.role} ${x.start}..${x.start + x.rows - 1}`).join(" | "),
        }
        : {}),
    })),
  };
}

/**
 * The lines `inspect` prints for an {@linkcode ArchitectureDescription}: the family with its
 * features, then one line per prunable matrix (shape, and the row blocks of fused ones).
 *
 * @example Print a description
 * ```ts
 * import { architectureLines, type Architecture, describeArchitecture } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * for (const line of architectureLines(describeArchitecture(arch))) console.log(line);
 * // family       llama (model_type phi3): grouped-query attention (4 heads, 2 kv heads), ...
 * // matrix       model.layers.{i}.self_attn.qkv_proj.weight 128x64 (fused: q 0..63 | ...)
 * ```
 */
export function architectureLines(d: ArchitectureDescription): string[] {
  const out = [`family       ${d.family} (model_type ${d.modelType}): ${d.features.join(", ")}`];
  for (const m of d.matrices) {
    const name = m.name.replace(/\.0\./, ".{i}.");
    out.push(
      `matrix       ${m.role.padEnd(8)} ${name} ${m.rows}x${m.cols}` +
        (m.parts ? ` (fused, pruned whole: ${m.parts})` : ""),
    );
  }
  return out;
}
