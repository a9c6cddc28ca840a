/**
 * Layer solvers: given a weight W and the Hessian H = (2/nseq)·XᵀX of its inputs, prune W in
 * place so that ŴX stays close to WX. A method such as SparseGPT prunes every matrix with its own;
 * SparseLLM calls the one the options choose wherever it (re-)prunes a matrix.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { type GpuTensor, view } from "../gpu/tensor.ts";
import type { PruneOptions } from "./options.ts";

import type { QuantOutcome } from "../quant/recorder.ts";

/** What a solver reads of the options. */
export type SolverOptions =
  & Pick<PruneOptions, "pattern" | "blocksize" | "percdamp" | "quant">
  & Partial<Pick<PruneOptions, "quantOrder">>
  & {
    /** Told the grids of `w` when the solver quantized it (`quant`). */
    onQuantized?: (w: GpuTensor, outcome: QuantOutcome) => void;
  };

/** A layer solver. */
export interface MatrixSolver {
  /** Name, e.g. `sparsegpt`. */
  readonly name: string;
  /**
   * Prunes `w` ([rows, cols]) in place to `options.pattern`. `h` ([cols, cols]) is used as
   * scratch and left overwritten. Returns the damping fraction in the end used.
   */
  solve(gpu: Gpu, w: GpuTensor, h: GpuTensor, options: SolverOptions): Promise<number>;
}

/**
 * Runs `solver` on `w` with a copy of `h` (which is kept), made in `work` (at least cols² floats)
 * or in a scratch buffer from the pool.
 */
export async function solveOnCopy(
  gpu: Gpu,
  solver: MatrixSolver,
  w: GpuTensor,
  h: GpuTensor,
  options: SolverOptions,
  work?: GpuTensor,
): Promise<number> {
  const cols = w.shape[1];
  const scratch = work ?? gpu.alloc([cols * cols], "H/work");
  try {
    const b = gpu.batch("H/copy");
    b.copy(h.buffer, 0, scratch.buffer, 0, cols * cols * 4);
    b.submit();
    return await solver.solve(gpu, w, view(scratch, [cols, cols]), options);
  } finally {
    if (!work) gpu.free(scratch);
  }
}
