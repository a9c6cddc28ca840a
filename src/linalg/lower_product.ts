/**
 * The lower triangle of a matrix product, C = alpha·op(A)·op(B) + beta·C restricted to the
 * entries with row ≥ column: one {@linkcode matmul} whose tiles above the diagonal are skipped.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { matmul, type MatmulArgs } from "../kernels/matmul.ts";

/**
 * Arguments of {@linkcode recordLowerProduct}: those of {@linkcode matmul} for one product, with
 * the square order `m` in place of M and N.
 */
export type LowerProductArgs =
  & Omit<
    MatmulArgs,
    "M" | "N" | "lower" | "bias" | "offBias" | "count" | "strideA" | "strideB" | "strideC"
  >
  & {
    /** Order of the square region of C. */
    m: number;
  };

/**
 * Records the lower triangle (diagonal included) of `C = alpha·op(A)·op(B) + beta·C` (m×m);
 * the strict upper triangle of C is left untouched. The kernel skips the tiles that lie wholly
 * above the diagonal, so the update costs about m²·K flops (half a full product) plus the
 * diagonal band of tiles.
 */
export function recordLowerProduct(batch: Batch, x: LowerProductArgs): void {
  const { m, ...rest } = x;
  if (m <= 0 || x.K <= 0) return;
  matmul(batch, { ...rest, M: m, N: m, lower: 0 });
}
