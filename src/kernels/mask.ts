/**
 * Typed wrappers for the mask kernels (`kernels/mask.wgsl`): prune a weight region by a threshold
 * or by an N:M pattern. Regions larger than one storage binding are worked on in row blocks bound
 * as windows, with the matching rows of the mask.
 *
 * @module
 */

import type { Batch, BufferWindow } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { MASK_WGSL } from "./mask.wgsl.ts";
import {
  forEachRowBlock,
  type ResolvedRegion,
  resolveRegion,
  type RowBlock,
  SCORE_MODE_ID,
  type ScoredRegion,
} from "./select.ts";

/** Elements (threshold) or groups (N:M) per mask workgroup: 64 invocations × 16. */
const MASK_TILE = 1024;

/** Largest M that {@linkcode nmMask} supports. */
export const MAX_NM_M = 64;

const PARAMS = uniformStruct("Params", {
  rows: "u32",
  cols: "u32",
  ld: "u32",
  offset: "u32",
  colOff: "u32",
  a: "u32",
  b: "u32",
  maskOff: "u32",
});

/** The uniform layouts of `kernels/mask.wgsl`. */
export const MASK_UNIFORMS: readonly UniformStruct[] = [PARAMS];

/** Where a mask goes: zeros written into the weight, or a separate 0/1 mask. */
export interface MaskOutput {
  /**
   * When given, the weights are left unchanged and `mask[maskOffset + r*cols + c]` (u32)
   * receives 1 for a pruned entry and 0 for a kept one (dense `rows × cols`, row stride `cols`).
   */
  mask?: GpuTensor;
  /** Element offset into `mask` (default 0). */
  maskOffset?: number;
}

function maskKernel(entryPoint: "threshold" | "nm", g: ResolvedRegion, writeMask: boolean): Kernel {
  return {
    name: `mask-${entryPoint}`,
    source: MASK_WGSL,
    entryPoint,
    bindings: ["storage", "storage", "storage", "storage", "uniform"],
    constants: { MODE: SCORE_MODE_ID[g.mode], WRITE_MASK: +writeMask },
  };
}

function checkMask(what: string, g: ResolvedRegion, o: MaskOutput): number {
  const off = o.maskOffset ?? 0;
  if (!o.mask) return off;
  if (!Number.isInteger(off) || off < 0) {
    throw new RangeError(`Cannot ${what}: maskOffset must be an integer >= 0, got ${off}`);
  }
  if (off + g.rows * g.cols > o.mask.size) {
    throw new RangeError(
      `Cannot ${what}: mask has ${o.mask.size} elements, ${off + g.rows * g.cols} are needed`,
    );
  }
  return off;
}

/**
 * Records a mask kernel on each row block `b` of a region, `units` elements or groups per row:
 * `params(b, off)` gives the block's uniforms, `off` being where its rows of the 0/1 mask start
 * in the mask's window (the weight's window stands in for a missing mask, and for `sel`).
 */
function maskBlocks(
  batch: Batch,
  kernel: Kernel,
  g: ResolvedRegion,
  o: MaskOutput,
  maskOff: number,
  sel: GpuTensor | undefined,
  units: number,
  params: (b: RowBlock, maskOff: number) => Uint32Array<ArrayBuffer>,
): void {
  const gpu = batch.gpu;
  const maskRows = (ra: number, rb: number) => (rb - ra) * g.cols;
  forEachRowBlock(gpu, g, (b) => {
    const lo = maskOff + b.ra * g.cols;
    const mask: BufferWindow = o.mask ? gpu.window(o.mask, lo, lo + maskRows(b.ra, b.rb)) : b.w;
    const u = params(b, o.mask ? lo - mask.base : 0);
    const groups = Math.ceil(((b.rb - b.ra) * units) / MASK_TILE);
    batch.dispatch(kernel, [b.w, b.colVec, sel ?? b.w, mask], u, [groups]);
  }, o.mask ? maskRows : undefined);
}

/** Arguments of {@linkcode thresholdMask}. */
export interface ThresholdMaskArgs extends ScoredRegion, MaskOutput {
  /** Holds the threshold as an f32 bit pattern, e.g. the `out` of `selectKth`. */
  sel: GpuTensor;
  /** Word of `sel` with the threshold (default 0). */
  selIndex?: number;
}

/**
 * Records the threshold rule: every entry of the region whose score is ≤ the threshold in
 * `sel[selIndex]` is pruned (zeroed in place, or marked in `mask`). With a threshold from
 * `selectKth` at `k = floor(numel·s)` this is the reference magnitude rule
 * `|W| ≤ sort(|W|)[k]`.
 */
export function thresholdMask(batch: Batch, a: ThresholdMaskArgs): void {
  const what = "apply a threshold mask";
  const g = resolveRegion(what, a);
  const maskOff = checkMask(what, g, a);
  const selIndex = a.selIndex ?? 0;
  if (!Number.isInteger(selIndex) || selIndex < 0 || selIndex >= a.sel.size) {
    throw new RangeError(
      `Cannot ${what}: selIndex ${selIndex} is outside sel's ${a.sel.size} words`,
    );
  }
  const kernel = maskKernel("threshold", g, a.mask !== undefined);
  maskBlocks(batch, kernel, g, a, maskOff, a.sel, g.cols, (b, off) =>
    PARAMS.pack({
      rows: b.rb - b.ra,
      cols: g.cols,
      ld: g.ld,
      offset: b.offset,
      colOff: b.colVecOffset,
      a: selIndex,
      b: 0,
      maskOff: off,
    }));
}

/** Arguments of {@linkcode nmMask}. */
export interface NMMaskArgs extends ScoredRegion, MaskOutput {
  /** Entries pruned in every group (0 < n < m). */
  n: number;
  /** Group size: consecutive columns of a row (`cols % m === 0`, m ≤ {@linkcode MAX_NM_M}). */
  m: number;
}

/**
 * Records the N:M rule along the input dimension: in every group of `m` consecutive columns of
 * each row, the `n` entries of smallest score are pruned (ties to the lower column). The groups
 * start at the region's first column.
 */
export function nmMask(batch: Batch, a: NMMaskArgs): void {
  const what = `apply a ${a.n}:${a.m} mask`;
  const g = resolveRegion(what, a);
  const maskOff = checkMask(what, g, a);
  if (!Number.isInteger(a.m) || a.m < 2 || a.m > MAX_NM_M) {
    throw new RangeError(`Cannot ${what}: M must be an integer in [2, ${MAX_NM_M}], got ${a.m}`);
  }
  if (!Number.isInteger(a.n) || a.n < 1 || a.n >= a.m) {
    throw new RangeError(`Cannot ${what}: N must be an integer in [1, ${a.m - 1}], got ${a.n}`);
  }
  if (g.cols % a.m !== 0) {
    throw new RangeError(
      `Cannot ${what}: the number of input columns ${g.cols} is not a multiple of M = ${a.m}`,
    );
  }
  const kernel = maskKernel("nm", g, a.mask !== undefined);
  maskBlocks(batch, kernel, g, a, maskOff, undefined, g.cols / a.m, (b, off) =>
    PARAMS.pack({
      rows: b.rb - b.ra,
      cols: g.cols,
      ld: g.ld,
      offset: b.offset,
      colOff: b.colVecOffset,
      a: a.n,
      b: a.m,
      maskOff: off,
    }));
}
