/**
 * Float64 CPU reference linear algebra for the GPU linalg tests (plain loops, row-major).
 *
 * @module
 */

/** A small deterministic PRNG (mulberry32) with Gaussian draws. */
export class Rng {
  #s: number;
  #spare: number | undefined;
  /** Seeds the generator. */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal. */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/** C = op(A)·op(B) in float64; A is M×K (or K×M with transA), B is K×N (or N×K with transB). */
export function matmul64(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  transA = false,
  transB = false,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const aik = transA ? a[k * M + i] : a[i * K + k];
      if (aik === 0) continue;
      const row = i * N;
      if (transB) { for (let j = 0; j < N; j++) c[row + j] += aik * b[j * K + k]; }
      else for (let j = 0; j < N; j++) c[row + j] += aik * b[k * N + j];
    }
  }
  return c;
}

/** Lower Cholesky factor of an SPD matrix (lower triangle read); failedColumn −1 on success. */
export function cholesky64(
  a: ArrayLike<number>,
  n: number,
): { L: Float64Array; failedColumn: number } {
  const L = new Float64Array(n * n);
  let failedColumn = -1;
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0) || !Number.isFinite(d)) {
      if (failedColumn < 0) failedColumn = j;
      d = 1;
    }
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      const ri = i * n, rj = j * n;
      for (let k = 0; k < j; k++) s -= L[ri + k] * L[rj + k];
      L[ri + j] = s / ljj;
    }
  }
  return { L, failedColumn };
}

/** Inverse of a lower-triangular matrix. */
export function invLower64(L: ArrayLike<number>, n: number): Float64Array {
  const X = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    X[c * n + c] = 1 / L[c * n + c];
    for (let i = c + 1; i < n; i++) {
      let s = 0;
      for (let k = c; k < i; k++) s += L[i * n + k] * X[k * n + c];
      X[i * n + c] = -s / L[i * n + i];
    }
  }
  return X;
}

/** Solves L·X = B (or Lᵀ·X = B) for lower-triangular L and n×m B. */
export function solveLower64(
  L: ArrayLike<number>,
  B: ArrayLike<number>,
  n: number,
  m: number,
  transpose = false,
): Float64Array {
  const X = Float64Array.from(B);
  if (!transpose) {
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < i; k++) {
        const l = L[i * n + k];
        for (let j = 0; j < m; j++) X[i * m + j] -= l * X[k * m + j];
      }
      for (let j = 0; j < m; j++) X[i * m + j] /= L[i * n + i];
    }
  } else {
    for (let i = n - 1; i >= 0; i--) {
      for (let k = i + 1; k < n; k++) {
        const l = L[k * n + i];
        for (let j = 0; j < m; j++) X[i * m + j] -= l * X[k * m + j];
      }
      for (let j = 0; j < m; j++) X[i * m + j] /= L[i * n + i];
    }
  }
  return X;
}

/** A⁻¹ of an SPD matrix via Cholesky: L⁻ᵀ·L⁻¹. */
export function spdInverse64(a: ArrayLike<number>, n: number): Float64Array {
  const Li = invLower64(cholesky64(a, n).L, n);
  return matmul64(Li, Li, n, n, n, true, false);
}

/** Transpose of an n×m matrix. */
export function transpose64(a: ArrayLike<number>, n: number, m: number): Float64Array {
  const t = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = a[i * m + j];
  return t;
}

/**
 * SparseGPT's factor exactly as the reference computes it: damp H by
 * percdamp·mean(diag H), L = chol(H), Hinv = L⁻ᵀL⁻¹, U = chol(Hinv, upper) (H not modified).
 */
export function sparsegptFactor64(
  H: ArrayLike<number>,
  n: number,
  percdamp: number,
): { U: Float64Array; damp: number; failedColumn: number } {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += H[i * n + i];
  mean /= n;
  const damp = percdamp * mean;
  const Hd = Float64Array.from(H);
  for (let i = 0; i < n; i++) Hd[i * n + i] += damp;
  const chol = cholesky64(Hd, n);
  const Li = invLower64(chol.L, n);
  const Hinv = matmul64(Li, Li, n, n, n, true, false);
  const L2 = cholesky64(Hinv, n).L;
  return { U: transpose64(L2, n, n), damp, failedColumn: chol.failedColumn };
}

/** ‖a − b‖_F / ‖b‖_F. */
export function relFro(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** max |A·B − I| for n×n A and B. */
export function maxAbsProductMinusIdentity(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  n: number,
): number {
  const p = matmul64(a, b, n, n, n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(p[i * n + j] - (i === j ? 1 : 0)));
  }
  return m;
}

/**
 * Calibration-like activations: `tokens`×`d` (row-major tokens × features) with log-normal
 * channel scales, a few outlier channels and a shared low-rank component, so that XᵀX is
 * correlated and ill-conditioned like a real layer's Hessian.
 */
export function correlatedActivations(
  tokens: number,
  d: number,
  seed: number,
  rank = 8,
): Float32Array<ArrayBuffer> {
  const rng = new Rng(seed);
  const scale = Float64Array.from({ length: d }, () => Math.exp(0.5 * rng.normal()));
  for (let j = 0; j < d; j += 37) scale[j] *= 8;
  const mix = Float64Array.from({ length: rank * d }, () => rng.normal());
  const x = new Float32Array(tokens * d);
  const z = new Float64Array(rank);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < rank; r++) z[r] = rng.normal();
    for (let j = 0; j < d; j++) {
      let v = 0.5 * rng.normal();
      for (let r = 0; r < rank; r++) v += z[r] * mix[r * d + j];
      x[t * d + j] = v * scale[j];
    }
  }
  return x;
}

/** H = (2/nseq)·XᵀX in float64 for X tokens×d. */
export function hessian64(
  x: ArrayLike<number>,
  tokens: number,
  d: number,
  nseq: number,
): Float64Array {
  const h = matmul64(x, x, d, tokens, d, true, false);
  for (let i = 0; i < h.length; i++) h[i] *= 2 / nseq;
  return h;
}

/** A copy with `percent·mean(diag)` added to the diagonal, rounded to f32. */
export function dampedF32(
  h: ArrayLike<number>,
  n: number,
  percent: number,
): Float32Array<ArrayBuffer> {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i];
  mean /= n;
  const out = Float32Array.from(h);
  for (let i = 0; i < n; i++) out[i * n + i] = h[i * n + i] + percent * mean;
  return out;
}
