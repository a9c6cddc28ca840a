// End-to-end tests of `cli.ts` run as a subprocess: help, usage errors (exit 2), input errors
// (exit 1), and the JSON output of inspect, eval and prune on the tiny fixtures. Every failing
// run must print exactly one `error: ...` line, leave no output folder or temporary sibling
// behind, and leave its input files byte-identical.

import assert from "node:assert/strict";
import { join } from "node:path";
import { resolvePruneOptions } from "../src/prune/options.ts";
import { CheckpointReader } from "../io.ts";
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

const TINY_CALIB = ["--nsamples", "4", "--seqlen", "64"];

Deno.test("cli: --help of every command exits 0 and documents the real defaults", async () => {
  const [main, prune, evalHelp, inspect, bench] = await Promise.all(
    [["--help"], ["prune", "--help"], ["eval", "--help"], ["inspect", "-h"], ["bench", "--help"]]
      .map(runCli),
  );
  for (const r of [main, prune, evalHelp, inspect, bench]) {
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stderr, "", describe(r));
    assert.ok(r.stdout.includes("Usage: deno run -A cli.ts"), describe(r));
  }
  for (const cmd of ["prune", "eval", "inspect", "bench"]) {
    assert.match(main.stdout, new RegExp(`^  ${cmd} `, "m"), `main help lists ${cmd}`);
  }
  assert.match(main.stdout, /Exit codes: 0 ok, 1 failure, 2 usage error, 3 no WebGPU adapter/);

  // The defaults printed by `prune --help` are the ones resolvePruneOptions applies.
  const d = resolvePruneOptions({ method: "sparsellm", sparsity: 0.5 });
  const documented = (flag: string) => {
    const m = new RegExp(`^  --${flag} \\S+ +.*\\(default: ([^)]+)\\)`, "m").exec(prune.stdout);
    assert.ok(m, `prune --help documents a default for --${flag}:\n${prune.stdout}`);
    return m[1];
  };
  assert.equal(Number(documented("nsamples")), d.nsamples);
  assert.equal(Number(documented("seed")), d.seed);
  assert.equal(Number(documented("blocksize")), d.blocksize);
  assert.equal(Number(documented("percdamp").split(",")[0]), d.percdamp);
  assert.equal(Number(documented("iters")), d.iters);
  assert.match(documented("seqlen"), /max positions, at most 2048/);
  const penalties = ["alpha", "beta", "gamma", "growth"].map((f) => Number(documented(f)));
  assert.deepEqual(penalties, [d.alpha, d.beta, d.gamma, d.growth]);
  assert.match(prune.stdout, /--ffn-input MODE (?:(?!\n {2}--)[^])*\(default: dense\)/);
  assert.equal(d.ffnInput, "dense");
  for (const flag of ["--model", "--method", "--sparsity", "--pattern", "--calib", "--out"]) {
    assert.ok(prune.stdout.includes(flag), `prune --help lists ${flag}`);
  }

  assert.match(evalHelp.stdout, /--seqlen N +window length \(default: the model's max positions/);
  for (const flag of ["--model", "--text", "--max-windows", "--json"]) {
    assert.ok(evalHelp.stdout.includes(flag), `eval --help lists ${flag}`);
  }
  assert.ok(inspect.stdout.includes("--model DIR"), inspect.stdout);
  assert.match(bench.stdout, /--sparsities/);
});

Deno.test("cli: no command prints the overview and exits 2", async () => {
  const r = await runCli([]);
  assert.equal(r.code, 2, describe(r));
  assert.match(r.stdout, /Commands:/);
});

interface UsageCase {
  name: string;
  args: (out: string) => string[];
  /** Every one of these must appear in the error line. */
  names: string[];
}

const PRUNE_OK = (out: string) => [
  "prune",
  "--model",
  OPT_TINY,
  "--calib",
  TRAIN_TXT,
  ...TINY_CALIB,
  "--out",
  out,
];

const USAGE_CASES: UsageCase[] = [
  { name: "unknown command", args: () => ["frobnicate"], names: ["frobnicate"] },
  {
    name: "unknown flag",
    args: (out) => [...PRUNE_OK(out), "--method", "sparsegpt", "--sparsity", "0.5", "--frob"],
    names: ["--frob"],
  },
  {
    name: "missing --model",
    args: (out) => [
      "prune",
      "--method",
      "sparsegpt",
      "--sparsity",
      "0.5",
      "--calib",
      TRAIN_TXT,
      "--out",
      out,
    ],
    names: ["--model"],
  },
  { name: "inspect without --model", args: () => ["inspect"], names: ["--model"] },
  {
    name: "eval without --text",
    args: () => ["eval", "--model", OPT_TINY, "--seqlen", "64"],
    names: ["--text"],
  },
  {
    name: "--sparsity 1.2",
    args: (out) => [...PRUNE_OK(out), "--method", "sparsegpt", "--sparsity", "1.2"],
    names: ["--sparsity"],
  },
  {
    name: "--sparsity not a number",
    args: (out) => [...PRUNE_OK(out), "--method", "sparsegpt", "--sparsity", "half"],
    names: ["--sparsity", "half"],
  },
  {
    name: "--sparsity and --pattern together",
    args: (out) => [
      ...PRUNE_OK(out),
      "--method",
      "sparsegpt",
      "--sparsity",
      "0.5",
      "--pattern",
      "2:4",
    ],
    names: ["--sparsity", "--pattern"],
  },
  {
    name: "neither --sparsity nor --pattern",
    args: (out) => [...PRUNE_OK(out), "--method", "sparsegpt"],
    names: ["--sparsity", "--pattern"],
  },
  {
    name: "--pattern 5:4",
    args: (out) => [...PRUNE_OK(out), "--method", "sparsegpt", "--pattern", "5:4"],
    names: ["--pattern", "5:4"],
  },
  {
    name: "--method foo",
    args: (out) => [...PRUNE_OK(out), "--method", "foo", "--sparsity", "0.5"],
    names: ["--method", "foo"],
  },
  {
    name: "--nsamples 0",
    args: (
      out,
    ) => [...PRUNE_OK(out), "--method", "sparsegpt", "--sparsity", "0.5", "--nsamples", "0"],
    names: ["--nsamples"],
  },
  {
    name: "--gpu-memory lots",
    args: (out) => [
      ...PRUNE_OK(out),
      "--method",
      "sparsellm",
      "--sparsity",
      "0.5",
      "--gpu-memory",
      "lots",
    ],
    names: ["--gpu-memory", "lots"],
  },
  {
    name: "--layers 3-1",
    args: (
      out,
    ) => [...PRUNE_OK(out), "--method", "sparsegpt", "--sparsity", "0.5", "--layers", "3-1"],
    names: ["--layers"],
  },
  {
    // Library errors name options by key (refitDamp, blocksize, pattern); the CLI prints flags.
    name: "--refit-damp=-1",
    args: (
      out,
    ) => [...PRUNE_OK(out), "--method", "sparsellm", "--sparsity", "0.5", "--refit-damp=-1"],
    names: ["--refit-damp must be positive and at most 100 (got -1)"],
  },
  {
    name: "--blocksize 130 with --pattern 2:4",
    args: (
      out,
    ) => [...PRUNE_OK(out), "--method", "wanda", "--pattern", "2:4", "--blocksize", "130"],
    names: ["--blocksize 130 must be a multiple of M = 4 for --pattern 2:4"],
  },
];

Deno.test("cli: usage errors exit 2 with one error line naming the flag, and write nothing", async (t) => {
  const before = await hashTree(join(ROOT, OPT_TINY));
  await withTempDir(async (tmp) => {
    for (const c of USAGE_CASES) {
      await t.step(c.name, async () => {
        const out = join(tmp, "out");
        const r = await runCli(c.args(out));
        assert.equal(r.code, 2, describe(r));
        const line = errorLine(r);
        for (const n of c.names) assert.ok(line.includes(n), `"${line}" should name ${n}`);
        assert.equal(r.stdout, "", describe(r));
        assert.deepEqual(await outputLeftovers(out), []);
      });
    }
  });
  assert.deepEqual(await hashTree(join(ROOT, OPT_TINY)), before);
});

Deno.test("cli: inspect opt-small reports 3,360,768 parameters (text and --json)", async () => {
  const model = "testdata/models/opt-small";
  const [text, json] = await Promise.all([
    runCli(["inspect", "--model", model]),
    runCli(["inspect", "--model", model, "--json"]),
  ]);
  assert.equal(text.code, 0, describe(text));
  assert.match(text.stdout, /^parameters +3,360,768$/m);
  assert.match(text.stdout, /^layers +4$/m);
  assert.equal(json.code, 0, describe(json));
  const lines = json.stdout.trim().split("\n");
  assert.equal(lines.length, 1, describe(json));
  const r = JSON.parse(lines[0]);
  assert.equal(r.parameters, 3_360_768);
  assert.equal(r.layers, 4);
  assert.equal(r.hiddenSize, 256);
  assert.equal(r.ffnSize, 1024);
  assert.equal(r.modelType, "opt");
  assert.deepEqual(r.dtypes, { F32: 68 });
  assert.equal(r.prunable.length, 24);
  assert.equal(r.prunableParameters, 3_145_728);
});

Deno.test("cli: inspect on a missing folder exits 1 naming the path", async () => {
  await withTempDir(async (tmp) => {
    const missing = join(tmp, "no-such-model");
    const r = await runCli(["inspect", "--model", missing]);
    assert.equal(r.code, 1, describe(r));
    assert.ok(errorLine(r).includes(missing), describe(r));
    assert.equal(r.stdout, "");
  });
});

let evalPerplexity: number | undefined;

Deno.test("cli: eval --json prints one JSON object with a finite perplexity", async () => {
  const r = await runCli([
    "eval",
    "--model",
    OPT_TINY,
    "--text",
    TEST_TXT,
    "--seqlen",
    "64",
    "--max-windows",
    "2",
    "--json",
    "--quiet",
  ]);
  assert.equal(r.code, 0, describe(r));
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 1, describe(r));
  const j = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(j).sort(), ["perplexity", "seconds", "seqlen", "tokens", "windows"]);
  assert.equal(j.windows, 2);
  assert.equal(j.seqlen, 64);
  assert.equal(j.tokens, 2 * 63, "predicted tokens: seqlen - 1 per window");
  assert.ok(Number.isFinite(j.perplexity), `perplexity ${j.perplexity}`);
  // A trained byte-level model: better than the unigram baseline (20.97), worse than perfect.
  assert.ok(j.perplexity > 1 && j.perplexity < 20, `perplexity ${j.perplexity}`);
  assert.ok(j.seconds >= 0);
  assert.equal(r.stderr, "", "--quiet prints no progress");
  evalPerplexity = j.perplexity;
});

Deno.test("cli: prune --json prints the summary and writes the folder", async () => {
  const before = await hashTree(join(ROOT, OPT_TINY));
  await withTempDir(async (tmp) => {
    const out = join(tmp, "pruned");
    const r = await runCli([
      "prune",
      "--model",
      OPT_TINY,
      "--method",
      "sparsegpt",
      "--sparsity",
      "0.5",
      "--calib",
      TRAIN_TXT,
      ...TINY_CALIB,
      "--eval",
      TEST_TXT,
      "--max-windows",
      "2",
      "--out",
      out,
      "--json",
    ]);
    assert.equal(r.code, 0, describe(r));
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1, describe(r));
    const s = JSON.parse(lines[0]);
    assert.equal(s.method, "sparsegpt");
    assert.equal(s.pattern, "unstructured");
    assert.equal(s.target_sparsity, 0.5);
    assert.ok(Math.abs(s.sparsity - 0.5) < 0.005, `sparsity ${s.sparsity}`);
    assert.ok(s.sparsity >= 0.5, `SparseGPT zeroes at least half of each block: ${s.sparsity}`);
    assert.ok(Number.isFinite(s.dense_perplexity) && s.dense_perplexity > 1);
    assert.ok(Number.isFinite(s.pruned_perplexity) && s.pruned_perplexity > 1);
    assert.equal(s.eval_windows, 2);
    assert.equal(s.eval_seqlen, 64);
    assert.equal(s.nsamples, 4);
    assert.equal(s.seqlen, 64);
    assert.deepEqual(s.layers_pruned, [0, 1]);
    assert.equal(s.out, out);
    if (evalPerplexity !== undefined) {
      // Same windows, same weights: the dense figure is what `eval` prints.
      assert.ok(
        Math.abs(s.dense_perplexity - evalPerplexity) <= 1e-4 * evalPerplexity,
        `dense ${s.dense_perplexity} vs eval ${evalPerplexity}`,
      );
    }
    // The folder is in place, complete, and nothing temporary is left beside it.
    assert.deepEqual(await outputLeftovers(out), ["pruned"]);
    const names = [];
    for await (const e of Deno.readDir(out)) names.push(e.name);
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "report.json"]) {
      assert.ok(names.includes(f), `${f} written: ${names}`);
    }
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.deepEqual(report.summary.method, "sparsegpt");
    assert.equal(report.summary.pruned_perplexity, s.pruned_perplexity);
    const reader = await CheckpointReader.open(out);
    try {
      const w = await reader.readF32("model.decoder.layers.1.fc1.weight");
      const zeros = w.filter((x) => x === 0).length;
      assert.ok(zeros >= w.length / 2, `fc1 zeros ${zeros}/${w.length}`);
    } finally {
      reader.close();
    }
  });
  assert.deepEqual(await hashTree(join(ROOT, OPT_TINY)), before);
});

/** Runs a failing prune and checks the common failure contract; returns the error line. */
async function pruneFails(
  args: string[],
  out: string,
  inputs: string[],
  codes: number[] = [1],
): Promise<string> {
  const before = await Promise.all(inputs.map(hashTree));
  const leftoversBefore = await outputLeftovers(out);
  const r = await runCli(["prune", ...args, "--out", out, "--quiet"]);
  assert.ok(codes.includes(r.code), `exit code in ${codes}: ${describe(r)}`);
  const line = errorLine(r);
  assert.equal(r.stdout, "", describe(r));
  assert.deepEqual(await outputLeftovers(out), leftoversBefore, "no output or temporary folder");
  assert.deepEqual(await Promise.all(inputs.map(hashTree)), before, "inputs unchanged");
  return line;
}

const SPARSEGPT = ["--method", "sparsegpt", "--sparsity", "0.5"];

Deno.test("cli: prune refuses an --out that is the model folder or inside it", async () => {
  await withTempDir(async (tmp) => {
    const model = join(tmp, "model");
    await copyDir(join(ROOT, OPT_TINY), model);
    const base = ["--model", model, ...SPARSEGPT, "--calib", TRAIN_TXT, ...TINY_CALIB];
    for (const out of [model, join(model, "sub"), join(model, "sub", "deeper")]) {
      const line = await pruneFails(base, out, [model, join(ROOT, TRAIN_TXT)], [1, 2]);
      assert.match(line, /--out|output folder/i, line);
      assert.ok(line.includes(out), `"${line}" names ${out}`);
    }
    // Also through a symbolic link that resolves to the model folder.
    const link = join(tmp, "link");
    await Deno.symlink(model, link);
    for (const out of [link, join(link, "sub")]) {
      const line = await pruneFails(base, out, [model], [1, 2]);
      assert.match(line, /--out|output folder/i, line);
    }
  });
});

Deno.test("cli: prune refuses a non-empty --out without --force and leaves it untouched", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    await Deno.mkdir(out);
    await Deno.writeTextFile(join(out, "keep.txt"), "precious\n");
    const line = await pruneFails(
      ["--model", OPT_TINY, ...SPARSEGPT, "--calib", TRAIN_TXT, ...TINY_CALIB],
      out,
      [join(ROOT, OPT_TINY), out],
      [1, 2],
    );
    assert.ok(line.includes(out), line);
    assert.match(line, /not empty/, line);
    assert.equal(await Deno.readTextFile(join(out, "keep.txt")), "precious\n");
  });
});

Deno.test("cli: prune with calibration text shorter than one window names the file", async () => {
  await withTempDir(async (tmp) => {
    const calib = join(tmp, "short.txt");
    await Deno.writeTextFile(calib, "In the beginning\n");
    const line = await pruneFails(
      ["--model", OPT_TINY, ...SPARSEGPT, "--calib", calib, ...TINY_CALIB],
      join(tmp, "out"),
      [join(ROOT, OPT_TINY), calib],
    );
    assert.ok(line.includes(calib), line);
  });
});

Deno.test("cli: prune with evaluation text shorter than one window names the file", async () => {
  await withTempDir(async (tmp) => {
    const text = join(tmp, "short-eval.txt");
    await Deno.writeTextFile(text, "Amen.\n");
    const line = await pruneFails(
      ["--model", OPT_TINY, ...SPARSEGPT, "--calib", TRAIN_TXT, ...TINY_CALIB, "--eval", text],
      join(tmp, "out"),
      [join(ROOT, OPT_TINY), text],
    );
    assert.ok(line.includes(text), line);
  });
});

Deno.test("cli: prune --layers 5-6 on a 2-layer model names --layers", async () => {
  await withTempDir(async (tmp) => {
    const line = await pruneFails(
      ["--model", OPT_TINY, ...SPARSEGPT, "--calib", TRAIN_TXT, ...TINY_CALIB, "--layers", "5-6"],
      join(tmp, "out"),
      [join(ROOT, OPT_TINY)],
      [1, 2],
    );
    assert.ok(line.includes("--layers"), line);
    assert.ok(line.includes("2 layers"), line);
  });
});

Deno.test("cli: prune on a truncated model.safetensors exits 1 naming the file", async () => {
  await withTempDir(async (tmp) => {
    const model = join(tmp, "model");
    await copyDir(join(ROOT, OPT_TINY), model);
    const file = join(model, "model.safetensors");
    const size = (await Deno.stat(file)).size;
    for (const cut of [size - 4, Math.floor(size / 2)]) {
      await Deno.truncate(file, cut);
      const line = await pruneFails(
        ["--model", model, ...SPARSEGPT, "--calib", TRAIN_TXT, ...TINY_CALIB],
        join(tmp, "out"),
        [model],
      );
      assert.ok(line.includes(file), line);
    }
  });
});

Deno.test("cli: a failure after the output folder was prepared removes the temporary folder", async () => {
  await withTempDir(async (tmp) => {
    // A NaN in layer 1's fc1: magnitude pruning keeps it, and the pruned-output check rejects
    // the layer after the temporary output folder was created and layer 0 was written.
    const model = join(tmp, "model");
    await copyDir(join(ROOT, OPT_TINY), model);
    const name = "model.decoder.layers.1.fc1.weight";
    const reader = await CheckpointReader.open(model);
    const { begin } = reader.info(name);
    reader.close();
    const f = await Deno.open(join(model, "model.safetensors"), { read: true, write: true });
    try {
      await f.seek(begin, Deno.SeekMode.Start);
      await f.write(new Uint8Array(new Float32Array([NaN]).buffer));
    } finally {
      f.close();
    }
    const line = await pruneFails(
      ["--model", model, "--method", "magnitude", "--sparsity", "0.5"],
      join(tmp, "out"),
      [model],
    );
    assert.ok(line.includes(name), line);
    assert.match(line, /NaN/);
  });
});

Deno.test("cli: patterns the kernels cannot apply fail cleanly, naming the pattern", async (t) => {
  await withTempDir(async (tmp) => {
    const cases: [string, string[]][] = [
      ["sparsegpt 2:64 (M above SparseGPT's limit)", [
        "--method",
        "sparsegpt",
        "--pattern",
        "2:64",
      ]],
      [
        "magnitude 2:3 (64 inputs not a multiple of 3)",
        ["--method", "magnitude", "--pattern", "2:3", "--blocksize", "129"],
      ],
    ];
    for (const [name, flags] of cases) {
      await t.step(name, async () => {
        const pattern = flags[flags.indexOf("--pattern") + 1];
        const line = await pruneFails(
          ["--model", OPT_TINY, ...flags, "--calib", TRAIN_TXT, ...TINY_CALIB],
          join(tmp, "out"),
          [join(ROOT, OPT_TINY)],
          [1, 2],
        );
        assert.ok(line.includes(pattern), line);
      });
    }
  });
});

Deno.test("cli: a leftover resume state is refused naming --resume and --force", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    await Deno.mkdir(join(tmp, ".out.resume"));
    await Deno.writeTextFile(join(tmp, ".out.resume", "state.json"), "{}");
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
      "--quiet",
    ]);
    assert.equal(r.code, 1, describe(r));
    // The library says `resume: true` / `force: true`; the CLI names its switches.
    assert.match(
      errorLine(r),
      /left its state in ".*\.out\.resume": prune again with --resume to continue it, or with --force to start over$/,
    );
  });
});
