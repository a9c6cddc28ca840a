import assert from "node:assert/strict";
import { getGpu, Gpu, missingWgslFeatures, REQUIRED_WGSL_FEATURES } from "../../src/gpu/device.ts";
import { GpuDeviceLostError, GpuKernelError } from "../../src/gpu/errors.ts";
import { kernelKey, Uniforms } from "../../src/gpu/kernel.ts";

const ADD_WGSL = `
struct P { n: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
override WG: u32 = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i < p.n) { y[i] = y[i] + p.scale * x[i]; }
}`;

Deno.test("Gpu runs a real kernel dispatch on the adapter and reads it back", async () => {
  const gpu = await getGpu();
  const n = 1000;
  const x = Float32Array.from({ length: n }, (_, i) => i);
  const tx = gpu.upload(x, [n], "x");
  const ty = gpu.upload(new Float32Array(n).fill(1), [n], "y");
  const kernel = {
    name: "axpy-test",
    source: ADD_WGSL,
    bindings: ["read", "storage", "uniform"] as const,
    constants: { WG: 32 },
  };
  const b = gpu.batch("test");
  // two dispatches in one batch, each with its own uniforms
  b.dispatch(kernel, [tx, ty], new Uniforms().u32(n).f32(2).bytes(), [Math.ceil(n / 32)]);
  b.dispatch(kernel, [tx, ty], new Uniforms().u32(n).f32(0.5).bytes(), [Math.ceil(n / 32)]);
  b.submit();
  const y = await gpu.read(ty);
  for (let i = 0; i < n; i++) assert.equal(y[i], 1 + 2.5 * i);
  gpu.free(tx, ty);
});

Deno.test("Gpu requests the adapter's buffer sizes and texture extents, not the defaults", async () => {
  const gpu = await getGpu();
  const adapter = await navigator.gpu.requestAdapter();
  assert.ok(adapter);
  for (
    const name of [
      "maxStorageBufferBindingSize",
      "maxBufferSize",
      "maxTextureDimension2D",
      "maxTextureArrayLayers",
    ] as const
  ) {
    assert.equal(gpu.device.limits[name], adapter.limits[name], name);
  }
});

Deno.test("Batch.dispatch rejects a buffer for a texture binding and a view for a buffer binding", async () => {
  const gpu = await getGpu();
  const x = gpu.alloc([4], "x");
  const tex = gpu.pool.acquireTexture(1, 1, 1, "t");
  const view = tex.createView({ dimension: "2d-array" });
  const kernel = {
    name: "tex-kinds",
    source: "@compute @workgroup_size(1) fn main() {}",
    bindings: ["texture", "storage"] as const,
  };
  const b = gpu.batch("kinds");
  assert.throws(
    () => b.dispatch(kernel, [x, x], undefined, [1]),
    (e: Error) =>
      e instanceof GpuKernelError && /tex-kinds/.test(e.message) &&
      /resource 0 \(a texture binding\) must be a texture view/.test(e.message),
  );
  assert.throws(
    () => b.dispatch(kernel, [view, view], undefined, [1]),
    /resource 1 \(a storage binding\) must be a buffer/,
  );
  const readTex = { ...kernel, name: "read-tex", bindings: ["read-storage-texture"] as const };
  assert.throws(
    () => b.dispatch(readTex, [x], undefined, [1]),
    /resource 0 \(a read-storage-texture binding\) must be a texture view/,
  );
  assert.equal(b.length, 0);
  gpu.pool.releaseTexture(tex);
  gpu.free(x);
});

Deno.test("Gpu folds dispatches above maxComputeWorkgroupsPerDimension", async () => {
  const gpu = await getGpu();
  const max = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  const [x, y, z] = gpu.foldWorkgroups("t", [max * 3 + 5]);
  assert.ok(x <= max && y >= 4 && z === 1 && x * y >= max * 3 + 5);
  // a real folded dispatch: 70000 workgroups of 1 invocation each
  const n = 70000;
  const tx = gpu.upload(new Float32Array(n).fill(1), [n], "x");
  const ty = gpu.upload(new Float32Array(n), [n], "y");
  const b = gpu.batch("fold");
  b.dispatch(
    {
      name: "axpy-fold",
      source: ADD_WGSL,
      bindings: ["read", "storage", "uniform"],
      constants: { WG: 1 },
    },
    [tx, ty],
    new Uniforms().u32(n).f32(3).bytes(),
    [n],
  );
  b.submit();
  const y2 = await gpu.read(ty);
  assert.equal(y2.reduce((s, v) => s + v, 0), 3 * n);
  gpu.free(tx, ty);
});

Deno.test("kernelKey distinguishes override constants", () => {
  const k = { name: "m", source: "", bindings: ["read"] as const };
  assert.notEqual(
    kernelKey({ ...k, constants: { A: 1 } }),
    kernelKey({ ...k, constants: { A: 0 } }),
  );
  assert.equal(
    kernelKey({ ...k, constants: { A: 1, B: 2 } }),
    kernelKey({ ...k, constants: { B: 2, A: 1 } }),
  );
});

Deno.test("Gpu reports shader validation errors naming the kernel", async () => {
  const gpu = await getGpu();
  const t = gpu.upload(new Float32Array(4), [4], "t");
  const b = gpu.batch("bad");
  await assert.rejects(async () => {
    b.dispatch(
      { name: "broken-kernel", source: "fn main( {", bindings: ["storage"] },
      [t],
      undefined,
      [1],
    );
    b.submit();
    await gpu.sync();
  }, /broken-kernel/);
  gpu.free(t);
});

Deno.test("a lost device gives GpuDeviceLostError on submit, sync and readback", async () => {
  const own = await Gpu.create();
  const t = own.upload(new Float32Array([1, 2, 3]), [3], "lost/t");
  assert.deepEqual([...(await own.read(t))], [1, 2, 3]);
  own.device.destroy();
  await own.device.lost;
  await Promise.resolve();
  assert.equal(own.lost, true);
  await assert.rejects(() => own.read(t), (e: unknown) => {
    assert.ok(e instanceof GpuDeviceLostError);
    assert.match((e as Error).message, /GPU device was lost during readback \(reason: destroyed/);
    return true;
  });
  await assert.rejects(() => own.sync(), GpuDeviceLostError);
  const b = own.batch("after-loss");
  b.copy(t.buffer, 0, t.buffer, 0, 0); // empty batches submit nothing
  b.submit();
  const c = own.alloc([3], "lost/c");
  b.copy(t.buffer, 0, c.buffer, 0, 12);
  assert.throws(() => b.submit(), /GPU device was lost during batch "after-loss"/);
});

Deno.test("missingWgslFeatures names what a runtime lacks; this one has everything", () => {
  assert.deepEqual(missingWgslFeatures(new Set()), ["readonly_and_readwrite_storage_textures"]);
  assert.deepEqual(missingWgslFeatures(undefined), [...REQUIRED_WGSL_FEATURES]);
  assert.deepEqual(missingWgslFeatures(new Set(["packed_4x8_integer_dot_product"])), [
    "readonly_and_readwrite_storage_textures",
  ]);
  const gpu = navigator.gpu as GPU & { wgslLanguageFeatures: ReadonlySet<string> };
  assert.deepEqual(missingWgslFeatures(gpu.wgslLanguageFeatures), []);
});

Deno.test("Gpu.cached keeps one object per key until uncache or destroy releases it", async () => {
  const own = await Gpu.create();
  const released: string[] = [];
  let made = 0;
  const make = () => ({ n: ++made });
  const a = own.cached("t/a", make, () => released.push("a"));
  assert.equal(own.cached("t/a", make, () => released.push("never")), a);
  assert.equal(made, 1);
  const b = own.cached("t/b", make, (v) => released.push(`b${v.n}`));
  own.uncache("t/a");
  own.uncache("t/missing");
  assert.deepEqual(released, ["a"]);
  assert.notEqual(own.cached("t/a", make), a); // made again, now without a release
  assert.equal(made, 3);
  own.destroy();
  assert.deepEqual(released, ["a", `b${b.n}`]);
});
