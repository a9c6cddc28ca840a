import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { addScaled } from "../../src/kernels/add_scaled.ts";
import { assertSameValues, withBindingLimit } from "../_binding_limit.ts";

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

// scales are powers of two, so scale·x is exact and out + scale·x is one f32 rounding (fused or not)
const want = (out: Float32Array, x: Float32Array, period: number, scale: number) =>
  out.map((o, e) => Math.fround(o + scale * x[e % period]));

Deno.test("addScaled adds a row bias and subtracts a tensor, also in windows past the binding limit", async () => {
  const gpu = await getGpu();
  const rows = 100, cols = 50, n = rows * cols; // 20 KB per tensor, 8 KiB bindings
  const out0 = rand(n, 1, 3), bias = rand(cols, 2), full = rand(n, 3);
  const run = async () => {
    const tb = gpu.upload(bias, [cols], "bias"), tf = gpu.upload(full, [n], "full");
    const o1 = gpu.upload(out0, [rows, cols], "o1"), o2 = gpu.upload(out0, [n], "o2");
    const o3 = gpu.upload(out0, [n], "o3");
    const b = gpu.batch("add-scaled");
    addScaled(b, { out: o1, x: tb, count: n, period: cols, scale: -2 });
    addScaled(b, { out: o2, x: tf, count: n, scale: -1 });
    addScaled(b, { out: o3, x: tf, count: n - 7 }); // the last 7 stay
    b.submit();
    const got = [await gpu.read(o1), await gpu.read(o2), await gpu.read(o3)];
    gpu.free(tb, tf, o1, o2, o3);
    return got;
  };
  const whole = await run();
  const split = await withBindingLimit(gpu, 8192, run);
  const third = want(out0, full, n, 1);
  third.set(out0.subarray(n - 7), n - 7);
  for (const got of [whole, split]) {
    assertSameValues(got[0], want(out0, bias, cols, -2), "row bias");
    assertSameValues(got[1], want(out0, full, n, -1), "difference");
    assertSameValues(got[2], third, "partial add");
  }
});

Deno.test("addScaled rejects a bad period and a long x that repeats, naming the values", async () => {
  const gpu = await getGpu();
  const n = 4096;
  const out = gpu.alloc([n], "out"), x = gpu.alloc([n], "x");
  const b = gpu.batch("add-scaled-errors");
  assert.throws(() => addScaled(b, { out, x, count: n, period: 0 }), /period 0 must be/);
  assert.throws(() => addScaled(b, { out, x, count: n, period: n + 1 }), /period 4097 .* 4096/);
  assert.throws(() => addScaled(b, { out, x, count: n + 1 }), /4097 elements: out has 4096/);
  await withBindingLimit(gpu, 8192, () => {
    assert.throws(
      () => addScaled(b, { out, x, count: n, period: 3000 }),
      /repeating every 3000 elements \(past one binding\) to 4096/,
    );
  });
  assert.equal(b.length, 0);
  gpu.free(out, x);
});
