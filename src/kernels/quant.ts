/**
 * Typed wrapper for `kernels/quant.wgsl`: the per-row (or per-group) quantization grids of a
 * weight matrix, and round-to-nearest quantization onto them. Matrices larger than one storage
 * binding are worked on in row blocks.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { groupsPerRow, type QuantSpec } from "../quant/grid.ts";
import { QUANT_WGSL } from "./quant.wgsl.ts";

function rtnKernel(spec: QuantSpec, apply: boolean): Kernel {
  return {
    name: "quant",
    source: QUANT_WGSL,
    entryPoint: "rtn",
    bindings: ["storage", "storage", "uniform"],
    constants: { WBITS: spec.bits, QSYM: +spec.sym, APPLY: +apply },
  };
}

const PARAMS = uniformStruct("QuantParams", {
  rows: "u32",
  cols: "u32",
  ldw: "u32",
  wOff: "u32",
  gOff: "u32",
  groups: "u32",
  gsize: "u32",
});

/** The uniform layouts of `kernels/quant.wgsl`. */
export const QUANT_UNIFORMS: readonly UniformStruct[] = [PARAMS];

/**
 * Records the grids of `w` (rows × cols, f32) into `grid` (rows × groups × 2 f32: scale, zero;
 * see src/quant/grid.ts), from its current weights, and with `apply` rounds every weight to its
 * grid in place (zeros stay exactly 0).
 */
export function recordQuantize(
  batch: Batch,
  w: GpuTensor,
  grid: GpuTensor,
  spec: QuantSpec,
  apply: boolean,
): void {
  const [rows, cols] = w.shape;
  const groups = groupsPerRow(spec, cols);
  const gsize = spec.groupSize > 0 ? spec.groupSize : cols;
  if (grid.size < rows * groups * 2) {
    throw new RangeError(
      `Cannot quantize W [${rows}, ${cols}]: the grid tensor has ${grid.size} elements, ` +
        `${rows * groups * 2} are needed`,
    );
  }
  const gpu = batch.gpu;
  const kernel = rtnKernel(spec, apply);
  forEachFitting(gpu, 0, rows, (a, b) => (b - a) * cols, (ra, rb) => {
    const wWin = gpu.window(w, ra * cols, rb * cols);
    const gWin = gpu.window(grid, ra * groups * 2, rb * groups * 2);
    const u = PARAMS.pack({
      rows: rb - ra,
      cols,
      ldw: cols,
      wOff: ra * cols - wWin.base,
      gOff: ra * groups * 2 - gWin.base,
      groups,
      gsize,
    });
    batch.dispatch(kernel, [wWin, gWin], u, [Math.ceil(((rb - ra) * groups) / 64)]);
  });
}
