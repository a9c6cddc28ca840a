import assert from "node:assert/strict";
import { architectureFor, architectureForSource } from "../../src/models/families.ts";
import {
  expectedShapes,
  layerTensorNames,
  linearTensorName,
  prunableLinears,
} from "../../src/models/tensor_names.ts";
import { validateWeights } from "../../src/models/validate.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import { MemoryWeightSource } from "../../src/models/weights.ts";
import { loadFixture } from "./_fixtures.ts";
import { LLAMA_GQA_JSON, OPT_JSON, QWEN2_JSON, randomModel } from "./_random.ts";

Deno.test("architectureFor() describes the OPT fixture (prefix, tied head, roles, taps)", async () => {
  const f = await loadFixture("opt-tiny");
  const a = architectureFor(f.config, f.source.names());
  assert.equal(a.family, "opt");
  assert.equal(a.prefix, "model.");
  assert.equal(a.norm, "layernorm");
  assert.equal(a.activation, "relu");
  assert.deepEqual(a.positions, {
    kind: "learned",
    tensor: "model.decoder.embed_positions.weight",
    offset: 2,
    rows: 258,
  });
  assert.equal(a.tiedHead, true);
  assert.equal(a.lmHead, "model.decoder.embed_tokens.weight");
  assert.deepEqual(prunableLinears(a), ["q", "k", "v", "o", "fc1", "fc2"]);
  assert.deepEqual(a.ffnRoles, ["fc1", "fc2"]);
  assert.deepEqual(
    a.linears.map((l) => [l.role, l.input]),
    [["q", "attn_in"], ["k", "attn_in"], ["v", "attn_in"], ["o", "attn_out"], [
      "fc1",
      "ffn_in",
    ], ["fc2", "ffn_act"]],
  );
  assert.deepEqual(linearTensorName(a, 1, "o"), {
    weight: "model.decoder.layers.1.self_attn.out_proj.weight",
    bias: "model.decoder.layers.1.self_attn.out_proj.bias",
  });
  const names = layerTensorNames(a, 0);
  assert.equal(names.length, 16);
  assert.deepEqual(
    names.toSorted(),
    f.source.names().filter((n) => n.includes(".layers.0.")).sort(),
  );
  validateWeights(a, f.source);
});

Deno.test("architectureFor() describes the LLaMA fixture (untied head, no biases)", async () => {
  const f = await loadFixture("llama-small");
  const a = architectureForSource(f.config, f.source);
  assert.equal(a.family, "llama");
  assert.equal(a.norm, "rmsnorm");
  assert.equal(a.activation, "silu-glu");
  assert.deepEqual(a.positions, { kind: "rope", theta: 10000, scaling: { type: "default" } });
  assert.equal(a.tiedHead, false);
  assert.equal(a.lmHead, "lm_head.weight");
  assert.deepEqual(prunableLinears(a), ["q", "k", "v", "o", "gate", "up", "down"]);
  assert.deepEqual(a.ffnRoles, ["gate", "up", "down"]);
  assert.deepEqual(linearTensorName(a, 3, "down"), {
    weight: "model.layers.3.mlp.down_proj.weight",
  });
  assert.equal(a.linears.find((l) => l.role === "down")!.input, "ffn_act");
  assert.deepEqual(
    layerTensorNames(a, 2).toSorted(),
    f.source.names().filter((n) => n.includes(".layers.2.")).sort(),
  );
  validateWeights(a, f.source);
});

Deno.test("architectureFor() handles checkpoints without the model. prefix", () => {
  const { config } = randomModel(OPT_JSON);
  const a = architectureFor(config, ["decoder.embed_tokens.weight"]);
  assert.equal(a.prefix, "");
  assert.equal(linearTensorName(a, 0, "fc1").weight, "decoder.layers.0.fc1.weight");
  assert.equal(a.lmHead, "decoder.embed_tokens.weight");
  const m = randomModel(OPT_JSON, 3, "");
  validateWeights(m.arch, m.source);
});

Deno.test("architectureFor() describes GQA, explicit head_dim and Qwen2 biases as data", () => {
  const g = randomModel(LLAMA_GQA_JSON).arch;
  const q = g.linears.find((l) => l.role === "q")!, k = g.linears.find((l) => l.role === "k")!;
  assert.deepEqual([q.rows, q.cols, k.rows, k.cols], [48, 32, 24, 32]);
  assert.deepEqual([g.linears.find((l) => l.role === "o")!.cols], [48]);
  const w = randomModel(QWEN2_JSON).arch;
  assert.deepEqual(w.linears.filter((l) => l.bias).map((l) => l.role), ["q", "k", "v"]);
  assert.equal(w.tiedHead, true);
  assert.equal(w.lmHead, "model.embed_tokens.weight");
});

Deno.test("architectureFor() and validateWeights() report missing and misshapen tensors", () => {
  const config = parseModelConfig(LLAMA_GQA_JSON, "x");
  assert.throws(
    () => architectureFor(config, ["foo"]),
    /expected a tensor named "model\.embed_tokens\.weight" or "embed_tokens\.weight"/,
  );
  assert.throws(
    () => architectureFor(config, ["model.embed_tokens.weight"]),
    /output head "lm_head\.weight".*tie_word_embeddings is false/,
  );
  const m = randomModel(LLAMA_GQA_JSON);
  const copy = (skip?: string) =>
    new MemoryWeightSource(
      new Map(
        m.source.names().filter((n) => n !== skip).map((n) => [n, {
          shape: m.source.info(n).shape,
          data: new Float32Array(m.source.info(n).shape.reduce((x, y) => x * y, 1)),
        }]),
      ),
    );
  const bad = copy();
  bad.set("model.layers.1.self_attn.k_proj.weight", {
    shape: [32, 32],
    data: new Float32Array(1024),
  });
  assert.throws(
    () => validateWeights(m.arch, bad),
    /Tensor "model\.layers\.1\.self_attn\.k_proj\.weight" has shape \[32, 32\] but the config implies \[24, 32\]/,
  );
  const missing = copy("model.layers.0.mlp.up_proj.weight");
  assert.throws(
    () => validateWeights(m.arch, missing),
    /Tensor "model\.layers\.0\.mlp\.up_proj\.weight" of shape \[72, 32\] is missing/,
  );
  assert.throws(
    () => linearTensorName(m.arch, 2, "q"),
    /Layer 2 does not exist: the model has 2 layers/,
  );
  assert.throws(() => linearTensorName(m.arch, 0, "fc1"), /no "fc1" linear layer/);
  assert.equal(expectedShapes(m.arch).size, 3 + 2 * 9);
});
