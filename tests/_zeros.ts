/**
 * Zero counting for the pruning tests: a readback of a GPU weight counted on the CPU.
 *
 * @module
 */

import type { Gpu } from "../src/gpu/device.ts";
import type { GpuTensor } from "../src/gpu/tensor.ts";

/** Zeros of a weight, per row or per group of columns of each row. */
export interface ZeroCounts {
  /** Zeros in the whole matrix. */
  total: number;
  /** Counts per row. */
  groups: number;
  /** `rows × groups` counts, row-major; the last group of a row may be shorter. */
  counts: Uint32Array;
}

/**
 * Reads a `[rows, cols]` f32 weight back and counts its zeros (`+0` and `-0`) per row, or per
 * group of `group` consecutive columns of each row.
 */
export async function countZeros(
  gpu: Gpu,
  w: GpuTensor,
  options: { group?: number } = {},
): Promise<ZeroCounts> {
  const cols = w.shape[w.shape.length - 1];
  const rows = w.size / cols;
  const group = options.group ?? cols;
  const groups = Math.ceil(cols / group);
  const data = await gpu.read(w);
  const counts = new Uint32Array(rows * groups);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (data[r * cols + c] === 0) {
        counts[r * groups + Math.floor(c / group)]++;
        total++;
      }
    }
  }
  return { total, groups, counts };
}
