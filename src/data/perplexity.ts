/**
 * Perplexity from next-token negative log-likelihoods (natural log).
 *
 * In the SparseGPT / Wanda protocol every window predicts the same number of
 * tokens (`seqlen - 1`), so the exponential of the mean of the per-window
 * mean NLLs equals the exponential of the mean over all predicted tokens.
 *
 * @module
 */

function checkFinite(value: number, index: number, what: string): void {
  if (!Number.isFinite(value)) {
    throw new RangeError(`The ${what} at index ${index} is ${value}, not a finite number.`);
  }
}

/**
 * Mean of negative log-likelihoods, summed in float64.
 *
 * @param nlls Token NLLs in nats.
 * @returns The arithmetic mean.
 * @throws {RangeError} when `nlls` is empty or holds a non-finite value.
 */
export function meanNll(nlls: ArrayLike<number>): number {
  if (nlls.length === 0) throw new RangeError("Cannot average an empty list of NLL values.");
  let sum = 0;
  for (let i = 0; i < nlls.length; i++) {
    checkFinite(nlls[i], i, "NLL value");
    sum += nlls[i];
  }
  return sum / nlls.length;
}

/**
 * Perplexity of a set of token predictions: `exp(mean NLL)`.
 *
 * @example
 * ```ts
 * import { perplexityFromNll } from "./perplexity.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(perplexityFromNll([Math.log(4), Math.log(4)]), 4);
 * ```
 *
 * @param nlls Next-token NLLs in nats of every predicted token.
 * @returns The perplexity.
 * @throws {RangeError} when `nlls` is empty or holds a non-finite value.
 */
export function perplexityFromNll(nlls: ArrayLike<number>): number {
  return Math.exp(meanNll(nlls));
}

/**
 * Perplexity from per-window mean NLLs: `exp(mean of window means)`, the
 * SparseGPT formula for windows of equal length.
 *
 * @param windowMeans The mean next-token NLL (nats) of each window.
 * @returns The perplexity.
 * @throws {RangeError} when `windowMeans` is empty or holds a non-finite value.
 */
export function perplexityFromWindowMeans(windowMeans: ArrayLike<number>): number {
  return Math.exp(meanNll(windowMeans));
}

/**
 * Streaming perplexity: add the NLLs of each evaluated window as it
 * finishes, read the running perplexity at any time. Sums in float64.
 *
 * @example
 * ```ts
 * import { PerplexityAccumulator } from "./perplexity.ts";
 * import { ok } from "node:assert/strict";
 *
 * const acc = new PerplexityAccumulator();
 * acc.add(new Float32Array([1, 2]));
 * acc.add(new Float32Array([3, 2]));
 * ok(Math.abs(acc.perplexity - Math.exp(2)) < 1e-12);
 * ```
 */
export class PerplexityAccumulator {
  #sum = 0;
  #count = 0;
  #windows = 0;

  /**
   * Adds the next-token NLLs of one window.
   *
   * @param nlls NLLs in nats; all must be finite.
   * @throws {RangeError} when a value is not finite; nothing is added then.
   */
  add(nlls: ArrayLike<number>): void {
    let sum = 0;
    for (let i = 0; i < nlls.length; i++) {
      checkFinite(nlls[i], i, `NLL value of window ${this.#windows}`);
      sum += nlls[i];
    }
    this.#sum += sum;
    this.#count += nlls.length;
    this.#windows++;
  }

  /** Number of token NLLs added so far. */
  get tokens(): number {
    return this.#count;
  }

  /** Number of windows added so far. */
  get windows(): number {
    return this.#windows;
  }

  /** Mean NLL (nats) over all added tokens; `NaN` before any token is added. */
  get meanNll(): number {
    return this.#count === 0 ? NaN : this.#sum / this.#count;
  }

  /** `exp(meanNll)`; `NaN` before any token is added. */
  get perplexity(): number {
    return Math.exp(this.meanNll);
  }
}
