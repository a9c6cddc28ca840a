import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { CheckpointReader } from "../../src/io/checkpoint.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import { CausalLM } from "../../src/models/model.ts";
import type { WeightSource } from "../../src/models/weights.ts";
import { type Fixture, loadFixture, testIds } from "./_fixtures.ts";

const NAMES = [
  "opt-tiny",
  "opt-tiny-f16",
  "opt-tiny-bf16",
  "opt-small",
  "opt-small-f16",
  "opt-small-bf16",
  "llama-small",
  "llama-small-f16",
  "llama-small-bf16",
];

async function checkFirstWindow(f: Fixture, source: WeightSource, residentBytes?: number) {
  const gpu = await getGpu();
  const ids = (await testIds()).subarray(0, 256);
  const model = await CausalLM.load(
    gpu,
    source,
    f.config,
    residentBytes === undefined ? {} : { residentBytes },
  );
  try {
    assert.equal(model.resident, residentBytes !== 0);
    const r = await model.forward(ids, 1, 256);
    assert.equal(r.nll.length, 255);
    let worst = 0, at = -1;
    for (let i = 0; i < 255; i++) {
      const e = Math.abs(r.nll[i] - f.reference.first_window_nll[i]);
      if (e > worst) [worst, at] = [e, i];
    }
    assert.ok(worst < 1e-3, `NLL differs by ${worst} at position ${at}`);
    assert.deepEqual([...r.argmax], f.reference.first_window_argmax);
  } finally {
    model.release();
  }
}

for (const name of NAMES) {
  Deno.test(`CausalLM ${name}: first test window NLLs within 1e-3 of PyTorch, argmax equal`, async () => {
    const f = await loadFixture(name);
    await checkFirstWindow(f, f.source);
  });
}

Deno.test("CausalLM opt-tiny-f16 streaming its layers one at a time gives the same first window", async () => {
  const f = await loadFixture("opt-tiny-f16");
  await checkFirstWindow(f, f.source, 0);
});

Deno.test("CausalLM reads weights through the I/O layer's CheckpointReader (a WeightSource)", async () => {
  const dir = new URL("../../testdata/models/opt-tiny-bf16", import.meta.url).pathname;
  const reader = await CheckpointReader.open(dir);
  try {
    const source: WeightSource = reader;
    const f = await loadFixture("opt-tiny-bf16");
    assert.deepEqual(parseModelConfig(reader.config, dir), f.config);
    await checkFirstWindow(f, source);
  } finally {
    reader.close();
  }
});
