/**
 * Typed wrappers for the SparseGPT kernels of `kernels/sparsegpt.wgsl`: dead-input zeroing,
 * a three-pass radix select of the block threshold, and the per-row OBS column sweep. The
 * driver is `src/prune/sparsegpt.ts`.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { SPARSEGPT_WGSL } from "./sparsegpt.wgsl.ts";

/** Largest block (columns swept per dispatch) the sweep kernel supports. */
export const SPARSEGPT_MAX_BLOCK: number = 256;
/** Largest M of an N:M pattern the sweep kernel supports. */
export const SPARSEGPT_MAX_M: number = 32;
/** u32 words of the radix-select state tensor: prefix, remaining k, 2048 histogram bins. */
export const SPARSEGPT_SELECT_WORDS: number = 2 + 2048;

const DEAD: Kernel = {
  name: "sparsegpt",
  source: SPARSEGPT_WGSL,
  entryPoint: "dead_cols",
  bindings: ["storage", "read", "uniform"],
};
const HIST: Kernel = {
  name: "sparsegpt",
  source: SPARSEGPT_WGSL,
  entryPoint: "radix_hist",
  bindings: ["read", "read", "storage", "uniform"],
};
const SELECT: Kernel = {
  name: "sparsegpt",
  source: SPARSEGPT_WGSL,
  entryPoint: "radix_select",
  bindings: ["storage", "uniform"],
};

function sweepKernel(nm: boolean, wg: number): Kernel {
  return {
    name: "sparsegpt",
    source: SPARSEGPT_WGSL,
    entryPoint: "sweep",
    bindings: ["storage", "read", "read", "storage", "storage", "read", "uniform"],
    constants: { NM: nm ? 1 : 0, WG: wg },
  };
}

/** Records `W[:, j] = 0` for every column j with `H[j, j] == 0` (W rows×cols, H cols×cols). */
export function recordDeadColumns(
  batch: Batch,
  w: GpuTensor,
  h: GpuTensor,
  rows: number,
  cols: number,
): void {
  const u = new Uniforms().u32(rows, cols, 0, 0);
  batch.dispatch(DEAD, [w, h], u.bytes(), [Math.ceil((rows * cols) / 256)]);
}

/** The block of columns a SparseGPT step works on. */
export interface SparseGptBlock {
  /** Rows of W. */
  rows: number;
  /** Columns of W (= order and leading dimension of U). */
  cols: number;
  /** First column of the block. */
  i1: number;
  /** Columns in the block. */
  count: number;
}

const PASSES: readonly { shift: number; width: number }[] = [
  { shift: 21, width: 11 },
  { shift: 10, width: 11 },
  { shift: 0, width: 10 },
];

/**
 * Records the radix select of the `k`-th smallest (0-based) block score `W[r, c]²/U[c, c]²`
 * over the rows × count block: afterwards `sel[0]` holds its f32 bit pattern. `sel` is a u32
 * tensor of {@linkcode SPARSEGPT_SELECT_WORDS} words whose histogram part must be zero before
 * the first select (each select leaves it zeroed).
 */
export function recordBlockThreshold(
  batch: Batch,
  w: GpuTensor,
  u: GpuTensor,
  sel: GpuTensor,
  blk: SparseGptBlock,
  k: number,
): void {
  const numel = blk.rows * blk.count;
  const perWg = Math.max(4096, Math.ceil(numel / 64));
  const groups = Math.ceil(numel / perWg);
  PASSES.forEach(({ shift, width }, pass) => {
    const hu = new Uniforms()
      .u32(blk.rows, blk.cols, blk.cols, blk.i1)
      .u32(blk.count, shift, width, pass > 0 ? 1 : 0)
      .u32(perWg, 0, 0, 0);
    batch.dispatch(HIST, [w, u, sel], hu.bytes(), [groups]);
    const su = new Uniforms().u32(shift, width, pass === 0 ? 1 : 0, k);
    batch.dispatch(SELECT, [sel], su.bytes(), [1]);
  });
}

/** What the sweep needs besides W and U. */
export interface SweepBuffers {
  /** Radix-select state (threshold bits in word 0), unstructured mode only. */
  sel: GpuTensor;
  /** Err1 output, rows × ldErr. */
  err: GpuTensor;
  /** Per-row loss accumulator (rows f32). */
  loss: GpuTensor;
  /** Factor status (u32); the sweep does nothing but zero Err when it is not FAIL_NONE. */
  status: GpuTensor;
  /** Element index of the status word. */
  statusIndex: number;
  /** Leading dimension of `err`. */
  ldErr: number;
  /** Column of `err` that receives the block's first column (default 0). */
  errOffset?: number;
}

/**
 * Records the OBS column sweep of one block: per row, prune (unstructured: score ≤ threshold
 * from `sel`; N:M when `nm` is given: the `nm.n` smallest scores of each group of `nm.m`),
 * compensate the later columns of the block, write Err1 and add the row's loss.
 */
export function recordSweep(
  batch: Batch,
  w: GpuTensor,
  u: GpuTensor,
  bufs: SweepBuffers,
  blk: SparseGptBlock,
  nm?: { n: number; m: number },
): void {
  const wg = blk.rows >= 512 ? 64 : 16;
  const uni = new Uniforms()
    .u32(blk.rows, blk.cols, blk.cols, blk.i1)
    .u32(blk.count, bufs.ldErr, nm?.n ?? 0, nm?.m ?? 1)
    .u32(bufs.statusIndex, bufs.errOffset ?? 0, 0, 0);
  batch.dispatch(
    sweepKernel(nm !== undefined, wg),
    [w, u, bufs.sel, bufs.err, bufs.loss, bufs.status],
    uni.bytes(),
    [Math.ceil(blk.rows / wg)],
  );
}
