/**
 * A human-readable description of an {@linkcode Architecture} for `inspect`: the family, the
 * config features in use and the prunable matrices.
 *
 * @module
 */

import type { Architecture, LinearRole } from "./arch.ts";
import { layerName } from "./tensor_names.ts";

/**
 * A human-readable description of an architecture: the family, the config features in use and
 * the prunable matrices of one decoder layer.
 *
 * @example Print what `inspect` shows about a checkpoint's family
 * ```ts
 * import { type ArchitectureDescription, describeArchitecture } from "./describe.ts";
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
 * import { architectureLines, describeArchitecture } from "./describe.ts";
 * import { type Architecture } from "./arch.ts";
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
