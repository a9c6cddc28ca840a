// The CLI's --wbits flags end to end on opt-tiny: prune with --save-quantized, then inspect both
// folders; bad values are usage errors (exit 2) that name the option.

import assert from "node:assert/strict";
import { join } from "node:path";
import { OPT_TINY, runCli, TRAIN_TXT, withTempDir } from "../_cli_helpers.ts";

Deno.test("cli: prune --wbits 4 --group-size 32 --sym --save-quantized, then inspect", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out"), gptq = join(dir, "gptq");
    const r = await runCli([
      "prune",
      "--model",
      OPT_TINY,
      "--method",
      "sparsegpt",
      "--pattern",
      "2:4",
      "--wbits",
      "4",
      "--group-size",
      "32",
      "--sym",
      "--save-quantized",
      gptq,
      "--calib",
      TRAIN_TXT,
      "--nsamples",
      "4",
      "--seqlen",
      "64",
      "--out",
      out,
      "--quiet",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const packed = await runCli(["inspect", "--model", gptq, "--json"]);
    assert.equal(packed.code, 0, packed.stderr);
    assert.deepEqual(JSON.parse(packed.stdout).quantization, {
      format: "gptq",
      bits: 4,
      groupSize: 32,
      sym: true,
      matrices: 12,
    });
    const text = await runCli(["inspect", "--model", out]);
    assert.match(text.stdout, /quantized +4 bits, groups of 32, symmetric, 12 matrices/);
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.deepEqual(report.options.quant, { bits: 4, groupSize: 32, sym: true });
    assert.equal(report.layers[0].matrices[0].quant.bits, 4);
  });
});

Deno.test("cli: bad --wbits and --group-size values are usage errors", async () => {
  const base = ["prune", "--model", OPT_TINY, "--method", "wanda", "--sparsity", "0.5"];
  const more = ["--calib", TRAIN_TXT, "--out", "/tmp/quant-never-written"];
  const a = await runCli([...base, "--wbits", "12", ...more]);
  assert.equal(a.code, 2, a.stderr);
  assert.match(a.stderr, /--wbits must be an integer from 2 to 8/);
  const b = await runCli([...base, "--group-size", "32", ...more]);
  assert.equal(b.code, 2, b.stderr);
  assert.match(b.stderr, /--group-size and --sym need --wbits/);
});
