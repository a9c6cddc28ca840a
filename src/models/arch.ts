/**
 * Architectures as data: tensor names, norm kind, activation, position scheme, biases and the
 * linear layers of a decoder layer, for the OPT and LLaMA families (Mistral and Qwen2 are
 * LLaMA-like). One layer runner ({@linkcode ./layer.ts}) reads these descriptions.
 *
 * @module
 */

import type { ModelConfig } from "./config.ts";
import type { WeightInfo } from "./weights.ts";

/**
 * The linear layers of a decoder layer.
 *
 * @example Name the fc1 tensors of layer 0
 * ```ts
 * import { type Architecture, type LinearRole, linearTensorName } from "@sparsellm/sparsellm";
 *
 * declare const arch: Architecture; // an OPT checkpoint
 * const role: LinearRole = "fc1";
 * linearTensorName(arch, 0, role);
 * // { weight: "model.decoder.layers.0.fc1.weight", bias: "model.decoder.layers.0.fc1.bias" }
 * ```
 */
export type LinearRole = "q" | "k" | "v" | "o" | "fc1" | "fc2" | "gate" | "up" | "down";

/**
 * Activations a decoder layer exposes: the inputs of its linear layers.
 *
 * @example Record which activations a layer produced
 * ```ts
 * import type { ActivationTap, LayerTaps } from "@sparsellm/sparsellm";
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
 * import { type Architecture, linearSpec, type LinearSpec } from "@sparsellm/sparsellm";
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
}

/**
 * A LayerNorm or RMSNorm's tensors (names may hold `{i}`).
 *
 * @example Tensor names of layer 0's attention norm
 * ```ts
 * import { type Architecture, layerName, type NormSpec } from "@sparsellm/sparsellm";
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
 * import type { Architecture, PositionSpec } from "@sparsellm/sparsellm";
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
  };

/**
 * A model family described as data.
 *
 * @example Describe a checkpoint's family
 * ```ts
 * import { type Architecture, architectureFor, parseModelConfig } from "@sparsellm/sparsellm";
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
  /** Feed-forward activation: `relu(fc1)` or `silu(gate) · up`. */
  readonly activation: "relu" | "silu-glu";
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
    } as Partial<Record<LinearRole, string>>,
  };
}

const LM_HEAD = "lm_head.weight";

/**
 * Builds the architecture of a checkpoint from its configuration and tensor names: detects the
 * `model.` prefix (or its absence) and a tied or missing output head.
 *
 * @example Detect the tensor prefix and a tied head
 * ```ts
 * import { architectureFor, parseModelConfig } from "@sparsellm/sparsellm";
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
  ): LinearSpec => {
    const base = n.linear[role]!;
    return {
      role,
      weight: `${base}.weight`,
      ...(bias ? { bias: `${base}.bias` } : {}),
      rows,
      cols,
      input,
    };
  };
  const attn = [
    lin("q", qd, d, "attn_in", attnBias),
    lin("k", kvd, d, "attn_in", attnBias),
    lin("v", kvd, d, "attn_in", attnBias),
    lin("o", d, qd, "attn_out", oBias),
  ];
  const ffn = family === "opt"
    ? [lin("fc1", f, d, "ffn_in", mlpBias), lin("fc2", d, f, "ffn_act", mlpBias)]
    : [
      lin("gate", f, d, "ffn_in", mlpBias),
      lin("up", f, d, "ffn_in", mlpBias),
      lin("down", d, f, "ffn_act", mlpBias),
    ];
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
    activation: family === "opt" ? "relu" : "silu-glu",
    positions: optN
      ? { kind: "learned", tensor: optN.positions, offset: 2, rows: config.maxPositions + 2 }
      : { kind: "rope", theta: config.ropeTheta },
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
 * import { architectureForSource } from "@sparsellm/sparsellm";
 * import type { MemoryWeightSource, ModelConfig } from "@sparsellm/sparsellm";
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
 * import { layerName } from "@sparsellm/sparsellm";
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
 * import { type Architecture, linearSpec } from "@sparsellm/sparsellm";
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
 * import { type Architecture, linearTensorName, type WeightSource } from "@sparsellm/sparsellm";
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
 * import { type Architecture, layerTensorNames, type WeightSource } from "@sparsellm/sparsellm";
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
 * import { type Architecture, prunableLinears } from "@sparsellm/sparsellm";
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
 * import { type Architecture, expectedShapes } from "@sparsellm/sparsellm";
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
 * import { checkTensor, MemoryWeightSource } from "@sparsellm/sparsellm";
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
 * import { architectureForSource, parseModelConfig, validateWeights } from "@sparsellm/sparsellm";
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
