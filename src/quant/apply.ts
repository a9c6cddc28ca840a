/**
 * Quantization of a pruned layer's matrices after its method ran: round-to-nearest for matrices
 * no solver quantized (magnitude, Wanda), and the report of every quantized matrix.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { recordQuantize } from "../kernels/quant.ts";
import { groupsPerRow, type QuantSpec } from "./grid.ts";
import type { QuantOutcome } from "./recorder.ts";

/** What a matrix's report says about its quantization. */
export interface MatrixQuantReport {
  /** Bits per weight. */
  bits: number;
  /** Inputs per group (0: one grid per row). */
  groupSize: number;
  /** Symmetric grids. */
  sym: boolean;
  /**
   * How: with error compensation in the column sweep (`joint`: SparseGPT's, or GPTQ with
   * ADMM's mask fixed) or round-to-nearest after pruning (`rtn`).
   */
  mode: "joint" | "rtn";
  /** Fraction of weights the mask pruned. */
  maskSparsity: number;
  /** Fraction of exact zeros in the end (mask plus kept weights that rounded to 0). */
  zeroFraction: number;
  /** Σ (w − q)² / Σ w² over the kept weights (w just before rounding). */
  quantError: number;
  /** Smallest, mean and largest scale of the grids (all of them: `quant_grids.safetensors`). */
  scale: { min: number; mean: number; max: number };
  /** Mean zero point. */
  meanZero: number;
}

/**
 * Rounds `w` (rows × cols, pruned) to its grids on the GPU, round-to-nearest; zeros stay 0.
 * Returns the grids and what rounding did.
 */
export async function quantizeAfterPruning(
  gpu: Gpu,
  w: GpuTensor,
  spec: QuantSpec,
): Promise<QuantOutcome> {
  const [rows, cols] = w.shape;
  const before = await gpu.read(w);
  const grid = gpu.alloc([rows * groupsPerRow(spec, cols) * 2], "quant/grid");
  try {
    const b = gpu.batch("quant/rtn");
    recordQuantize(b, w, grid, spec, true);
    b.submit();
    const after = await gpu.read(w);
    let keptZeros = 0, err = 0, norm = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i] === 0) continue;
      if (after[i] === 0) keptZeros++;
      err += (before[i] - after[i]) ** 2;
      norm += before[i] ** 2;
    }
    const g = await gpu.read(grid);
    return {
      spec,
      mode: "rtn",
      grid: g,
      keptZeros,
      relError: norm > 0 ? err / norm : 0,
      keptNorm: norm,
    };
  } finally {
    gpu.free(grid);
  }
}

/** The report of a quantized matrix whose final weights hold `zeros` zeros of `numel`. */
export function quantReport(o: QuantOutcome, zeros: number, numel: number): MatrixQuantReport {
  let min = Infinity, max = 0, sum = 0, zsum = 0;
  const n = o.grid.length / 2;
  for (let i = 0; i < n; i++) {
    const s = o.grid[2 * i];
    min = Math.min(min, s);
    max = Math.max(max, s);
    sum += s;
    zsum += o.grid[2 * i + 1];
  }
  return {
    bits: o.spec.bits,
    groupSize: o.spec.groupSize,
    sym: o.spec.sym,
    mode: o.mode,
    maskSparsity: (zeros - o.keptZeros) / numel,
    zeroFraction: zeros / numel,
    quantError: o.relError,
    scale: { min, mean: n ? sum / n : 0, max },
    meanZero: n ? zsum / n : 0,
  };
}
