/**
 * Typed wrapper for `kernels/add_scaled.wgsl`: `out += scale · x` in f32, with `x` repeating
 * every `period` elements (a tensor difference, a residual add, or a bias added to every row).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { ADD_SCALED_WGSL } from "./add_scaled.wgsl.ts";

const PARAMS = uniformStruct("Params", {
  count: "u32",
  period: "u32",
  scale: "f32",
  start: "u32",
  o0: "u32",
  o1: "u32",
});

/** The uniform layouts of `kernels/add_scaled.wgsl`. */
export const ADD_SCALED_UNIFORMS: readonly UniformStruct[] = [PARAMS];

const KERNEL: Kernel = {
  name: "add-scaled",
  source: ADD_SCALED_WGSL,
  bindings: ["storage", "read", "uniform"],
};

/** Arguments of {@linkcode addScaled}. */
export interface AddScaledArgs {
  /** Updated tensor (must not share a buffer with `x`). */
  out: GpuTensor;
  /** Added tensor: element `e` of `out` gets `x[e % period]`. */
  x: GpuTensor;
  /** Elements of `out` updated (from its first). */
  count: number;
  /** Period of `x` (default `count`: plain elementwise). */
  period?: number;
  /** Scale of `x` (default 1). */
  scale?: number;
}

/**
 * Records `out[e] = out[e] + scale · x[e % period]` for `e < count` (f32), in element ranges
 * whose tensors fit one binding each. An `x` longer than one binding must have
 * `period >= count` (it is then windowed together with `out`).
 */
export function addScaled(batch: Batch, a: AddScaledArgs): void {
  const gpu = batch.gpu;
  const period = a.period ?? a.count;
  if (a.count > a.out.size) {
    throw new RangeError(
      `Cannot add a scaled tensor to ${a.count} elements: out has ${a.out.size}`,
    );
  }
  if (!Number.isInteger(period) || period < 1 || period > a.x.size) {
    throw new RangeError(
      `Cannot add a scaled tensor: period ${period} must be an integer from 1 to x's ${a.x.size} elements`,
    );
  }
  const whole = period <= gpu.windowElements;
  if (!whole && period < a.count) {
    throw new RangeError(
      `Cannot add x repeating every ${period} elements (past one binding) to ${a.count} elements`,
    );
  }
  forEachFitting(gpu, 0, a.count, (lo, hi) => hi - lo, (lo, hi) => {
    const out = gpu.window(a.out, lo, hi);
    // x that fits is bound whole; a longer one (period >= count) is windowed with out
    const x = whole ? gpu.window(a.x, 0, period) : gpu.window(a.x, lo, hi);
    const u = PARAMS.pack({
      count: hi - lo,
      period,
      scale: a.scale ?? 1,
      start: lo,
      o0: -out.base,
      o1: -x.base,
    });
    batch.dispatch(KERNEL, [out, x], u, [Math.ceil((hi - lo) / 256)]);
  });
}
