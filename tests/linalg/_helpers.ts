/**
 * Shared fixtures for the GPU linear-algebra tests.
 *
 * @module
 */

import { correlatedActivations, dampedF32, hessian64 } from "../reference/linalg_ref.ts";

/** A realistic damped Hessian (XᵀX of correlated activations + 1 % damping), f32 values. */
export function realisticHessian(
  n: number,
  seed: number,
  tokens = 2 * n,
): Float32Array<ArrayBuffer> {
  const x = correlatedActivations(tokens, n, seed);
  return dampedF32(hessian64(x, tokens, n, tokens / 16), n, 0.01);
}
