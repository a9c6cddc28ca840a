import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { activation } from "../../src/kernels/activation.ts";
import { maxAbsDiff, randomF32, reluRef, siluMulRef, siluRef } from "../reference/model_ref.ts";

const n = 1000;

Deno.test("activation() relu, silu and silu-mul match float64 within 1e-6 relative", async () => {
  const gpu = await getGpu();
  const a = randomF32(n, 1, 12), b = randomF32(n, 2, 3);
  a[0] = -100, a[1] = 100, a[2] = 0; // saturation and zero
  const ta = gpu.upload(a, [n], "a"), tb = gpu.upload(b, [n], "b");
  const outs = {
    relu: gpu.alloc([n], "relu"),
    silu: gpu.alloc([n], "silu"),
    mul: gpu.alloc([n], "mul"),
  };
  const batch = gpu.batch("act");
  activation(batch, { kind: "relu", a: ta, out: outs.relu, n });
  activation(batch, { kind: "silu", a: ta, out: outs.silu, n });
  activation(batch, { kind: "silu-mul", a: ta, b: tb, out: outs.mul, n });
  batch.submit();
  assert.deepEqual(await gpu.read(outs.relu), Float32Array.from(reluRef(a)));
  const rel = (x: Float32Array, r: Float64Array) =>
    maxAbsDiff(x, r) / Math.max(1, ...r.map(Math.abs));
  assert.ok(rel(await gpu.read(outs.silu), siluRef(a)) < 1e-6);
  assert.ok(rel(await gpu.read(outs.mul), siluMulRef(a, b)) < 1e-6);
  gpu.free(ta, tb, outs.relu, outs.silu, outs.mul);
});

Deno.test("activation() honours offsets and refuses silu-mul without b", async () => {
  const gpu = await getGpu();
  const a = randomF32(20, 3, 4);
  const ta = gpu.upload(a, [20], "a"), to = gpu.upload(new Float32Array(20), [20], "o");
  const batch = gpu.batch("act");
  activation(batch, { kind: "relu", a: ta, out: to, n: 5, offA: 10, offOut: 2 });
  batch.submit();
  const o = await gpu.read(to);
  for (let i = 0; i < 20; i++) {
    assert.equal(o[i], i >= 2 && i < 7 ? Math.max(a[i + 8], 0) : 0);
  }
  assert.throws(
    () => activation(gpu.batch("x"), { kind: "silu-mul", a: ta, out: to, n: 5 }),
    /second input/,
  );
  gpu.free(ta, to);
});
