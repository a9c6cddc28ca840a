import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { MAX_SEED, Mulberry32 } from "../../src/data/prng.ts";

/** The widely copied reference formulation of mulberry32 (returns floats in [0, 1)). */
function referenceMulberry32(a: number): () => number {
  return () => {
    let t = (a += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("Mulberry32: matches the reference formulation", () => {
  for (const seed of [0, 1, 42, 123456789, MAX_SEED]) {
    const ours = new Mulberry32(seed);
    const ref = referenceMulberry32(seed);
    for (let i = 0; i < 1000; i++) strictEqual(ours.nextFloat(), ref(), `seed ${seed} step ${i}`);
  }
});

Deno.test("Mulberry32: pinned outputs (reproducibility across releases)", () => {
  const rng = new Mulberry32(0);
  deepStrictEqual([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()], [
    1144304738,
    1416247,
    958946056,
  ]);
  strictEqual(new Mulberry32(42).nextFloat(), 0.6011037519201636);
});

Deno.test("Mulberry32: nextInt stays in range and covers it", () => {
  const rng = new Mulberry32(7);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const k = rng.nextInt(10);
    ok(Number.isInteger(k) && k >= 0 && k < 10);
    counts[k]++;
  }
  for (const c of counts) ok(c > 850 && c < 1150, `counts ${counts}`);
  strictEqual(rng.nextInt(1), 0);
  const big = rng.nextInt(2 ** 32);
  ok(big >= 0 && big < 2 ** 32);
});

Deno.test("Mulberry32: rejects invalid seeds and ranges", () => {
  for (const seed of [-1, 1.5, MAX_SEED + 1, NaN]) {
    throws(() => new Mulberry32(seed), {
      name: "RangeError",
      message: `The random seed must be an integer from 0 to 4294967295, got ${seed}.`,
    });
  }
  const rng = new Mulberry32(1);
  for (const n of [0, 2.5, 2 ** 32 + 1]) {
    throws(() => rng.nextInt(n), { name: "RangeError", message: /from 1 to 2\^32/ });
  }
});
