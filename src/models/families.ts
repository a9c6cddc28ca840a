/**
 * The family descriptions: builds the {@linkcode Architecture} of a checkpoint (tensor names,
 * norms, activation, positions, biases, linear layers and fused row blocks) from its
 * configuration and tensor names.
 *
 * @module
 */

import type { ActivationTap, Architecture, LinearPart, LinearRole, LinearSpec } from "./arch.ts";
import type { ModelConfig } from "./config.ts";

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
 * import { architectureFor } from "./families.ts";
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
 * import { architectureForSource } from "./families.ts";
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
