import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { rope, ropeTable } from "../../src/kernels/rope.ts";
import { maxAbsDiff, randomF32, ropeRef } from "../reference/model_ref.ts";

Deno.test("ropeTable() holds cos then sin of pos / theta^(2i/d)", () => {
  const t = ropeTable(10, 8, 10000);
  const half = 4;
  for (let p = 0; p < 10; p++) {
    for (let i = 0; i < half; i++) {
      const ang = p / Math.pow(10000, (2 * i) / 8);
      assert.ok(Math.abs(t[p * half + i] - Math.cos(ang)) < 1e-6);
      assert.ok(Math.abs(t[10 * half + p * half + i] - Math.sin(ang)) < 1e-6);
    }
  }
  assert.throws(() => ropeTable(4, 7, 10000), /odd/);
});

Deno.test("rope() rotates halves of every head (HF rotate_half) within 1e-4 of float64", async () => {
  const gpu = await getGpu();
  const nseq = 3, seqlen = 200, heads = 3, hd = 32, theta = 10000;
  const T = nseq * seqlen;
  const x = randomF32(T * heads * hd, 11, 2);
  const tx = gpu.upload(x, [T, heads * hd], "x");
  const table = ropeTable(seqlen, hd, theta);
  const tt = gpu.upload(table, [table.length], "table");
  const batch = gpu.batch("rope");
  rope(batch, { x: tx, table: tt, tableRows: seqlen, rows: T, seqlen, heads, headDim: hd });
  batch.submit();
  const y = await gpu.read(tx);
  const ref = ropeRef(x, T, seqlen, heads, hd, theta);
  // f32 angles (as in HF) differ from exact ones by ~pos · 2^-24 radians
  assert.ok(maxAbsDiff(y, ref) < 1e-4, `max diff ${maxAbsDiff(y, ref)}`);
  // position 0 of each sequence is unchanged
  for (let s = 0; s < nseq; s++) {
    const r = s * seqlen * heads * hd;
    assert.deepEqual(y.subarray(r, r + heads * hd), x.subarray(r, r + heads * hd));
  }
  gpu.free(tx, tt);
});

Deno.test("rope() refuses positions beyond its table", async () => {
  const gpu = await getGpu();
  const t = gpu.alloc([16], "t"), x = gpu.alloc([64], "x");
  assert.throws(
    () =>
      rope(gpu.batch("r"), { x, table: t, tableRows: 4, rows: 8, seqlen: 8, heads: 1, headDim: 8 }),
    /exceed the table/,
  );
  gpu.free(t, x);
});
