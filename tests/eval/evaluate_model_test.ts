// evaluateModel: the public evaluation entry point, against PyTorch's figures for opt-tiny.

import assert from "node:assert/strict";
import { join } from "node:path";
import { evaluateModel, evalWindows, TextTokenizer } from "../../mod.ts";
import { getGpu } from "../../src/gpu/device.ts";
import { CheckpointReader } from "../../io.ts";
import { OPT_TINY, ROOT } from "../_cli_helpers.ts";

Deno.test("evaluateModel: the first test window of opt-tiny has PyTorch's per-token NLLs", async () => {
  const dir = join(ROOT, OPT_TINY);
  const ref = JSON.parse(await Deno.readTextFile(join(dir, "reference.json")));
  const tok = new TextTokenizer(JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json"))));
  const text = await Deno.readTextFile(join(ROOT, "testdata/kjv/test.txt"));
  const reader = await CheckpointReader.open(dir);
  try {
    const r = await evaluateModel({
      source: reader,
      config: reader.config,
      windows: evalWindows(tok.encode(text), 256, 1),
      gpu: await getGpu(),
      keepNlls: true,
    });
    const nll = ref.first_window_nll as number[];
    const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
    assert.ok(Math.abs(r.meanNll - mean) < 1e-4, `mean NLL ${r.meanNll}, PyTorch ${mean}`);
    assert.equal(r.windows, 1);
    r.nlls![0].forEach((v, i) => assert.ok(Math.abs(v - nll[i]) < 1e-3, `position ${i}`));
  } finally {
    reader.close();
  }
});

Deno.test("evaluateModel and the pruner refuse a device that is not from getGpu()", async () => {
  const fake = { device: {} as GPUDevice, info: (await getGpu()).info, destroy() {} };
  await assert.rejects(
    () => evaluateModel({ source: {} as never, config: {}, windows: [], gpu: fake }),
    /not a device from getGpu\(\)/,
  );
});
