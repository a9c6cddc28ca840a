import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { matmul } from "../../src/kernels/matmul.ts";
import { LAYOUTS, rand, reference } from "./_matmul.ts";

const CASES = [
  { M: 1, N: 1, K: 1 },
  { M: 37, N: 29, K: 53 },
  { M: 100, N: 300, K: 64 },
  { M: 257, N: 33, K: 130 },
  { M: 64, N: 520, K: 7 },
];

for (const [ta, tb] of LAYOUTS) {
  Deno.test(`matmul ${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"} matches float64 (error ≤ 1e-5·Σ|ab|) on odd shapes`, async () => {
    const gpu = await getGpu();
    for (const [ci, { M, N, K }] of CASES.entries()) {
      // padded leading dimensions and offsets exercise strided views
      const lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
      const offA = 5, offB = 2, offC = 7;
      const A = rand(offA + lda * (ta ? K : M), 11 + ci);
      const B = rand(offB + ldb * (tb ? N : K), 23 + ci);
      const C0 = rand(offC + ldc * M, 37 + ci);
      const bias = rand(N, 41 + ci);
      const alpha = 0.75, beta = ci % 2 ? -0.5 : 0;
      const ta_ = gpu.upload(A, [A.length], "A"), tb_ = gpu.upload(B, [B.length], "B");
      const tc = gpu.upload(C0, [C0.length], "C"), tbias = gpu.upload(bias, [N], "bias");
      const batch = gpu.batch("t");
      matmul(batch, {
        a: ta_,
        b: tb_,
        c: tc,
        M,
        N,
        K,
        transA: ta,
        transB: tb,
        lda,
        ldb,
        ldc,
        offA,
        offB,
        offC,
        alpha,
        beta,
        bias: tbias,
      });
      batch.submit();
      const got = await gpu.read(tc);
      const ref = reference(A, B, C0, {
        M,
        N,
        K,
        ta,
        tb,
        lda,
        ldb,
        ldc,
        offA,
        offB,
        offC,
        alpha,
        beta,
        bias,
      });
      for (let i = 0; i < got.length; i++) {
        const inside = i >= offC && (i - offC) % ldc < N && Math.floor((i - offC) / ldc) < M;
        if (!inside) {
          assert.equal(got[i], C0[i], `element ${i} outside C was modified`);
          continue;
        }
        const tol = 1e-5 * (ref.bound[i] + Math.abs(bias[(i - offC) % ldc]));
        assert.ok(
          Math.abs(got[i] - ref.c[i]) <= tol,
          `[${M}x${N}x${K}] element ${i}: ${got[i]} vs ${ref.c[i]}`,
        );
      }
      gpu.free(ta_, tb_, tc, tbias);
    }
  });
}

Deno.test("matmul batches products with strides (one layer per product, layer groups past the limit)", async () => {
  const gpu = await getGpu();
  const layers = gpu.device.limits.maxTextureArrayLayers;
  for (
    const { count, M, N, K } of [{ count: 3, M: 20, N: 45, K: 17 }, {
      count: layers + 3,
      M: 2,
      N: 3,
      K: 5,
    }]
  ) {
    const A = rand(count * M * K, 1), B = rand(count * K * N, 2);
    const ta = gpu.upload(A, [A.length], "A"), tb = gpu.upload(B, [B.length], "B");
    const tc = gpu.alloc([count * M * N], "C");
    const batch = gpu.batch("t");
    matmul(batch, {
      a: ta,
      b: tb,
      c: tc,
      M,
      N,
      K,
      count,
      strideA: M * K,
      strideB: K * N,
      strideC: M * N,
    });
    batch.submit();
    const got = await gpu.read(tc);
    for (let z = 0; z < count; z++) {
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = 0, sa = 0;
          for (let k = 0; k < K; k++) {
            const p = A[z * M * K + m * K + k] * B[z * K * N + k * N + n];
            s += p;
            sa += Math.abs(p);
          }
          const i = z * M * N + m * N + n;
          assert.ok(
            Math.abs(got[i] - s) <= 1e-5 * sa + 1e-30,
            `product ${z} (${m}, ${n}): ${got[i]} vs ${s}`,
          );
        }
      }
    }
    gpu.free(ta, tb, tc);
  }
});

Deno.test("matmul: shrinking shapes reuse a few staging buffers and operand textures from the pool", async () => {
  const gpu = await getGpu();
  const M = 64, K = 64, Nmax = 640;
  const a = gpu.upload(rand(M * K, 7), [M, K], "A");
  const b = gpu.upload(rand(K * Nmax, 8), [K, Nmax], "B");
  const c = gpu.alloc([M, Nmax], "C");
  await gpu.sync();
  const before = gpu.pool.bytesAllocated;
  // SparseGPT's lazy updates and blocked factorisations shrink like this, block after block.
  for (let N = Nmax; N >= 32; N -= 32) {
    const batch = gpu.batch("shrinking");
    matmul(batch, { a, b, c, M, N, K, ldb: Nmax, ldc: Nmax });
    batch.submit();
  }
  await gpu.sync();
  const grown = gpu.pool.bytesAllocated - before;
  // One stage per power of two up to 2·M·Nmax floats, and at most twice the largest operand
  // textures (16 bytes per texel of 4 floats); an exact-size stage per shape needs 1.7 MB, a
  // texture per shape 1.3 MB.
  const stages = 2 * 4 * 2 ** Math.ceil(Math.log2(M * Nmax));
  const textures = 2 * (M * Nmax + M * K) * 4;
  assert.ok(grown <= stages + textures, `pool grew by ${grown} bytes`);
  gpu.free(a, b, c);
});

Deno.test("matmul splits products past the texture extent along K (accumulating) and N", async () => {
  const gpu = await getGpu();
  const ext = gpu.device.limits.maxTextureDimension2D;
  for (
    const { M, N, K, ta, tb } of [
      { M: 5, N: 7, K: ext + 9, ta: true, tb: false },
      { M: 3, N: 4 * ext + 70, K: 6, ta: false, tb: true },
    ]
  ) {
    const lda = ta ? M : K, ldb = tb ? K : N;
    const A = rand(lda * (ta ? K : M), M), B = rand(ldb * (tb ? N : K), N);
    const C0 = rand(M * N, K), bias = rand(N, 3);
    const alpha = 0.5, beta = 2;
    const a = gpu.upload(A, [A.length], "A"), b = gpu.upload(B, [B.length], "B");
    const c = gpu.upload(C0, [C0.length], "C"), tbias = gpu.upload(bias, [N], "bias");
    const batch = gpu.batch("split");
    matmul(batch, { a, b, c, M, N, K, transA: ta, transB: tb, alpha, beta, bias: tbias });
    batch.submit();
    const got = await gpu.read(c);
    const ref = reference(A, B, C0, {
      M,
      N,
      K,
      ta,
      tb,
      lda,
      ldb,
      ldc: N,
      offA: 0,
      offB: 0,
      offC: 0,
      alpha,
      beta,
      bias,
    });
    for (let i = 0; i < got.length; i++) {
      const tol = 1e-5 * (ref.bound[i] + Math.abs(bias[i % N]));
      assert.ok(
        Math.abs(got[i] - ref.c[i]) <= tol,
        `[${M}x${N}x${K}] ${i}: ${got[i]} vs ${ref.c[i]}`,
      );
    }
    gpu.free(a, b, c, tbias);
  }
});
