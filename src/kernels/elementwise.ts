/**
 * Typed wrapper for the in-place residual add `y += alpha·x` (`kernels/elementwise.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { ELEMENTWISE_WGSL } from "./elementwise.wgsl.ts";

const WG = 64;

/** The elementwise kernel descriptor (`y += alpha·x`). */
export function elementwiseKernel(): Kernel {
  return {
    name: "elementwise",
    source: ELEMENTWISE_WGSL,
    bindings: ["read", "storage", "uniform"],
    constants: { WG },
  };
}

/** Arguments of {@linkcode addInPlace}. */
export interface AddArgs {
  /** Added vector. */
  x: GpuTensor;
  /** Updated vector (must not share a buffer with `x`). */
  y: GpuTensor;
  /** Number of elements. */
  n: number;
  /** Scale of `x` (default 1). */
  alpha?: number;
  /** Element offset into `x`. */
  offX?: number;
  /** Element offset into `y`. */
  offY?: number;
}

/** Records `y[offY + e] += alpha · x[offX + e]` for `e < n` (a residual add) into a batch. */
export function addInPlace(batch: Batch, a: AddArgs): void {
  const u = new Uniforms().u32(a.n, a.offX ?? 0, a.offY ?? 0).f32(a.alpha ?? 1);
  batch.dispatch(elementwiseKernel(), [a.x, a.y], u.bytes(), [Math.ceil(a.n / WG)]);
}
