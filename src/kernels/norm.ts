/**
 * Typed wrapper for the row-wise LayerNorm / RMSNorm kernel (`kernels/norm.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { NORM_WGSL } from "./norm.wgsl.ts";

const WG = 64;

/** Normalisation kinds: LayerNorm (mean and variance) or RMSNorm (root mean square). */
export type NormKind = "layernorm" | "rmsnorm";

/** Arguments of {@linkcode norm}: `y[r] = norm(x[r]) * (weight + weightOffset) (+ bias)` for `rows` rows. */
export interface NormArgs {
  /** Which normalisation. */
  kind: NormKind;
  /** Input rows. */
  x: GpuTensor;
  /** Output rows (must not share a buffer with `x`). */
  y: GpuTensor;
  /** Scale, `cols` values. */
  weight: GpuTensor;
  /** Optional shift, `cols` values. */
  bias?: GpuTensor;
  /** Number of rows. */
  rows: number;
  /** Values per row. */
  cols: number;
  /** Epsilon added to the variance (or mean square). */
  eps: number;
  /** Added to each weight before it scales (Gemma's `x·(1 + w)`: 1; default 0). */
  weightOffset?: number;
  /** Row stride of `x` in elements (default `cols`). */
  ldx?: number;
  /** Row stride of `y` in elements (default `cols`). */
  ldy?: number;
  /** Element offset of the first row of `x`. */
  offX?: number;
  /** Element offset of the first row of `y`. */
  offY?: number;
}

/** The norm kernel descriptor for a kind and bias choice. */
export function normKernel(kind: NormKind, hasBias: boolean): Kernel {
  return {
    name: "norm",
    source: NORM_WGSL,
    bindings: ["read", "read", "read", "storage", "uniform"],
    constants: { RMS: +(kind === "rmsnorm"), HAS_BIAS: +hasBias, WG },
  };
}

/** Records a row-wise LayerNorm or RMSNorm into a batch (one invocation per row, f32). */
export function norm(batch: Batch, a: NormArgs): void {
  const u = new Uniforms()
    .u32(a.rows, a.cols, a.ldx ?? a.cols, a.ldy ?? a.cols, a.offX ?? 0, a.offY ?? 0)
    .f32(a.eps, a.weightOffset ?? 0);
  batch.dispatch(
    normKernel(a.kind, a.bias !== undefined),
    [a.x, a.weight, a.bias ?? a.weight, a.y],
    u.bytes(),
    [Math.ceil(a.rows / WG)],
  );
}
