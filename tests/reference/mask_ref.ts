/**
 * Float64 CPU references for the selection and mask kernels: scores, k-th smallest values and
 * the masks of the reference tools (magnitude threshold, Wanda per-row stable sort, N:M), plus
 * Wanda's column statistic. Masks are `Uint8Array`s, 1 = pruned, row-major `rows × cols`.
 *
 * @module
 */

/** Score functions, as in `src/kernels/select.ts`. */
export type RefMode = "magnitude" | "wanda";

/** A small deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random f32 values in (-1, 1) whose magnitudes are pairwise distinct and non-zero. */
export function distinctWeights(n: number, seed: number): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  const out = new Float32Array(n);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    for (;;) {
      const v = Math.fround(r() * 2 - 1);
      const a = Math.abs(v);
      if (a !== 0 && !seen.has(a)) {
        seen.add(a);
        out[i] = v;
        break;
      }
    }
  }
  return out;
}

/**
 * `n` weights `±q/1024` with integer `q` in [1, 4096): few mantissa bits, so products with the
 * vectors of {@linkcode exactColVec} are exact in f32 and f64 alike.
 */
export function exactWeights(n: number, seed: number): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const q = 1 + Math.floor(r() * 4095);
    return (r() < 0.5 ? -q : q) / 1024;
  });
}

/**
 * A per-column vector whose Wanda scores are exact in f32: `s_j = (c/16)²` with integer
 * `c` in [1, 64) (so `sqrt(s_j) = c/16` exactly).
 */
export function exactColVec(cols: number, seed: number): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  return Float32Array.from({ length: cols }, () => {
    const c = 1 + Math.floor(r() * 63);
    return (c / 16) ** 2;
  });
}

/** Scores of a region in float64, row-major `rows × cols`. */
export function scoresRef(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  mode: RefMode = "magnitude",
  colVec?: ArrayLike<number>,
  ld: number = cols,
  offset = 0,
  colVecOffset = 0,
): Float64Array {
  const s = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = w[offset + r * ld + c];
      let v = Math.abs(x);
      if (mode === "wanda") v = Math.abs(x) * Math.sqrt(colVec![colVecOffset + c]);
      s[r * cols + c] = v;
    }
  }
  return s;
}

/**
 * Wanda scores as the GPU computes them in f32: `fround(|w| · fround(sqrt(s_j)))` (f32
 * multiplication and square root are correctly rounded, so f64 plus `Math.fround` emulates them).
 */
export function wandaScoresF32(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  colSq: ArrayLike<number>,
): Float64Array {
  const s = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      s[r * cols + c] = Math.fround(Math.abs(w[r * cols + c]) * Math.fround(Math.sqrt(colSq[c])));
    }
  }
  return s;
}

/** Ascending copy. */
export function sortedRef(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** The k-th smallest (0-based) and its rank among equal values: `k − #{v < kth}`. */
export function kthRef(values: ArrayLike<number>, k: number): { value: number; rank: number } {
  const value = sortedRef(values)[k];
  let less = 0;
  for (let i = 0; i < values.length; i++) if (values[i] < value) less++;
  return { value, rank: k - less };
}

/** Reference magnitude rule: `thr = sorted(scores)[floor(n·s)]`, prune `score ≤ thr`. */
export function thresholdMaskRef(scores: ArrayLike<number>, sparsity: number): Uint8Array {
  const mask = new Uint8Array(scores.length);
  if (sparsity === 0) return mask;
  const thr = sortedRef(scores)[Math.floor(scores.length * sparsity)];
  for (let i = 0; i < scores.length; i++) mask[i] = scores[i] <= thr ? 1 : 0;
  return mask;
}

/** Stable ascending order of `values[from .. from+len)`, as offsets. */
function stableOrder(values: ArrayLike<number>, from: number, len: number): number[] {
  const idx = Array.from({ length: len }, (_, i) => i);
  return idx.sort((a, b) => values[from + a] - values[from + b] || a - b);
}

/** Wanda's rule: per row, a stable sort, prune the first `floor(cols·s)`. */
export function rowMaskRef(
  scores: ArrayLike<number>,
  rows: number,
  cols: number,
  sparsity: number,
): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  const k = Math.floor(cols * sparsity);
  for (let r = 0; r < rows; r++) {
    const order = stableOrder(scores, r * cols, cols);
    for (let i = 0; i < k; i++) mask[r * cols + order[i]] = 1;
  }
  return mask;
}

/** N:M rule: in each group of `m` consecutive columns of a row prune the `n` smallest (stable). */
export function nmMaskRef(
  scores: ArrayLike<number>,
  rows: number,
  cols: number,
  n: number,
  m: number,
): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c0 = 0; c0 < cols; c0 += m) {
      const order = stableOrder(scores, r * cols + c0, m);
      for (let i = 0; i < n; i++) mask[r * cols + c0 + order[i]] = 1;
    }
  }
  return mask;
}

/** The mask a pruned weight shows: 1 where the value is zero. */
export function zeroMask(w: ArrayLike<number>): Uint8Array {
  return Uint8Array.from({ length: w.length }, (_, i) => (w[i] === 0 ? 1 : 0));
}

/** First index where two masks differ, or -1. */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * Wanda's `scaler_row` in float64, with its running update
 * `s ← s·n/(n+b) + ‖X_j‖²/(n+b)` over batches of `nseq` sequences (`x`: `[T, cols]`).
 */
export function columnSqRef(
  batches: readonly { x: ArrayLike<number>; nseq: number }[],
  cols: number,
): Float64Array {
  const s = new Float64Array(cols);
  let n = 0;
  for (const { x, nseq } of batches) {
    const rows = x.length / cols;
    const sq = new Float64Array(cols);
    for (let t = 0; t < rows; t++) {
      for (let j = 0; j < cols; j++) sq[j] += x[t * cols + j] ** 2;
    }
    for (let j = 0; j < cols; j++) s[j] = (s[j] * n) / (n + nseq) + sq[j] / (n + nseq);
    n += nseq;
  }
  return s;
}
