/**
 * Sums of squares on the GPU (`kernels/reduce.wgsl`), for relative errors such as
 * ‖X − Y‖² / ‖Y‖².
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { REDUCE_WGSL } from "./reduce.wgsl.ts";

const GROUPS = 64;

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
  const u = new Uniforms().u32(
    rows,
    cols,
    x.ld ?? cols,
    y?.ld ?? cols,
    x.offset ?? 0,
    y?.offset ?? 0,
    slot * SUMSQ_PARTIALS,
    0,
  );
  batch.dispatch(reduceKernel(mode), [x.t, (y ?? x).t, partial], u.bytes(), [GROUPS]);
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
