/**
 * OWL layer-wise sparsity (Yin et al., 2024, "Outlier weighed layerwise sparsity"): layers with
 * more outlier weights are pruned less. A layer's outlier ratio is the fraction of its Wanda
 * scores |W_ij|·‖X_j‖ (over all its prunable matrices together) above M times their mean; the
 * ratios D_l are mapped linearly onto [0, 2λ], centred, and subtracted from the target:
 *
 *     s_l = s − (a_l − mean(a)),   a_l = 2λ·(D_l − min D) / (max D − min D)
 *
 * so the mean sparsity over layers is the target s and the spread is at most 2λ (OWL's defaults:
 * M = 5, λ = 0.08). Equal ratios give every layer the target.
 *
 * @module
 */

/** Defaults of OWL's hyperparameters. */
export const OWL_DEFAULTS: { readonly m: number; readonly lambda: number } = {
  m: 5,
  lambda: 0.08,
};

/**
 * Per-layer sparsities from per-layer outlier ratios (any common scale, e.g. fractions or
 * percents), the target sparsity `s` and the spread `lambda` (see the module doc). Throws a
 * `RangeError` when a resulting sparsity leaves [0, 1).
 *
 * @example Three layers at 70 %
 * ```ts ignore
 * import { owlSparsities } from "./owl.ts";
 *
 * owlSparsities([0.01, 0.03, 0.02], 0.7, 0.08); // [0.78, 0.62, 0.70]
 * ```
 */
export function owlSparsities(
  ratios: readonly number[],
  s: number,
  lambda: number = OWL_DEFAULTS.lambda,
): number[] {
  if (ratios.length === 0 || !ratios.every(Number.isFinite)) {
    throw new RangeError(
      `Invalid OWL outlier ratios [${ratios.join(", ")}]: expected finite numbers`,
    );
  }
  if (!(s >= 0 && s < 1) || !(lambda >= 0 && Number.isFinite(lambda))) {
    throw new RangeError(
      `Invalid OWL target sparsity ${s} or lambda ${lambda}: expected s in [0, 1) and lambda ≥ 0`,
    );
  }
  const lo = Math.min(...ratios), hi = Math.max(...ratios);
  if (hi === lo) return ratios.map(() => s);
  const a = ratios.map((d) => (2 * lambda * (d - lo)) / (hi - lo));
  const mean = a.reduce((x, y) => x + y, 0) / a.length;
  const out = a.map((v) => s - (v - mean));
  const bad = out.findIndex((v) => !(v >= 0 && v < 1));
  if (bad >= 0) {
    throw new RangeError(
      `OWL gives layer ${bad} the sparsity ${out[bad]} (target ${s}, lambda ${lambda}): ` +
        `expected a fraction in [0, 1); use a smaller lambda`,
    );
  }
  return out;
}

/** One prunable matrix of a layer, with the statistics of its inputs. */
export interface OwlMatrix {
  /** Weights, row-major rows × cols (row = output, column = input). */
  weights: ArrayLike<number>;
  /** Rows (outputs). */
  rows: number;
  /** Columns (inputs). */
  cols: number;
  /** Mean squared norm of each input column (Wanda's s_j, `ColumnNormAccumulator.colSq`). */
  colSq: ArrayLike<number>;
}

/**
 * The outlier ratio of one layer: the fraction of the Wanda scores |W_ij|·sqrt(s_j) of all its
 * matrices together that are larger than `m` times their mean (OWL's layer-wise outlier
 * distribution, as a fraction rather than a percent).
 *
 * @example A layer of one 1 × 4 matrix
 * ```ts ignore
 * import { layerOutlierRatio } from "./owl.ts";
 *
 * const m = { weights: [1, 1, 1, 13], rows: 1, cols: 4, colSq: [1, 1, 1, 1] };
 * layerOutlierRatio([m], 2); // 0.25: the mean is 4, only 13 is above 8
 * ```
 */
export function layerOutlierRatio(
  matrices: readonly OwlMatrix[],
  m: number = OWL_DEFAULTS.m,
): number {
  if (!(m > 0 && Number.isFinite(m))) {
    throw new RangeError(`Invalid OWL outlier multiple M ${m}: expected a positive number`);
  }
  let sum = 0, count = 0;
  const norms = matrices.map((x, i) => {
    if (x.weights.length !== x.rows * x.cols || x.colSq.length !== x.cols) {
      throw new TypeError(
        `Cannot score OWL matrix ${i}: ${x.weights.length} weights and ${x.colSq.length} ` +
          `column norms for [${x.rows}, ${x.cols}]`,
      );
    }
    return Float64Array.from(x.colSq, Math.sqrt);
  });
  matrices.forEach((x, i) => {
    for (let e = 0; e < x.weights.length; e++) sum += Math.abs(x.weights[e]) * norms[i][e % x.cols];
    count += x.weights.length;
  });
  if (count === 0) throw new RangeError("Cannot compute an OWL outlier ratio of no weights");
  const thr = m * (sum / count);
  let above = 0;
  matrices.forEach((x, i) => {
    for (let e = 0; e < x.weights.length; e++) {
      if (Math.abs(x.weights[e]) * norms[i][e % x.cols] > thr) above++;
    }
  });
  return above / count;
}
