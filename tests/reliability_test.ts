// Regression tests of issue #23 (a hostile user's campaign): every case here failed before the
// fix — a crash after the work was done, an input deleted, a resumed run mixing two models, a
// failure found only after the first layer, or a message naming the wrong culprit.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  copyDir,
  describe,
  errorLine,
  hashTree,
  OPT_TINY,
  outputLeftovers,
  ROOT,
  runCli,
  TEST_TXT,
  TRAIN_TXT,
  withTempDir,
} from "./_cli_helpers.ts";

const TINY = ["--nsamples", "4", "--seqlen", "64"];

Deno.test("reliability #1: prune --method magnitude without --calib prints its table and exits 0", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "o");
    const r = await runCli([
      "prune",
      "--model",
      OPT_TINY,
      "--method",
      "magnitude",
      "--sparsity",
      "0.5",
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, describe(r));
    assert.doesNotMatch(r.stderr, /error:/, describe(r));
    // No calibration, no relative error: the column reads "-" for each of the 12 matrices.
    const rows = r.stdout.split("\n").filter((l) => /^\s*[01]\s+\S+\s+\d+x\d+/.test(l));
    assert.equal(rows.length, 12, describe(r));
    for (const row of rows) assert.match(row, /50\.\d\d%\s+-\s+\d+\.\d\d$/, row);
    assert.match(r.stdout, /achieved sparsity 50\.\d\d% of prunable weights/);
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.equal(report.layers[0].matrices[0].relError, null);
  });
});
