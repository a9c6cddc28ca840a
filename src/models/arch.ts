/**
 * Architectures as data: tensor names, norm kind, activation, position scheme, biases and the
 * linear layers of a decoder layer, for the OPT and LLaMA families (Mistral, Qwen2, Qwen3,
 * Gemma and Phi-3 are LLaMA-like; Phi-3's fused `qkv_proj` / `gate_up_proj` are one linear each,
 * whose output rows the layer runner splits). One layer runner ({@linkcode ./layer.ts}) reads these descriptions.
 * This file holds the types; `families.ts` builds an architecture from a config,
 * `tensor_names.ts` names its tensors, `validate.ts` checks a checkpoint against it and
 * `describe.ts` describes it for `inspect`.
 *
 * @module
 */

import type { ModelConfig, RopeScaling } from "./config.ts";

/**
 * The linear layers of a decoder layer.
 *
 * @example Name the fc1 tensors of layer 0
 * ```ts
 * import { type LinearRole } from "@sparsellm/sparsellm";
 * import { type Architecture } from "./arch.ts";
 * import { linearTensorName } from "./tensor_names.ts";
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
 * import { type Architecture, type LinearPart } from "./arch.ts";
 * import { linearSpec } from "./tensor_names.ts";
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
 * import { type Architecture, type LinearSpec } from "./arch.ts";
 * import { linearSpec } from "./tensor_names.ts";
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
 * import { type Architecture, type NormSpec } from "./arch.ts";
 * import { layerName } from "./tensor_names.ts";
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
 * import { type Architecture } from "./arch.ts";
 * import { architectureFor } from "./families.ts";
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
