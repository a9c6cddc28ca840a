import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { BufferPool } from "../../src/gpu/pool.ts";
import { STORAGE_USAGE } from "../../src/gpu/device.ts";

const isPow2 = (n: number) => (n & (n - 1)) === 0;

Deno.test("BufferPool reuses a released buffer of the same rounded size and usage", async () => {
  const pool = new BufferPool((await getGpu()).device);
  const a = pool.acquire(1000, STORAGE_USAGE, "a");
  assert.equal(a.size, 1024);
  pool.release(a);
  assert.equal(pool.acquire(1024, STORAGE_USAGE, "b"), a);
  assert.notEqual(pool.acquire(1000, STORAGE_USAGE, "c"), a);
  pool.trim();
});

Deno.test("BufferPool.roundExtent: four classes an octave, never a power of two, padding < 25 %", () => {
  assert.deepEqual(
    [1, 16, 17, 18, 20, 21, 32, 33, 40, 64, 65, 100, 1024].map(BufferPool.roundExtent),
    [17, 17, 20, 20, 20, 24, 33, 40, 40, 65, 80, 112, 1025],
  );
  for (let n = 1; n <= 20000; n++) {
    const r = BufferPool.roundExtent(n);
    assert.ok(r >= n && !isPow2(r), `extent ${n} -> ${r}`);
    if (n > 16) assert.ok(r - n < n / 4 + 1, `extent ${n} -> ${r} pads too much`);
  }
});

Deno.test("BufferPool.acquireTexture: extents are no power of two below the device's limit", async () => {
  const gpu = await getGpu();
  const max = gpu.device.limits.maxTextureDimension2D;
  const pool = new BufferPool(gpu.device);
  // texture extents feed llvmpipe's shader variant key: one kind of extent, one compile
  for (const [w, h] of [[64, 256], [1, 1], [65, 300], [max, 4], [4, max]]) {
    const t = pool.acquireTexture(w, h, 1, "t");
    assert.ok(t.width >= w && t.height >= h, `${w}x${h} -> ${t.width}x${t.height}`);
    assert.ok(t.width <= max && t.height <= max, `${w}x${h} -> ${t.width}x${t.height}`);
    if (w < max) assert.ok(!isPow2(t.width), `width ${w} -> ${t.width}`);
    if (h < max) assert.ok(!isPow2(t.height), `height ${h} -> ${t.height}`);
    pool.releaseTexture(t);
  }
  pool.trim();
});

Deno.test("BufferPool.arrayView: one 2d-array view per texture, reused", async () => {
  const pool = new BufferPool((await getGpu()).device);
  const a = pool.acquireTexture(8, 8, 2, "a"), b = pool.acquireTexture(8, 8, 2, "b");
  const va = pool.arrayView(a);
  assert.ok(va instanceof GPUTextureView);
  assert.equal(pool.arrayView(a), va);
  assert.notEqual(pool.arrayView(b), va);
  pool.releaseTexture(a);
  assert.equal(pool.acquireTexture(8, 8, 2, "again"), a); // the pooled texture comes back
  assert.equal(pool.arrayView(a), va); // with its view
  pool.trim();
});
