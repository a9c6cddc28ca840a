import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { recordInvertLower, recordSolveLower } from "../../src/linalg/triangular.ts";
import { Temps } from "../../src/gpu/temps.ts";
import {
  cholesky64,
  invLower64,
  maxAbsProductMinusIdentity,
  relFro,
  Rng,
  solveLower64,
} from "../reference/linalg_ref.ts";
import { realisticHessian } from "./_helpers.ts";

/** The f32-rounded Cholesky factor of a realistic Hessian, a well-posed triangular matrix. */
function lowerFactor(n: number, seed: number): Float32Array<ArrayBuffer> {
  return Float32Array.from(cholesky64(realisticHessian(n, seed), n).L);
}

for (const n of [37, 100, 192, 257]) {
  Deno.test(`recordInvertLower() matches float64 and L·L⁻¹ ≈ I, n = ${n}`, async () => {
    const gpu = await getGpu();
    const l = lowerFactor(n, 3 * n);
    const tl = gpu.upload(l, [n, n], "L");
    const out = gpu.alloc([n, n], "Linv");
    const temps = new Temps(gpu);
    const batch = gpu.batch("triinv-test");
    recordInvertLower(gpu, batch, tl, out, { temps });
    batch.submit();
    temps.free();
    const x = await gpu.read(out);
    gpu.free(tl, out);
    const ref = invLower64(l, n);
    const err = relFro(x, ref);
    const resid = maxAbsProductMinusIdentity(l, x, n);
    assert.ok(err < 1e-4, `relative error ${err}`);
    assert.ok(resid < 1e-4, `max |L·X − I| = ${resid}`);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(x[i * n + j], 0);
  });
}

for (const [n, m] of [[37, 5], [100, 70], [300, 129]] as const) {
  for (const transpose of [false, true]) {
    Deno.test(
      `recordSolveLower() solves ${transpose ? "Lᵀ" : "L"}·X = B like float64, n = ${n}, m = ${m}`,
      async () => {
        const gpu = await getGpu();
        const l = lowerFactor(n, 5 * n + m);
        const rng = new Rng(n * m);
        const b = Float32Array.from({ length: n * m }, () => rng.normal());
        const tl = gpu.upload(l, [n, n], "L");
        const tb = gpu.upload(b, [n, m], "B");
        const tx = gpu.alloc([n, m], "X");
        const batch = gpu.batch("trsm-test");
        recordSolveLower(gpu, batch, tl, tb, tx, { transpose });
        batch.submit();
        const x = await gpu.read(tx);
        gpu.free(tl, tb, tx);
        const err = relFro(x, solveLower64(l, b, n, m, transpose));
        assert.ok(err < 1e-4, `relative error ${err}`);
      },
    );
  }
}

Deno.test("recordSolveLower() rejects a right-hand side that shares L's buffer", async () => {
  const gpu = await getGpu();
  const t = gpu.alloc([4, 4], "L");
  assert.throws(
    () => recordSolveLower(gpu, gpu.batch("x"), t, t, gpu.alloc([4, 4], "X")),
    /share one GPU buffer/,
  );
  gpu.free(t);
});
