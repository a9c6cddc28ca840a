/**
 * Typed wrapper for the column-norm kernels (`kernels/colnorm.wgsl`): Wanda's running mean of
 * squared input-column norms.
 *
 * @module
 */

import type { Batch, BufferWindow } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { COLNORM_WGSL } from "./colnorm.wgsl.ts";

/** Most slabs a {@linkcode colNormUpdate} splits the rows into; size `partial` as this × cols. */
export const COLNORM_MAX_SLABS = 64;
const MIN_SLAB_ROWS = 256;

/** Arguments of {@linkcode colNormUpdate}. */
export interface ColNormUpdateArgs {
  /** Activations, row-major `[rows, cols]` (f32), one token per row. */
  x: GpuTensor;
  /** Element offset of `x`'s first entry (default 0). */
  xOffset?: number;
  /** Tokens in `x`. */
  rows: number;
  /** Features (input columns). */
  cols: number;
  /** Scratch of at least `COLNORM_MAX_SLABS × cols` floats. */
  partial: GpuTensor;
  /** The running statistic `s` (`cols` floats), updated in place. */
  s: GpuTensor;
  /** Factor applied to the old `s`. */
  scale: number;
  /** Divisor of the new column sums of squares. */
  denom: number;
}

const PARAMS = uniformStruct("Params", {
  rows: "u32",
  cols: "u32",
  slabRows: "u32",
  nslab: "u32",
  xOff: "u32",
  scale: "f32",
  denom: "f32",
  ld: "u32",
  pOff: "u32",
  sOff: "u32",
  slab0: "u32",
  slabs: "u32",
});

/** The uniform layouts of `kernels/colnorm.wgsl`. */
export const COLNORM_UNIFORMS: readonly UniformStruct[] = [PARAMS];

function kernel(entryPoint: "partialSums" | "update"): Kernel {
  return {
    name: `colnorm-${entryPoint}`,
    source: COLNORM_WGSL,
    entryPoint,
    bindings: ["read", "storage", "storage", "uniform"],
  };
}

/**
 * Records `s_j ← s_j·scale + (Σ_t x[t, j]²)/denom` for every column `j`, summing the rows in
 * slabs of at least 256 so that f32 rounding stays small.
 */
export function colNormUpdate(batch: Batch, a: ColNormUpdateArgs): void {
  const what = "update column norms";
  for (const [name, v] of [["rows", a.rows], ["cols", a.cols]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot ${what}: ${name} must be an integer >= 1, got ${v}`);
    }
  }
  const xOff = a.xOffset ?? 0;
  if (xOff + a.rows * a.cols > a.x.size) {
    throw new RangeError(
      `Cannot ${what}: x has ${a.x.size} elements, ${xOff + a.rows * a.cols} are needed`,
    );
  }
  if (a.s.size < a.cols) {
    throw new RangeError(`Cannot ${what}: s has ${a.s.size} elements, ${a.cols} are needed`);
  }
  if (a.partial.size < COLNORM_MAX_SLABS * a.cols) {
    throw new RangeError(
      `Cannot ${what}: partial has ${a.partial.size} elements, ` +
        `${COLNORM_MAX_SLABS * a.cols} are needed`,
    );
  }
  const slabRows = Math.max(MIN_SLAB_ROWS, Math.ceil(a.rows / COLNORM_MAX_SLABS));
  const nslab = Math.ceil(a.rows / slabRows);
  const gpu = batch.gpu;
  // column blocks whose partial sums and statistic fit one binding each, and in them ranges of
  // slabs whose rows of activations fit one binding
  const xSpan = (ja: number, jb: number, sa: number, sb: number) =>
    (Math.min(a.rows, sb * slabRows) - 1 - sa * slabRows) * a.cols + jb - ja;
  const blockSpan = (ja: number, jb: number) => (jb - ja) * nslab;
  forEachFitting(gpu, 0, a.cols, blockSpan, (ja, jb) => {
    const partial = gpu.window(a.partial, ja * nslab, jb * nslab);
    const s = gpu.window(a.s, ja, jb);
    const blocks = Math.ceil((jb - ja) / 64);
    const params = (x: { base: number }, first: number, sa: number, sb: number) =>
      PARAMS.pack({
        rows: a.rows,
        cols: jb - ja,
        slabRows,
        nslab,
        xOff: first - x.base,
        scale: a.scale,
        denom: a.denom,
        ld: a.cols,
        pOff: ja * nslab - partial.base,
        sOff: ja - s.base,
        slab0: sa,
        slabs: sb - sa,
      });
    let x!: BufferWindow; // the update binds the last window but does not read it
    forEachFitting(gpu, 0, nslab, (sa, sb) => xSpan(ja, jb, sa, sb), (sa, sb) => {
      const first = xOff + sa * slabRows * a.cols + ja;
      x = gpu.window(a.x, first, first + xSpan(ja, jb, sa, sb));
      batch.dispatch(kernel("partialSums"), [x, partial, s], params(x, xOff + ja, sa, sb), [
        blocks * (sb - sa),
      ]);
    });
    batch.dispatch(kernel("update"), [x, partial, s], params(x, xOff + ja, 0, nslab), [blocks]);
  });
}
