// Interrupting `prune` and continuing with `--resume`: the state saved after every layer lets a
// second run finish the job, and the weights it writes are byte-identical to an uninterrupted
// run's. One test kills the CLI with SIGKILL mid-run; others interrupt in-process through an
// AbortSignal and check the refusals (state present without --resume, state of another run).

import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError, pruneCheckpoint, type PruneReport } from "../../io.ts";
import { ResumeState } from "../../src/app/resume_state.ts";
import { SafetensorsFile } from "../../src/io/safetensors_file.ts";
import { type PruneOptionsInput, resolvePruneOptions } from "../../src/prune/options.ts";
import {
  hashTree,
  OPT_TINY,
  outputLeftovers,
  ROOT,
  TEST_TXT,
  TRAIN_TXT,
  withTempDir,
} from "../_cli_helpers.ts";

const MODEL = join(ROOT, OPT_TINY);
const CALIB = join(ROOT, TRAIN_TXT);
const OPTS: PruneOptionsInput = { method: "sparsegpt", sparsity: 0.6, nsamples: 4, seqlen: 64 };

/** `deno run -A cli.ts prune ...` arguments: SparseLLM at 70 % on opt-tiny into `out`. */
const cliArgs = (out: string): string[] => [
  "run",
  "-A",
  "cli.ts",
  "prune",
  ...["--model", OPT_TINY, "--method", "sparsellm", "--sparsity", "0.7"],
  ...["--calib", TRAIN_TXT, "--nsamples", "4", "--seqlen", "64", "--out", out],
];
const CLI_ENV = { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp/xdg", NO_COLOR: "1" };

/** Output hashes without the report (its timings differ between runs). */
async function weightsAndFiles(dir: string): Promise<Record<string, string>> {
  const h = await hashTree(dir);
  delete h["report.json"];
  delete h["report.svg"];
  return h;
}

function prune(out: string, extra: Partial<Parameters<typeof pruneCheckpoint>[0]> = {}) {
  return pruneCheckpoint({
    model: MODEL,
    out,
    calib: CALIB,
    options: resolvePruneOptions(OPTS),
    ...extra,
  });
}

/** Starts a run and aborts it once layer `after` is done; returns the error it threw. */
async function interruptAfter(out: string, after: number, extra = {}): Promise<Error> {
  const controller = new AbortController();
  const err = await prune(out, {
    signal: controller.signal,
    onProgress: (e) => {
      if (e.detail === `layer ${after} done`) controller.abort(new Error("stop"));
    },
    ...extra,
  }).then(() => undefined, (e) => e as Error);
  assert.ok(err, "the run should have been interrupted");
  return err;
}

Deno.test("prune --resume after an in-process interruption gives byte-identical weights", async () => {
  await withTempDir(async (tmp) => {
    const full = join(tmp, "full");
    const fullReport = await prune(full, { evalText: join(ROOT, TEST_TXT), maxWindows: 2 });
    const out = join(tmp, "out");
    const err = await interruptAfter(out, 0, { evalText: join(ROOT, TEST_TXT), maxWindows: 2 });
    assert.match(
      err.message,
      /^stop \(layers 0-0 are saved in ".*\.out\.resume": prune again with resume: true/,
    );
    // Nothing under the final name, no temporary folder; only the state.
    assert.deepEqual(await outputLeftovers(out), [".out.resume"]);
    const state = new ResumeState(out);
    assert.equal(state.path, join(tmp, ".out.resume"));
    // Without --resume the state is not silently discarded.
    await assert.rejects(() => prune(out), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.match((e as Error).message, /interrupted run left its state in ".*\.out\.resume"/);
      return true;
    });
    const resumed: PruneReport = await prune(out, {
      resume: true,
      evalText: join(ROOT, TEST_TXT),
      maxWindows: 2,
    });
    assert.deepEqual(await weightsAndFiles(out), await weightsAndFiles(full));
    assert.deepEqual(await outputLeftovers(out), ["out"]); // state removed after success
    assert.deepEqual(resumed.layers.map((l) => l.layer), [0, 1]);
    assert.deepEqual(resumed.summary.layers_pruned, [0, 1]);
    assert.equal(resumed.summary.sparsity, fullReport.summary.sparsity);
    assert.equal(resumed.summary.dense_perplexity, fullReport.summary.dense_perplexity);
    assert.equal(resumed.summary.pruned_perplexity, fullReport.summary.pruned_perplexity);
    assert.deepEqual(
      resumed.layers.map((l) => l.matrices.map((m) => m.relError)),
      fullReport.layers.map((l) => l.matrices.map((m) => m.relError)),
    );
  });
});

Deno.test("prune --resume refuses the state of a different run; --force starts over", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    await interruptAfter(out, 0);
    await assert.rejects(
      () =>
        pruneCheckpoint({
          model: MODEL,
          out,
          calib: CALIB,
          resume: true,
          options: resolvePruneOptions({ ...OPTS, seed: 7 }),
        }),
      new RegExp(
        String.raw`belongs to a different run \(options: saved .*"seed":0.*now .*"seed":7.*; ` +
          String.raw`calibration: saved "4 windows, fnv1a [0-9a-f]+", now "4 windows, fnv1a`,
      ),
    );
    // The refused attempts left the state as it was.
    assert.equal(await new ResumeState(out).exists(), true);
    const r = await prune(out, { force: true });
    assert.deepEqual(r.summary.layers_pruned, [0, 1]);
    assert.deepEqual(await outputLeftovers(out), ["out"]);
  });
});

Deno.test("prune --resume without a saved state runs from the start", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    const r = await prune(out, { resume: true });
    assert.deepEqual(r.summary.layers_pruned, [0, 1]);
    assert.deepEqual(await outputLeftovers(out), ["out"]);
  });
});

Deno.test("the CLI killed with SIGKILL mid-run resumes to byte-identical output", async () => {
  await withTempDir(async (tmp) => {
    const args = cliArgs;
    const env = CLI_ENV;
    const full = join(tmp, "full");
    const ok = await new Deno.Command(Deno.execPath(), {
      args: args(full),
      cwd: ROOT,
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));

    const out = join(tmp, "out");
    const child = new Deno.Command(Deno.execPath(), {
      args: args(out),
      cwd: ROOT,
      env,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Kill it as soon as layer 0 is reported done (non-terminal progress: a line per step).
    let seen = "";
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      seen += dec.decode(chunk, { stream: true });
      if (/layer 0 done/.test(seen)) {
        child.kill("SIGKILL");
        break;
      }
    }
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL", `the run ended before layer 0 was done:\n${seen}`);
    assert.equal(await new ResumeState(out).exists(), true);
    assert.equal((await outputLeftovers(out)).includes("out"), false);

    const again = await new Deno.Command(Deno.execPath(), {
      args: [...args(out), "--resume"],
      cwd: ROOT,
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(again.code, 0, dec.decode(again.stderr));
    assert.deepEqual(await weightsAndFiles(out), await weightsAndFiles(full));
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.deepEqual(report.summary.layers_pruned, [0, 1]);
    // The killed attempt's temporary output folder was cleared by the resumed run, and the
    // state was removed after success.
    assert.deepEqual(await outputLeftovers(out), ["out"]);
  });
});

Deno.test("Ctrl-C (SIGINT) stops the CLI cleanly with exit 130 and a resumable state", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    const child = new Deno.Command(Deno.execPath(), {
      args: cliArgs(out),
      cwd: ROOT,
      env: CLI_ENV,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let seen = "";
    const dec = new TextDecoder();
    let sent = false;
    for await (const chunk of child.stderr) {
      seen += dec.decode(chunk, { stream: true });
      if (!sent && /layer 0 done/.test(seen)) {
        child.kill("SIGINT");
        sent = true;
      }
    }
    const status = await child.status;
    assert.equal(status.code, 130, seen);
    assert.match(seen, /error: Interrupted \(layers 0-0 are saved in ".*\.out\.resume"/);
    // The temporary output folder was removed; only the state remains.
    assert.deepEqual(await outputLeftovers(out), [".out.resume"]);
  });
});

Deno.test("--layers 0-0: layers after the range are skipped, and resuming there works", async () => {
  await withTempDir(async (tmp) => {
    const options = resolvePruneOptions({ ...OPTS, layers: [0, 0] });
    const full = join(tmp, "full");
    const r = await pruneCheckpoint({ model: MODEL, out: full, calib: CALIB, options });
    assert.deepEqual(r.layers.map((l) => [l.layer, l.pruned]), [[0, true], [1, false]]);
    assert.deepEqual(r.summary.layers_pruned, [0]);
    const out = join(tmp, "out");
    await interruptAfter(out, 0, { options });
    const resumed = await pruneCheckpoint({
      model: MODEL,
      out,
      calib: CALIB,
      options,
      resume: true,
    });
    assert.deepEqual(resumed.summary.layers_pruned, [0]);
    assert.deepEqual(await weightsAndFiles(out), await weightsAndFiles(full));
  });
});

Deno.test("prune --resume with wbits keeps the finished layers' grids: same grids and GPTQ folder", async () => {
  await withTempDir(async (tmp) => {
    const options = resolvePruneOptions({ ...OPTS, wbits: 4, groupSize: 32 });
    const full = join(tmp, "full"), fullGptq = join(tmp, "full-gptq");
    const fullReport = await prune(full, { options, saveQuantized: fullGptq });
    const out = join(tmp, "out"), gptq = join(tmp, "gptq");
    await interruptAfter(out, 0, { options, saveQuantized: gptq });
    const statePath = new ResumeState(out).path;
    const files = JSON.parse(await Deno.readTextFile(join(statePath, "state.json"))).files;
    assert.ok(files["grids-0.safetensors"], "layer 0's grids are in the state");
    const f = await SafetensorsFile.open(join(statePath, "grids-0.safetensors"));
    const names = f.tensors().map((t) => t.name);
    f.close();
    assert.deepEqual(
      names,
      fullReport.layers[0].matrices.map((m) => m.name),
      "layer 0's grids are in the state",
    );
    const resumed = await prune(out, { options, saveQuantized: gptq, resume: true });
    const a = await weightsAndFiles(out), b = await weightsAndFiles(full);
    assert.ok(a["quant_grids.safetensors"], "the output has its grids");
    assert.deepEqual(a, b);
    assert.deepEqual(await hashTree(gptq), await hashTree(fullGptq));
    assert.deepEqual(
      resumed.layers.map((l) => l.matrices.map((m) => m.quant)),
      fullReport.layers.map((l) => l.matrices.map((m) => m.quant)),
    );
  });
});
