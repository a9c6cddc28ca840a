/**
 * Float64 CPU reference of SparseGPT's `fasterprune` (IST-DASLab/sparsegpt, `sparsegpt.py`),
 * written from Algorithm 1 of Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be
 * Accurately Pruned in One-Shot" (ICML 2023), plus magnitude pruning and the layer output error
 * used by the tests.
 *
 * @module
 */

import type { SparsityPattern } from "../../src/prune/types.ts";
import { sparsegptFactor64 } from "./linalg_ref.ts";
import { type Grid64, grid64, quantize64 } from "./quant_ref.ts";

/** Result of {@linkcode sparsegpt64}. */
export interface SparseGptRef {
  /** Pruned weights, rows × cols. */
  W: Float64Array;
  /** 1 where the weight was pruned. */
  mask: Uint8Array;
  /** Σ (w − q)²/U_jj²/2 per row. */
  rowLoss: Float64Array;
  /** Absolute damping added. */
  damp: number;
  /** With `quant`: the grid of each row (and group), row-major. */
  grids?: Grid64[];
}

/** Joint quantization for {@linkcode sparsegpt64} (see src/quant/grid.ts). */
export interface Quant64 {
  /** Bits. */
  bits: number;
  /** Inputs per group (0: one grid per row, from W before pruning). */
  groupSize: number;
  /** Symmetric grid. */
  sym: boolean;
}

/**
 * SparseGPT in float64 with the reference's block structure; ties pick the lower index. With
 * `quant`, each kept weight is quantized as its column is reached and the error (w − q)/d is
 * propagated (SparseGPT's and GPTQ's `--wbits`). With `fixedMask` the pattern is not applied:
 * the weights that are 0 after dead inputs are zeroed are the pruned ones (GPTQ with a given
 * mask, as after ADMM).
 */
export function sparsegpt64(
  W0: ArrayLike<number>,
  rows: number,
  cols: number,
  H0: ArrayLike<number>,
  pattern: SparsityPattern,
  blocksize = 128,
  percdamp = 0.01,
  quant?: Quant64,
  fixedMask = false,
): SparseGptRef {
  const W = Float64Array.from(W0);
  const H = Float64Array.from(H0);
  const ng = quant?.groupSize ? Math.ceil(cols / quant.groupSize) : 1;
  const grids: Grid64[] = [];
  if (quant && !quant.groupSize) {
    for (let r = 0; r < rows; r++) {
      grids[r] = grid64(W.subarray(r * cols, (r + 1) * cols), quant.bits, quant.sym);
    }
  }
  for (let j = 0; j < cols; j++) {
    if (H[j * cols + j] === 0) {
      H[j * cols + j] = 1;
      for (let r = 0; r < rows; r++) W[r * cols + j] = 0;
    }
  }
  const given = fixedMask ? Uint8Array.from(W, (v) => (v === 0 ? 1 : 0)) : undefined;
  const { U, damp } = sparsegptFactor64(H, cols, percdamp);
  const mask = new Uint8Array(rows * cols);
  const rowLoss = new Float64Array(rows);
  for (let i1 = 0; i1 < cols; i1 += blocksize) {
    const i2 = Math.min(i1 + blocksize, cols), count = i2 - i1;
    const W1 = new Float64Array(rows * count);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < count; c++) W1[r * count + c] = W[r * cols + i1 + c];
    }
    const d = (c: number) => U[(i1 + c) * cols + i1 + c];
    const m1 = new Uint8Array(rows * count);
    const Err1 = new Float64Array(rows * count);
    if (given) {
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < count; c++) m1[r * count + c] = given[r * cols + i1 + c];
      }
    } else if (pattern.kind === "unstructured") {
      const tmp = new Float64Array(rows * count);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < count; c++) tmp[r * count + c] = W1[r * count + c] ** 2 / d(c) ** 2;
      }
      const sorted = Float64Array.from(tmp).sort();
      const thr = sorted[Math.floor(tmp.length * pattern.sparsity)];
      for (let e = 0; e < tmp.length; e++) m1[e] = tmp[e] <= thr ? 1 : 0;
    }
    for (let i = 0; i < count; i++) {
      if (!given && pattern.kind === "nm" && i % pattern.m === 0) {
        const g = Math.min(pattern.m, count - i);
        for (let r = 0; r < rows; r++) {
          const sc = Array.from(
            { length: g },
            (_, q) => W1[r * count + i + q] ** 2 / d(i + q) ** 2,
          );
          const order = sc.map((_, q) => q).sort((a, b) => sc[a] - sc[b] || a - b);
          for (let q = 0; q < Math.min(pattern.n, g); q++) m1[r * count + i + order[q]] = 1;
        }
      }
      const di = d(i);
      const gs = quant?.groupSize ?? 0;
      if (quant && gs && (i1 + i) % gs === 0) {
        for (let r = 0; r < rows; r++) {
          const x = W1.subarray(r * count + i, r * count + Math.min(i + gs, count));
          grids[r * ng + (i1 + i) / gs] = grid64(x, quant.bits, quant.sym);
        }
      }
      for (let r = 0; r < rows; r++) {
        const w = W1[r * count + i];
        let q = m1[r * count + i] ? 0 : w;
        if (quant && !m1[r * count + i]) {
          q = quantize64(w, grids[r * ng + (gs ? Math.floor((i1 + i) / gs) : 0)], quant.bits).value;
        }
        rowLoss[r] += (w - q) ** 2 / di ** 2 / 2;
        const e = (w - q) / di;
        for (let c = i + 1; c < count; c++) W1[r * count + c] -= e * U[(i1 + i) * cols + i1 + c];
        W1[r * count + i] = q;
        Err1[r * count + i] = e;
      }
    }
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < count; c++) {
        W[r * cols + i1 + c] = W1[r * count + c];
        mask[r * cols + i1 + c] = m1[r * count + c];
      }
      for (let k = 0; k < count; k++) {
        const e = Err1[r * count + k];
        if (e === 0) continue;
        const ub = (i1 + k) * cols;
        for (let c = i2; c < cols; c++) W[r * cols + c] -= e * U[ub + c];
      }
    }
  }
  return { W, mask, rowLoss, damp, ...(quant ? { grids } : {}) };
}

/**
 * Magnitude pruning as in the SparseGPT/Wanda baselines: unstructured zeroes |w| ≤ the sorted
 * |W| at index floor(numel·s) over the whole matrix; N:M zeroes the N smallest |w| per group.
 */
export function magnitude64(
  W0: ArrayLike<number>,
  rows: number,
  cols: number,
  pattern: SparsityPattern,
): Float64Array {
  const W = Float64Array.from(W0);
  if (pattern.kind === "unstructured") {
    const sorted = Float64Array.from(W, Math.abs).sort();
    const thr = sorted[Math.floor(W.length * pattern.sparsity)];
    for (let i = 0; i < W.length; i++) if (Math.abs(W[i]) <= thr) W[i] = 0;
  } else {
    for (let r = 0; r < rows; r++) {
      for (let c0 = 0; c0 < cols; c0 += pattern.m) {
        const g = Math.min(pattern.m, cols - c0);
        const idx = Array.from({ length: g }, (_, q) => r * cols + c0 + q)
          .sort((a, b) => Math.abs(W[a]) - Math.abs(W[b]) || a - b);
        for (let q = 0; q < Math.min(pattern.n, g); q++) W[idx[q]] = 0;
      }
    }
  }
  return W;
}

/** Σ_r (W − Ŵ)_r · H · (W − Ŵ)_rᵀ, i.e. ‖(W − Ŵ)X‖² up to H's scale. */
export function outputError64(
  W: ArrayLike<number>,
  What: ArrayLike<number>,
  rows: number,
  cols: number,
  H: ArrayLike<number>,
): number {
  let total = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) d[c] = W[r * cols + c] - What[r * cols + c];
    for (let i = 0; i < cols; i++) {
      if (d[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < cols; j++) s += H[i * cols + j] * d[j];
      total += d[i] * s;
    }
  }
  return total;
}
