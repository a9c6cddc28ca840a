import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { AuxMode, auxOp } from "../../src/kernels/auxiliary.ts";
import { sumSq } from "../../src/kernels/reduce.ts";
import { assertSameValues, withBindingLimit } from "../_binding_limit.ts";

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}
const silu = (x: number) => x / (1 + Math.exp(-x));

Deno.test("auxOp ReLU z-update picks the better of the two closed-form branches", async () => {
  const gpu = await getGpu();
  const n = 1000, a = 0.7, g = 1.3;
  const m = rand(n, 1, 2), p = rand(n, 2, 2);
  const tm = gpu.upload(m, [n], "m"), tp = gpu.upload(p, [n], "p"), tz = gpu.alloc([n], "z");
  const b = gpu.batch("t");
  auxOp(b, AuxMode.zRelu, { out: tz, inputs: [tm, tp], count: n, alpha: a, gamma: g });
  b.submit();
  const z = await gpu.read(tz);
  const obj = (zz: number, i: number) => g * (p[i] - Math.max(zz, 0)) ** 2 + a * (zz - m[i]) ** 2;
  for (let i = 0; i < n; i++) {
    // brute force over a fine grid: the closed form must be at least as good
    let best = Infinity;
    for (let t = -4; t <= 4; t += 0.001) best = Math.min(best, obj(t, i));
    assert.ok(obj(z[i], i) <= best + 1e-5, `element ${i}: ${obj(z[i], i)} > ${best}`);
  }
  gpu.free(tm, tp, tz);
});

Deno.test("auxOp GLU z-update and s-update minimise their objectives", async () => {
  const gpu = await getGpu();
  const n = 500, a = 1.0, g = 2.0;
  const m = rand(n, 3, 2), p = rand(n, 4, 1), s = rand(n, 5, 3), zu = rand(n, 6, 2);
  const ts = gpu.upload(s, [n], "s"), tm = gpu.upload(m, [n], "m"), tp = gpu.upload(p, [n], "p");
  const tzu = gpu.upload(zu, [n], "zu");
  const tz = gpu.alloc([n], "z");
  const ts2 = gpu.upload(s, [n], "s2");
  const b = gpu.batch("t");
  auxOp(b, AuxMode.zGlu, { out: tz, inputs: [tm, tp, ts], count: n, alpha: a, gamma: g });
  auxOp(b, AuxMode.sGlu, {
    out: ts2,
    inputs: [tm, tp, tzu],
    count: n,
    alpha: a,
    gamma: g,
    steps: 12,
  });
  b.submit();
  const z = await gpu.read(tz);
  const s2 = await gpu.read(ts2);
  for (let i = 0; i < n; i++) {
    const sg = silu(s[i]);
    const exact = (a * m[i] + g * sg * p[i]) / (a + g * sg * sg);
    assert.ok(Math.abs(z[i] - exact) <= 1e-5 * (1 + Math.abs(exact)), `z[${i}]`);
    const f = (t: number) => a * (t - m[i]) ** 2 + g * (p[i] - silu(t) * zu[i]) ** 2;
    // never worse than the start or the prior's minimiser, and a local minimum (gradient ~ 0)
    assert.ok(f(s2[i]) <= Math.min(f(s[i]), f(m[i])) + 1e-5);
    const h = 1e-3;
    const slope = (f(s2[i] + h) - f(s2[i] - h)) / (2 * h);
    assert.ok(Math.abs(slope) < 2e-2 * (1 + Math.abs(f(s2[i]))), `s[${i}] slope ${slope}`);
  }
  gpu.free(ts, tm, tp, tzu, tz, ts2);
});

Deno.test("auxOp activations match float64", async () => {
  const gpu = await getGpu();
  const rows = 37, cols = 29, n = rows * cols;
  const x = rand(n, 7, 3), y = rand(n, 8, 3);
  const tx = gpu.upload(x, [rows, cols], "x"), ty = gpu.upload(y, [rows, cols], "y");
  const r = gpu.alloc([n], "relu"), gl = gpu.alloc([n], "glu");
  const b = gpu.batch("t");
  auxOp(b, AuxMode.relu, { out: r, inputs: [tx], count: n });
  auxOp(b, AuxMode.glu, { out: gl, inputs: [tx, ty], count: n });
  b.submit();
  const [R, G] = [await gpu.read(r), await gpu.read(gl)];
  for (let i = 0; i < n; i++) {
    assert.equal(R[i], Math.max(x[i], 0));
    assert.ok(Math.abs(G[i] - silu(x[i]) * y[i]) < 1e-5);
  }
  gpu.free(tx, ty, r, gl);
});

for (const limit of [undefined, 8192]) {
  Deno.test(`sumSq reduces differences, squares and dot products of strided regions${limit ? ", in row blocks past the binding limit" : ""}`, async () => {
    const gpu = await getGpu();
    await withBindingLimit(gpu, limit ?? gpu.bindingLimit, () => checkSumSq(gpu));
  });
}

async function checkSumSq(gpu: Awaited<ReturnType<typeof getGpu>>) {
  for (const [rows, cols, ld] of [[3, 5, 7], [100, 257, 300], [513, 64, 64]]) {
    const x = rand(rows * ld + 3, rows, 1), y = rand(rows * ld + 3, cols, 1);
    const tx = gpu.upload(x, [x.length], "x"), ty = gpu.upload(y, [y.length], "y");
    let d = 0, yy = 0, xx = 0, dot = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const a = x[3 + r * ld + c], b = y[r * ld + c];
        d += (a - b) ** 2, yy += b * b, xx += a * a, dot += a * b;
      }
    }
    const [gd, gy] = await sumSq(gpu, rows, cols, { t: tx, offset: 3, ld }, { t: ty, ld });
    const [gx] = await sumSq(gpu, rows, cols, { t: tx, offset: 3, ld });
    const [gdot] = await sumSq(gpu, rows, cols, { t: tx, offset: 3, ld }, { t: ty, ld }, "dot");
    assert.ok(Math.abs(gd - d) <= 1e-5 * d, `diff ${gd} vs ${d}`);
    assert.ok(Math.abs(gy - yy) <= 1e-5 * yy);
    assert.ok(Math.abs(gx - xx) <= 1e-5 * xx);
    assert.ok(Math.abs(gdot - dot) <= 1e-5 * (xx + yy));
    gpu.free(tx, ty);
  }
}

Deno.test("auxOp past the binding limit works in element windows and matches the unsplit result", async () => {
  const gpu = await getGpu();
  const n = 100 * 50; // 20 KB per tensor, 8 KiB bindings
  const m = rand(n, 11, 2), p = rand(n, 12, 2), s = rand(n, 13, 3);
  const run = async () => {
    const [tm, tp, ts] = [m, p, s].map((v, i) => gpu.upload(v, [v.length], `in${i}`));
    const outs = [0, 1, 2, 3, 4].map((i) => gpu.upload(s, [n], `out${i}`));
    const b = gpu.batch("t");
    const args = { count: n, alpha: 0.7, gamma: 1.3 };
    auxOp(b, AuxMode.zRelu, { ...args, out: outs[0], inputs: [tm, tp] });
    auxOp(b, AuxMode.zGlu, { ...args, out: outs[1], inputs: [tm, tp, ts] });
    auxOp(b, AuxMode.sGlu, { ...args, out: outs[2], inputs: [tm, tp, ts] });
    auxOp(b, AuxMode.relu, { ...args, out: outs[3], inputs: [tm] });
    auxOp(b, AuxMode.glu, { ...args, out: outs[4], inputs: [tm, tp] });
    b.submit();
    const got = await Promise.all(outs.map((t) => gpu.read(t)));
    gpu.free(tm, tp, ts, ...outs);
    return got;
  };
  const whole = await run();
  const split = await withBindingLimit(gpu, 8192, run);
  for (let k = 0; k < whole.length; k++) assertSameValues(split[k], whole[k], `output ${k}`);
  for (let i = 0; i < n; i++) {
    assert.equal(split[3][i], Math.max(m[i], 0));
  }
});
