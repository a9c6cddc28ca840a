/**
 * The check the pipeline makes after pruning each matrix: the weights are finite and the pattern
 * holds. A method that misses its target (e.g. a solver broken by an absurd damping) must fail
 * the run with a clear message, never write a model that only looks pruned.
 *
 * @module
 */

import { type SparsityPattern, targetSparsity } from "./types.ts";

/**
 * A pruned matrix that misses the requested pattern or holds a non-finite weight.
 *
 * @example Tell a failed check from other errors
 * ```ts
 * import { SparsityCheckError } from "./sparsity_check.ts";
 *
 * const e: Error = new SparsityCheckError("Matrix \"fc1\" is 1.8 % sparse, 50 % was requested");
 * console.log(e instanceof SparsityCheckError); // true
 * ```
 */
export class SparsityCheckError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SparsityCheckError";
  }
}

/**
 * Checks a pruned row-major `[rows, cols]` matrix: every weight finite, every N:M group with at
 * least N zeros, or for unstructured sparsity s at least s·rows·cols − rows zeros (the methods
 * round the count down at most once per row). Returns the number of zeros.
 */
export function checkPrunedMatrix(
  name: string,
  data: Float32Array,
  rows: number,
  cols: number,
  pattern: SparsityPattern,
): number {
  let zeros = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v === 0) zeros++;
    else if (!Number.isFinite(v)) {
      throw new SparsityCheckError(
        `Pruning left a non-finite weight (${v}) in "${name}" at row ${Math.floor(i / cols)}, ` +
          `column ${i % cols}`,
      );
    }
  }
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  if (pattern.kind === "nm") {
    const { n, m } = pattern;
    for (let r = 0; r < rows; r++) {
      for (let c0 = 0; c0 + m <= cols; c0 += m) {
        let z = 0;
        for (let c = c0; c < c0 + m; c++) if (data[r * cols + c] === 0) z++;
        if (z < n) {
          throw new SparsityCheckError(
            `Pruning missed the ${n}:${m} pattern in "${name}": row ${r}, columns ` +
              `${c0}-${c0 + m - 1} hold ${z} zero(s), ${n} required`,
          );
        }
      }
    }
  } else {
    const need = targetSparsity(pattern) * rows * cols - rows;
    if (zeros < need) {
      throw new SparsityCheckError(
        `Pruning missed the target in "${name}": ${pct(zeros / data.length)} of its weights ` +
          `are zero, ${pct(targetSparsity(pattern))} was requested (was the damping absurd?)`,
      );
    }
  }
  return zeros;
}
