/**
 * Float64 CPU reference of the ADMM pruner (src/prune/admm.ts) and the exact masked least-squares
 * solution it converges to for a fixed mask (plain loops, row-major, row = output).
 *
 * @module
 */

import { cholesky64, invLower64, matmul64, spdInverse64 } from "./linalg_ref.ts";

/** Pattern of the reference (same shape as `SparsityPattern`). */
export type RefPattern =
  | { kind: "unstructured"; sparsity: number }
  | { kind: "nm"; n: number; m: number };

/** Options of {@linkcode admm64} (the defaults of `admm`). */
export interface Admm64Options {
  iterations?: number;
  maskSteps?: number;
  rho?: number;
  percdamp?: number;
  schedule?: "cubic" | "constant";
  scope?: "matrix" | "row";
}

/** Result of {@linkcode admm64}. */
export interface Admm64Result {
  /** The pruned weights in the original coordinates. */
  W: Float64Array;
  /** 1 where pruned. */
  mask: Uint8Array;
  /** ‖W − Z‖ / ‖Z‖ after the last iteration (normalised coordinates). */
  residual: number;
}

/** Zeroes, in place, the k entries of smallest score among `idx` (ties: the lower index first). */
function pruneK(score: ArrayLike<number>, idx: number[], k: number, keep: Uint8Array): void {
  const order = idx.slice().sort((a, b) => score[a] - score[b] || a - b);
  for (let i = 0; i < k; i++) keep[order[i]] = 0;
}

/** The mask (1 = kept) of V for sparsity s at mask step t, by the rules of `admm`. */
function selectMask(
  V: Float64Array,
  rows: number,
  cols: number,
  pattern: RefPattern,
  s: number,
  last: boolean,
  scope: "matrix" | "row",
): Uint8Array {
  const keep = new Uint8Array(rows * cols).fill(1);
  const abs = V.map(Math.abs);
  const all = Array.from({ length: rows * cols }, (_, i) => i);
  if (pattern.kind === "unstructured") {
    if (scope === "row") {
      for (let r = 0; r < rows; r++) {
        const idx = all.slice(r * cols, (r + 1) * cols);
        pruneK(abs, idx, Math.floor(cols * s), keep);
      }
    } else {
      pruneK(abs, all, Math.floor(rows * cols * s), keep);
    }
    return keep;
  }
  const { n, m } = pattern;
  if (last) {
    for (let g = 0; g < rows * cols; g += m) pruneK(abs, all.slice(g, g + m), n, keep);
    return keep;
  }
  // the M − N largest of each group (of equal values the higher column) are never pruned
  const score = Float64Array.from(abs);
  for (let g = 0; g < rows * cols; g += m) {
    const order = all.slice(g, g + m).sort((a, b) => abs[b] - abs[a] || b - a);
    for (let i = 0; i < m - n; i++) score[order[i]] = Infinity;
  }
  pruneK(score, all, Math.floor(rows * cols * s), keep);
  return keep;
}

/**
 * ADMM pruning in float64, step by step as `admm` records it: normalise by d = sqrt(diag H),
 * A = D⁻¹HD⁻¹ + δI, K = (A + ρI)⁻¹, then per iteration V = W + U, mask (while t < maskSteps),
 * Z = mask ⊙ V, U = V − Z, W = (W'A + ρ(Z − U))·K; the result is mask ⊙ (W + U) · D⁻¹.
 */
export function admm64(
  W0: ArrayLike<number>,
  rows: number,
  cols: number,
  H: ArrayLike<number>,
  pattern: RefPattern,
  opts: Admm64Options = {},
): Admm64Result {
  const T = opts.iterations ?? 20, P = opts.maskSteps ?? Math.min(15, T);
  const rho = opts.rho ?? 0.3, delta = opts.percdamp ?? 0.01;
  const cubic = (opts.schedule ?? "cubic") === "cubic", scope = opts.scope ?? "matrix";
  const target = pattern.kind === "unstructured" ? pattern.sparsity : pattern.n / pattern.m;
  const d = Float64Array.from({ length: cols }, (_, j) => {
    const h = H[j * cols + j];
    return h > 0 ? Math.sqrt(h) : 1;
  });
  const Wp = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      Wp[r * cols + j] = H[j * cols + j] === 0 ? 0 : W0[r * cols + j] * d[j];
    }
  }
  const A = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      A[i * cols + j] = H[Math.max(i, j) * cols + Math.min(i, j)] / (d[i] * d[j]) +
        (i === j ? delta : 0);
    }
  }
  const WA = matmul64(Wp, A, rows, cols, cols);
  const Ar = Float64Array.from(A);
  for (let i = 0; i < cols; i++) Ar[i * cols + i] += rho;
  const K = spdInverse64(Ar, cols);
  let W: Float64Array = Float64Array.from(Wp);
  const U = new Float64Array(rows * cols);
  const V = new Float64Array(rows * cols);
  let keep: Uint8Array = new Uint8Array(rows * cols).fill(1);
  const B = new Float64Array(rows * cols);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < V.length; i++) V[i] = W[i] + U[i];
    if (t < P) {
      const s = cubic ? target - target * (1 - (t + 1) / P) ** 3 : target;
      keep = selectMask(V, rows, cols, pattern, s, t === P - 1, scope);
    }
    for (let i = 0; i < V.length; i++) {
      const z = keep[i] ? V[i] : 0;
      U[i] = V[i] - z;
      B[i] = WA[i] + rho * (z - U[i]);
    }
    W = matmul64(B, K, rows, cols, cols);
  }
  const out = new Float64Array(rows * cols);
  const mask = new Uint8Array(rows * cols);
  let num = 0, den = 0;
  for (let i = 0; i < out.length; i++) {
    const z = keep[i] ? W[i] + U[i] : 0;
    num += (W[i] - z) ** 2;
    den += z * z;
    out[i] = z / d[i % cols];
    mask[i] = keep[i] ? 0 : 1;
  }
  return { W: out, mask, residual: Math.sqrt(num / den) };
}

/**
 * The exact minimiser of Σ_rows (ŵ − w)·G·(ŵ − w)ᵀ over ŵ with zeros where `mask` is 1, per row:
 * ŵ_S = w_S + G_SS⁻¹·G_SP·w_P (S the kept columns, P the pruned ones). G must be SPD.
 */
export function maskedLeastSquares64(
  W: ArrayLike<number>,
  rows: number,
  cols: number,
  G: ArrayLike<number>,
  mask: Uint8Array,
): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const S: number[] = [], Pr: number[] = [];
    for (let j = 0; j < cols; j++) (mask[r * cols + j] ? Pr : S).push(j);
    const n = S.length;
    if (n === 0) continue;
    const Gss = new Float64Array(n * n);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) Gss[a * n + b] = G[S[a] * cols + S[b]];
    const rhs = new Float64Array(n);
    for (let a = 0; a < n; a++) {
      let v = 0;
      for (const p of Pr) v += G[S[a] * cols + p] * W[r * cols + p];
      rhs[a] = v;
    }
    // Gss⁻¹·rhs through Cholesky: L⁻ᵀ·(L⁻¹·rhs)
    const Li = invLower64(cholesky64(Gss, n).L, n);
    const y = matmul64(Li, rhs, n, n, 1);
    const x = matmul64(Li, y, n, n, 1, true);
    for (let a = 0; a < n; a++) out[r * cols + S[a]] = W[r * cols + S[a]] + x[a];
  }
  return out;
}
