/**
 * A small, fast, seeded pseudo-random number generator for reproducible
 * calibration sampling.
 *
 * The generator is **mulberry32** (Tommy Ettinger, public domain): 32 bits of
 * state advanced by the Weyl increment `0x6D2B79F5`, followed by an
 * xorshift-multiply output mix. It passes gjrand/PractRand up to a few GiB of
 * output, far more than sampling a few hundred calibration windows needs, and
 * it produces the same sequence on every JavaScript engine because it only
 * uses 32-bit integer arithmetic (`Math.imul`, `>>>`).
 *
 * It is **not** cryptographically secure and it does not reproduce Python's
 * `random` module, so sampled windows differ from the ones SparseGPT's Python
 * code draws for the same seed (the distribution is the same).
 *
 * @module
 */

/** Largest seed accepted by {@linkcode Mulberry32}: seeds are unsigned 32-bit integers. */
export const MAX_SEED = 0xffffffff;

/**
 * Seeded mulberry32 generator.
 *
 * @example Same seed, same sequence
 * ```ts
 * import { Mulberry32 } from "./prng.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const a = new Mulberry32(42);
 * const b = new Mulberry32(42);
 * deepStrictEqual(a.nextUint32(), b.nextUint32());
 * ```
 */
export class Mulberry32 {
  #state: number;

  /**
   * Creates a generator.
   *
   * @param seed An integer in `[0, 2^32 - 1]`.
   * @throws {RangeError} when `seed` is not such an integer.
   */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new RangeError(
        `The random seed must be an integer from 0 to ${MAX_SEED}, got ${seed}.`,
      );
    }
    this.#state = seed >>> 0;
  }

  /**
   * Returns the next output as an unsigned 32-bit integer.
   *
   * @returns An integer in `[0, 2^32 - 1]`.
   */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /**
   * Returns the next output as a float in `[0, 1)` (a multiple of `2^-32`).
   *
   * @returns A number `u` with `0 <= u < 1`.
   */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /**
   * Returns a uniformly distributed integer in `[0, n)`.
   *
   * Uses rejection sampling, so the result is exactly uniform (no modulo bias).
   *
   * @param n The number of possible values, an integer in `[1, 2^32]`.
   * @returns An integer `k` with `0 <= k < n`.
   * @throws {RangeError} when `n` is not such an integer.
   */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new RangeError(`The range of a random integer must be from 1 to 2^32, got ${n}.`);
    }
    // Accept only draws below the largest multiple of n that fits in 2^32.
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }
}
