/**
 * SparseGPT as a layer solver and as a pipeline method, and GPTQ with a pruned matrix's mask fixed
 * (how `--wbits` quantizes after pruning: `--quant-order after` and the ADMM solver).
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { type GpuTensor, view } from "../gpu/tensor.ts";
import { pruneEach, type PruneMethod } from "./method.ts";
import { type MatrixSolver, solveOnCopy, type SolverOptions } from "./solver.ts";
import { SPARSEGPT_MAX_M } from "../kernels/sparsegpt.ts";
import { sparsegpt } from "./sparsegpt.ts";

/**
 * GPTQ over a pruned `w` with its mask fixed (its exact zeros stay the pruned weights): the
 * SparseGPT sweep with the given mask and joint quantization (`o.quant`), block size and
 * damping of the options; `h` (the input Hessian, lower triangle read) is overwritten. Tells
 * `o.onQuantized` the grids; when the factorisation fails for good, `w` is left as it was (the
 * pipeline then rounds it to nearest).
 */
export async function quantizeWithMask(
  gpu: Gpu,
  w: GpuTensor,
  h: GpuTensor,
  o: SolverOptions,
): Promise<void> {
  if (!o.quant) return;
  const r = await sparsegpt(gpu, undefined, w, h, { kind: "unstructured", sparsity: 0 }, {
    blocksize: o.blocksize,
    percdamp: o.percdamp,
    quant: o.quant,
    fixedMask: true,
  });
  if (r.grid && r.quantStats && !r.choleskyFailed) {
    o.onQuantized?.(w, { spec: o.quant, mode: "joint", grid: r.grid, ...r.quantStats });
  }
}

/**
 * SparseGPT as a layer solver: column sweeps with OBS error compensation. With `quant` and
 * `quantOrder` `after` (the default) the matrix is pruned first and then quantized by
 * {@linkcode quantizeWithMask} on a copy of `h`; with `joint` each column is quantized in the
 * pruning sweep on grids from the dense weights, as the SparseGPT reference does.
 */
export const sparsegptSolver: MatrixSolver = {
  name: "sparsegpt",
  async solve(gpu, w, h, o) {
    if (o.quant && o.quantOrder !== "joint") return await pruneThenQuantize(gpu, w, h, o);
    const r = await sparsegpt(gpu, undefined, w, h, o.pattern, {
      blocksize: o.blocksize,
      percdamp: o.percdamp,
      ...(o.quant ? { quant: o.quant } : {}),
    });
    // A failed factorisation leaves W unquantized: the pipeline then rounds it to nearest.
    if (o.quant && r.grid && r.quantStats && !r.choleskyFailed) {
      o.onQuantized?.(w, { spec: o.quant, mode: "joint", grid: r.grid, ...r.quantStats });
    }
    return r.percdamp;
  },
};

/** Prunes `w` without quantization, then runs GPTQ with its mask fixed on a copy of `h`. */
async function pruneThenQuantize(
  gpu: Gpu,
  w: GpuTensor,
  h: GpuTensor,
  o: SolverOptions,
): Promise<number> {
  const cols = w.shape[1];
  const copy = gpu.alloc([cols * cols], "sparsegpt/H-copy");
  try {
    const b = gpu.batch("sparsegpt/H-copy");
    b.copy(h.buffer, 0, copy.buffer, 0, cols * cols * 4);
    const r = await sparsegpt(gpu, b, w, h, o.pattern, {
      blocksize: o.blocksize,
      percdamp: o.percdamp,
    });
    // A failed factorisation leaves W unquantized: the pipeline then rounds it to nearest.
    if (!r.choleskyFailed) await quantizeWithMask(gpu, w, view(copy, [cols, cols]), o);
    return r.percdamp;
  } finally {
    gpu.free(copy);
  }
}

/** SparseGPT as a pipeline method: every matrix pruned by the solver with its input's Hessian. */
export const sparsegptMethod: PruneMethod = {
  name: "sparsegpt",
  needsCalibration: true,
  maxM: SPARSEGPT_MAX_M,
  stats: () => ({}),
  async pruneLayer(job) {
    const matrices = await pruneEach(job, job.arch.linears, (spec) => {
      const w = job.weights.linear(spec.role).weight;
      return solveOnCopy(
        job.gpu,
        sparsegptSolver,
        w,
        job.stats.hessians.get(spec.input)!,
        { ...job.options, ...job.quant?.hooks() },
      );
    });
    return { matrices };
  },
};
