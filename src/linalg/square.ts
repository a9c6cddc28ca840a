/**
 * Shape checks shared by the linear-algebra functions.
 *
 * @module
 */

import type { GpuTensor } from "../gpu/tensor.ts";

/** The order of a square matrix tensor, checked. */
export function squareOrder(t: GpuTensor, what: string): number {
  const n = t.shape[0];
  if (t.shape.length !== 2 || t.shape[1] !== n || n < 1) {
    throw new TypeError(
      `Cannot use ${what} of shape [${t.shape.join(", ")}]: expected a square matrix [n, n]`,
    );
  }
  return n;
}
