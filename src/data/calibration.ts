/**
 * Reproducible random calibration windows for pruning.
 *
 * @module
 */

import { Mulberry32 } from "./prng.ts";

/**
 * Draws `nsamples` random windows of `seqlen` tokens for calibration.
 *
 * Randomness comes from a {@linkcode Mulberry32} generator seeded with
 * `seed`, so the same arguments always give the same windows on every
 * platform (they do not match the windows Python's `random` would give).
 *
 * - **One token stream** (`docs` is an `Int32Array`, e.g. a tokenized
 *   `train.txt`): each window starts at a uniformly random position in
 *   `[0, length - seqlen]`, like SparseGPT's WikiText-2 loader. The stream
 *   needs at least `seqlen` tokens.
 * - **Documents** (`docs` is an array, e.g. the lines of a JSONL file): like
 *   SparseGPT's C4 loader, each window picks a random document with more
 *   than `seqlen` tokens (drawing uniformly among those documents is exactly
 *   SparseGPT's "draw any document until one is long enough") and then a
 *   uniformly random start in `[0, length - seqlen]`.
 *
 * Windows are independent copies; they may overlap.
 *
 * @example
 * ```ts
 * import { sampleCalibration } from "./calibration.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const stream = Int32Array.from({ length: 1000 }, (_, i) => i);
 * const a = sampleCalibration(stream, 4, 128, 0);
 * deepStrictEqual(a, sampleCalibration(stream, 4, 128, 0));
 * deepStrictEqual(a[0][1] - a[0][0], 1);
 * ```
 *
 * @param docs One token stream, or one token array per document.
 * @param nsamples Number of windows, a positive integer.
 * @param seqlen Tokens per window, a positive integer.
 * @param seed Random seed, an integer in `[0, 2^32 - 1]`.
 * @returns `nsamples` arrays of `seqlen` token ids.
 * @throws {RangeError} on invalid arguments, when the stream is shorter than
 * one window, or when no document is longer than `seqlen` tokens.
 */
export function sampleCalibration(
  docs: Int32Array[] | Int32Array,
  nsamples: number,
  seqlen: number,
  seed: number,
): Int32Array[] {
  if (!Number.isInteger(nsamples) || nsamples < 1) {
    throw new RangeError(
      `The number of calibration samples (nsamples) must be a positive integer, got ${nsamples}.`,
    );
  }
  if (!Number.isInteger(seqlen) || seqlen < 1) {
    throw new RangeError(`The window length (seqlen) must be a positive integer, got ${seqlen}.`);
  }
  const rng = new Mulberry32(seed);
  const samples: Int32Array[] = new Array(nsamples);

  if (docs instanceof Int32Array) {
    if (docs.length < seqlen) {
      throw new RangeError(
        `The calibration text has ${docs.length} tokens, fewer than one window of ${seqlen} tokens (seqlen).`,
      );
    }
    const starts = docs.length - seqlen + 1;
    for (let s = 0; s < nsamples; s++) {
      const start = rng.nextInt(starts);
      samples[s] = docs.slice(start, start + seqlen);
    }
    return samples;
  }

  const eligible: Int32Array[] = [];
  let longest = 0;
  for (const doc of docs) {
    if (doc.length > seqlen) eligible.push(doc);
    longest = Math.max(longest, doc.length);
  }
  if (eligible.length === 0) {
    throw new RangeError(
      docs.length === 0
        ? "There are no calibration documents."
        : `No calibration document has more than ${seqlen} tokens (seqlen): the longest of the ${docs.length} documents has ${longest} tokens.`,
    );
  }
  for (let s = 0; s < nsamples; s++) {
    const doc = eligible[rng.nextInt(eligible.length)];
    const start = rng.nextInt(doc.length - seqlen + 1);
    samples[s] = doc.slice(start, start + seqlen);
  }
  return samples;
}
