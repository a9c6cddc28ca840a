import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { evaluatePerplexity, type PerplexityProgress } from "../../src/eval/perplexity.ts";
import { CausalLM } from "../../src/models/model.ts";
import { loadFixture, testIds, windowsOf } from "../models/_fixtures.ts";
import { LLAMA_GQA_JSON, QWEN2_JSON, randomModel } from "../models/_random.ts";
import { modelRef } from "../reference/model_ref.ts";

Deno.test("evaluatePerplexity() on opt-tiny windows equals the float64 reference in every memory mode", async () => {
  const gpu = await getGpu();
  const f = await loadFixture("opt-tiny");
  const seqlen = 64, n = 5;
  const windows = windowsOf(await testIds(), seqlen, n);
  const ids = new Int32Array(n * seqlen);
  windows.forEach((w, i) => ids.set(w, i * seqlen));
  const model0 = await CausalLM.load(gpu, f.source, f.config);
  const ref = await modelRef(model0.arch, f.source, ids, n, seqlen);
  const refMean = ref.nll.reduce((a, b) => a + b, 0) / ref.nll.length;
  const modes = [
    { name: "resident", load: {}, eval: {} },
    { name: "streamed layers, GPU hidden states", load: { residentBytes: 0 }, eval: {} },
    {
      name: "streamed layers, host hidden states",
      load: { residentBytes: 0 },
      eval: { gpuHiddenBytes: 0 },
    },
  ];
  for (const mode of modes) {
    const model = mode.name === "resident"
      ? model0
      : await CausalLM.load(gpu, f.source, f.config, mode.load);
    const progress: PerplexityProgress[] = [];
    const r = await evaluatePerplexity(gpu, model, windows, {
      chunkWindows: 2,
      keepNlls: true,
      onProgress: (p) => progress.push(p),
      ...mode.eval,
    });
    if (model !== model0) model.release();
    assert.equal(r.windows, n);
    assert.equal(r.tokens, n * (seqlen - 1));
    assert.equal(r.seqlen, seqlen);
    assert.ok(Math.abs(r.meanNll - refMean) < 1e-5, `${mode.name}: ${r.meanNll} vs ${refMean}`);
    assert.ok(Math.abs(r.perplexity - Math.exp(refMean)) < 1e-4);
    assert.equal(r.nlls!.length, n);
    for (let s = 0; s < n; s++) {
      assert.equal(r.nlls![s].length, seqlen - 1);
      for (let i = 0; i < seqlen - 1; i++) {
        assert.ok(Math.abs(r.nlls![s][i] - ref.nll[s * (seqlen - 1) + i]) < 1e-4);
      }
      assert.deepEqual([...r.argmax![s]], [...ref.argmax.subarray(s * seqlen, (s + 1) * seqlen)]);
    }
    assert.equal(progress.at(-1)!.windowsDone, n);
    assert.ok(r.tokensPerSecond > 0);
  }
  model0.release();
});

for (
  const [name, json] of [["LLaMA GQA", LLAMA_GQA_JSON], ["Qwen2 (tied head)", QWEN2_JSON]] as const
) {
  Deno.test(`evaluatePerplexity() on a random ${name} model with split vocabulary blocks equals float64`, async () => {
    const gpu = await getGpu();
    const m = randomModel(json, 21);
    const seqlen = 24, n = 3;
    const windows = Array.from(
      { length: n },
      (_, s) =>
        Int32Array.from({ length: seqlen }, (_, i) => (s * 31 + i * i * 7 + i) % m.arch.vocabSize),
    );
    const ids = new Int32Array(n * seqlen);
    windows.forEach((w, i) => ids.set(w, i * seqlen));
    const ref = await modelRef(m.arch, m.source, ids, n, seqlen);
    // 7 vocabulary rows per block: the embedding gather and the NLL run block by block
    const model = await CausalLM.load(gpu, m.source, m.config, {
      vocabBlockBytes: 7 * 4 * m.arch.hiddenSize,
    });
    assert.ok(model.embedBlocks.length > 5);
    const r = await evaluatePerplexity(gpu, model, windows, { keepNlls: true });
    model.release();
    for (let s = 0; s < n; s++) {
      for (let i = 0; i < seqlen - 1; i++) {
        const e = Math.abs(r.nlls![s][i] - ref.nll[s * (seqlen - 1) + i]);
        assert.ok(e < 1e-4, `window ${s} position ${i}: diff ${e}`);
      }
      assert.deepEqual([...r.argmax![s]], [...ref.argmax.subarray(s * seqlen, (s + 1) * seqlen)]);
    }
  });
}

Deno.test("evaluatePerplexity() rejects empty, ragged and too-short windows", async () => {
  const gpu = await getGpu();
  const m = randomModel(QWEN2_JSON, 4);
  const model = await CausalLM.load(gpu, m.source, m.config);
  try {
    await assert.rejects(() => evaluatePerplexity(gpu, model, []), /zero windows/);
    await assert.rejects(
      () => evaluatePerplexity(gpu, model, [new Int32Array(4), new Int32Array(5)]),
      /window 0 has 4 tokens, window 1 has 5/,
    );
    await assert.rejects(() => evaluatePerplexity(gpu, model, [new Int32Array(1)]), /at least 2/);
    await assert.rejects(
      () => evaluatePerplexity(gpu, model, [Int32Array.from([1, 2, 99])]),
      /Token id 99 at position 2 is outside the vocabulary 0\.\.39/,
    );
  } finally {
    model.release();
  }
});

// The full test split is 834 windows (~214k tokens): about a minute on a 2-core software
// adapter with opt-tiny (bench/forward_bench.ts runs the bigger fixtures).
Deno.test({
  name: "evaluatePerplexity() opt-tiny full test split at seqlen 256 within 0.1 % of PyTorch",
  async fn() {
    const gpu = await getGpu();
    const f = await loadFixture("opt-tiny");
    const windows = windowsOf(await testIds(), 256);
    assert.equal(windows.length, f.reference.test_windows);
    const model = await CausalLM.load(gpu, f.source, f.config);
    const r = await evaluatePerplexity(gpu, model, windows);
    model.release();
    const rel = Math.abs(r.perplexity / f.reference.test_ppl_seqlen256 - 1);
    assert.ok(rel < 1e-3, `perplexity ${r.perplexity} vs ${f.reference.test_ppl_seqlen256}`);
  },
});
