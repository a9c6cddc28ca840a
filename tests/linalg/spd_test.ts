import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { choleskyFactor } from "../../src/linalg/cholesky.ts";
import {
  recordAddIdentity,
  recordAddMeanDiag,
  recordSparseGptFactor,
  spdInverse,
} from "../../src/linalg/spd.ts";
import { Temps } from "../../src/gpu/temps.ts";
import { FAIL_NONE } from "../../src/kernels/linalg_util.ts";
import {
  correlatedActivations,
  hessian64,
  maxAbsProductMinusIdentity,
  relFro,
  Rng,
  sparsegptFactor64,
  spdInverse64,
} from "../reference/linalg_ref.ts";
import { realisticHessian } from "./_helpers.ts";

for (const n of [37, 100, 192, 257, 300]) {
  Deno.test(`spdInverse() matches float64 and H·H⁻¹ ≈ I, n = ${n}`, async () => {
    const gpu = await getGpu();
    const h = realisticHessian(n, 7 * n);
    const t = gpu.upload(h, [n, n], "H");
    const { inverse, failedColumn } = await spdInverse(gpu, t);
    gpu.free(t);
    assert.equal(failedColumn, -1);
    const err = relFro(inverse, spdInverse64(h, n));
    const resid = maxAbsProductMinusIdentity(h, inverse, n);
    assert.ok(err < 1e-3, `relative error ${err}`);
    assert.ok(resid < 1e-2, `max |H·H⁻¹ − I| = ${resid}`);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) assert.equal(inverse[i * n + j], inverse[j * n + i]);
    }
  });
}

for (const n of [37, 100, 192, 257, 300]) {
  Deno.test(`recordSparseGptFactor() equals chol(H⁻¹, upper) in float64, n = ${n}`, async () => {
    const gpu = await getGpu();
    const tokens = Math.ceil(1.5 * n);
    const x = correlatedActivations(tokens, n, 13 * n);
    const h = Float32Array.from(hessian64(x, tokens, n, 4));
    // the factor must read only the lower triangle
    const hUp = h.slice();
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) hUp[i * n + j] = NaN;
    const th = gpu.upload(hUp, [n, n], "H");
    const tu = gpu.alloc([n, n], "U");
    const status = gpu.alloc([1], "status", "u32");
    const stats = gpu.alloc([2], "stats");
    const temps = new Temps(gpu);
    const batch = gpu.batch("sgpt-factor-test");
    recordSparseGptFactor(gpu, batch, th, tu, status, { percdamp: 0.01, stats, temps });
    batch.submit();
    temps.free();
    const u = await gpu.read(tu);
    const st = await gpu.readU32(status);
    const sv = await gpu.read(stats);
    gpu.free(th, tu, status, stats);
    const ref = sparsegptFactor64(h, n, 0.01);
    assert.equal(st[0], FAIL_NONE);
    assert.ok(Math.abs(sv[1] - ref.damp) <= 1e-5 * ref.damp, `damp ${sv[1]} vs ${ref.damp}`);
    const err = relFro(u, ref.U);
    assert.ok(err < 1e-4, `relative error ${err}`);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.equal(u[i * n + j], 0);
  });
}

Deno.test("choleskyFactor() reports the first failing column of a non-SPD matrix without NaN", async () => {
  const gpu = await getGpu();
  for (const [n, bad] of [[10, 4], [150, 97], [300, 0]] as const) {
    const rng = new Rng(n);
    const h = realisticHessian(n, 99 + n);
    // make the leading (bad+1)×(bad+1) block indefinite: set its last pivot far negative
    h[bad * n + bad] = -1e3 * Math.abs(h[bad * n + bad]) - rng.next();
    const t = gpu.upload(h, [n, n], "A");
    const { L, failedColumn } = await choleskyFactor(gpu, t);
    gpu.free(t);
    assert.equal(failedColumn, bad, `n = ${n}`);
    assert.ok(L.every(Number.isFinite), "L has non-finite entries");
  }
  // NaN pivot
  const n = 70;
  const h = realisticHessian(n, 5);
  h[66 * n + 66] = NaN;
  const t = gpu.upload(h, [n, n], "A");
  const res = await choleskyFactor(gpu, t);
  gpu.free(t);
  assert.equal(res.failedColumn, 66);
});

Deno.test("recordAddIdentity() and recordAddMeanDiag() damp the diagonal on the GPU", async () => {
  const gpu = await getGpu();
  const n = 300;
  const rng = new Rng(1);
  const a = Float32Array.from({ length: n * n }, () => rng.normal());
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a[i * n + i];
  mean /= n;
  const t = gpu.upload(a, [n, n], "A");
  const stats = gpu.alloc([4], "stats");
  const batch = gpu.batch("damp");
  recordAddIdentity(gpu, batch, t, 0.5, stats, 0);
  recordAddMeanDiag(gpu, batch, t, 0.01, stats, 2);
  batch.submit();
  const out = await gpu.read(t);
  const s = await gpu.read(stats);
  gpu.free(t, stats);
  assert.ok(Math.abs(s[0] - mean) < 1e-5);
  assert.ok(Math.abs(s[2] - (mean + 0.5)) < 1e-5);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const want = a[i * n + j] + (i === j ? 0.5 + 0.01 * (mean + 0.5) : 0);
      assert.ok(Math.abs(out[i * n + j] - want) < 1e-5, `(${i}, ${j})`);
    }
  }
});
