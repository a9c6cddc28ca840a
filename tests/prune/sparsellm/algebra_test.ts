// SparseLLM's closed-form steps on the GPU against float64 references computed the way the
// paper states them: the p-update as an f×f ridge solve (we compute it through a d×d Woodbury
// solve), the damped least-squares refit of a linear layer towards its dense weights (right-hand
// side accumulated over token chunks), and the damping escalation of the normal equations.

import assert from "node:assert/strict";
import { getGpu } from "../../../src/gpu/device.ts";
import {
  dampedInverse,
  recordNormalRhs,
  recordPUpdate,
  recordRidgeSolve,
  woodburyInverse,
} from "../../../src/prune/sparsellm/algebra.ts";
import {
  correlatedActivations,
  hessian64,
  matmul64,
  relFro,
  Rng,
  spdInverse64,
} from "../../reference/linalg_ref.ts";

function gaussian(n: number, seed: number, scale = 1): Float32Array<ArrayBuffer> {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

for (const [n, d, f] of [[40, 12, 30], [100, 24, 70], [257, 16, 48]]) {
  Deno.test(`p-update (Woodbury, d×d) equals the f×f ridge solve in float64, n=${n} d=${d} f=${f}`, async () => {
    const gpu = await getGpu();
    const t = gaussian(n * d, 1), q = gaussian(n * f, 2, 0.5);
    const w2 = gaussian(d * f, 3, 0.3);
    // Prune Ŵ2 a little so it is not generic.
    for (let i = 0; i < w2.length; i += 3) w2[i] = 0;
    const T = gpu.upload(t, [n, d], "T"), Q = gpu.upload(q, [n, f], "q");
    const W2 = gpu.upload(w2, [d, f], "W2");
    const a = gpu.alloc([d, d], "A"), aInv = gpu.alloc([d, d], "Ainv");
    const status = gpu.alloc([1], "status", "u32");
    const p = gpu.alloc([n, f], "p"), r = gpu.alloc([n, d], "r"), r2 = gpu.alloc([n, d], "r2");
    try {
      const gammaOverBeta = 0.7;
      const ridge = await woodburyInverse(gpu, W2, d, f, gammaOverBeta, a, aInv, status);
      // ridge = γ/β · mean(diag(Ŵ2Ŵ2ᵀ))
      const ww = matmul64(w2, w2, d, f, d, false, true);
      let md = 0;
      for (let i = 0; i < d; i++) md += ww[i * d + i] / d;
      assert.ok(Math.abs(ridge - gammaOverBeta * md) <= 1e-5 * ridge, `ridge ${ridge}`);
      const b = gpu.batch("p-update");
      recordPUpdate(b, { t: T, q: Q, w2: W2, aInv, p, r, r2, n, d, f });
      b.submit();
      const got = await gpu.read(p), gotR2 = await gpu.read(r2);
      // float64: p = (Ŵ2ᵀŴ2 + ridge·I)⁻¹ (Ŵ2ᵀT + ridge·q), one column per token (β = 1, γ = ridge).
      const m = matmul64(w2, w2, f, d, f, true, false);
      for (let i = 0; i < f; i++) m[i * f + i] += ridge;
      const mInv = spdInverse64(m, f);
      const rhs = matmul64(t, w2, n, d, f); // [n, f] = T·Ŵ2
      for (let i = 0; i < n * f; i++) rhs[i] += ridge * q[i];
      const want = matmul64(rhs, mInv, n, f, f); // M symmetric: rows·M⁻¹
      const err = relFro(got, want);
      assert.ok(err < 2e-5, `p relative error ${err}`);
      // The output residual of the new p is ridge·r2 (used for the relaxed objective).
      const resid = matmul64(want, w2, n, f, d, false, true);
      for (let i = 0; i < n * d; i++) resid[i] = t[i] - resid[i];
      const scaled = Float64Array.from(gotR2, (v) => v * ridge);
      const rerr = relFro(scaled, resid);
      assert.ok(rerr < 1e-4, `residual relative error ${rerr}`);
    } finally {
      gpu.free(T, Q, W2, a, aInv, status, p, r, r2);
    }
  });
}

for (const [n, rows, cols, chunks] of [[96, 20, 12, 1], [300, 33, 24, 3], [512, 64, 40, 2]]) {
  Deno.test(`ridge refit towards dense weights equals float64 (${rows}x${cols}, ${n} tokens in ${chunks} chunks)`, async () => {
    const gpu = await getGpu();
    const nseq = 4, percdamp = 0.01;
    const x = correlatedActivations(n, cols, 7 + rows);
    const target = gaussian(n * rows, 8, 0.8);
    const anchor = gaussian(rows * cols, 9, 0.2);
    const h64 = hessian64(x, n, cols, nseq);
    const H = gpu.upload(Float32Array.from(h64), [cols, cols], "H");
    const hInv = gpu.alloc([cols, cols], "Hinv"), work = gpu.alloc([cols, cols], "work");
    const status = gpu.alloc([1], "status", "u32");
    const c = gpu.alloc([rows, cols], "C"), out = gpu.alloc([rows, cols], "W");
    const A = gpu.upload(anchor, [rows, cols], "anchor");
    const per = Math.ceil(n / chunks);
    const parts: ReturnType<typeof gpu.upload>[] = [];
    try {
      const lambda = await dampedInverse(gpu, H, cols, hInv, work, status, percdamp);
      let mean = 0;
      for (let i = 0; i < cols; i++) mean += h64[i * cols + i] / cols;
      assert.ok(Math.abs(lambda - percdamp * mean) <= 1e-5 * lambda, `lambda ${lambda}`);
      const b = gpu.batch("refit");
      for (let k = 0, s = 0; s < n; k++, s += per) {
        const m = Math.min(per, n - s);
        const tx = gpu.upload(x.slice(s * cols, (s + m) * cols), [m, cols], "x");
        const tt = gpu.upload(target.slice(s * rows, (s + m) * rows), [m, rows], "t");
        parts.push(tx, tt);
        recordNormalRhs(b, tt, tx, c, rows, cols, m, nseq, k > 0);
      }
      recordRidgeSolve(b, c, A, lambda, hInv, out, rows, cols);
      b.submit();
      const got = await gpu.read(out);
      // float64: W = ((2/nseq)·targetᵀX + λ·W_dense)(H + λI)⁻¹
      const rhs = matmul64(target, x, rows, n, cols, true, false);
      for (let i = 0; i < rhs.length; i++) rhs[i] = (2 / nseq) * rhs[i] + lambda * anchor[i];
      const hd = Float64Array.from(h64);
      for (let i = 0; i < cols; i++) hd[i * cols + i] += lambda;
      const want = matmul64(rhs, spdInverse64(hd, cols), rows, cols, cols);
      const err = relFro(got, want);
      assert.ok(err < 1e-3, `W relative error ${err}`);
      // It minimises (2/nseq)‖target − X·Wᵀ‖² + λ‖W − W_dense‖²: the gradient vanishes.
      const pred = matmul64(x, want, n, cols, rows, false, true);
      for (let i = 0; i < pred.length; i++) pred[i] -= target[i];
      const grad = matmul64(pred, x, rows, n, cols, true, false);
      let gmax = 0, scale = 0;
      for (let i = 0; i < grad.length; i++) {
        const g = (2 / nseq) * grad[i] + lambda * (want[i] - anchor[i]);
        gmax = Math.max(gmax, Math.abs(g));
        scale = Math.max(scale, Math.abs(rhs[i]));
      }
      assert.ok(gmax < 1e-9 * scale, `float64 reference is not a minimiser: ${gmax}`);
    } finally {
      gpu.free(H, hInv, work, status, c, out, A, ...parts);
    }
  });
}

Deno.test("dampedInverse escalates the damping tenfold until the factorisation succeeds", async () => {
  const gpu = await getGpu();
  const n = 6;
  // Symmetric with one negative eigenvalue of −0.05 (mean diagonal 0.825): 1 % damping fails,
  // 10 % (λ = 0.0825) succeeds.
  const h = new Float32Array(n * n);
  const diag = [1, 1, 1, 1, 1, -0.05];
  for (let i = 0; i < n; i++) h[i * n + i] = diag[i];
  const H = gpu.upload(h, [n, n], "H");
  const out = gpu.alloc([n, n], "inv"), work = gpu.alloc([n, n], "work");
  const status = gpu.alloc([1], "status", "u32");
  try {
    const lambda = await dampedInverse(gpu, H, n, out, work, status, 0.01);
    const mean = diag.reduce((a, b) => a + b) / n;
    assert.ok(Math.abs(lambda - 0.1 * mean) < 1e-6, `lambda ${lambda}`);
    const inv = await gpu.read(out);
    for (let i = 0; i < n; i++) {
      assert.ok(Math.abs(inv[i * n + i] - 1 / (diag[i] + lambda)) < 1e-4, `diag ${i}`);
    }
    // H itself is unchanged.
    assert.deepEqual([...(await gpu.read(H))], [...h]);
  } finally {
    gpu.free(H, out, work, status);
  }
});
