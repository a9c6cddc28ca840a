import assert from "node:assert/strict";
import { getGpu, Gpu } from "../../src/gpu/device.ts";
import { matmul, type MatmulArgs, matmulCopies } from "../../src/kernels/matmul.ts";
import { assertSameValues, withBindingLimit } from "../_binding_limit.ts";

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/** float64 reference of C = alpha·op(A)·op(B) + beta·C0 + bias with the kernel's indexing. */
function reference(
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
function paddedLayout(ta: boolean, tb: boolean, M: number, N: number, K: number, count: number) {
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
const LAYOUTS = [[false, false], [false, true], [true, false], [true, true]] as const;

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

/** Runs one matmul on uploaded copies of A, B, C0 (and the bias) and reads C back. */
async function runMatmul(
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
function assertProducts(
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

Deno.test("matmul past the binding limit binds windows of A, B and C and matches the unsplit result", async () => {
  const gpu = await getGpu();
  const limit = 8192; // 2048 floats: every operand below is several windows
  for (const [ci, [ta, tb]] of LAYOUTS.entries()) {
    for (
      const { M, N, K, count } of [{ M: 100, N: 300, K: 64, count: 1 }, {
        M: 57,
        N: 33,
        K: 130,
        count: 3,
      }]
    ) {
      const lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
      const strideA = lda * (ta ? K : M) + 5, strideB = ldb * (tb ? N : K) + 2;
      const strideC = ldc * M + 1;
      const A = rand(7 + count * strideA, 5 + ci), B = rand(3 + count * strideB, 9 + ci);
      const C0 = rand(4 + count * strideC, 13 + ci), bias = rand(N + 6, 17 + ci);
      const args = {
        M,
        N,
        K,
        transA: ta,
        transB: tb,
        lda,
        ldb,
        ldc,
        offA: 7,
        offB: 3,
        offC: 4,
        alpha: 0.75,
        beta: -0.5,
        offBias: 6,
        count,
        strideA,
        strideB,
        strideC,
      };
      const want = await runMatmul(A, B, C0, args, bias);
      const got = await withBindingLimit(gpu, limit, () => runMatmul(A, B, C0, args, bias));
      assert.ok(
        [A, B, C0].every((t) => t.length * 4 > limit),
        "every operand exceeds the limit",
      );
      assertSameValues(
        got,
        want,
        `[${count}×${M}x${N}x${K}] ${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"}`,
      );
      assertProducts(
        got,
        A,
        B,
        C0,
        args,
        `[${count}×${M}x${N}x${K}] ${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"}`,
        bias.subarray(6),
      );
    }
  }
});

Deno.test("matmul writes an aligned C directly, bit-identical to the staged epilogue, beta = 0 ignoring NaN", async () => {
  for (const [ci, [ta, tb]] of LAYOUTS.entries()) {
    for (
      const { M, N, K, count } of [{ M: 37, N: 68, K: 53, count: 1 }, {
        M: 70,
        N: 200,
        K: 9,
        count: 2,
      }]
    ) {
      for (const beta of [0, -0.5]) {
        const args = { ...paddedLayout(ta, tb, M, N, K, count), alpha: 0.75, beta };
        const { ldc, strideC } = args;
        const A = rand(count * args.strideA, 3 + ci), B = rand(count * args.strideB, 5 + ci);
        // offC = 4 keeps C 16-byte aligned (direct); offC = 5 does not (stage and epilogue)
        const C0 = rand(5 + count * strideC, 7 + ci);
        if (beta === 0) C0.fill(NaN, 4, 4 + ldc * 2); // must not leak into the result
        const direct = await runMatmul(A, B, C0, { ...args, offC: 4 });
        const shifted = new Float32Array(C0.length + 1);
        shifted.set(C0, 1); // the same C one element later
        const staged = await runMatmul(A, B, shifted, { ...args, offC: 5 });
        assertProducts(direct, A, B, C0, { ...args, offC: 4 }, `[${M}x${N}x${K}]`);
        assertSameValues(staged.subarray(1), direct, `[${M}x${N}x${K}] staged vs direct`);
        // entries outside C (row padding, before and after) keep their values
        for (let i = 0; i < C0.length; i++) {
          const r = i - 4 - Math.floor((i - 4) / strideC) * strideC;
          const inside = i >= 4 && i < 4 + count * strideC && r < M * ldc && r % ldc < N;
          if (!inside) assert.ok(Object.is(direct[i], C0[i]), `element ${i} outside C changed`);
        }
      }
    }
  }
});

Deno.test("matmul copies aligned operands into its textures, bit-identical to packing them", async () => {
  const gpu = await getGpu();
  const shapes = [{ M: 70, N: 62, K: 36, count: 1 }, { M: 33, N: 130, K: 64, count: 3 }];
  for (const [ci, [ta, tb]] of LAYOUTS.entries()) {
    for (const { M, N, K, count } of shapes) {
      // rows of 64 or 192 elements (multiples of 256 bytes); NaN past each operand's columns
      // must not reach C (a copied B reads up to 3 elements past N into unused columns)
      const rowsA = ta ? K : M, colsA = ta ? M : K, rowsB = tb ? N : K, colsB = tb ? K : N;
      const lda = 64 * Math.ceil(colsA / 64), ldb = 64 * Math.ceil((colsB + 1) / 64);
      const strideA = lda * rowsA, strideB = ldb * rowsB, ldc = N + 4, strideC = ldc * M;
      const padded = (rows: number, cols: number, ld: number, seed: number, off: number) => {
        const x = rand(off + count * rows * ld, seed);
        for (let r = 0; r < count * rows; r++) x.fill(NaN, off + r * ld + cols, off + (r + 1) * ld);
        return x;
      };
      const A = padded(rowsA, colsA, lda, 13 + ci, 4), B = padded(rowsB, colsB, ldb, 17 + ci, 8);
      const C0 = rand(4 + count * strideC, 19 + ci);
      const args = {
        M,
        N,
        K,
        transA: ta,
        transB: tb,
        lda,
        ldb,
        ldc,
        offA: 4,
        offB: 8,
        offC: 4,
        alpha: 0.75,
        beta: -0.5,
        count,
        strideA,
        strideB,
        strideC,
      };
      // the same operands one element later are packed
      const shift = (x: Float32Array) => Float32Array.from([0, ...x]);
      const shifted = { ...args, offA: 5, offB: 9 };
      const a = gpu.upload(A, [A.length], "A"), b = gpu.upload(B, [B.length], "B");
      const a1 = gpu.upload(shift(A), [A.length + 1], "A1");
      const b1 = gpu.upload(shift(B), [B.length + 1], "B1");
      assert.deepEqual(matmulCopies(gpu, { ...args, a, b, c: a }), { a: true, b: true });
      assert.deepEqual(matmulCopies(gpu, { ...shifted, a: a1, b: b1, c: a }), {
        a: false,
        b: false,
      });
      gpu.free(a, b, a1, b1);
      const what = `[${count}×${M}x${N}x${K}] ${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"}`;
      const copied = await runMatmul(A, B, C0, args);
      const packed = await runMatmul(shift(A), shift(B), C0, shifted);
      assertSameValues(copied, packed, `${what} copied vs packed`);
      // row blocks and column pieces under a small binding limit copy from inside the operands
      const split = await withBindingLimit(gpu, 8192, () => runMatmul(A, B, C0, args));
      assertSameValues(split, copied, `${what} split vs whole`);
      assertProducts(copied, A, B, C0, args, what);
    }
  }
});

Deno.test("matmul with `lower` writes only the entries with column − row ≤ lower, split or not", async () => {
  const gpu = await getGpu();
  for (
    const [ci, { M, N, K, lower, ldc, offC }] of [
      { M: 150, N: 152, K: 40, lower: 0, ldc: 152, offC: 4 }, // direct
      { M: 150, N: 150, K: 40, lower: 0, ldc: 151, offC: 3 }, // stage and epilogue
      { M: 300, N: 132, K: 17, lower: 5, ldc: 136, offC: 0 }, // tall, direct, above the diagonal
      { M: 97, N: 200, K: 33, lower: -7, ldc: 201, offC: 1 }, // wide, below the diagonal
    ].entries()
  ) {
    const A = rand(M * K, 19 + ci), B = rand(N * K, 23 + ci), C0 = rand(offC + M * ldc, 29 + ci);
    const args = {
      M,
      N,
      K,
      transB: true,
      ldc,
      offC,
      alpha: -1,
      beta: 1,
      lower,
    };
    const want = reference(A, B, C0, {
      ...args,
      ta: false,
      tb: true,
      lda: K,
      ldb: K,
      offA: 0,
      offB: 0,
    });
    const whole = await runMatmul(A, B, C0, args);
    // 8 KiB: C, A and B are split into windows, and N into 64-column pieces
    const split = await withBindingLimit(gpu, 8192, () => runMatmul(A, B, C0, args));
    for (const [name, got] of [["whole", whole], ["split", split]] as const) {
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          const i = offC + m * ldc + n;
          if (n - m <= lower) {
            assert.ok(
              Math.abs(got[i] - want.c[i]) <= 1e-5 * want.bound[i],
              `${name} [${M}x${N}, lower ${lower}] (${m}, ${n}): ${got[i]} vs ${want.c[i]}`,
            );
          } else {
            assert.equal(got[i], C0[i], `${name} [${M}x${N}, lower ${lower}] (${m}, ${n}) written`);
          }
        }
      }
    }
  }
});

Deno.test("matmul rejects a `lower` that is not an integer", async () => {
  const gpu = await getGpu();
  const t = gpu.alloc([16], "t");
  assert.throws(
    () => matmul(gpu.batch("bad"), { a: t, b: t, c: t, M: 4, N: 4, K: 4, lower: 0.5 }),
    /Cannot use matmul lower 0\.5: expected an integer/,
  );
  gpu.free(t);
});

Deno.test("matmul's GPU entry points (cpuKernels: false) give the CPU ones' results bit for bit", async () => {
  const cpu = await getGpu();
  assert.equal(cpu.cpuKernels, cpu.info.isFallbackAdapter);
  const gpu = await Gpu.create({ cpuKernels: false });
  assert.equal(gpu.cpuKernels, false);
  try {
    for (const [ci, [ta, tb]] of LAYOUTS.entries()) {
      for (
        const { M, N, K, count, offC, lower } of [
          { M: 37, N: 68, K: 53, count: 1, offC: 4, lower: undefined }, // direct, partial tiles
          { M: 70, N: 200, K: 9, count: 2, offC: 5, lower: undefined }, // stage, batched
          { M: 100, N: 40, K: 64, count: 1, offC: 4, lower: undefined }, // narrow, direct
          { M: 33, N: 17, K: 6, count: 1, offC: 5, lower: undefined }, // narrow, stage
          { M: 150, N: 150, K: 40, count: 1, offC: 4, lower: 0 }, // lower triangle
        ]
      ) {
        const layout = paddedLayout(ta, tb, M, N, K, count);
        const args = { ...layout, alpha: 0.75, beta: -0.5, offC, lower };
        const A = rand(count * layout.strideA, 13 + ci), B = rand(count * layout.strideB, 17 + ci);
        const C0 = rand(offC + count * layout.strideC, 19 + ci);
        const what = `${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"} [${M}x${N}x${K}]`;
        const want = await runMatmul(A, B, C0, args, undefined, cpu);
        const got = await runMatmul(A, B, C0, args, undefined, gpu);
        assertSameValues(got, want, `${what} GPU vs CPU entry points`);
        if (lower === undefined) assertProducts(got, A, B, C0, args, what);
        else assert.notDeepEqual(got, C0, `${what} was written`);
      }
    }
  } finally {
    gpu.destroy();
  }
});
