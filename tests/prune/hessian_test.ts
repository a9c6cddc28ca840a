import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { HessianAccumulator } from "../../src/prune/hessian.ts";
import { correlatedActivations, hessian64, relFro } from "../reference/linalg_ref.ts";

for (const cols of [37, 100, 192, 257, 300]) {
  Deno.test(`HessianAccumulator equals (2/nseq)·Σ x·xᵀ over several chunks, cols = ${cols}`, async () => {
    const gpu = await getGpu();
    // chunks of [sequences, tokens]; the third one is read at an element offset
    const chunks = [[1, 64], [3, 150], [2, 97], [1, 33]] as const;
    const totalTokens = chunks.reduce((s, [, t]) => s + t, 0);
    const x = correlatedActivations(totalTokens, cols, cols);
    const acc = new HessianAccumulator(gpu, cols);
    const batch = gpu.batch("hessian-test");
    const all = gpu.upload(x, [totalTokens, cols], "X");
    const uploads = [];
    let t0 = 0, nseq = 0;
    for (const [i, [seqs, tokens]] of chunks.entries()) {
      if (i === 2) {
        acc.add(batch, all, seqs, { offset: t0 * cols, tokens });
      } else {
        const t = gpu.upload(x.slice(t0 * cols, (t0 + tokens) * cols), [tokens, cols], "chunk");
        uploads.push(t);
        acc.add(batch, t, seqs);
      }
      t0 += tokens;
      nseq += seqs;
    }
    assert.equal(acc.nsamples, nseq);
    acc.finalize(batch);
    batch.submit();
    const h = await gpu.read(acc.H);
    gpu.free(all, ...uploads);
    acc.free();
    const ref = hessian64(x, totalTokens, cols, nseq);
    const err = relFro(h, ref);
    assert.ok(err < 1e-5, `relative error ${err}`);
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j < i; j++) assert.equal(h[i * cols + j], h[j * cols + i]);
    }
  });
}

Deno.test("HessianAccumulator.add() rejects mismatched activations and empty chunks", async () => {
  const gpu = await getGpu();
  const acc = new HessianAccumulator(gpu, 8);
  const x = gpu.alloc([4, 6], "X");
  const batch = gpu.batch("bad");
  assert.throws(() => acc.add(batch, x, 1), /shape \[4, 6\]/);
  const y = gpu.alloc([4, 8], "Y");
  assert.throws(() => acc.add(batch, y, 0), /sequence count 0/);
  assert.throws(
    () => acc.add(batch, y, 1, { offset: 8, tokens: 4 }),
    /4 tokens at element offset 8/,
  );
  gpu.free(x, y);
  acc.free();
});
