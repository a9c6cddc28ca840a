/**
 * The lower triangle of a matrix product, C = alpha·op(A)·op(B) + beta·C restricted to the
 * entries with row ≥ column: one {@linkcode matmul} whose tiles above the diagonal are skipped.
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
}

/**
 * Records the lower triangle (diagonal included) of `C = alpha·op(A)·op(B) + beta·C` (m×m);
 * the strict upper triangle of C is left untouched. The kernel skips the tiles that lie wholly
 * above the diagonal, so the update costs about m²·K flops (half a full product) plus the
 * diagonal band of tiles.
 */
export function recordLowerProduct(batch: Batch, x: LowerProductArgs): void {
  const { m, K } = x;
  if (m <= 0 || K <= 0) return;
  matmul(batch, {
    a: x.a,
    b: x.b,
    c: x.c,
    M: m,
    N: m,
    K,
    transA: x.transA,
    transB: x.transB,
    lda: x.lda,
    ldb: x.ldb,
    ldc: x.ldc ?? m,
    offA: x.offA,
    offB: x.offB,
    offC: x.offC,
    alpha: x.alpha,
    beta: x.beta,
    lower: 0,
  });
}
