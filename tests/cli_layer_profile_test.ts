// The CLI's layer-profile flags: --layer-sparsities, --sparsity-profile owl, and their errors
// in flag words.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, errorLine, OPT_TINY, runCli, TRAIN_TXT } from "./_cli_helpers.ts";

const CALIB = ["--calib", TRAIN_TXT, "--nsamples", "4", "--seqlen", "64"];

Deno.test("cli: layer-profile errors name the flags and the values", async (t) => {
  const tmp = await Deno.makeTempDir();
  try {
    const out = join(tmp, "out");
    const cases: [string, string[], number, string][] = [
      [
        "wrong count",
        ["--method", "wanda", "--layer-sparsities", "0.5,0.6,0.7"],
        2,
        "--layer-sparsities has 3 values (0.5,0.6,0.7), but the model has 2 decoder layers",
      ],
      [
        "value out of range",
        ["--method", "wanda", "--layer-sparsities", "0.5,1.2"],
        2,
        "--layer-sparsities has 1.2 for layer 1: every value must be in [0, 1)",
      ],
      [
        "not a number",
        ["--method", "wanda", "--layer-sparsities", "0.5,x"],
        2,
        '--layer-sparsities must be comma-separated numbers such as 0.6,0.7 (got "0.5,x")',
      ],
      [
        "with --sparsity",
        ["--method", "wanda", "--sparsity", "0.5", "--layer-sparsities", "0.5,0.5"],
        2,
        "--layer-sparsities replaces --sparsity and --pattern: give only one of them",
      ],
      [
        "owl with --pattern",
        ["--method", "wanda", "--pattern", "2:4", "--sparsity-profile", "owl"],
        2,
        "--sparsity-profile owl needs an unstructured sparsity, not --pattern 2:4",
      ],
    ];
    for (const [name, args, code, message] of cases) {
      await t.step(name, async () => {
        const r = await runCli(["prune", "--model", OPT_TINY, ...CALIB, "--out", out, ...args]);
        assert.equal(r.code, code, describe(r));
        assert.ok(errorLine(r).includes(message), describe(r));
      });
    }
    await t.step("owl with a lambda too large for the sparsity", async () => {
      const r = await runCli([
        "prune",
        "--model",
        OPT_TINY,
        "--method",
        "magnitude",
        "--sparsity",
        "0.9",
        "--sparsity-profile",
        "owl",
        "--owl-lambda",
        "0.2",
        ...CALIB,
        "--out",
        out,
      ]);
      assert.equal(r.code, 2, describe(r));
      assert.ok(
        errorLine(r).includes("--owl-lambda 0.2 is too large for --sparsity 0.9"),
        describe(r),
      );
    });
    await t.step("owl without --calib", async () => {
      const r = await runCli([
        "prune",
        "--model",
        OPT_TINY,
        "--method",
        "magnitude",
        "--sparsity",
        "0.5",
        "--sparsity-profile",
        "owl",
        "--out",
        out,
      ]);
      assert.equal(r.code, 2, describe(r));
      assert.ok(
        errorLine(r).includes("--calib is required for --sparsity-profile owl"),
        describe(r),
      );
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("cli: prune --layer-sparsities records the profile and each layer's target", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const out = join(tmp, "out");
    const r = await runCli([
      "prune",
      "--model",
      OPT_TINY,
      "--method",
      "wanda",
      "--layer-sparsities",
      "0.4,0.6",
      ...CALIB,
      "--out",
      out,
      "--json",
      "--quiet",
    ]);
    assert.equal(r.code, 0, describe(r));
    const s = JSON.parse(r.stdout);
    assert.equal(s.sparsity_profile, "list");
    assert.deepEqual(s.layer_sparsities, [0.4, 0.6]);
    assert.equal(s.target_sparsity, 0.5);
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.deepEqual(report.options.layerSparsities, [0.4, 0.6]);
    for (const [l, want] of [0.4, 0.6].entries()) {
      const layer = report.layers[l];
      assert.equal(layer.targetSparsity, want);
      for (const m of layer.matrices) {
        assert.ok(Math.abs(m.sparsity - want) <= 1 / m.cols, `${m.name}: ${m.sparsity}`);
      }
    }
    assert.ok(Math.abs(s.sparsity - 0.5) < 0.01, `${s.sparsity}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
