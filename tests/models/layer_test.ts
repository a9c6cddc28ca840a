import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import type { GpuTensor } from "../../src/gpu/tensor.ts";
import type { AttentionMode } from "../../src/kernels/attention.ts";
import type { ActivationTap } from "../../src/models/arch.ts";
import { loadLayerWeights } from "../../src/models/layer_weights.ts";
import { runLayer, setAttentionMode } from "../../src/models/layer.ts";
import {
  decoderLayerRef,
  maxAbs,
  maxAbsDiff,
  randomF32,
  readRefLayer,
} from "../reference/model_ref.ts";
import { LLAMA_GQA_JSON, OPT_JSON, QWEN2_JSON, randomModel } from "./_random.ts";

const families = [
  { name: "OPT (LayerNorm, ReLU, learned positions, biases)", json: OPT_JSON },
  { name: "LLaMA (RMSNorm, SwiGLU, RoPE, GQA 4/2, head_dim 12)", json: LLAMA_GQA_JSON },
  { name: "Qwen2 (q/k/v biases, MQA)", json: QWEN2_JSON },
];

for (const mode of ["matmul", "fused"] as AttentionMode[]) {
  for (const fam of families) {
    Deno.test(`runLayer() ${fam.name}, ${mode} attention: output and taps match float64 within 1e-4`, async () => {
      const gpu = await getGpu();
      setAttentionMode(gpu, mode);
      try {
        const m = randomModel(fam.json, 5);
        const nseq = 3, seqlen = 21, T = nseq * seqlen, d = m.arch.hiddenSize;
        const layer = 1;
        const w = await loadLayerWeights(gpu, m.arch, m.source, layer);
        const x = randomF32(T * d, 77, 2);
        const hidden = gpu.upload(x, [T, d], "hidden"), out = gpu.alloc([T, d], "out");
        const inplace = gpu.upload(x, [T, d], "inplace");
        const taps = new Map<ActivationTap, { t: GpuTensor; rows: number; cols: number }>();
        const batch = gpu.batch("layer");
        runLayer(gpu, batch, m.arch, w, hidden, out, seqlen, {
          onInput(tap, t, rows, cols, b) {
            assert.equal(b, batch);
            const copy = gpu.alloc([rows, cols], `tap/${tap}`);
            b.copy(t.buffer, 0, copy.buffer, 0, rows * cols * 4);
            taps.set(tap, { t: copy, rows, cols });
          },
        });
        runLayer(gpu, batch, m.arch, w, inplace, inplace, seqlen);
        batch.submit();
        const ref = decoderLayerRef(
          m.arch,
          await readRefLayer(m.arch, m.source, layer),
          x,
          nseq,
          seqlen,
        );
        const y = await gpu.read(out);
        const tol = 1e-4 * Math.max(1, maxAbs(ref.out));
        assert.ok(maxAbsDiff(y, ref.out) < tol, `out: max diff ${maxAbsDiff(y, ref.out)}`);
        assert.deepEqual(
          await gpu.read(inplace),
          y,
          "in-place run must equal the out-of-place run",
        );
        assert.deepEqual([...taps.keys()], ["attn_in", "attn_out", "ffn_in", "ffn_act"]);
        for (const [tap, { t, rows, cols }] of taps) {
          const r = ref.taps[tap];
          assert.equal(rows, T);
          assert.equal(rows * cols, r.length, `${tap} shape`);
          const got = await gpu.read(t);
          const e = maxAbsDiff(got, r);
          assert.ok(e < 1e-4 * Math.max(1, maxAbs(r)), `${tap}: max diff ${e}`);
          gpu.free(t);
        }
        assert.deepEqual(await gpu.read(hidden), x, "the input must stay unchanged");
        gpu.free(hidden, out, inplace);
        w.release();
      } finally {
        setAttentionMode(gpu, undefined);
      }
    });
  }
}

for (const fam of families) {
  Deno.test(`runLayer() attentionOnly ${fam.name}: out is the residual entering the FFN`, async () => {
    const gpu = await getGpu();
    const m = randomModel(fam.json, 6);
    const nseq = 2, seqlen = 13, T = nseq * seqlen, d = m.arch.hiddenSize;
    const w = await loadLayerWeights(gpu, m.arch, m.source, 0);
    const x = randomF32(T * d, 78, 2);
    const hidden = gpu.upload(x, [T, d], "hidden"), out = gpu.alloc([T, d], "out");
    const seen: ActivationTap[] = [];
    const batch = gpu.batch("attention-only");
    runLayer(gpu, batch, m.arch, w, hidden, out, seqlen, {
      attentionOnly: true,
      onInput(tap) {
        seen.push(tap);
      },
    });
    batch.submit();
    const ref = decoderLayerRef(m.arch, await readRefLayer(m.arch, m.source, 0), x, nseq, seqlen);
    const y = await gpu.read(out);
    const e = maxAbsDiff(y, ref.mid);
    assert.ok(e < 1e-4 * Math.max(1, maxAbs(ref.mid)), `mid: max diff ${e}`);
    assert.ok(maxAbsDiff(y, ref.out) > 1e-3, "the feed-forward block must not have run");
    assert.deepEqual(seen, ["attn_in", "attn_out", "ffn_in"]);
    gpu.free(hidden, out);
    w.release();
  });
}

Deno.test("loadLayerWeights() keeps checkpoint layout [out, in] and exposes every role", async () => {
  const gpu = await getGpu();
  const m = randomModel(LLAMA_GQA_JSON, 9);
  const w = await loadLayerWeights(gpu, m.arch, m.source, 0);
  for (const spec of m.arch.linears) {
    const lw = w.linear(spec.role);
    assert.deepEqual([lw.rows, lw.cols], [spec.rows, spec.cols]);
    assert.deepEqual(lw.weight.shape, [spec.rows, spec.cols]);
    const data = await gpu.read(lw.weight);
    assert.deepEqual(data, await m.source.readF32(spec.weight.replace("{i}", "0")));
    assert.equal(lw.bias, undefined);
  }
  assert.throws(() => w.linear("fc1"), /no "fc1" linear layer/);
  assert.ok(w.bytes > 0);
  w.release();
  await assert.rejects(() => loadLayerWeights(gpu, m.arch, m.source, 2), /Layer 2 does not exist/);
});

Deno.test("runLayer() rejects rows that are not whole sequences", async () => {
  const gpu = await getGpu();
  const m = randomModel(OPT_JSON, 2);
  const w = await loadLayerWeights(gpu, m.arch, m.source, 0);
  const h = gpu.alloc([10, 32], "h");
  assert.throws(
    () => runLayer(gpu, gpu.batch("x"), m.arch, w, h, h, 4),
    /whole number of sequences/,
  );
  const bad = gpu.alloc([10, 16], "bad");
  assert.throws(() => runLayer(gpu, gpu.batch("x"), m.arch, w, bad, bad, 5), /expected \[T, 32\]/);
  gpu.free(h, bad);
  w.release();
});
