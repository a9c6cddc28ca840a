/**
 * Where the grids of a layer's quantized matrices are kept while a method prunes it: solvers
 * that quantize (SparseGPT's sweep) report each matrix's grids here, keyed by the weight's GPU
 * buffer; SparseLLM marks the iterate it keeps, so that the grids match the weights it restores.
 *
 * @module
 */

import type { GpuTensor } from "../gpu/tensor.ts";
import type { QuantSpec } from "./grid.ts";

/** The grids of one quantized matrix and what rounding did. */
export interface QuantOutcome {
  /** How it was quantized. */
  spec: QuantSpec;
  /**
   * With error compensation in the column sweep (`joint`: SparseGPT's, or GPTQ with ADMM's mask
   * fixed) or round-to-nearest after pruning (`rtn`).
   */
  mode: "joint" | "rtn";
  /** rows × groups × 2 f32: scale, zero. */
  grid: Float32Array<ArrayBuffer>;
  /** Kept (unpruned) weights that rounded to 0. */
  keptZeros: number;
  /** Σ (w − q)² / Σ w² over the kept weights (w just before rounding). */
  relError: number;
  /** Σ w² over the kept weights (the denominator of `relError`), when known. */
  keptNorm?: number;
}

/**
 * The outcome of a matrix whose rows are `parts` stacked in order (a fused projection such as
 * Phi-3's `gate_up_proj`, quantized as its halves): grids are per row, so the fused grids are
 * the parts' grids one after the other, and the parts' rounding statistics add up (`relError`
 * weighted by each part's `keptNorm`, or equally where a part lacks it).
 */
export function stackOutcomes(parts: readonly QuantOutcome[]): QuantOutcome {
  if (parts.length === 0) throw new RangeError("Cannot stack the grids of no matrices");
  const spec = parts[0].spec;
  const grid = new Float32Array(parts.reduce((n, p) => n + p.grid.length, 0));
  let at = 0, keptZeros = 0, err = 0, norm = 0;
  const known = parts.every((p) => p.keptNorm !== undefined);
  for (const p of parts) {
    if (JSON.stringify(p.spec) !== JSON.stringify(spec)) {
      throw new RangeError(
        `Cannot stack grids of different quantization specs ${JSON.stringify(spec)} and ` +
          `${JSON.stringify(p.spec)}`,
      );
    }
    grid.set(p.grid, at);
    at += p.grid.length;
    keptZeros += p.keptZeros;
    const w = known ? p.keptNorm! : 1;
    err += p.relError * w;
    norm += w;
  }
  return {
    spec,
    mode: parts.every((p) => p.mode === "joint") ? "joint" : "rtn",
    grid,
    keptZeros,
    relError: norm > 0 ? err / norm : 0,
    ...(known ? { keptNorm: norm } : {}),
  };
}

/** Hooks a solver and SparseLLM call (see {@linkcode QuantRecorder.hooks}). */
export interface QuantHooks {
  /** A solver quantized `w`. */
  onQuantized: (w: GpuTensor, outcome: QuantOutcome) => void;
  /** SparseLLM keeps the current iterate of these weights as its best so far. */
  onKeep: (weights: readonly GpuTensor[]) => void;
  /** SparseLLM restored the kept iterate of these weights. */
  onRestore: (weights: readonly GpuTensor[]) => void;
}

/** The grids of one layer's quantized matrices. */
export class QuantRecorder {
  #latest = new Map<GPUBuffer, QuantOutcome>();
  #kept = new Map<GPUBuffer, QuantOutcome>();

  /** The hooks to hand to solvers and SparseLLM. */
  hooks(): QuantHooks {
    return {
      onQuantized: (w, o) => this.#latest.set(w.buffer, o),
      onKeep: (ws) => {
        for (const w of ws) {
          const o = this.#latest.get(w.buffer);
          if (o) this.#kept.set(w.buffer, o);
        }
      },
      onRestore: (ws) => {
        for (const w of ws) {
          const o = this.#kept.get(w.buffer);
          if (o) this.#latest.set(w.buffer, o);
        }
      },
    };
  }

  /** What the last quantizing solve of `w` (or the restored iterate) reported, if any. */
  get(w: GpuTensor): QuantOutcome | undefined {
    return this.#latest.get(w.buffer);
  }
}
