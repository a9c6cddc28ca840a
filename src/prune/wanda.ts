/**
 * Wanda pruning (Sun et al., 2023): score `|W_ij|·sqrt(s_j)` with `s_j` the mean squared norm
 * of input feature `j` over the calibration tokens (see `ColumnNormAccumulator`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { pruneNM, prunePerRow } from "./mask.ts";
import type { SparsityPattern } from "./types.ts";
import { MAX_NM_M } from "../kernels/mask.ts";
import { pruneEach, type PruneMethod } from "./method.ts";

/**
 * Records Wanda pruning of the weight `w` (`[rows, cols]`, row-major f32, row = output,
 * column = input) into `batch`, in place, given `colSq` (`cols` floats, the accumulator's
 * `s_j`):
 * - unstructured: in each output row, exactly `floor(cols·sparsity)` entries of smallest
 *   `|W_ij|·sqrt(s_j)` are zeroed, ties to the lower column (the reference's stable sort);
 * - N:M: in every group of M consecutive inputs of a row, the N entries of smallest score are
 *   zeroed (ties to the lower column); `cols` must be a multiple of M.
 *
 * Nothing is awaited: submit the batch, then read `w` back once (or keep using it on the GPU).
 *
 * @example Prune with statistics gathered from calibration activations
 * ```ts ignore
 * const acc = new ColumnNormAccumulator(gpu, cols);
 * const batch = gpu.batch("wanda");
 * acc.add(batch, X, nseq); // X: [tokens, cols]
 * wandaPrune(batch, W, rows, cols, acc.colSq, { kind: "unstructured", sparsity: 0.5 });
 * batch.submit();
 * const pruned = await gpu.read(W);
 * ```
 */
export function wandaPrune(
  batch: Batch,
  w: GpuTensor,
  rows: number,
  cols: number,
  colSq: GpuTensor,
  pattern: SparsityPattern,
): void {
  const opts = { mode: "wanda" as const, colVec: colSq };
  if (pattern.kind === "nm") {
    pruneNM(batch, w, rows, cols, pattern.n, pattern.m, opts);
  } else {
    prunePerRow(batch, w, rows, cols, pattern.sparsity, opts);
  }
}

/** Wanda as a pipeline method: scores from the inputs' column norms. */
export const wanda: PruneMethod = {
  name: "wanda",
  needsCalibration: true,
  maxM: MAX_NM_M,
  stats: () => ({ columnNorms: true }),
  async pruneLayer(job) {
    const matrices = await pruneEach(job, job.arch.linears, (spec) => {
      const lw = job.weights.linear(spec.role);
      const b = job.gpu.batch("wanda");
      const colSq = job.stats.columnNorms.get(spec.input)!;
      wandaPrune(b, lw.weight, lw.rows, lw.cols, colSq, job.options.pattern);
      b.submit();
    });
    return { matrices };
  },
};
