import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { GpuKernelError } from "../../src/gpu/errors.ts";
import { type Kernel, Uniforms } from "../../src/gpu/kernel.ts";
import { forEachFitting } from "../../src/gpu/split.ts";
import { withBindingLimit } from "../_binding_limit.ts";

Deno.test("forEachFitting keeps ranges that fit whole and splits the others into equal fitting steps", async () => {
  const gpu = await getGpu();
  await withBindingLimit(gpu, 8192, () => {
    const room = gpu.windowElements;
    assert.equal(room, (8192 - gpu.device.limits.minStorageBufferOffsetAlignment) / 4);
    const calls: [number, number][] = [];
    const rows = (cols: number) => (a: number, b: number) => (b - a) * cols;
    forEachFitting(gpu, 3, 10, rows(room / 7), (a, b) => calls.push([a, b]));
    assert.deepEqual(calls, [[3, 10]], "a range that fits is one call");
    calls.length = 0;
    forEachFitting(gpu, 0, 1000, rows(100), (a, b) => calls.push([a, b]));
    const rowsPerStep = Math.floor(room / 100);
    assert.ok(calls.every(([a, b]) => (b - a) * 100 <= room), "every step fits");
    assert.equal(calls[0][0], 0);
    assert.equal(calls.at(-1)![1], 1000);
    for (let i = 1; i < calls.length; i++) assert.equal(calls[i][0], calls[i - 1][1]);
    assert.equal(calls.length, Math.ceil(1000 / rowsPerStep), "as few steps as fit");
    forEachFitting(gpu, 5, 5, rows(1e9), () => assert.fail("an empty range calls nothing"));
    assert.throws(
      () => forEachFitting(gpu, 0, 4, (a, b) => (a <= 2 && b > 2 ? room + 1 : b - a), () => {}),
      new RegExp(`limit of 8192 bytes: one step \\(2 to 3\\) touches ${room + 1} elements`),
    );
  });
});

Deno.test("Gpu.window binds an aligned byte range and rejects ranges past the limit or the buffer", async () => {
  const gpu = await getGpu();
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const t = gpu.alloc([10000], "t");
  await withBindingLimit(gpu, 8192, () => {
    const w = gpu.window(t, 1001, 2001);
    assert.equal(w.byteOffset % align, 0);
    assert.ok(w.base <= 1001 && 1001 - w.base < align / 4, `base ${w.base}`);
    assert.equal(w.byteOffset, w.base * 4);
    assert.equal(w.byteLength, 2001 * 4 - w.byteOffset);
    assert.throws(
      () => gpu.window(t, 0, gpu.windowElements + 1),
      /exceed \d+ \(binding limit 8192 bytes\)/,
    );
    const end = t.buffer.size / 4;
    assert.throws(
      () => gpu.window(t, end - 10, end + 1),
      /Cannot bind elements \[\d+, \d+\) of a buffer/,
    );
  });
  gpu.free(t);
});

Deno.test("Gpu.bindingLimit rejects values outside 8 KiB .. maxStorageBufferBindingSize", async () => {
  const gpu = await getGpu();
  const max = gpu.device.limits.maxStorageBufferBindingSize;
  for (const bad of [4096, 8194, max + 4, 1.5e4 + 0.5]) {
    assert.throws(() => (gpu.bindingLimit = bad), /Cannot set the binding limit to/);
  }
  assert.equal(gpu.bindingLimit, max);
});

Deno.test("Batch.dispatch rejects a tensor past the binding limit and accepts its windows", async () => {
  const gpu = await getGpu();
  const kernel: Kernel = {
    name: "window-add",
    source: `struct U { n: u32, off: u32 }
      @group(0) @binding(0) var<storage, read_write> x: array<f32>;
      @group(0) @binding(1) var<uniform> u: U;
      @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
        if (g.x < u.n) { x[u.off + g.x] = x[u.off + g.x] + 1.0; }
      }`,
    bindings: ["storage", "uniform"],
  };
  const n = 5000; // 20 KB
  const t = gpu.upload(new Float32Array(n), [n], "t");
  await withBindingLimit(gpu, 8192, () => {
    const b = gpu.batch("windows");
    assert.throws(
      () => b.dispatch(kernel, [t], new Uniforms().u32(n, 0).bytes(), [Math.ceil(n / 64)]),
      (e: Error) =>
        e instanceof GpuKernelError && /window-add/.test(e.message) &&
        /resource 0 holds 20000 bytes, more than the binding limit 8192/.test(e.message),
    );
    forEachFitting(gpu, 0, n, (a, b) => b - a, (a, e) => {
      const w = gpu.window(t, a, e);
      b.dispatch(kernel, [w], new Uniforms().u32(e - a, a - w.base).bytes(), [
        Math.ceil((e - a) / 64),
      ]);
    });
    assert.ok(b.length >= 3, `${b.length} dispatches`);
    b.submit();
  });
  assert.deepEqual(await gpu.read(t), new Float32Array(n).fill(1));
  gpu.free(t);
});
