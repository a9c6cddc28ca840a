/**
 * The lower triangle of a matrix product, C = alpha·op(A)·op(B) + beta·C restricted to the
 * entries with row ≥ column (plus the upper halves of small diagonal blocks), built from a few
 * batched {@linkcode matmul} dispatches.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { matmul } from "../kernels/matmul.ts";

/** Arguments of {@linkcode recordLowerProduct}. */
export interface LowerProductArgs {
  /** Left operand: row i of op(A) gives row i of C. */
  a: GpuTensor;
  /** Right operand: column j of op(B) gives column j of C. */
  b: GpuTensor;
  /** Output (may share a buffer with `a` and `b` when the entries written are not read). */
  c: GpuTensor;
  /** Order of the square region of C. */
  m: number;
  /** Inner dimension. */
  K: number;
  /** Use Aᵀ (A stored K×m). */
  transA?: boolean;
  /** Use Bᵀ (B stored m×K). */
  transB?: boolean;
  /** Leading dimension of A (default dense). */
  lda?: number;
  /** Leading dimension of B (default dense). */
  ldb?: number;
  /** Leading dimension of C (default m). */
  ldc?: number;
  /** Element offset into A. */
  offA?: number;
  /** Element offset into B. */
  offB?: number;
  /** Element offset into C. */
  offC?: number;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of the existing C (default 0). */
  beta?: number;
  /** Size of the diagonal blocks computed as full squares (default 64, the matmul tile). */
  leaf?: number;
}

/**
 * Records the lower triangle of `C = alpha·op(A)·op(B) + beta·C` (m×m). The triangle is split
 * recursively: each level is one batched matmul over equal s×s rectangles below the diagonal
 * (plus one for a ragged edge), and the leaf-sized diagonal blocks are computed whole, so an
 * m×m update takes about 2·log2(m/64) + 2 dispatches and ~m²·K flops (half a full product).
 * Entries above the diagonal inside the leaf blocks are computed too; others are untouched.
 */
export function recordLowerProduct(batch: Batch, x: LowerProductArgs): void {
  const { m, K } = x;
  if (m <= 0 || K <= 0) return;
  const transA = x.transA ?? false, transB = x.transB ?? false;
  const lda = x.lda ?? (transA ? m : K), ldb = x.ldb ?? (transB ? K : m), ldc = x.ldc ?? m;
  const offA = x.offA ?? 0, offB = x.offB ?? 0, offC = x.offC ?? 0;
  const leaf = x.leaf ?? 64;
  const rect = (i0: number, j0: number, M: number, N: number, count: number, step: number) => {
    matmul(batch, {
      a: x.a,
      b: x.b,
      c: x.c,
      M,
      N,
      K,
      transA,
      transB,
      lda,
      ldb,
      ldc,
      offA: offA + (transA ? i0 : i0 * lda),
      offB: offB + (transB ? j0 * ldb : j0),
      offC: offC + i0 * ldc + j0,
      alpha: x.alpha ?? 1,
      beta: x.beta ?? 0,
      count,
      strideA: transA ? step : step * lda,
      strideB: transB ? step * ldb : step,
      strideC: step * ldc + step,
    });
  };
  let s = leaf;
  while (2 * s < m) s *= 2;
  for (; s >= leaf; s /= 2) {
    const full = Math.floor(m / (2 * s));
    if (full > 0) rect(s, 0, s, s, full, 2 * s);
    const rem = m - full * 2 * s;
    if (rem > s) rect(full * 2 * s + s, full * 2 * s, rem - s, s, 1, 0);
  }
  const nl = Math.floor(m / leaf);
  if (nl > 0) rect(0, 0, leaf, leaf, nl, leaf);
  const r = m - nl * leaf;
  if (r > 0) rect(nl * leaf, nl * leaf, r, r, 1, 0);
}
