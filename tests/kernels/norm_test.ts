import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { norm } from "../../src/kernels/norm.ts";
import { maxAbsDiff, normRef, randomF32 } from "../reference/model_ref.ts";

const rows = 37, cols = 96;

for (const kind of ["layernorm", "rmsnorm"] as const) {
  for (const withBias of [true, false]) {
    Deno.test(`norm() ${kind}${withBias ? " with bias" : ""} matches float64 within 1e-5`, async () => {
      const gpu = await getGpu();
      const x = randomF32(rows * cols, 1, 3);
      for (let i = 0; i < x.length; i++) x[i] += 1.5; // a non-zero mean
      const w = randomF32(cols, 2, 2), b = randomF32(cols, 3);
      const tx = gpu.upload(x, [rows, cols], "x"), tw = gpu.upload(w, [cols], "w");
      const tb = gpu.upload(b, [cols], "b"), ty = gpu.alloc([rows, cols], "y");
      const batch = gpu.batch("norm");
      norm(batch, {
        kind,
        x: tx,
        y: ty,
        weight: tw,
        ...(withBias ? { bias: tb } : {}),
        rows,
        cols,
        eps: 1e-5,
      });
      batch.submit();
      const y = await gpu.read(ty);
      const ref = normRef(kind, x, rows, cols, w, withBias ? b : undefined, 1e-5);
      assert.ok(maxAbsDiff(y, ref) < 1e-5, `max diff ${maxAbsDiff(y, ref)}`);
      gpu.free(tx, tw, tb, ty);
    });
  }
}

Deno.test("norm() honours row strides and offsets", async () => {
  const gpu = await getGpu();
  const ld = cols + 5, off = 7;
  const x = randomF32(off + rows * ld, 4);
  const w = randomF32(cols, 5);
  const tx = gpu.upload(x, [x.length], "x"), tw = gpu.upload(w, [cols], "w");
  const ty = gpu.upload(new Float32Array(3 + rows * ld).fill(42), [3 + rows * ld], "y");
  const batch = gpu.batch("norm");
  norm(batch, {
    kind: "rmsnorm",
    x: tx,
    y: ty,
    weight: tw,
    rows,
    cols,
    eps: 1e-6,
    ldx: ld,
    offX: off,
    ldy: ld,
    offY: 3,
  });
  batch.submit();
  const y = await gpu.read(ty);
  const dense = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) dense.set(x.subarray(off + r * ld, off + r * ld + cols), r * cols);
  const ref = normRef("rmsnorm", dense, rows, cols, w, undefined, 1e-6);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < ld; c++) {
      const v = y[3 + r * ld + c];
      if (c < cols) assert.ok(Math.abs(v - ref[r * cols + c]) < 1e-5);
      else assert.equal(v, 42, "padding must stay untouched");
    }
  }
  assert.equal(y[0], 42);
  gpu.free(tx, tw, ty);
});
