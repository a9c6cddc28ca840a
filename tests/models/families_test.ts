// The model families of today's checkpoints (Llama 3 rope scaling, Mistral sliding windows,
// Gemma, Phi-3 fused projections, Qwen2 / Qwen3) against independent float64 references:
// testdata/models/arch/*/reference.json (transcribed from transformers' modeling code, see its
// README) and, for other sequence lengths, tests/reference/model_ref.ts.

import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { CheckpointReader } from "../../src/io/checkpoint.ts";
import { architectureForSource } from "../../src/models/families.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import { loadLayerWeights } from "../../src/models/layer_weights.ts";
import { setAttentionMode } from "../../src/models/layer.ts";
import { splitProjection } from "../../src/models/split_projection.ts";
import { CausalLM } from "../../src/models/model.ts";
import { ropeInverseFrequencies } from "../../src/kernels/rope.ts";
import { modelRef } from "../reference/model_ref.ts";
import { LLAMA_GQA_JSON, randomModel } from "./_random.ts";
import { qwen3Reference, qwen3Tensors, safetensorsBytes } from "./_qwen3_fixture.ts";
import { testIds, windowsOf } from "./_fixtures.ts";

const ARCH = new URL("../../testdata/models/arch/", import.meta.url);
const FIXTURES = [
  "qwen2-tiny",
  "qwen2-tiny-bf16",
  "mistral-tiny",
  "llama3-tiny",
  "gemma-tiny",
  "phi3-tiny",
  "qwen3-tiny",
];

interface Reference {
  sequences: {
    token_ids: number[];
    next_token_nll: number[];
    argmax: number[];
    top1_top2_logit_gap: number[];
  }[];
  test_ppl_seqlen64_first8: number;
}

async function open(name: string) {
  const dir = new URL(`${name}/`, ARCH).pathname;
  const reader = await CheckpointReader.open(dir);
  const config = parseModelConfig(reader.config, `${dir}config.json`);
  const reference: Reference = JSON.parse(
    await Deno.readTextFile(new URL(`${name}/reference.json`, ARCH)),
  );
  return { reader, config, reference };
}

for (const name of FIXTURES) {
  Deno.test(`${name}: per-position NLL of both reference sequences within 1e-4, argmax equal where the top-two gap is >= 1e-3`, async () => {
    const { reader, config, reference } = await open(name);
    const gpu = await getGpu();
    const model = await CausalLM.load(gpu, reader, config);
    try {
      for (const mode of ["fused", "matmul"] as const) {
        setAttentionMode(gpu, mode);
        const ids = new Int32Array(128);
        reference.sequences.forEach((s, i) => ids.set(s.token_ids, i * 64));
        const r = await model.forward(ids, 2, 64);
        reference.sequences.forEach((s, q) => {
          for (let t = 0; t < 63; t++) {
            const e = Math.abs(r.nll[q * 63 + t] - s.next_token_nll[t]);
            assert.ok(e < 1e-4, `${mode}: sequence ${q} position ${t}: NLL differs by ${e}`);
          }
          for (let t = 0; t < 64; t++) {
            if (s.top1_top2_logit_gap[t] < 1e-3) continue;
            assert.equal(r.argmax[q * 64 + t], s.argmax[t], `${mode}: argmax at ${q}/${t}`);
          }
        });
      }
    } finally {
      setAttentionMode(gpu, undefined);
      model.release();
      reader.close();
    }
  });

  Deno.test(`${name}: perplexity of the first 8 test windows of 64 tokens within 1e-4 relative of the reference`, async () => {
    const { reader, config, reference } = await open(name);
    const model = await CausalLM.load(await getGpu(), reader, config);
    try {
      const wins = windowsOf(await testIds(), 64, 8);
      const ids = new Int32Array(8 * 64);
      wins.forEach((w, i) => ids.set(w, i * 64));
      const r = await model.forward(ids, 8, 64);
      let s = 0;
      for (const v of r.nll) s += v;
      const ppl = Math.exp(s / r.nll.length);
      const rel = Math.abs(ppl / reference.test_ppl_seqlen64_first8 - 1);
      assert.ok(rel < 1e-4, `ppl ${ppl} vs ${reference.test_ppl_seqlen64_first8}: ${rel}`);
    } finally {
      model.release();
      reader.close();
    }
  });
}

Deno.test("model_ref.ts (float64) reproduces the transformers-transcribed reference.json of the five shared fixtures to 1e-9", async () => {
  for (const name of FIXTURES.filter((n) => n !== "qwen3-tiny")) {
    const { reader, config, reference } = await open(name);
    try {
      const arch = architectureForSource(config, reader);
      const s = reference.sequences[0];
      const r = await modelRef(arch, reader, Int32Array.from(s.token_ids), 1, 64);
      for (let t = 0; t < 63; t++) {
        const e = Math.abs(r.nll[t] - s.next_token_nll[t]);
        assert.ok(e < 1e-9, `${name} position ${t}: ${e}`);
      }
      assert.deepEqual([...r.argmax], s.argmax, name);
    } finally {
      reader.close();
    }
  }
});

// Sequence lengths other than 64 (and windows shorter or longer than them), both attention
// modes, against the float64 reference: sliding windows hit at any length, rope scaling at
// positions past original_max_position_embeddings, fused projections and q/k norms.
for (
  const [name, seqlen, nseq] of [
    ["mistral-tiny", 100, 2],
    ["mistral-tiny", 33, 3],
    ["mistral-tiny", 20, 2],
    ["llama3-tiny", 150, 1],
    ["gemma-tiny", 48, 2],
    ["phi3-tiny", 80, 2],
    ["qwen3-tiny", 96, 2],
  ] as const
) {
  Deno.test(`${name}: ${nseq} windows of ${seqlen} tokens agree with the float64 reference to 1e-4`, async () => {
    const { reader, config } = await open(name);
    const gpu = await getGpu();
    const model = await CausalLM.load(gpu, reader, config);
    try {
      const all = await testIds();
      const ids = all.slice(5000, 5000 + nseq * seqlen);
      const ref = await modelRef(architectureForSource(config, reader), reader, ids, nseq, seqlen);
      for (const mode of ["fused", "matmul"] as const) {
        setAttentionMode(gpu, mode);
        const r = await model.forward(ids, nseq, seqlen);
        let worst = 0;
        for (let i = 0; i < ref.nll.length; i++) {
          worst = Math.max(worst, Math.abs(r.nll[i] - ref.nll[i]));
        }
        assert.ok(worst < 1e-4, `${mode}: NLL differs by ${worst}`);
      }
    } finally {
      setAttentionMode(gpu, undefined);
      model.release();
      reader.close();
    }
  });
}

Deno.test("qwen3-tiny is the fixture tests/models/_qwen3_fixture.ts builds (weights and float64 reference)", async () => {
  const dir = new URL("qwen3-tiny/", ARCH);
  const bytes = await Deno.readFile(new URL("model.safetensors", dir));
  assert.deepEqual(bytes, safetensorsBytes(qwen3Tensors()));
  const text = await Deno.readFile(new URL("../../testdata/kjv/test.txt", import.meta.url));
  const stored = JSON.parse(await Deno.readTextFile(new URL("reference.json", dir)));
  const built = JSON.parse(JSON.stringify(await qwen3Reference(text)));
  assert.deepEqual(built, stored);
});

Deno.test("ropeInverseFrequencies() matches llama3-tiny's reference inv_freq (llama3 scaling) to f32 precision", async () => {
  const ref = JSON.parse(await Deno.readTextFile(new URL("llama3-tiny/reference.json", ARCH)));
  const config = parseModelConfig(
    JSON.parse(await Deno.readTextFile(new URL("llama3-tiny/config.json", ARCH))),
    "llama3-tiny/config.json",
  );
  const f = ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
  const want: number[] = ref.rope.inv_freq_llama3;
  assert.equal(f.length, want.length);
  for (let i = 0; i < f.length; i++) {
    assert.ok(Math.abs(f[i] / want[i] - 1) < 3e-7, `frequency ${i}: ${f[i]} vs ${want[i]}`);
  }
  // linear scaling divides every frequency by the factor
  const lin = ropeInverseFrequencies(32, 500000, { type: "linear", factor: 4 });
  const base = ropeInverseFrequencies(32, 500000);
  for (let i = 0; i < 16; i++) assert.ok(Math.abs(lin[i] * 4 / base[i] - 1) < 3e-7);
});

// Variants without a shared fixture: random models against the float64 reference.
for (
  const [label, json, seqlen] of [
    ["llama, rope_scaling linear (factor 4)", {
      ...LLAMA_GQA_JSON,
      head_dim: 16,
      rope_scaling: { rope_type: "linear", factor: 4 },
    }, 40],
    ["phi3 with a sliding_window of 12", {
      model_type: "phi3",
      vocab_size: 48,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      sliding_window: 12,
      max_position_embeddings: 64,
    }, 30],
    ["gemma with 2 kv heads and head_dim 16", {
      model_type: "gemma",
      vocab_size: 48,
      hidden_size: 40,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
      hidden_activation: "gelu_pytorch_tanh",
    }, 24],
  ] as const
) {
  Deno.test(`random ${label}: forward (resident and streamed) within 1e-4 of the float64 reference`, async () => {
    const m = randomModel(json as Record<string, unknown>, 5);
    const gpu = await getGpu();
    const ids = Int32Array.from({ length: 2 * seqlen }, (_, i) => (i * 7 + 3) % 48);
    const ref = await modelRef(m.arch, m.source, ids, 2, seqlen);
    for (const residentBytes of [undefined, 0]) {
      const model = await CausalLM.load(
        gpu,
        m.source,
        m.config,
        residentBytes === undefined ? {} : { residentBytes },
      );
      try {
        const r = await model.forward(ids, 2, seqlen);
        let worst = 0;
        for (let i = 0; i < ref.nll.length; i++) {
          worst = Math.max(worst, Math.abs(r.nll[i] - ref.nll[i]));
        }
        assert.ok(worst < 1e-4, `NLL differs by ${worst}`);
      } finally {
        model.release();
      }
    }
  });
}

Deno.test("qwen3-tiny streamed one layer at a time (q/k norms loaded per layer) gives the resident NLLs", async () => {
  const { reader, config, reference } = await open("qwen3-tiny");
  const gpu = await getGpu();
  const ids = Int32Array.from(reference.sequences[1].token_ids);
  try {
    const a = await CausalLM.load(gpu, reader, config);
    const b = await CausalLM.load(gpu, reader, config, { residentBytes: 0 });
    assert.equal(b.resident, false);
    const [ra, rb] = [await a.forward(ids, 1, 64), await b.forward(ids, 1, 64)];
    a.release();
    b.release();
    assert.deepEqual([...rb.nll], [...ra.nll]);
  } finally {
    reader.close();
  }
});

Deno.test("splitProjection() copies Phi-3's gate and up halves of gate_up_proj out and writes them back", async () => {
  const { reader, config } = await open("phi3-tiny");
  const gpu = await getGpu();
  const arch = architectureForSource(config, reader);
  const w = await loadLayerWeights(gpu, arch, reader, 1);
  try {
    const fused = await reader.readF32("model.layers.1.mlp.gate_up_proj.weight");
    const F = arch.ffnSize, d = arch.hiddenSize;
    const b = gpu.batch("split");
    const gate = splitProjection(gpu, b, arch, w, "gate");
    const up = splitProjection(gpu, b, arch, w, "up");
    const k = splitProjection(gpu, b, arch, w, "k");
    const o = splitProjection(gpu, b, arch, w, "o");
    b.submit();
    assert.deepEqual([gate.copied, up.copied, k.copied, o.copied], [true, true, true, false]);
    assert.deepEqual([up.linear.rows, up.linear.cols], [F, d]);
    assert.deepEqual(await gpu.read(gate.linear.weight), fused.slice(0, F * d));
    assert.deepEqual(await gpu.read(up.linear.weight), fused.slice(F * d));
    const qkv = await reader.readF32("model.layers.1.self_attn.qkv_proj.weight");
    const qd = arch.numHeads * arch.headDim, kvd = arch.numKvHeads * arch.headDim;
    assert.deepEqual(await gpu.read(k.linear.weight), qkv.slice(qd * d, (qd + kvd) * d));
    assert.equal(o.linear, w.linear("o"));
    // prune the up copy to zeros and write it back: the gate rows stay, the up rows become 0
    gpu.device.queue.writeBuffer(up.linear.weight.buffer, 0, new Float32Array(F * d));
    const back = gpu.batch("write back");
    up.writeBack(back);
    back.submit();
    const after = await gpu.read(w.linear("gate_up").weight);
    assert.deepEqual(after.slice(0, F * d), fused.slice(0, F * d));
    assert.ok(after.slice(F * d).every((v) => v === 0));
    for (const s of [gate, up, k, o]) s.release();
  } finally {
    w.release();
    reader.close();
  }
});
