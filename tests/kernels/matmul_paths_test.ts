import assert from "node:assert/strict";
import { getGpu, Gpu } from "../../src/gpu/device.ts";
import { matmul, matmulCopies } from "../../src/kernels/matmul.ts";
import { assertSameValues, withBindingLimit } from "../_binding_limit.ts";
import { assertProducts, LAYOUTS, paddedLayout, rand, reference, runMatmul } from "./_matmul.ts";

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
