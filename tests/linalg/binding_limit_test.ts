// The factorisations, triangular solves and inverses on matrices larger than the binding limit.
// The limits are lowered so that every n×n matrix is split into several row blocks: at 52 and
// 36 KiB the 64 rows of one Cholesky panel or diagonal block (64·n entries) still fit one
// binding, as they do for real models (a 64-row strip of an 11008² Hessian is 2.8 MB); at
// 16 KiB they do not, and those blocks are copied into a 64×64 scratch. Each result must match
// float64 as the unsplit tests require, and equal the unsplit result exactly.

import assert from "node:assert/strict";
import { getGpu, type Gpu } from "../../src/gpu/device.ts";
import { FAIL_NONE } from "../../src/kernels/linalg_util.ts";
import { choleskyFactor, recordCholesky } from "../../src/linalg/cholesky.ts";
import { recordSparseGptFactor, spdInverse } from "../../src/linalg/spd.ts";
import { Temps } from "../../src/gpu/temps.ts";
import { recordInvertLower, recordSolveLower } from "../../src/linalg/triangular.ts";
import {
  cholesky64,
  correlatedActivations,
  hessian64,
  invLower64,
  maxAbsProductMinusIdentity,
  relFro,
  Rng,
  solveLower64,
  sparsegptFactor64,
  spdInverse64,
} from "../reference/linalg_ref.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import { realisticHessian } from "./_helpers.ts";

/** Orders and limits: n² floats exceed the limit; 64 rows of n fit the first two only. */
const CASES = [[200, 52 * 1024], [131, 36 * 1024], [200, 16 * 1024], [131, 16 * 1024]] as const;

/** Runs `fn` unsplit and under `limit`, asserts both results are equal and returns it. */
async function sameSplit<T extends object>(
  gpu: Gpu,
  n: number,
  limit: number,
  fn: () => Promise<T>,
): Promise<T> {
  assert.ok(n * n * 4 > limit, `an ${n}×${n} matrix exceeds the limit of ${limit} bytes`);
  const whole = await fn();
  const split = await withBindingLimit(gpu, limit, fn);
  const got = split as Record<string, ArrayLike<number> | number>;
  for (const [key, want] of Object.entries(whole) as [string, ArrayLike<number> | number][]) {
    const g = got[key];
    if (typeof want === "number" || typeof g === "number") {
      assert.equal(g, want, `split vs unsplit ${key}`);
      continue;
    }
    // element by element: a failing deepEqual on large arrays takes minutes to print
    for (let i = 0; i < want.length; i++) {
      if (!Object.is(g[i], want[i])) {
        assert.fail(`split vs unsplit ${key}: element ${i} is ${g[i]}, expected ${want[i]}`);
      }
    }
  }
  return split;
}

/** Asserts that the strict upper (or lower) triangle is zero. */
function assertTriangle(x: Float32Array, n: number, lower: boolean): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) assert.equal(x[lower ? i * n + j : j * n + i], 0);
  }
}

for (const [n, limit] of CASES) {
  Deno.test(`choleskyFactor() past a ${limit} B limit matches float64, n = ${n}`, async () => {
    const gpu = await getGpu();
    const h = realisticHessian(n, 11 + n);
    const { L, failedColumn } = await sameSplit(gpu, n, limit, async () => {
      const t = gpu.upload(h, [n, n], "H");
      const res = await choleskyFactor(gpu, t);
      gpu.free(t);
      return res;
    });
    assert.equal(failedColumn, -1);
    const err = relFro(L, cholesky64(h, n).L);
    assert.ok(err < 1e-4, `relative error ${err}`);
    assertTriangle(L, n, true);
  });

  Deno.test(`recordInvertLower() past a ${limit} B limit matches float64, n = ${n}`, async () => {
    const gpu = await getGpu();
    const l = Float32Array.from(cholesky64(realisticHessian(n, 3 * n), n).L);
    const { x } = await sameSplit(gpu, n, limit, async () => {
      const tl = gpu.upload(l, [n, n], "L");
      const out = gpu.alloc([n, n], "Linv");
      const temps = new Temps(gpu);
      const batch = gpu.batch("triinv-split");
      recordInvertLower(gpu, batch, tl, out, { temps });
      batch.submit();
      temps.free();
      const res = { x: await gpu.read(out) };
      gpu.free(tl, out);
      return res;
    });
    const err = relFro(x, invLower64(l, n));
    const resid = maxAbsProductMinusIdentity(l, x, n);
    assert.ok(err < 1e-4, `relative error ${err}`);
    assert.ok(resid < 1e-4, `max |L·X − I| = ${resid}`);
    assertTriangle(x, n, true);
  });

  for (const transpose of [false, true]) {
    Deno.test(
      `recordSolveLower() solves ${transpose ? "Lᵀ" : "L"}·X = B past a ${limit} B limit, n = ${n}`,
      async () => {
        const gpu = await getGpu();
        const m = 70;
        const l = Float32Array.from(cholesky64(realisticHessian(n, 5 * n + m), n).L);
        const rng = new Rng(n * m);
        const b = Float32Array.from({ length: n * m }, () => rng.normal());
        const { x } = await sameSplit(gpu, n, limit, async () => {
          const tl = gpu.upload(l, [n, n], "L");
          const tb = gpu.upload(b, [n, m], "B");
          const tx = gpu.alloc([n, m], "X");
          const batch = gpu.batch("trsm-split");
          recordSolveLower(gpu, batch, tl, tb, tx, { transpose });
          batch.submit();
          const res = { x: await gpu.read(tx) };
          gpu.free(tl, tb, tx);
          return res;
        });
        const err = relFro(x, solveLower64(l, b, n, m, transpose));
        assert.ok(err < 1e-4, `relative error ${err}`);
      },
    );
  }

  Deno.test(`spdInverse() past a ${limit} B limit matches float64, n = ${n}`, async () => {
    const gpu = await getGpu();
    const h = realisticHessian(n, 7 * n);
    const { inverse, failedColumn } = await sameSplit(gpu, n, limit, async () => {
      const t = gpu.upload(h, [n, n], "H");
      const res = await spdInverse(gpu, t);
      gpu.free(t);
      return res;
    });
    assert.equal(failedColumn, -1);
    const err = relFro(inverse, spdInverse64(h, n));
    const resid = maxAbsProductMinusIdentity(h, inverse, n);
    assert.ok(err < 1e-3, `relative error ${err}`);
    assert.ok(resid < 1e-2, `max |H·H⁻¹ − I| = ${resid}`);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) assert.equal(inverse[i * n + j], inverse[j * n + i]);
    }
  });

  Deno.test(`recordSparseGptFactor() past a ${limit} B limit equals float64, n = ${n}`, async () => {
    const gpu = await getGpu();
    const tokens = Math.ceil(1.5 * n);
    const x = correlatedActivations(tokens, n, 13 * n);
    const h = Float32Array.from(hessian64(x, tokens, n, 4));
    // the factor must read only the lower triangle
    const hUp = h.slice();
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) hUp[i * n + j] = NaN;
    const { u, st, sv } = await sameSplit(gpu, n, limit, async () => {
      const th = gpu.upload(hUp, [n, n], "H");
      const tu = gpu.alloc([n, n], "U");
      const status = gpu.alloc([1], "status", "u32");
      const stats = gpu.alloc([2], "stats");
      const temps = new Temps(gpu);
      const batch = gpu.batch("sgpt-factor-split");
      recordSparseGptFactor(gpu, batch, th, tu, status, { percdamp: 0.01, stats, temps });
      batch.submit();
      temps.free();
      const res = {
        u: await gpu.read(tu),
        st: await gpu.readU32(status),
        sv: await gpu.read(stats),
      };
      gpu.free(th, tu, status, stats);
      return res;
    });
    const ref = sparsegptFactor64(h, n, 0.01);
    assert.equal(st[0], FAIL_NONE);
    assert.ok(Math.abs(sv[1] - ref.damp) <= 1e-5 * ref.damp, `damp ${sv[1]} vs ${ref.damp}`);
    const err = relFro(u, ref.U);
    assert.ok(err < 1e-4, `relative error ${err}`);
    assertTriangle(u, n, false);
  });
}

// 16-column panels need 16 rows of n to fit: at the smallest limit (8 KiB) too
for (const [n, limit] of [[200, 16 * 1024], [120, 8 * 1024]] as const) {
  Deno.test(`recordCholesky() in place, 16-column panels, limit ${limit} B, n = ${n}`, async () => {
    const gpu = await getGpu();
    const h = realisticHessian(n, 4);
    const { l, st } = await sameSplit(gpu, n, limit, async () => {
      const t = gpu.upload(h, [n, n], "A");
      const status = gpu.upload(new Uint32Array([7, 7, 7]), [3], "status");
      const batch = gpu.batch("chol-inplace-split");
      recordCholesky(gpu, batch, t, status, { panel: 16, statusIndex: 2 });
      batch.submit();
      const res = { l: await gpu.read(t), st: await gpu.readU32(status) };
      gpu.free(t, status);
      return res;
    });
    assert.deepEqual([...st], [7, 7, FAIL_NONE]);
    const err = relFro(l, cholesky64(h, n).L);
    assert.ok(err < 1e-4, `relative error ${err}`);
    assertTriangle(l, n, true);
  });
}

for (const [n, limit] of [CASES[0], CASES[2]]) {
  Deno.test(`choleskyFactor() past a ${limit} B limit reports a failing column`, async () => {
    const gpu = await getGpu();
    const h = realisticHessian(n, 99 + n);
    h[150 * n + 150] = -1e3 * Math.abs(h[150 * n + 150]);
    const { L, failedColumn } = await sameSplit(gpu, n, limit, async () => {
      const t = gpu.upload(h, [n, n], "A");
      const res = await choleskyFactor(gpu, t);
      gpu.free(t);
      return res;
    });
    assert.equal(failedColumn, 150);
    assert.ok(L.every(Number.isFinite), "L has non-finite entries");
  });
}
