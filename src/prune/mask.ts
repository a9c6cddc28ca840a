/**
 * Pruning masks applied in place to a GPU weight `[rows, cols]` (row = output, column = input),
 * with the reference tools' semantics. Every function here records into a {@linkcode Batch} and
 * returns at once; submit the batch and read back (once) to see the result. Weights larger than one storage binding are worked on in row blocks, with
 * the same result.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { nmMask, thresholdMask } from "../kernels/mask.ts";
import { type ScoreMode, segmentPrune, selectKth, selectOutSize } from "../kernels/select.ts";

/** How entries are scored (see `ScoreMode`); `colVec` is required by `wanda`. */
export interface ScoreOptions {
  /** Score function (default `magnitude`). */
  mode?: ScoreMode;
  /** Per-input-column vector of the score (`cols` floats). */
  colVec?: GpuTensor;
}

/** Options of {@linkcode pruneByThreshold}. */
export interface ThresholdOptions extends ScoreOptions {
  /**
   * A u32 scratch tensor of at least `selectOutSize(1)` (258) words. With it the threshold is
   * found by many workgroups (`selectKth`) and the mask is a separate dispatch; without it one
   * fused dispatch on a single workgroup does both (no allocation, less parallel). A weight
   * larger than one binding is without it selected by many workgroups into scratch borrowed for
   * the recording, then pruned by one dispatch per row block (see `segmentPrune`).
   */
  scratch?: GpuTensor;
}

function checkSparsity(what: string, sparsity: number): void {
  if (!Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new RangeError(`Cannot ${what}: sparsity must be in [0, 1), got ${sparsity}`);
  }
}

/**
 * Records the per-matrix threshold rule of the reference magnitude pruners:
 * `thr = sort(score(W).flatten())[floor(rows·cols·sparsity)]`, then every entry with
 * `score ≤ thr` is zeroed, so ties at the threshold may prune a few more than the target.
 * Sparsity 0 prunes nothing (the reference tools skip pruning then).
 */
export function pruneByThreshold(
  batch: Batch,
  w: GpuTensor,
  rows: number,
  cols: number,
  sparsity: number,
  options: ThresholdOptions = {},
): void {
  const what = "prune by a per-matrix threshold";
  checkSparsity(what, sparsity);
  if (sparsity === 0) return;
  const k = Math.floor(rows * cols * sparsity);
  const region = { w, rows, cols, mode: options.mode, colVec: options.colVec };
  if (options.scratch) {
    if (options.scratch.size < selectOutSize(1)) {
      throw new RangeError(
        `Cannot ${what}: scratch has ${options.scratch.size} words, ${selectOutSize(1)} are needed`,
      );
    }
    selectKth(batch, { ...region, k, out: options.scratch });
    thresholdMask(batch, { ...region, sel: options.scratch });
  } else {
    segmentPrune(batch, { ...region, k, perRow: false, rule: "threshold" });
  }
}

/**
 * Records Wanda's per-output-row rule: in each row, exactly `floor(cols·sparsity)` entries with
 * the smallest scores are zeroed, ties to the lower column index (the order of a stable sort).
 */
export function prunePerRow(
  batch: Batch,
  w: GpuTensor,
  rows: number,
  cols: number,
  sparsity: number,
  options: ScoreOptions = {},
): void {
  const what = "prune each row";
  checkSparsity(what, sparsity);
  const k = Math.floor(cols * sparsity);
  if (k === 0) return;
  segmentPrune(batch, {
    w,
    rows,
    cols,
    mode: options.mode,
    colVec: options.colVec,
    k: k - 1,
    perRow: true,
    rule: "exact",
  });
}

/**
 * Records the N:M rule along the input dimension: in every group of `m` consecutive weights of
 * a row, the `n` with the smallest scores are zeroed (ties to the lower column). Throws a
 * `RangeError` when `cols` is not a multiple of `m`.
 */
export function pruneNM(
  batch: Batch,
  w: GpuTensor,
  rows: number,
  cols: number,
  n: number,
  m: number,
  options: ScoreOptions = {},
): void {
  nmMask(batch, { w, rows, cols, n, m, mode: options.mode, colVec: options.colVec });
}
