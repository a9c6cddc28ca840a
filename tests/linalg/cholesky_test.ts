import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { choleskyFactor, recordCholesky } from "../../src/linalg/cholesky.ts";
import { FAIL_NONE } from "../../src/kernels/linalg_util.ts";
import { cholesky64, relFro } from "../reference/linalg_ref.ts";
import { realisticHessian } from "./_helpers.ts";

for (const n of [1, 37, 100, 192, 257, 300]) {
  Deno.test(`choleskyFactor() matches float64 on a realistic Hessian, n = ${n}`, async () => {
    const gpu = await getGpu();
    const h = realisticHessian(n, 11 + n);
    const t = gpu.upload(h, [n, n], "H");
    const { L, failedColumn } = await choleskyFactor(gpu, t);
    gpu.free(t);
    const ref = cholesky64(h, n);
    assert.equal(failedColumn, -1);
    const err = relFro(L, ref.L);
    assert.ok(err < 1e-4, `relative error ${err}`);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(L[i * n + j], 0);
  });
}

Deno.test("recordCholesky() factors in place with a narrow panel and a status word at an index", async () => {
  const gpu = await getGpu();
  const n = 150;
  const h = realisticHessian(n, 4);
  const t = gpu.upload(h, [n, n], "A");
  const status = gpu.upload(new Uint32Array([7, 7, 7]), [3], "status");
  const batch = gpu.batch("chol-inplace");
  const out = recordCholesky(gpu, batch, t, status, { panel: 20, statusIndex: 2 });
  batch.submit();
  assert.equal(out, t);
  const l = await gpu.read(t);
  const st = await gpu.readU32(status);
  gpu.free(t, status);
  assert.deepEqual([...st], [7, 7, FAIL_NONE]);
  assert.ok(relFro(l, cholesky64(h, n).L) < 1e-4);
  assert.throws(() => recordCholesky(gpu, batch, t, status, { panel: 65 }), /panel width 65/);
});
