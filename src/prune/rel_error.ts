/**
 * The relative reconstruction error of a pruned linear layer on its calibration inputs, from the
 * inputs' Hessian: `tr((W−Ŵ)·H·(W−Ŵ)ᵀ) / tr(W·H·Wᵀ)` = ‖WX − ŴX‖²/‖WX‖².
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { matmul } from "../kernels/matmul.ts";
import { finishSumSq, recordSumSq, SUMSQ_PARTIALS } from "../kernels/reduce.ts";
import { addScaled } from "../kernels/add_scaled.ts";

/** `tr((W−Ŵ) H (W−Ŵ)ᵀ) / tr(W H Wᵀ)`: the relative output error on the calibration inputs. */
export async function relativeError(
  gpu: Gpu,
  dense: GpuTensor,
  pruned: GpuTensor,
  h: GpuTensor,
  rows: number,
  cols: number,
): Promise<number> {
  const n = rows * cols;
  const diff = gpu.alloc([rows, cols], "err/diff");
  const prod = gpu.alloc([rows, cols], "err/prod");
  const partial = gpu.alloc([2 * SUMSQ_PARTIALS], "err/partial");
  try {
    const b = gpu.batch("relerr");
    matmul(b, { a: dense, b: h, c: prod, M: rows, N: cols, K: cols });
    recordSumSq(b, rows, cols, { t: prod }, { t: dense }, partial, "dot", 0);
    b.copy(dense.buffer, 0, diff.buffer, 0, n * 4);
    addScaled(b, { out: diff, x: pruned, count: n, scale: -1 });
    matmul(b, { a: diff, b: h, c: prod, M: rows, N: cols, K: cols });
    recordSumSq(b, rows, cols, { t: prod }, { t: diff }, partial, "dot", 1);
    b.submit();
    const v = await gpu.read(partial);
    const [den] = finishSumSq(v.subarray(0, SUMSQ_PARTIALS));
    const [num] = finishSumSq(v.subarray(SUMSQ_PARTIALS));
    return Math.max(0, num) / Math.max(den, 1e-30);
  } finally {
    gpu.free(diff, prod, partial);
  }
}
