/**
 * Typed wrapper for `kernels/triinv.wgsl`: inverses of the diagonal blocks of a
 * lower-triangular matrix.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { TRIINV_WGSL } from "./triinv.wgsl.ts";

/** Largest diagonal block the kernel inverts. */
export const TRIINV_MAX_BLOCK: number = 64;

const TRIINV: Kernel = {
  name: "triinv",
  source: TRIINV_WGSL,
  bindings: ["read", "storage", "uniform"],
};

/**
 * Records the inverses of the diagonal `bs`×`bs` blocks of the lower-triangular n×n matrix `l`
 * into `dinv` (block i at element `i·bs·bs`, leading dimension bs, zeros above the diagonal).
 * `dinv` needs `ceil(n/bs)·bs·bs` elements.
 */
export function recordInvertDiagBlocks(
  batch: Batch,
  l: GpuTensor,
  dinv: GpuTensor,
  n: number,
  bs: number,
  ld: number = n,
  offset = 0,
): void {
  if (bs < 1 || bs > TRIINV_MAX_BLOCK) {
    throw new RangeError(`Cannot invert diagonal blocks of size ${bs}: expected 1 to 64`);
  }
  const u = new Uniforms().u32(n, ld, offset, bs);
  batch.dispatch(TRIINV, [l, dinv], u.bytes(), [Math.ceil(n / bs)]);
}
