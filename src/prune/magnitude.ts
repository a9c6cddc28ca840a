/**
 * Magnitude pruning, as the reference tools do it (SparseGPT's `--gmp`, Wanda's `magnitude`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { pruneByThreshold, pruneNM, type ThresholdOptions } from "./mask.ts";
import type { SparsityPattern } from "./types.ts";
import { MAX_NM_M } from "../kernels/mask.ts";
import { pruneEach, type PruneMethod } from "./method.ts";

/** Options of {@linkcode magnitudePrune}. */
export interface MagnitudeOptions {
  /**
   * Optional u32 scratch of at least 258 words (`selectOutSize(1)`): lets the per-matrix
   * threshold be found by many workgroups instead of one. See `pruneByThreshold`.
   */
  scratch?: ThresholdOptions["scratch"];
}

/**
 * Records magnitude pruning of the weight `w` (`[rows, cols]`, row-major f32, row = output,
 * column = input) into `batch`, in place:
 * - unstructured: per matrix, `thr = sort(|W|.flatten())[floor(rows·cols·sparsity)]`, and every
 *   `|W| ≤ thr` is zeroed (ties may prune a few more; sparsity 0 prunes nothing);
 * - N:M: in every group of M consecutive inputs of a row, the N smallest `|W|` are zeroed
 *   (ties to the lower column); `cols` must be a multiple of M.
 *
 * Nothing is awaited: submit the batch, then read `w` back once (or keep using it on the GPU).
 *
 * @example Prune one matrix to 50 %
 * ```ts ignore
 * const batch = gpu.batch("magnitude");
 * magnitudePrune(batch, W, rows, cols, { kind: "unstructured", sparsity: 0.5 });
 * batch.submit();
 * const pruned = await gpu.read(W);
 * ```
 */
export function magnitudePrune(
  batch: Batch,
  w: GpuTensor,
  rows: number,
  cols: number,
  pattern: SparsityPattern,
  options: MagnitudeOptions = {},
): void {
  if (pattern.kind === "nm") {
    pruneNM(batch, w, rows, cols, pattern.n, pattern.m, { mode: "magnitude" });
  } else {
    pruneByThreshold(batch, w, rows, cols, pattern.sparsity, {
      mode: "magnitude",
      scratch: options.scratch,
    });
  }
}

/** Magnitude pruning as a pipeline method: needs no calibration data. */
export const magnitude: PruneMethod = {
  name: "magnitude",
  needsCalibration: false,
  maxM: MAX_NM_M,
  stats: () => ({}),
  async pruneLayer(job) {
    const matrices = await pruneEach(job, job.arch.linears, (spec) => {
      const lw = job.weights.linear(spec.role);
      const b = job.gpu.batch("magnitude");
      magnitudePrune(b, lw.weight, lw.rows, lw.cols, job.options.pattern);
      b.submit();
    });
    return { matrices };
  },
};
