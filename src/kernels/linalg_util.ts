/**
 * Typed wrappers for the dense helper kernels of `kernels/linalg_util.wgsl`: fills, identity,
 * triangle fixes, index reversal, diagonal damping and status checks. Every function records
 * one dispatch into a batch for matrices that fit one binding ({@linkcode Gpu.bindingLimit}),
 * and splits larger ones into row blocks bound in windows ({@linkcode Gpu.window}).
 *
 * @module
 */

import type { Batch, BufferWindow, Gpu } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { fittingRanges, forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { LINALG_UTIL_WGSL } from "./linalg_util.wgsl.ts";

/** Status word meaning "no failure" (the status buffers hold the first failing column otherwise). */
export const FAIL_NONE: number = 0xffffffff;

const WG = 256;

const FILL_PARAMS = uniformStruct("FillParams", {
  off: "u32",
  ld: "u32",
  rows: "u32",
  cols: "u32",
  offBits: "u32",
  diagBits: "u32",
  r0: "u32",
});
const TRI_PARAMS = uniformStruct("TriParams", {
  n: "u32",
  ld: "u32",
  dstOff: "u32",
  srcOff: "u32",
  mode: "u32",
  r0: "u32",
  rows: "u32",
  c0: "u32",
  cols: "u32",
});
const REV_PARAMS = uniformStruct("RevParams", {
  n: "u32",
  symLower: "u32",
  srcOff: "u32",
  dstOff: "u32",
  r0: "u32",
  rows: "u32",
});
const COPY_PARAMS = uniformStruct("CopyParams", {
  count: "u32",
  ld: "u32",
  off: "u32",
  vecOff: "u32",
  r0: "u32",
  toMatrix: "u32",
});
const DIAG_PARAMS = uniformStruct("DiagParams", {
  n: "u32",
  ld: "u32",
  off: "u32",
  statsOff: "u32",
  c: "f32",
  percent: "f32",
  fixZero: "u32",
});
const FIN_PARAMS = uniformStruct("FinParams", {
  rows: "u32",
  cols: "u32",
  ld: "u32",
  off: "u32",
  statusOff: "u32",
  r0: "u32",
});
const ZERO_PARAMS = uniformStruct("ZeroParams", {
  count: "u32",
  off: "u32",
  statusOff: "u32",
});

/** The uniform layouts of `kernels/linalg_util.wgsl`. */
export const LINALG_UTIL_UNIFORMS: readonly UniformStruct[] = [
  FILL_PARAMS,
  TRI_PARAMS,
  REV_PARAMS,
  COPY_PARAMS,
  DIAG_PARAMS,
  FIN_PARAMS,
  ZERO_PARAMS,
];

function utilKernel(entryPoint: string, bindings: Kernel["bindings"]): Kernel {
  return { name: "linalg_util", source: LINALG_UTIL_WGSL, entryPoint, bindings };
}

const FILL = utilKernel("fill2d", ["storage", "uniform"]);
// the mirror binds the rows it writes and the rows it reads as two windows of one buffer
const TRI = utilKernel("tri_fix", ["storage", "storage", "uniform"]);
const REVERSE = utilKernel("reverse", ["read", "storage", "uniform"]);
const DIAG_COPY = utilKernel("diag_copy", ["storage", "storage", "uniform"]);
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

/** Consecutive row ranges `[a, b)` of `[0, rows)` whose rows (`cols` entries, leading dimension `ld`) fit one window. */
function rowBlocks(gpu: Gpu, rows: number, cols: number, ld: number): [number, number][] {
  return fittingRanges(gpu, 0, rows, (a, b) => (b - 1 - a) * ld + cols);
}

/** The window over columns `[c0, c1)` of rows `[r0, r1)` of the matrix at `off`. */
function tile(
  gpu: Gpu,
  t: GpuTensor,
  off: number,
  ld: number,
  [r0, r1]: [number, number],
  [c0, c1]: [number, number],
): BufferWindow {
  return gpu.window(t, off + r0 * ld + c0, off + (r1 - 1) * ld + c1);
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
  const { rows, cols } = region;
  const ld = region.ld ?? cols, offset = region.offset ?? 0;
  if (rows * cols === 0) return;
  for (const rb of rowBlocks(batch.gpu, rows, cols, ld)) {
    const w = tile(batch.gpu, t, offset, ld, rb, [0, cols]);
    const u = FILL_PARAMS.pack({
      off: offset - w.base,
      ld,
      rows: rb[1] - rb[0],
      cols,
      offBits: bits ? off : f32Bits(off),
      diagBits: bits ? diag : f32Bits(diag),
      r0: rb[0],
    });
    batch.dispatch(FILL, [w], u, [Math.ceil(((rb[1] - rb[0]) * cols) / WG)]);
  }
}

/**
 * Records copying a region of `src` into `dst` (leading dimension `to.ld`, default the region's
 * columns, from element `to.offset`, default 0) with one buffer copy per row. It binds nothing,
 * so it suits small blocks of matrices of any size. `src` and `dst` must be different buffers.
 */
export function recordCopyBlock(
  batch: Batch,
  src: GpuTensor,
  region: MatrixRegion,
  dst: GpuTensor,
  to: { ld?: number; offset?: number } = {},
): void {
  const srcLd = region.ld ?? region.cols, dstLd = to.ld ?? region.cols;
  const srcAt = region.offset ?? 0, dstAt = to.offset ?? 0;
  for (let r = 0; r < region.rows; r++) {
    batch.copy(
      src.buffer,
      4 * (srcAt + r * srcLd),
      dst.buffer,
      4 * (dstAt + r * dstLd),
      4 * region.cols,
    );
  }
}

/** Records writing {@linkcode FAIL_NONE} into `status[index]`. */
export function recordResetStatus(batch: Batch, status: GpuTensor, index = 0): void {
  recordFill(batch, status, { rows: 1, cols: 1, offset: index }, FAIL_NONE, FAIL_NONE, true);
}

const TRI_MODES = { "zero-upper": 0, "mirror-lower": 1, "mirror-upper": 2 } as const;

/**
 * Records a triangle fix of the n×n matrix at `offset` (leading dimension `ld`): `"zero-upper"`
 * clears the strict upper triangle, `"mirror-lower"` copies the lower triangle into the upper,
 * `"mirror-upper"` the upper triangle into the lower. A matrix larger than one binding is done
 * in row blocks; a mirror then takes one dispatch per pair of row blocks (the block it writes
 * and the block it reads).
 */
export function recordTriFix(
  batch: Batch,
  a: GpuTensor,
  n: number,
  mode: "zero-upper" | "mirror-lower" | "mirror-upper",
  ld: number = n,
  offset = 0,
): void {
  const gpu = batch.gpu;
  const m = TRI_MODES[mode];
  // the tile rows I × columns J writes entries (r, c) of I × J and reads (c, r) of rows J
  const dispatch = (I: [number, number], J: [number, number]) => {
    const dst = tile(gpu, a, offset, ld, I, J);
    const src = m === 0 ? dst : tile(gpu, a, offset, ld, J, I);
    const u = TRI_PARAMS.pack({
      n,
      ld,
      dstOff: offset - dst.base,
      srcOff: offset - src.base,
      mode: m,
      r0: I[0],
      rows: I[1] - I[0],
      c0: J[0],
      cols: J[1] - J[0],
    });
    batch.dispatch(TRI, [dst, src], u, [Math.ceil(((I[1] - I[0]) * (J[1] - J[0])) / WG)]);
  };
  const blocks = rowBlocks(gpu, n, n, ld);
  for (const I of blocks) {
    if (m === 0) {
      // the strict upper triangle of rows I lies in the columns from I's first row on
      dispatch(I, [I[0], n]);
      continue;
    }
    // mirror-lower writes the tiles right of the diagonal, mirror-upper those left of it
    for (const J of blocks) if (m === 1 ? J[0] >= I[0] : J[0] <= I[0]) dispatch(I, J);
  }
}

/**
 * Records `dst = J·src·J` for dense n×n matrices, J the index-reversal permutation
 * (`dst[i, j] = src[n-1-i, n-1-j]`). With `symLower`, src is taken as symmetric and only its
 * lower triangle is read. `src` and `dst` must be different tensors. Matrices larger than one
 * binding are reversed in row blocks; with `symLower` the reversal then reads all of src and
 * mirrors dst's upper triangle (read from src's lower one) into its lower triangle.
 */
export function recordReverse(
  batch: Batch,
  src: GpuTensor,
  dst: GpuTensor,
  n: number,
  symLower = false,
): void {
  const gpu = batch.gpu;
  const blocks = rowBlocks(gpu, n, n, n);
  const sym = symLower && blocks.length === 1;
  for (const [a, b] of blocks) {
    // rows [a, b) of dst come from rows [n − b, n − a) of src
    const d = gpu.window(dst, a * n, b * n);
    const s = gpu.window(src, (n - b) * n, (n - a) * n);
    const u = REV_PARAMS.pack({
      n,
      symLower: sym ? 1 : 0,
      srcOff: -s.base,
      dstOff: -d.base,
      r0: a,
      rows: b - a,
    });
    batch.dispatch(REVERSE, [s, d], u, [Math.ceil(((b - a) * n) / WG)]);
  }
  if (symLower && !sym) recordTriFix(batch, dst, n, "mirror-upper");
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
 * `[mean(diag), added value]` (f32) into `stats` at `statsIndex`. When the diagonal spans more
 * than one binding, it is gathered into a pooled vector (in row blocks), updated there and
 * scattered back; the vector goes back to the pool right after recording (safe for the rest of
 * the batch, like the scratch of the `src/linalg` functions called without `Temps`).
 */
export function recordAddDiag(
  batch: Batch,
  a: GpuTensor,
  n: number,
  stats: GpuTensor,
  opts: AddDiagOptions,
): void {
  const gpu = batch.gpu;
  const ld = opts.ld ?? n, offset = opts.offset ?? 0, statsIndex = opts.statsIndex ?? 0;
  const s = gpu.window(stats, statsIndex, statsIndex + 2);
  const addDiag = (t: BufferWindow, tld: number, toff: number) => {
    const u = DIAG_PARAMS.pack({
      n,
      ld: tld,
      off: toff,
      statsOff: statsIndex - s.base,
      c: opts.c ?? 0,
      percent: opts.percent ?? 0,
      fixZero: opts.fixZero ? 1 : 0,
    });
    batch.dispatch(ADD_DIAG, [t, s], u, [1]);
  };
  const span = (r0: number, r1: number) => (r1 - 1 - r0) * (ld + 1) + 1;
  if (span(0, n) <= gpu.windowElements) {
    const w = gpu.window(a, offset, offset + span(0, n));
    addDiag(w, ld, offset - w.base);
    return;
  }
  const vec = gpu.alloc([n], "add-diag/diagonal");
  const v = gpu.window(vec, 0, n);
  const copy = (toMatrix: boolean) => {
    forEachFitting(gpu, 0, n, span, (r0, r1) => {
      const w = gpu.window(a, offset + r0 * (ld + 1), offset + (r1 - 1) * (ld + 1) + 1);
      const u = COPY_PARAMS.pack({
        count: r1 - r0,
        ld,
        off: offset - w.base,
        vecOff: 0,
        r0,
        toMatrix: toMatrix ? 1 : 0,
      });
      batch.dispatch(DIAG_COPY, [w, v], u, [Math.ceil((r1 - r0) / WG)]);
    });
  };
  copy(false);
  addDiag(v, 0, 0);
  copy(true);
  gpu.free(vec);
}

/** Records `status[index] = min(status[index], column)` for every non-finite entry of a region. */
export function recordCheckFinite(
  batch: Batch,
  a: GpuTensor,
  region: MatrixRegion,
  status: GpuTensor,
  index = 0,
): void {
  const { rows, cols } = region;
  const ld = region.ld ?? cols, offset = region.offset ?? 0;
  if (rows * cols === 0) return;
  const st = batch.gpu.window(status, index, index + 1);
  for (const rb of rowBlocks(batch.gpu, rows, cols, ld)) {
    const w = tile(batch.gpu, a, offset, ld, rb, [0, cols]);
    const u = FIN_PARAMS.pack({
      rows: rb[1] - rb[0],
      cols,
      ld,
      off: offset - w.base,
      statusOff: index - st.base,
      r0: rb[0],
    });
    batch.dispatch(CHECK_FINITE, [w, st], u, [Math.ceil(((rb[1] - rb[0]) * cols) / WG)]);
  }
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
  const gpu = batch.gpu;
  const st = gpu.window(status, index, index + 1);
  forEachFitting(gpu, 0, count, (i0, i1) => i1 - i0, (i0, i1) => {
    const w = gpu.window(a, offset + i0, offset + i1);
    const u = ZERO_PARAMS.pack({
      count: i1 - i0,
      off: offset + i0 - w.base,
      statusOff: index - st.base,
    });
    batch.dispatch(ZERO_IF_FAILED, [w, st], u, [Math.ceil((i1 - i0) / WG)]);
  });
}
