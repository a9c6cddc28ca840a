// Shared by the matmul tests: random data, the float64 reference and runners.

import assert from "node:assert/strict";
import { getGpu, type Gpu } from "../../src/gpu/device.ts";
import { matmul, type MatmulArgs } from "../../src/kernels/matmul.ts";

export function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/** float64 reference of C = alpha·op(A)·op(B) + beta·C0 + bias with the kernel's indexing. */
export function reference(
  A: Float32Array,
  B: Float32Array,
  C0: Float32Array,
  x: {
    M: number;
    N: number;
    K: number;
    ta: boolean;
    tb: boolean;
    lda: number;
    ldb: number;
    ldc: number;
    offA: number;
    offB: number;
    offC: number;
    alpha: number;
    beta: number;
    bias?: Float32Array;
  },
): { c: Float64Array; bound: Float64Array } {
  const c = Float64Array.from(C0);
  const bound = new Float64Array(C0.length);
  for (let m = 0; m < x.M; m++) {
    for (let n = 0; n < x.N; n++) {
      let s = 0, sa = 0;
      for (let k = 0; k < x.K; k++) {
        const a = x.ta ? A[x.offA + k * x.lda + m] : A[x.offA + m * x.lda + k];
        const b = x.tb ? B[x.offB + n * x.ldb + k] : B[x.offB + k * x.ldb + n];
        s += a * b;
        sa += Math.abs(a * b);
      }
      const i = x.offC + m * x.ldc + n;
      const old = x.beta === 0 ? 0 : x.beta * C0[i]; // beta = 0: C is not read (BLAS)
      c[i] = x.alpha * s + old + (x.bias ? x.bias[n] : 0);
      bound[i] = Math.abs(x.alpha) * sa + Math.abs(old) + 1e-30;
    }
  }
  return { c, bound };
}

/**
 * Arguments of `count` products in one of the four layouts with padded leading dimensions (A + 3,
 * B + 1, C + 4 elements) and batch strides (C's 8 elements longer than its rows).
 */
export function paddedLayout(
  ta: boolean,
  tb: boolean,
  M: number,
  N: number,
  K: number,
  count: number,
) {
  const lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 4;
  return {
    M,
    N,
    K,
    transA: ta,
    transB: tb,
    lda,
    ldb,
    ldc,
    count,
    strideA: lda * (ta ? K : M),
    strideB: ldb * (tb ? N : K),
    strideC: ldc * M + 8,
  };
}

/** (transA, transB) of the four layouts. */
export const LAYOUTS = [[false, false], [false, true], [true, false], [true, true]] as const;

/** Runs one matmul on uploaded copies of A, B, C0 (and the bias) and reads C back. */
export async function runMatmul(
  A: Float32Array,
  B: Float32Array,
  C0: Float32Array,
  args: Omit<MatmulArgs, "a" | "b" | "c" | "bias">,
  bias?: Float32Array,
  on?: Gpu,
): Promise<Float32Array> {
  const gpu = on ?? await getGpu();
  const a = gpu.upload(A, [A.length], "A"), b = gpu.upload(B, [B.length], "B");
  const c = gpu.upload(C0, [C0.length], "C");
  const tbias = bias ? gpu.upload(bias, [bias.length], "bias") : undefined;
  const batch = gpu.batch("t");
  matmul(batch, { ...args, a, b, c, bias: tbias });
  batch.submit();
  return await gpu.read(c).finally(() => gpu.free(a, b, c, tbias));
}

/**
 * Asserts every product of a (batched) matmul against {@linkcode reference}: error ≤ 1e-5 ·
 * (Σ|ab| + |bias|). `bias` starts at the product's first column.
 */
export function assertProducts(
  got: Float32Array,
  A: Float32Array,
  B: Float32Array,
  C0: Float32Array,
  x: Omit<MatmulArgs, "a" | "b" | "c" | "bias">,
  what: string,
  bias?: Float32Array,
): void {
  const ta = x.transA ?? false, tb = x.transB ?? false;
  const lda = x.lda ?? (ta ? x.M : x.K), ldb = x.ldb ?? (tb ? x.K : x.N), ldc = x.ldc ?? x.N;
  for (let z = 0; z < (x.count ?? 1); z++) {
    const offC = (x.offC ?? 0) + z * (x.strideC ?? 0);
    const ref = reference(A, B, C0, {
      M: x.M,
      N: x.N,
      K: x.K,
      ta,
      tb,
      lda,
      ldb,
      ldc,
      offA: (x.offA ?? 0) + z * (x.strideA ?? 0),
      offB: (x.offB ?? 0) + z * (x.strideB ?? 0),
      offC,
      alpha: x.alpha ?? 1,
      beta: x.beta ?? 0,
      bias,
    });
    for (let m = 0; m < x.M; m++) {
      for (let n = 0; n < x.N; n++) {
        const i = offC + m * ldc + n;
        const tol = 1e-5 * (ref.bound[i] + (bias ? Math.abs(bias[n]) : 0));
        assert.ok(
          Math.abs(got[i] - ref.c[i]) <= tol,
          `${what} product ${z} (${m}, ${n}): ${got[i]} vs ${ref.c[i]}`,
        );
      }
    }
  }
}
