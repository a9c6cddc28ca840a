/**
 * Sums of squares on the GPU (`kernels/reduce.wgsl`), for relative errors such as
 * ‖X − Y‖² / ‖Y‖².
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { REDUCE_WGSL } from "./reduce.wgsl.ts";

const GROUPS = 64;

const PARAMS = uniformStruct("Params", {
  rows: "u32",
  cols: "u32",
  ldx: "u32",
  ldy: "u32",
  offX: "u32",
  offY: "u32",
  outOff: "u32",
  accumulate: "u32",
});

/** The uniform layouts of `kernels/reduce.wgsl`. */
export const REDUCE_UNIFORMS: readonly UniformStruct[] = [PARAMS];

/** What {@linkcode recordSumSq} adds up: `sq` Σx², `diff` Σ(x−y)² and Σy², `dot` Σx·y and Σy². */
export type SumMode = "sq" | "diff" | "dot";

function reduceKernel(mode: SumMode): Kernel {
  return {
    name: "sumsq",
    source: REDUCE_WGSL,
    bindings: ["read", "read", "storage", "uniform"],
    constants: { MODE: mode === "sq" ? 0 : mode === "diff" ? 1 : 2 },
  };
}

/** A region of a row-major tensor. */
export interface Region {
  /** The tensor. */
  t: GpuTensor;
  /** Element offset of the first entry (default 0). */
  offset?: number;
  /** Leading dimension (default `cols`). */
  ld?: number;
}

/**
 * Records partial sums (see {@linkcode SumMode}) into `partial` at slot `slot` (each slot holds
 * {@linkcode SUMSQ_PARTIALS} floats)
 * (a tensor of at least 128 floats). Add the partials with {@linkcode finishSumSq}.
 */
export function recordSumSq(
  batch: Batch,
  rows: number,
  cols: number,
  x: Region,
  y: Region | undefined,
  partial: GpuTensor,
  mode: SumMode = y ? "diff" : "sq",
  slot = 0,
): void {
  const gpu = batch.gpu;
  const ldx = x.ld ?? cols, ldy = y?.ld ?? cols, offX = x.offset ?? 0, offY = y?.offset ?? 0;
  // row blocks whose regions fit one binding each; later blocks add to the partials
  const span = (ra: number, rb: number) => (rb - 1 - ra) * Math.max(ldx, ldy) + cols;
  forEachFitting(gpu, 0, rows, span, (ra, rb) => {
    const wx = gpu.window(x.t, offX + ra * ldx, offX + (rb - 1) * ldx + cols);
    const wy = y ? gpu.window(y.t, offY + ra * ldy, offY + (rb - 1) * ldy + cols) : wx;
    const u = PARAMS.pack({
      rows: rb - ra,
      cols,
      ldx,
      ldy,
      offX: offX + ra * ldx - wx.base,
      offY: y ? offY + ra * ldy - wy.base : 0,
      outOff: slot * SUMSQ_PARTIALS,
      accumulate: ra > 0 ? 1 : 0,
    });
    batch.dispatch(reduceKernel(mode), [wx, wy, partial], u, [GROUPS]);
  });
}

/** Adds the partial sums read back from `partial`: `[Σ(x−y)² or Σx², Σy²]`. */
export function finishSumSq(values: Float32Array): [number, number] {
  let a = 0, b = 0;
  for (let w = 0; w < GROUPS; w++) {
    a += values[2 * w];
    b += values[2 * w + 1];
  }
  return [a, b];
}

/** Number of floats a partial-sum tensor must hold. */
export const SUMSQ_PARTIALS: number = 2 * GROUPS;

/** Computes `[Σ(x − y)², Σy²]` with one readback. */
export async function sumSq(
  gpu: Gpu,
  rows: number,
  cols: number,
  x: Region,
  y?: Region,
  mode: SumMode = y ? "diff" : "sq",
): Promise<[number, number]> {
  const partial = gpu.alloc([SUMSQ_PARTIALS], "sumsq-partials");
  const b = gpu.batch("sumsq");
  recordSumSq(b, rows, cols, x, y, partial, mode);
  b.submit();
  const v = await gpu.read(partial);
  gpu.free(partial);
  return finishSumSq(v);
}
