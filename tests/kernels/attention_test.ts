import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { attention, type AttentionMode } from "../../src/kernels/attention.ts";
import { attentionRef, maxAbsDiff, randomF32 } from "../reference/model_ref.ts";

const cases = [
  { name: "MHA", nseq: 2, seqlen: 33, heads: 4, kvHeads: 4, hd: 16 },
  { name: "GQA (8 heads, 2 kv heads)", nseq: 3, seqlen: 41, heads: 8, kvHeads: 2, hd: 32 },
  {
    name: "MQA (4 heads, 1 kv head), head_dim 64",
    nseq: 1,
    seqlen: 70,
    heads: 4,
    kvHeads: 1,
    hd: 64,
  },
];

for (const mode of ["fused", "matmul"] as AttentionMode[]) {
  for (const c of cases) {
    Deno.test(`attention() ${mode}: causal ${c.name} matches float64 within 2e-5`, async () => {
      const gpu = await getGpu();
      const T = c.nseq * c.seqlen, qd = c.heads * c.hd, kvd = c.kvHeads * c.hd;
      const q = randomF32(T * qd, 1, 2), k = randomF32(T * kvd, 2, 2), v = randomF32(T * kvd, 3);
      const tq = gpu.upload(q, [T, qd], "q"), tk = gpu.upload(k, [T, kvd], "k");
      const tv = gpu.upload(v, [T, kvd], "v"), to = gpu.alloc([T, qd], "o");
      // a scratch for 2 sequences: 3-sequence cases run in two groups
      const scores = gpu.alloc([2 * c.seqlen * c.seqlen], "scores");
      const scale = 1 / Math.sqrt(c.hd);
      const batch = gpu.batch("attention");
      attention(batch, {
        q: tq,
        k: tk,
        v: tv,
        out: to,
        nseq: c.nseq,
        seqlen: c.seqlen,
        heads: c.heads,
        kvHeads: c.kvHeads,
        headDim: c.hd,
        scale,
        mode,
        scores,
      });
      batch.submit();
      const o = await gpu.read(to);
      const ref = attentionRef(q, k, v, c.nseq, c.seqlen, c.heads, c.kvHeads, c.hd, scale);
      assert.ok(maxAbsDiff(o, ref) < 2e-5, `max diff ${maxAbsDiff(o, ref)}`);
      gpu.free(tq, tk, tv, to, scores);
    });
  }

  Deno.test(`attention() ${mode}: strided q/k/v inside one fused buffer`, async () => {
    const gpu = await getGpu();
    const nseq = 2, seqlen = 19, heads = 4, kvHeads = 2, hd = 8;
    const T = nseq * seqlen, qd = heads * hd, kvd = kvHeads * hd, ld = qd + 2 * kvd;
    const qkv = randomF32(T * ld, 9);
    const q = new Float32Array(T * qd),
      k = new Float32Array(T * kvd),
      v = new Float32Array(T * kvd);
    for (let t = 0; t < T; t++) {
      q.set(qkv.subarray(t * ld, t * ld + qd), t * qd);
      k.set(qkv.subarray(t * ld + qd, t * ld + qd + kvd), t * kvd);
      v.set(qkv.subarray(t * ld + qd + kvd, (t + 1) * ld), t * kvd);
    }
    const tqkv = gpu.upload(qkv, [T, ld], "qkv"), to = gpu.alloc([5 + T * qd], "o");
    const scores = gpu.alloc([seqlen * seqlen], "scores");
    const batch = gpu.batch("attention");
    attention(batch, {
      q: tqkv,
      k: tqkv,
      v: tqkv,
      out: to,
      nseq,
      seqlen,
      heads,
      kvHeads,
      headDim: hd,
      scale: 0.3,
      ldq: ld,
      ldk: ld,
      ldv: ld,
      offK: qd,
      offV: qd + kvd,
      offO: 5,
      mode,
      scores,
    });
    batch.submit();
    const o = await gpu.read(to, 5, T * qd);
    const ref = attentionRef(q, k, v, nseq, seqlen, heads, kvHeads, hd, 0.3);
    assert.ok(maxAbsDiff(o, ref) < 2e-5, `max diff ${maxAbsDiff(o, ref)}`);
    gpu.free(tqkv, to, scores);
  });
}

Deno.test("attention() rejects unsupported head layouts", async () => {
  const gpu = await getGpu();
  const t = gpu.alloc([64], "t");
  const base = { q: t, k: t, v: t, out: t, nseq: 1, seqlen: 2, scale: 1 };
  assert.throws(
    () => attention(gpu.batch("a"), { ...base, heads: 4, kvHeads: 3, headDim: 8 }),
    /must divide/,
  );
  assert.throws(
    () => attention(gpu.batch("a"), { ...base, heads: 4, kvHeads: 4, headDim: 6 }),
    /multiple of 4/,
  );
  assert.throws(
    () => attention(gpu.batch("a"), { ...base, heads: 1, kvHeads: 1, headDim: 8, mode: "matmul" }),
    /score scratch/,
  );
  gpu.free(t);
});
