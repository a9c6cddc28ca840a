import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { embed } from "../../src/kernels/embed.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import { randomF32 } from "../reference/model_ref.ts";

Deno.test("embed() gathers token rows from vocabulary blocks and adds learned positions", async () => {
  const gpu = await getGpu();
  const V = 50, d = 12, seqlen = 7, nseq = 3, T = nseq * seqlen, off = 2;
  const tok = randomF32(V * d, 1), pos = randomF32((seqlen + off) * d, 2);
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 17 + 3) % V);
  const tids = gpu.upload(ids, [T], "ids"), tpos = gpu.upload(pos, [seqlen + off, d], "pos");
  // two blocks: ids 0..29 and 30..49
  const b0 = gpu.upload(tok.subarray(0, 30 * d), [30, d], "b0");
  const b1 = gpu.upload(tok.subarray(30 * d), [20, d], "b1");
  const out = gpu.alloc([T, d], "out"), plain = gpu.alloc([T, d], "plain");
  const batch = gpu.batch("embed");
  for (const [table, idStart, idCount] of [[b0, 0, 30], [b1, 30, 20]] as const) {
    embed(batch, {
      ids: tids,
      table,
      idStart,
      idCount,
      positions: tpos,
      posOffset: off,
      out,
      rows: T,
      cols: d,
      seqlen,
    });
    embed(batch, { ids: tids, table, idStart, idCount, out: plain, rows: T, cols: d, seqlen });
  }
  batch.submit();
  const y = await gpu.read(out), z = await gpu.read(plain);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < d; c++) {
      const e = tok[ids[t] * d + c];
      assert.equal(z[t * d + c], e);
      assert.equal(y[t * d + c], Math.fround(e + pos[((t % seqlen) + off) * d + c]));
    }
  }
  gpu.free(tids, tpos, b0, b1, out, plain);
});

Deno.test("embed() binds only the positions one sequence reads when the table exceeds the binding limit", async () => {
  const gpu = await getGpu();
  const V = 20, d = 8, seqlen = 5, nseq = 2, T = nseq * seqlen, off = 3001, rows = 4000;
  const tok = randomF32(V * d, 3), pos = randomF32(rows * d, 4); // 128 KB of positions
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 7 + 1) % V);
  const tids = gpu.upload(ids, [T], "ids"), tpos = gpu.upload(pos, [rows, d], "pos");
  const table = gpu.upload(tok, [V, d], "tok"), out = gpu.alloc([T, d], "out");
  await withBindingLimit(gpu, 8192, () => {
    const batch = gpu.batch("embed");
    embed(batch, {
      ids: tids,
      table,
      positions: tpos,
      posOffset: off,
      out,
      rows: T,
      cols: d,
      seqlen,
    });
    batch.submit();
  });
  const y = await gpu.read(out);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < d; c++) {
      const want = Math.fround(tok[ids[t] * d + c] + pos[((t % seqlen) + off) * d + c]);
      assert.equal(y[t * d + c], want, `token ${t} column ${c}`);
    }
  }
  gpu.free(tids, tpos, table, out);
});
