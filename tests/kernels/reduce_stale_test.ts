// The partial-sum kernel must not read what a (pooled) partial buffer held before when it does
// not accumulate: NaN left there once made every relative error of a prune report NaN.

import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { finishSumSq, recordSumSq, SUMSQ_PARTIALS } from "../../src/kernels/reduce.ts";

Deno.test("recordSumSq() without accumulate ignores NaN left in the partial buffer", async () => {
  const gpu = await getGpu();
  const x = Float32Array.from({ length: 6 * 5 }, (_, i) => (i % 7) - 3);
  const y = Float32Array.from({ length: 6 * 5 }, (_, i) => (i % 4) * 0.5);
  const xt = gpu.upload(x, [6, 5], "x"), yt = gpu.upload(y, [6, 5], "y");
  const partial = gpu.upload(
    new Float32Array(2 * SUMSQ_PARTIALS).fill(NaN),
    [2 * SUMSQ_PARTIALS],
    "p",
  );
  try {
    const b = gpu.batch("sumsq");
    recordSumSq(b, 6, 5, { t: xt }, { t: yt }, partial, "dot", 0);
    recordSumSq(b, 6, 5, { t: xt }, { t: yt }, partial, "diff", 1);
    b.submit();
    const v = await gpu.read(partial);
    const [dot, yy] = finishSumSq(v.subarray(0, SUMSQ_PARTIALS));
    const [diff] = finishSumSq(v.subarray(SUMSQ_PARTIALS));
    let wantDot = 0, wantYy = 0, wantDiff = 0;
    for (let i = 0; i < x.length; i++) {
      wantDot += x[i] * y[i];
      wantYy += y[i] * y[i];
      wantDiff += (x[i] - y[i]) ** 2;
    }
    assert.equal(dot, wantDot);
    assert.equal(yy, wantYy);
    assert.equal(diff, wantDiff);
  } finally {
    gpu.free(xt, yt, partial);
  }
});
