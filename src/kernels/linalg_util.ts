/**
 * Typed wrappers for the dense helper kernels of `kernels/linalg_util.wgsl`: fills, identity,
 * triangle fixes, index reversal, diagonal damping and status checks. Every function records
 * one dispatch into a batch.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { LINALG_UTIL_WGSL } from "./linalg_util.wgsl.ts";

/** Status word meaning "no failure" (the status buffers hold the first failing column otherwise). */
export const FAIL_NONE: number = 0xffffffff;

const WG = 256;

function utilKernel(entryPoint: string, bindings: Kernel["bindings"]): Kernel {
  return { name: "linalg_util", source: LINALG_UTIL_WGSL, entryPoint, bindings };
}

const FILL = utilKernel("fill2d", ["storage", "uniform"]);
const TRI = utilKernel("tri_fix", ["storage", "uniform"]);
const REVERSE = utilKernel("reverse", ["read", "storage", "uniform"]);
const ADD_DIAG = utilKernel("add_diag", ["storage", "storage", "uniform"]);
const CHECK_FINITE = utilKernel("check_finite", ["read", "storage", "uniform"]);
const ZERO_IF_FAILED = utilKernel("zero_if_failed", ["storage", "read", "uniform"]);

const f32Bits = (v: number): number => new Uint32Array(new Float32Array([v]).buffer)[0];

/** A rectangular region of a row-major matrix. */
export interface MatrixRegion {
  /** Rows of the region. */
  rows: number;
  /** Columns of the region. */
  cols: number;
  /** Leading dimension in elements (default `cols`). */
  ld?: number;
  /** Element offset of the first entry (default 0). */
  offset?: number;
}

/**
 * Records `t[r, c] = (r == c) ? diag : off` over a region, with values given as f32 (for f32
 * tensors) or, when `bits` is true, as raw u32 words (for u32 status tensors).
 */
export function recordFill(
  batch: Batch,
  t: GpuTensor,
  region: MatrixRegion,
  off: number,
  diag: number = off,
  bits = false,
): void {
  const u = new Uniforms().u32(
    region.offset ?? 0,
    region.ld ?? region.cols,
    region.rows,
    region.cols,
    bits ? off : f32Bits(off),
    bits ? diag : f32Bits(diag),
    0,
    0,
  );
  batch.dispatch(FILL, [t], u.bytes(), [Math.ceil((region.rows * region.cols) / WG)]);
}

/** Records writing {@linkcode FAIL_NONE} into `status[index]`. */
export function recordResetStatus(batch: Batch, status: GpuTensor, index = 0): void {
  recordFill(batch, status, { rows: 1, cols: 1, offset: index }, FAIL_NONE, FAIL_NONE, true);
}

/**
 * Records a triangle fix of the n×n matrix at `offset` (leading dimension `ld`): `"zero-upper"`
 * clears the strict upper triangle, `"mirror-lower"` copies the lower triangle into the upper.
 */
export function recordTriFix(
  batch: Batch,
  a: GpuTensor,
  n: number,
  mode: "zero-upper" | "mirror-lower",
  ld: number = n,
  offset = 0,
): void {
  const u = new Uniforms().u32(n, ld, offset, mode === "zero-upper" ? 0 : 1);
  batch.dispatch(TRI, [a], u.bytes(), [Math.ceil((n * n) / WG)]);
}

/**
 * Records `dst = J·src·J` for dense n×n matrices, J the index-reversal permutation
 * (`dst[i, j] = src[n-1-i, n-1-j]`). With `symLower`, src is taken as symmetric and only its
 * lower triangle is read. `src` and `dst` must be different tensors.
 */
export function recordReverse(
  batch: Batch,
  src: GpuTensor,
  dst: GpuTensor,
  n: number,
  symLower = false,
): void {
  const u = new Uniforms().u32(n, symLower ? 1 : 0, 0, 0);
  batch.dispatch(REVERSE, [src, dst], u.bytes(), [Math.ceil((n * n) / WG)]);
}

/** Options of {@linkcode recordAddDiag}. */
export interface AddDiagOptions {
  /** Constant added to every diagonal entry (default 0). */
  c?: number;
  /** Adds `percent·mean(diag)` too (default 0). The mean is taken after `fixZero`. */
  percent?: number;
  /** Set zero diagonal entries to 1 first (SparseGPT's dead inputs). */
  fixZero?: boolean;
  /** Leading dimension (default n). */
  ld?: number;
  /** Element offset of the matrix (default 0). */
  offset?: number;
  /** Element index into `stats` (default 0). */
  statsIndex?: number;
}

/**
 * Records `A += (c + percent·mean(diag(A)))·I` for an n×n matrix, in one workgroup, and writes
 * `[mean(diag), added value]` (f32) into `stats` at `statsIndex`.
 */
export function recordAddDiag(
  batch: Batch,
  a: GpuTensor,
  n: number,
  stats: GpuTensor,
  opts: AddDiagOptions,
): void {
  const u = new Uniforms()
    .u32(n, opts.ld ?? n, opts.offset ?? 0, opts.statsIndex ?? 0)
    .f32(opts.c ?? 0, opts.percent ?? 0)
    .u32(opts.fixZero ? 1 : 0, 0);
  batch.dispatch(ADD_DIAG, [a, stats], u.bytes(), [1]);
}

/** Records `status[index] = min(status[index], column)` for every non-finite entry of a region. */
export function recordCheckFinite(
  batch: Batch,
  a: GpuTensor,
  region: MatrixRegion,
  status: GpuTensor,
  index = 0,
): void {
  const u = new Uniforms().u32(
    region.rows,
    region.cols,
    region.ld ?? region.cols,
    region.offset ?? 0,
    index,
    0,
    0,
    0,
  );
  batch.dispatch(CHECK_FINITE, [a, status], u.bytes(), [
    Math.ceil((region.rows * region.cols) / WG),
  ]);
}

/** Records zeroing `count` elements of `a` from `offset` when `status[index]` is not FAIL_NONE. */
export function recordZeroIfFailed(
  batch: Batch,
  a: GpuTensor,
  count: number,
  status: GpuTensor,
  index = 0,
  offset = 0,
): void {
  const u = new Uniforms().u32(count, offset, index, 0);
  batch.dispatch(ZERO_IF_FAILED, [a, status], u.bytes(), [Math.ceil(count / WG)]);
}
