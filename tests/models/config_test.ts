import assert from "node:assert/strict";
import { parseModelConfig } from "../../src/models/config.ts";

const MODELS = new URL("../../testdata/models/", import.meta.url);
const read = async (name: string) =>
  JSON.parse(await Deno.readTextFile(new URL(`${name}/config.json`, MODELS)));

Deno.test("parseModelConfig() reads the OPT fixture", async () => {
  const c = parseModelConfig(await read("opt-tiny"), "opt-tiny/config.json");
  assert.deepEqual(c, {
    modelType: "opt",
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 4,
    headDim: 16,
    ffnSize: 256,
    vocabSize: 272,
    maxPositions: 256,
    normEps: 1e-5,
    ropeTheta: 0,
    tieWordEmbeddings: true,
    attentionBias: true,
    mlpBias: true,
    torchDtype: "float32",
    slidingWindow: null,
    ropeScaling: { type: "default" },
    hiddenAct: "relu",
    normWeightOffset: 0,
    embedScale: 1,
    qkNorm: false,
    fusedProjections: false,
  });
});

Deno.test("parseModelConfig() reads the LLaMA fixtures and their dtypes", async () => {
  const c = parseModelConfig(await read("llama-small"), "llama-small/config.json");
  assert.equal(c.modelType, "llama");
  assert.equal(c.headDim, 64);
  assert.equal(c.numKvHeads, 4);
  assert.equal(c.ffnSize, 688);
  assert.equal(c.normEps, 1e-5);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(c.attentionBias, false);
  assert.equal(c.maxPositions, 512);
  assert.equal(parseModelConfig(await read("llama-small-bf16"), "x").torchDtype, "bfloat16");
  assert.equal(parseModelConfig(await read("opt-small-f16"), "x").torchDtype, "float16");
});

const llama = {
  model_type: "llama",
  vocab_size: 100,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 8,
};

Deno.test("parseModelConfig() applies LLaMA-family defaults and variants", () => {
  const c = parseModelConfig(llama, "x");
  assert.equal(c.numKvHeads, 8);
  assert.equal(c.headDim, 8);
  assert.equal(c.normEps, 1e-6);
  assert.equal(c.ropeTheta, 10000);
  const g = parseModelConfig({ ...llama, num_key_value_heads: 2, head_dim: 16 }, "x");
  assert.equal(g.numKvHeads, 2);
  assert.equal(g.headDim, 16);
  const q = parseModelConfig({ ...llama, model_type: "qwen2", tie_word_embeddings: true }, "x");
  assert.equal(q.attentionBias, true);
  assert.equal(q.tieWordEmbeddings, true);
  const m = parseModelConfig({ ...llama, model_type: "mistral", sliding_window: 4096 }, "x");
  assert.equal(m.slidingWindow, 4096);
  const r = parseModelConfig({ ...llama, rope_scaling: null, rope_theta: 500000 }, "x");
  assert.equal(r.ropeTheta, 500000);
});

Deno.test("parseModelConfig() names missing and malformed fields", () => {
  const { hidden_size: _, ...noHidden } = llama;
  assert.throws(() => parseModelConfig(noHidden, "a/config.json"), (e: Error) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /"a\/config\.json"/);
    assert.match(e.message, /"hidden_size" is missing/);
    return true;
  });
  assert.throws(
    () => parseModelConfig({ ...llama, num_hidden_layers: "2" }, "x"),
    /field "num_hidden_layers"/,
  );
  assert.throws(() => parseModelConfig({ ...llama, hidden_size: -4 }, "x"), /hidden_size/);
  assert.throws(() => parseModelConfig([], "x"), /expected a JSON object/);
  assert.throws(() => parseModelConfig({ hidden_size: 4 }, "x"), /"model_type" is missing/);
});

Deno.test("parseModelConfig() rejects unsupported models with a clear message", () => {
  assert.throws(
    () => parseModelConfig({ ...llama, model_type: "gpt2" }, "x"),
    /model_type "gpt2" is not supported \(supported: opt, llama, mistral, qwen2, qwen3, gemma, phi3\)/,
  );
  assert.throws(
    () => parseModelConfig({ ...llama, hidden_size: 60 }, "x"),
    /hidden_size 60 is not a multiple of num_attention_heads 8/,
  );
  assert.throws(
    () => parseModelConfig({ ...llama, num_key_value_heads: 3 }, "x"),
    /num_attention_heads 8 is not a multiple of num_key_value_heads 3/,
  );
  assert.throws(
    () => parseModelConfig({ ...llama, rope_scaling: { rope_type: "llama3", factor: 8 } }, "x"),
    /rope_scaling of type "llama3" needs .*"low_freq_factor"/,
  );
  assert.throws(() => parseModelConfig({ ...llama, hidden_act: "gelu" }, "x"), /hidden_act "gelu"/);
});

Deno.test("parseModelConfig() rejects OPT variants without a pre-LN forward pass", async () => {
  const opt = await read("opt-tiny");
  assert.throws(
    () => parseModelConfig({ ...opt, do_layer_norm_before: false }, "x"),
    /do_layer_norm_before = false .* not supported/,
  );
  assert.throws(
    () => parseModelConfig({ ...opt, word_embed_proj_dim: 32 }, "x"),
    /word_embed_proj_dim 32 != hidden_size 64 .* not supported/,
  );
  assert.throws(
    () => parseModelConfig({ ...opt, activation_function: "gelu" }, "x"),
    /activation_function "gelu"/,
  );
  assert.throws(() => parseModelConfig({ ...opt, num_attention_heads: 5 }, "x"), /multiple/);
  const { ffn_dim: _, ...noFfn } = opt;
  assert.throws(() => parseModelConfig(noFfn, "x"), /"ffn_dim" is missing/);
});

const ARCH = new URL("../../testdata/models/arch/", import.meta.url);
const readArch = async (name: string) =>
  JSON.parse(await Deno.readTextFile(new URL(`${name}/config.json`, ARCH)));

Deno.test("parseModelConfig() reads the features of today's families from the arch fixtures", async () => {
  const l3 = parseModelConfig(await readArch("llama3-tiny"), "llama3-tiny/config.json");
  assert.deepEqual(l3.ropeScaling, {
    type: "llama3",
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositions: 64,
  });
  assert.equal(l3.headDim, 32);
  assert.equal(l3.tieWordEmbeddings, true);
  const m = parseModelConfig(await readArch("mistral-tiny"), "x");
  assert.equal(m.slidingWindow, 32);
  const q2 = parseModelConfig(await readArch("qwen2-tiny"), "x");
  assert.equal(q2.slidingWindow, null); // use_sliding_window false: the 512 is inactive
  const g = parseModelConfig(await readArch("gemma-tiny"), "x");
  assert.equal(g.hiddenAct, "gelu_tanh");
  assert.equal(g.normWeightOffset, 1);
  assert.equal(g.embedScale, Math.fround(Math.sqrt(96)));
  assert.equal(g.embedScale, 9.797959327697754); // float32(sqrt(96)), README of the fixtures
  assert.equal(g.numKvHeads, 1);
  const p = parseModelConfig(await readArch("phi3-tiny"), "x");
  assert.equal(p.fusedProjections, true);
  assert.equal(p.slidingWindow, null);
  assert.equal(p.normEps, 1e-5);
  const q3 = parseModelConfig(await readArch("qwen3-tiny"), "x");
  assert.equal(q3.qkNorm, true);
  assert.equal(q3.attentionBias, false);
  // rope_scaling linear; rope_parameters (transformers v5 key) carries theta and type
  const lin = parseModelConfig({ ...llama, rope_scaling: { type: "linear", factor: 4 } }, "x");
  assert.deepEqual(lin.ropeScaling, { type: "linear", factor: 4 });
  const v5 = parseModelConfig(
    { ...llama, rope_parameters: { rope_type: "linear", factor: 2, rope_theta: 5e5 } },
    "x",
  );
  assert.deepEqual([v5.ropeScaling, v5.ropeTheta], [{ type: "linear", factor: 2 }, 5e5]);
  // Gemma: hidden_activation (the key its checkpoints carry) wins over hidden_act "gelu"
  const gemma = await readArch("gemma-tiny");
  const g2 = parseModelConfig({ ...gemma, hidden_act: "gelu" }, "x");
  assert.equal(g2.hiddenAct, "gelu_tanh");
  // MistralConfig's default window when the key is absent
  const { sliding_window: _, ...noWindow } = await readArch("mistral-tiny");
  assert.equal(parseModelConfig(noWindow, "x").slidingWindow, 4096);
});

Deno.test("parseModelConfig() refuses features it does not implement with one line naming the field", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { ...llama, rope_scaling: { rope_type: "dynamic", factor: 2 } },
      /rope_scaling type "dynamic" is not supported/,
    ],
    [
      { ...llama, rope_scaling: { rope_type: "yarn", factor: 4 } },
      /rope_scaling type "yarn" is not supported/,
    ],
    [{ ...llama, rope_scaling: { rope_type: "nonsense" } }, /rope_scaling type "nonsense"/],
    [
      { ...llama, rope_scaling: { type: "linear" } },
      /rope_scaling of type "linear" needs a positive "factor"/,
    ],
    [{
      ...(await readArch("phi3-tiny")),
      rope_scaling: { type: "longrope", long_factor: [1], short_factor: [1] },
    }, /rope_scaling type "longrope" .* not supported/],
    [
      { ...(await readArch("phi3-tiny")), rope_scaling: { type: "su" } },
      /rope_scaling type "su" .* not supported/,
    ],
    [
      { ...(await readArch("phi3-tiny")), partial_rotary_factor: 0.75 },
      /partial_rotary_factor 0.75 is not supported/,
    ],
    [
      { ...(await readArch("gemma-tiny")), attn_logit_softcapping: 50 },
      /attn_logit_softcapping 50 .* not supported/,
    ],
    [
      { ...(await readArch("gemma-tiny")), final_logit_softcapping: 30 },
      /final_logit_softcapping 30 .* not supported/,
    ],
    [
      { ...(await readArch("gemma-tiny")), query_pre_attn_scalar: 224 },
      /query_pre_attn_scalar 224 != head_dim 32/,
    ],
    [
      { ...(await readArch("gemma-tiny")), hidden_activation: "relu" },
      /hidden_activation "relu" is not supported/,
    ],
    [
      { ...(await readArch("qwen3-tiny")), use_sliding_window: true },
      /use_sliding_window true .* not supported for qwen3/,
    ],
    [
      { ...(await readArch("qwen2-tiny")), use_sliding_window: true },
      /use_sliding_window true .* not supported for qwen2/,
    ],
    [{ ...llama, model_type: "gemma2" }, /model_type "gemma2" is not supported/],
  ];
  for (const [json, re] of cases) {
    assert.throws(() => parseModelConfig(json, "cfg/config.json"), (e: Error) => {
      assert.match(e.message, re);
      assert.match(e.message, /^Cannot use model config "cfg\/config.json": /);
      assert.ok(!e.message.includes("\n"), e.message);
      return true;
    });
  }
});
