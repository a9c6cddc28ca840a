/**
 * Evaluation windows for perplexity (the SparseGPT / Wanda protocol).
 *
 * @module
 */

/**
 * Cuts a token stream into non-overlapping windows of `seqlen` tokens, as the
 * SparseGPT / Wanda perplexity evaluation does: window `i` is
 * `ids[i * seqlen, (i + 1) * seqlen)` and the incomplete tail is dropped.
 *
 * The windows are views (`subarray`) of `ids`, not copies.
 *
 * @example 214 KB of test text at seqlen 256
 * ```ts
 * import { evalWindows } from "./windows.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const windows = evalWindows(new Int32Array(213_753), 256);
 * deepStrictEqual(windows.length, 834);
 * ```
 *
 * @param ids The tokenized evaluation text.
 * @param seqlen Tokens per window, a positive integer.
 * @param maxWindows If given, keep only the first `maxWindows` windows.
 * @returns `min(floor(ids.length / seqlen), maxWindows)` windows.
 * @throws {RangeError} when `seqlen` or `maxWindows` is not a positive
 * integer, or when the text is shorter than one window.
 */
export function evalWindows(ids: Int32Array, seqlen: number, maxWindows?: number): Int32Array[] {
  if (!Number.isInteger(seqlen) || seqlen < 1) {
    throw new RangeError(`The window length (seqlen) must be a positive integer, got ${seqlen}.`);
  }
  if (maxWindows !== undefined && (!Number.isInteger(maxWindows) || maxWindows < 1)) {
    throw new RangeError(
      `The maximum number of windows must be a positive integer, got ${maxWindows}.`,
    );
  }
  const available = Math.floor(ids.length / seqlen);
  if (available < 1) {
    throw new RangeError(
      `The evaluation text has ${ids.length} tokens, fewer than one window of ${seqlen} tokens (seqlen).`,
    );
  }
  const count = maxWindows === undefined ? available : Math.min(available, maxWindows);
  const windows: Int32Array[] = new Array(count);
  for (let i = 0; i < count; i++) windows[i] = ids.subarray(i * seqlen, (i + 1) * seqlen);
  return windows;
}
