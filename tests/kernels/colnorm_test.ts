import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { COLNORM_MAX_SLABS, colNormUpdate } from "../../src/kernels/colnorm.ts";
import { assertSameValues, withBindingLimit } from "../_binding_limit.ts";
import { randomF32 } from "../reference/model_ref.ts";

/** Runs one update of s (from s0) over x[xOff ..] and returns s. */
async function update(
  x: Float32Array,
  s0: Float32Array,
  a: { xOffset: number; rows: number; cols: number; scale: number; denom: number },
): Promise<Float32Array> {
  const gpu = await getGpu();
  const tx = gpu.upload(x, [x.length], "x"), ts = gpu.upload(s0, [s0.length], "s");
  const partial = gpu.alloc([COLNORM_MAX_SLABS * a.cols], "partial");
  const batch = gpu.batch("colnorm");
  colNormUpdate(batch, { ...a, x: tx, s: ts, partial });
  batch.submit();
  const out = await gpu.read(ts);
  gpu.free(tx, ts, partial);
  return out;
}

Deno.test("colNormUpdate matches float64, whole and in column blocks past the binding limit", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of [[5, 3], [700, 130], [700, 7], [1, 5000]]) {
    const xOffset = 9, scale = 0.25, denom = 3;
    const x = randomF32(xOffset + rows * cols, rows + cols), s0 = randomF32(cols, 7);
    const args = { xOffset, rows, cols, scale, denom };
    const whole = await update(x, s0, args);
    // 8 KiB bindings: for 700 × 7 the rows of x are split into slabs, for 1 × 5000 x, the
    // partial sums and s into column blocks
    if (rows * cols <= 5000) {
      const split = await withBindingLimit(gpu, 8192, () => update(x, s0, args));
      assertSameValues(split, whole, `[${rows}x${cols}] split result`);
    }
    for (let j = 0; j < cols; j++) {
      let sq = 0;
      for (let t = 0; t < rows; t++) sq += x[xOffset + t * cols + j] ** 2;
      const want = s0[j] * scale + sq / denom;
      assert.ok(
        Math.abs(whole[j] - want) <= 1e-5 * (Math.abs(s0[j] * scale) + sq / denom),
        `[${rows}x${cols}] column ${j}: ${whole[j]} vs ${want}`,
      );
    }
  }
});
