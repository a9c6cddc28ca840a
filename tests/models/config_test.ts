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
    /model_type "gpt2" is not supported \(supported: opt, llama, mistral, qwen2\)/,
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
    /rope_scaling .* is not supported/,
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
