// Regression tests of issue #23 (a hostile user's campaign): every case here failed before the
// fix — a crash after the work was done, an input deleted, a resumed run mixing two models, a
// failure found only after the first layer, or a message naming the wrong culprit.

import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError, evaluateCheckpoint, pruneCheckpoint } from "../io.ts";
import { OptionError } from "../src/prune/options.ts";
import { ResumeState } from "../src/app/resume_state.ts";
import { resolvePruneOptions } from "../src/prune/options.ts";
import { calibrationBytes } from "../src/app/memory_check.ts";
import { openModel } from "../src/io/model_files.ts";
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

/** Mounts a tmpfs of `size` on a fresh folder, or returns null where mounting is not allowed. */
async function tmpfs(dir: string, size: string): Promise<string | null> {
  const path = join(dir, `fs-${size}`);
  await Deno.mkdir(path);
  const r = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path],
    stderr: "null",
    stdout: "null",
  }).output().catch(() => null);
  return r?.success ? path : null;
}

async function unmount(path: string): Promise<void> {
  await new Deno.Command("umount", { args: [path] }).output();
}

async function canMount(): Promise<boolean> {
  return await withTempDir(async (tmp) => {
    const p = await tmpfs(tmp, "64k");
    if (p) await unmount(p);
    return p !== null;
  });
}
const MOUNT = await canMount();

const SPARSEGPT = ["--method", "sparsegpt", "--sparsity", "0.5", "--calib", TRAIN_TXT, ...TINY];

Deno.test({
  name: "reliability #2: a full disk keeps the finished layers' state and --resume completes",
  ignore: !MOUNT,
  async fn() {
    await withTempDir(async (tmp) => {
      const ref = join(tmp, "ref");
      const r0 = await runCli(["prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", ref]);
      assert.equal(r0.code, 0, describe(r0));
      // Room for the first layer's state, not for the second.
      const fs = (await tmpfs(tmp, "700k"))!;
      try {
        const out = join(fs, "o");
        const r = await runCli(["prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", out]);
        assert.equal(r.code, 1, describe(r));
        assert.match(errorLine(r), /No space left on device/);
        assert.match(errorLine(r), /layers 0-0 are saved/);
        assert.deepEqual(await outputLeftovers(out), [".o.resume"]);
        const saved = JSON.parse(await Deno.readTextFile(join(fs, ".o.resume", "state.json")));
        assert.equal(saved.nextLayer, 1);
        for await (const e of Deno.readDir(join(fs, ".o.resume"))) {
          assert.doesNotMatch(e.name, /\.tmp$/, "no half-written state file is left");
        }
        // With room again, the run resumes and writes the same checkpoint as an uninterrupted one.
        const grow = await new Deno.Command("mount", {
          args: ["-o", "remount,size=4m", fs],
        }).output();
        assert.ok(grow.success);
        const r2 = await runCli([
          "prune",
          "--model",
          OPT_TINY,
          ...SPARSEGPT,
          "--out",
          out,
          "--resume",
        ]);
        assert.equal(r2.code, 0, describe(r2));
        assert.deepEqual(
          (await hashTree(join(out, "model.safetensors")))["model.safetensors"],
          (await hashTree(join(ref, "model.safetensors")))["model.safetensors"],
        );
        assert.deepEqual(await outputLeftovers(out), ["o"]);
      } finally {
        await unmount(fs);
      }
    });
  },
});

Deno.test({
  name: "reliability #2: a disk too full for the first layer's state leaves nothing behind",
  ignore: !MOUNT,
  async fn() {
    await withTempDir(async (tmp) => {
      const fs = (await tmpfs(tmp, "300k"))!;
      try {
        const out = join(fs, "o");
        const r = await runCli(["prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", out]);
        assert.equal(r.code, 1, describe(r));
        assert.match(errorLine(r), /No space left on device/);
        assert.deepEqual(await outputLeftovers(out), []);
        assert.deepEqual([...Deno.readDirSync(fs)], []);
      } finally {
        await unmount(fs);
      }
    });
  },
});

Deno.test("reliability #5: --force never deletes the calibration or evaluation text", async (t) => {
  await withTempDir(async (tmp) => {
    const model = join(tmp, "m");
    await copyDir(join(ROOT, OPT_TINY), model);
    const data = join(tmp, "data");
    await Deno.mkdir(join(data, "sub"), { recursive: true });
    await Deno.copyFile(join(ROOT, TRAIN_TXT), join(data, "sub", "train.txt"));
    await Deno.copyFile(join(ROOT, TEST_TXT), join(data, "test.txt"));
    const before = await hashTree(tmp);
    const cases: [string, string, string[]][] = [
      ["--out is the folder holding --calib", "calibration file", ["--out", join(data, "sub")]],
      ["--out is a parent of --calib", "calibration file", ["--out", data]],
      ["--out is the folder holding --eval", "evaluation text", [
        "--calib",
        join(ROOT, TRAIN_TXT),
        "--eval",
        join(data, "test.txt"),
        "--out",
        data,
      ]],
    ];
    for (const [name, what, extra] of cases) {
      await t.step(name, async () => {
        const r = await runCli([
          "prune",
          "--model",
          model,
          "--method",
          "sparsegpt",
          "--sparsity",
          "0.5",
          ...TINY,
          "--calib",
          join(data, "sub", "train.txt"),
          "--force",
          ...extra,
        ]);
        assert.equal(r.code, 1, describe(r));
        assert.match(errorLine(r), new RegExp(`the ${what} ".*", which replacing it would delete`));
        assert.deepEqual(await hashTree(tmp), before);
      });
    }
  });
});

/** Prunes `model` with SparseGPT in-process, aborting once layer 0 is done. */
async function interruptAfterLayer0(model: string, out: string): Promise<void> {
  const controller = new AbortController();
  const err = await pruneCheckpoint({
    model,
    out,
    calib: join(ROOT, TRAIN_TXT),
    options: resolvePruneOptions(LIB_OPTS),
    signal: controller.signal,
    onProgress: (e) => {
      if (e.detail === "layer 0 done") controller.abort(new Error("stop"));
    },
  }).then(() => undefined, (e) => e as Error);
  assert.match(String(err?.message), /^stop \(layers 0-0 are saved/);
}

const LIB_OPTS = { method: "sparsegpt", sparsity: 0.5, nsamples: 4, seqlen: 64 } as const;

Deno.test("reliability #3: --resume refuses weights changed in place (same size) after the kill", async () => {
  await withTempDir(async (tmp) => {
    const model = join(tmp, "m");
    await copyDir(join(ROOT, OPT_TINY), model);
    const out = join(tmp, "o");
    await interruptAfterLayer0(model, out);
    // Flip one byte of a layer-1 weight: same file size, different model.
    const file = join(model, "model.safetensors");
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 5] ^= 0x01;
    await Deno.writeFile(file, bytes);
    await assert.rejects(
      () =>
        pruneCheckpoint({
          model,
          out,
          calib: join(ROOT, TRAIN_TXT),
          resume: true,
          options: resolvePruneOptions(LIB_OPTS),
        }),
      (e: unknown) => {
        assert.ok(e instanceof CheckpointError);
        assert.match(
          (e as Error).message,
          /belongs to a different run \(weight_files: saved \{"model\.safetensors":"sha256 [0-9a-f]{64}"\}, now/,
        );
        return true;
      },
    );
    assert.equal(await new ResumeState(out).exists(), true, "the refusal keeps the state");
  });
});

Deno.test("reliability #3/#11: --resume checks the saved state files' contents, naming the file", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "o");
    await interruptAfterLayer0(join(ROOT, OPT_TINY), out);
    for (const name of ["layer-0.safetensors", "hidden-1.safetensors"]) {
      const file = join(tmp, ".o.resume", name);
      const good = await Deno.readFile(file);
      // A NaN written into the last float of the saved file.
      const bad = good.slice();
      new DataView(bad.buffer).setFloat32(bad.length - 4, NaN, true);
      await Deno.writeFile(file, bad);
      await assert.rejects(
        () =>
          pruneCheckpoint({
            model: join(ROOT, OPT_TINY),
            out,
            calib: join(ROOT, TRAIN_TXT),
            resume: true,
            options: resolvePruneOptions(LIB_OPTS),
          }),
        (e: unknown) => {
          assert.ok(e instanceof CheckpointError);
          assert.match(
            (e as Error).message,
            new RegExp(
              `saved state file ".*${name.replace(".", "\\.")}" is not the one this state saved`,
            ),
          );
          return true;
        },
      );
      await Deno.writeFile(file, good);
    }
    const r = await pruneCheckpoint({
      model: join(ROOT, OPT_TINY),
      out,
      calib: join(ROOT, TRAIN_TXT),
      resume: true,
      options: resolvePruneOptions(LIB_OPTS),
    });
    assert.deepEqual(r.summary.layers_pruned, [0, 1]);
  });
});

Deno.test("reliability #6: output paths that can never work are refused before the first layer", async (t) => {
  await withTempDir(async (tmp) => {
    await Deno.writeTextFile(join(tmp, "file"), "x");
    await Deno.symlink(join(tmp, "nowhere"), join(tmp, "dangling"));
    await Deno.mkdir(join(tmp, "target"));
    await Deno.symlink(join(tmp, "target"), join(tmp, "link"));
    const before = await snapshot(tmp);
    const cases: [string, string, RegExp][] = [
      [
        "a path under a regular file",
        "file/o",
        /cannot be created: ".*\/file" is a file, not a folder/,
      ],
      ["deeper under a regular file", "file/a/b", /cannot be created: ".*\/file" is a file/],
      [
        "a dangling symlink",
        "dangling",
        /is a symbolic link to ".*\/nowhere", which does not exist/,
      ],
      [
        "a symlink to a folder",
        "link",
        /is a symbolic link to ".*\/target"; give the folder itself/,
      ],
    ];
    for (const [name, out, message] of cases) {
      await t.step(name, async () => {
        const r = await runCli([
          "prune",
          "--model",
          OPT_TINY,
          ...SPARSEGPT,
          "--out",
          join(tmp, out),
        ]);
        assert.equal(r.code, 1, describe(r));
        assert.match(errorLine(r), message);
        assert.doesNotMatch(r.stderr, /layer 0 done/, "refused before any layer");
        assert.deepEqual(await snapshot(tmp), before, "nothing created, nothing changed");
      });
    }
  });
});

Deno.test({
  name: "reliability #6: an empty mount point as --out is written inside",
  ignore: !MOUNT,
  async fn() {
    await withTempDir(async (tmp) => {
      const ref = join(tmp, "ref");
      assert.equal(
        (await runCli(["prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", ref])).code,
        0,
      );
      const fs = (await tmpfs(tmp, "4m"))!;
      try {
        const r = await runCli(["prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", fs]);
        assert.equal(r.code, 0, describe(r));
        const got = await hashTree(fs);
        const want = await hashTree(ref);
        for (const h of [got, want]) delete h["report.json"], delete h["report.svg"];
        assert.deepEqual(got, want);
        // Again with --force over the now non-empty mount point.
        const r2 = await runCli([
          "prune",
          "--model",
          OPT_TINY,
          ...SPARSEGPT,
          "--out",
          fs,
          "--force",
        ]);
        assert.equal(r2.code, 0, describe(r2));
        const again = await hashTree(fs);
        delete again["report.json"], delete again["report.svg"];
        assert.deepEqual(again, want);
      } finally {
        await unmount(fs);
      }
    });
  },
});

/** Every entry under `dir` (not following links): files by content, links by target. */
async function snapshot(dir: string, rel = ""): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(join(dir, rel))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isSymlink) out[r] = `-> ${await Deno.readLink(join(dir, r))}`;
    else if (e.isDirectory) Object.assign(out, { [r]: "<dir>" }, await snapshot(dir, r));
    else {out[r] = await Deno.readTextFile(join(dir, r)).then((t) =>
        `${t.length}:${t.slice(0, 64)}`
      );}
  }
  return out;
}

Deno.test("reliability #8: after SIGKILL/SIGTERM a plain --force rerun clears the stale temporary folder and says so", async (t) => {
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    await t.step(signal, async () => {
      await withTempDir(async (tmp) => {
        const out = join(tmp, "o");
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "cli.ts", "prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", out],
          cwd: ROOT,
          env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp/xdg", NO_COLOR: "1" },
          stdout: "null",
          stderr: "piped",
        }).spawn();
        let seen = "";
        const dec = new TextDecoder();
        for await (const chunk of child.stderr) {
          seen += dec.decode(chunk, { stream: true });
          if (/layer 0 done/.test(seen)) {
            child.kill(signal);
            break;
          }
        }
        assert.equal((await child.status).signal, signal, seen);
        const left = await outputLeftovers(out);
        const stale = left.filter((n) => n.startsWith(".o.tmp-"));
        assert.equal(stale.length, 1, `the killed run left its temporary folder: ${left}`);
        // A temporary folder of a run that is still going (this test process) is not touched.
        const live = join(tmp, ".o.tmp-live0000");
        await Deno.mkdir(live);
        await Deno.writeTextFile(
          join(live, ".sparsellm-owner.json"),
          JSON.stringify({ pid: Deno.pid, host: Deno.hostname(), started: Date.now() }),
        );
        const r = await runCli([
          "prune",
          "--model",
          OPT_TINY,
          ...SPARSEGPT,
          "--out",
          out,
          "--force",
        ]);
        assert.equal(r.code, 0, describe(r));
        assert.match(
          r.stderr,
          new RegExp(
            `note: removed ".*${stale[0]}", the temporary folder of an interrupted earlier run`,
          ),
        );
        assert.deepEqual(await outputLeftovers(out), [".o.tmp-live0000", "o"]);
      });
    });
  }
});

Deno.test("reliability #9: bench validates every list entry before any work", async (t) => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "bench");
    const base = [
      "bench",
      "--model",
      OPT_TINY,
      "--calib",
      TRAIN_TXT,
      "--eval",
      TEST_TXT,
      ...TINY,
      "--max-windows",
      "2",
      "--out",
      out,
    ];
    const cases: [string, string[], RegExp][] = [
      [
        "an unknown method last",
        ["--methods", "magnitude,foo", "--sparsities", "0.5"],
        /^--methods names an unknown method "foo"; expected some of magnitude, /,
      ],
      [
        "a sparsity above 1 last",
        ["--methods", "magnitude", "--sparsities", "0.5,1.5"],
        /^--sparsities has "1\.5": sparsity/,
      ],
      [
        "a word",
        ["--methods", "magnitude", "--sparsities", "0.5,abc"],
        /^--sparsities has "abc", which is neither a number/,
      ],
      [
        "a bad pattern",
        ["--methods", "magnitude", "--sparsities", "0.5,5:4"],
        /^--sparsities has "5:4": /,
      ],
      [
        "a pattern the model's widths do not fit",
        ["--methods", "wanda", "--sparsities", "0.5,1:128"],
        /^--sparsities has "1:128": pattern 1:128/,
      ],
      [
        "a repeated method",
        ["--methods", "magnitude,magnitude"],
        /^--methods names "magnitude" twice/,
      ],
      [
        "an empty entry",
        ["--methods", "magnitude,", "--sparsities", "0.5"],
        /^--methods has an empty entry/,
      ],
    ];
    for (const [name, extra, message] of cases) {
      await t.step(name, async () => {
        const r = await runCli([...base, ...extra]);
        assert.equal(r.code, 2, describe(r));
        assert.match(errorLine(r), message);
        assert.doesNotMatch(r.stderr, /eval dense|layer 0/, "refused before any work");
        assert.deepEqual(await outputLeftovers(out), []);
      });
    }
  });
});

Deno.test("reliability #7: a calibration set that cannot fit in memory is refused up front with the estimate", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "o");
    const t0 = performance.now();
    const r = await runCli([
      "prune",
      "--model",
      OPT_TINY,
      "--method",
      "sparsellm",
      "--sparsity",
      "0.5",
      "--calib",
      TRAIN_TXT,
      "--nsamples",
      "1048576",
      "--seqlen",
      "256",
      "--out",
      out,
    ]);
    assert.equal(r.code, 2, describe(r));
    // N = 2^20 windows x 256 tokens; SparseLLM on d 64, f 256: 4·N + 4·4·N·64 + 4·N·3·256 bytes
    // = 4100·N = 1025 GiB.
    assert.match(
      errorLine(r),
      /^--nsamples 1048576 x --seqlen 256 needs about 1025\.0 GiB for the calibration data of sparsellm .* more than the [\d.]+ GiB of memory available/,
    );
    assert.ok(performance.now() - t0 < 20_000, "refused at once");
    assert.deepEqual(await outputLeftovers(out), []);
  });
  // The estimate itself, for SparseLLM on opt-tiny (d 64, f 256): N = 4 x 64 tokens.
  const config = await openModel(join(ROOT, OPT_TINY));
  config.reader.close();
  const o = resolvePruneOptions({ method: "sparsellm", sparsity: 0.5, nsamples: 4 });
  const n = 4 * 64, d = config.config.hiddenSize, f = config.config.ffnSize;
  assert.equal(calibrationBytes(o, config.config, 64), 4 * n + 4 * 4 * n * d + 4 * n * 3 * f);
});

Deno.test("reliability #4/#10/#12: absurd or unrepresentable option values and unknown keys are typed option errors", () => {
  const base = { method: "sparsegpt", sparsity: 0.5 } as const;
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [
      { ...base, percdamp: 1e39 },
      "percdamp",
      /^percdamp must be a number from 0 to 100 \(got 1e\+39\)$/,
    ],
    [
      { ...base, seed: 2 ** 32 },
      "seed",
      /^seed must be an integer from 0 to 4294967295 \(got 4294967296\)$/,
    ],
    [
      { ...base, blocksize: 1e9 },
      "blocksize",
      /^blocksize must be an integer from 1 to 256 \(got 1000000000\)$/,
    ],
    [{ ...base, nsamples: 1e9 }, "nsamples", /^nsamples must be an integer from 1 to 1048576/],
    [{ ...base, iters: 1e6 }, "iters", /^iters must be an integer from 0 to 1000/],
    [{ ...base, growth: 1e300 }, "growth", /^growth must be a number from 1 to 100/],
    [{ ...base, alpha: Infinity }, "alpha", /^alpha must be positive and at most 1000000/],
    [{ ...base, refitDamp: 1e39 }, "refitDamp", /^refitDamp must be positive and at most 100/],
    [
      { ...base, spasity: 0.5 },
      "spasity",
      /^spasity is not an option \(did you mean sparsity\?\); the options are method, sparsity, /,
    ],
    [{ method: "wanda", pattern: "4:2" }, "pattern", /^pattern must be N:M/],
    [{ method: "wanda", pattern: "2:4:8" }, "pattern", /^pattern must be N:M/],
    [{ method: "wanda", pattern: 24 }, "pattern", /^pattern must be text/],
  ];
  for (const [input, option, message] of cases) {
    assert.throws(() => resolvePruneOptions(input as never), (e: unknown) => {
      assert.ok(e instanceof OptionError, `${JSON.stringify(input)}: ${e}`);
      assert.equal((e as OptionError).option, option);
      assert.match((e as Error).message, message);
      return true;
    });
  }
});

Deno.test("reliability #4/#10: the CLI refuses absurd numbers with exit 2 before any work", async (t) => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "o");
    for (
      const [flags, message] of [
        [["--percdamp", "1e39"], /^--percdamp must be a number from 0 to 100 \(got 1e\+39\)$/],
        [["--seed", "4294967296"], /^--seed must be an integer from 0 to 4294967295/],
        [["--blocksize", "1000000000"], /^--blocksize must be an integer from 1 to 256/],
      ] as const
    ) {
      await t.step(flags.join(" "), async () => {
        const r = await runCli([
          "prune",
          "--model",
          OPT_TINY,
          ...SPARSEGPT,
          ...flags,
          "--out",
          out,
        ]);
        assert.equal(r.code, 2, describe(r));
        assert.match(errorLine(r), message);
        assert.deepEqual(await outputLeftovers(out), []);
      });
    }
  });
});

Deno.test("reliability #13: a symlink in the model folder leading outside it is refused before any work", async () => {
  await withTempDir(async (tmp) => {
    const model = join(tmp, "m");
    await copyDir(join(ROOT, OPT_TINY), model);
    await Deno.writeTextFile(join(tmp, "secret.txt"), "not part of the model");
    await Deno.symlink(join(tmp, "secret.txt"), join(model, "notes.txt"));
    // A link inside the folder is fine and copied as a file.
    await Deno.symlink(join(model, "config.json"), join(model, "config-copy.json"));
    const out = join(tmp, "o");
    const r = await runCli(["prune", "--model", model, ...SPARSEGPT, "--out", out]);
    assert.equal(r.code, 1, describe(r));
    assert.match(
      errorLine(r),
      /^"notes\.txt" in the model folder ".*" is a symbolic link to ".*secret\.txt", outside the model folder/,
    );
    assert.doesNotMatch(r.stderr, /layer 0 done/);
    assert.deepEqual(await outputLeftovers(out), []);
    await Deno.remove(join(model, "notes.txt"));
    const ok = await runCli(["prune", "--model", model, ...SPARSEGPT, "--out", out]);
    assert.equal(ok.code, 0, describe(ok));
    assert.equal((await Deno.lstat(join(out, "config-copy.json"))).isFile, true);
  });
});

Deno.test("reliability #10: inputs that disagree with each other are refused, naming both", async (t) => {
  await withTempDir(async (tmp) => {
    await t.step("a shard index naming a tensor twice", async () => {
      const model = join(tmp, "sharded");
      await copyDir(join(ROOT, OPT_TINY), model);
      const names = (await openModel(model)).reader;
      const list = names.names();
      names.close();
      const shard = "model-00001-of-00001.safetensors";
      await Deno.rename(join(model, "model.safetensors"), join(model, shard));
      const entries = list.map((n) => `${JSON.stringify(n)}: "${shard}"`);
      entries.push(`${JSON.stringify(list[3])}: "${shard}"`);
      await Deno.writeTextFile(
        join(model, "model.safetensors.index.json"),
        `{"metadata": {}, "weight_map": {\n${entries.join(",\n")}\n}}`,
      );
      const r = await runCli(["inspect", "--model", model]);
      assert.equal(r.code, 1, describe(r));
      assert.equal(
        errorLine(r),
        `Cannot read the weight index: "${join(model, "model.safetensors.index.json")}" names ` +
          `${JSON.stringify(list[3])} twice in one object (JSON keeps only the last, so the file ` +
          "contradicts itself)",
      );
    });
    await t.step("a tensor stored in two shards", async () => {
      const model = join(tmp, "twice");
      await copyDir(join(ROOT, OPT_TINY), model);
      const { reader } = await openModel(model);
      const list = reader.names();
      reader.close();
      // Both shards are the whole file; the index gives each tensor to the first.
      await Deno.rename(join(model, "model.safetensors"), join(model, "a.safetensors"));
      await Deno.copyFile(join(model, "a.safetensors"), join(model, "b.safetensors"));
      const map = Object.fromEntries(
        list.map((n, i) => [n, i === 0 ? "b.safetensors" : "a.safetensors"]),
      );
      await Deno.writeTextFile(
        join(model, "model.safetensors.index.json"),
        JSON.stringify({ metadata: {}, weight_map: map }),
      );
      const r = await runCli(["inspect", "--model", model]);
      assert.equal(r.code, 1, describe(r));
      assert.match(
        errorLine(r),
        /^Tensor ".*" is stored in both "(a|b)\.safetensors" and "(a|b)\.safetensors" \(the index ".*" lists .*\); the shards contradict each other$/,
      );
    });
    await t.step("a config with fewer layers than the checkpoint", async () => {
      const model = join(tmp, "fewer");
      await copyDir(join(ROOT, OPT_TINY), model);
      const cfg = JSON.parse(await Deno.readTextFile(join(model, "config.json")));
      cfg.num_hidden_layers = 1;
      await Deno.writeTextFile(join(model, "config.json"), JSON.stringify(cfg));
      const r = await runCli(["prune", "--model", model, ...SPARSEGPT, "--out", join(tmp, "o1")]);
      assert.equal(r.code, 1, describe(r));
      assert.match(
        errorLine(r),
        /config\.json" says the model has 1 layers, but the weights hold layer 1 \("model\.decoder\.layers\.1\..*"\); the config and the weights disagree$/,
      );
    });
    await t.step("eval on weights holding a NaN (prune refuses the same file)", async () => {
      const model = join(tmp, "nan");
      await copyDir(join(ROOT, OPT_TINY), model);
      const { reader } = await openModel(model);
      const name = "model.decoder.layers.1.fc2.weight";
      const info = reader.info(name);
      reader.close();
      const file = await Deno.open(join(model, "model.safetensors"), { read: true, write: true });
      const header = new DataView((await Deno.readFile(join(model, "model.safetensors"))).buffer)
        .getBigUint64(0, true);
      await file.seek(8 + Number(header) + info.begin + 4 * 5, Deno.SeekMode.Start);
      await file.write(new Uint8Array(new Float32Array([NaN]).buffer));
      file.close();
      const r = await runCli([
        "eval",
        "--model",
        model,
        "--text",
        TEST_TXT,
        "--seqlen",
        "64",
        "--max-windows",
        "2",
      ]);
      assert.equal(r.code, 1, describe(r));
      assert.match(errorLine(r), new RegExp(`"${name.replaceAll(".", "\\.")}".*NaN`));
    });
    await t.step("a tokenizer producing ids past the model's vocab_size", async () => {
      const model = join(tmp, "tok");
      await copyDir(join(ROOT, OPT_TINY), model);
      const path = join(model, "tokenizer.json");
      const tok = JSON.parse(await Deno.readTextFile(path));
      const vocab = tok.model.vocab as Record<string, number>;
      const last = Object.keys(vocab).reduce((a, b) => (vocab[b] > vocab[a] ? b : a));
      vocab[last] = 100000;
      await Deno.writeTextFile(path, JSON.stringify(tok));
      for (
        const args of [
          ["eval", "--model", model, "--text", TEST_TXT, "--seqlen", "64"],
          ["prune", "--model", model, ...SPARSEGPT, "--out", join(tmp, "o2")],
        ]
      ) {
        const r = await runCli(args);
        assert.equal(r.code, 1, describe(r));
        assert.equal(
          errorLine(r),
          `The tokenizer "${path}" produces ids up to 100000, but "${
            join(model, "config.json")
          }" has vocab_size 272: the tokenizer and the model disagree`,
        );
      }
    });
    await t.step("eval --seqlen beyond max_position_embeddings", async () => {
      const r = await runCli(["eval", "--model", OPT_TINY, "--text", TEST_TXT, "--seqlen", "300"]);
      assert.equal(r.code, 2, describe(r));
      assert.match(
        errorLine(r),
        /^--seqlen 300 exceeds the model's 256 positions \(max_position_embeddings in ".*config\.json"\)$/,
      );
    });
  });
});

Deno.test("reliability #11: an empty tokenizer vocabulary is blamed, not the text", async () => {
  await withTempDir(async (tmp) => {
    const model = join(tmp, "m");
    await copyDir(join(ROOT, OPT_TINY), model);
    const path = join(model, "tokenizer.json");
    const tok = JSON.parse(await Deno.readTextFile(path));
    tok.model.vocab = {};
    tok.model.merges = [];
    tok.added_tokens = [];
    await Deno.writeTextFile(path, JSON.stringify(tok));
    const want =
      `The tokenizer "${path}" has an empty vocabulary: it cannot turn any text into tokens`;
    const r = await runCli(["prune", "--model", model, ...SPARSEGPT, "--out", join(tmp, "o")]);
    assert.equal(r.code, 1, describe(r));
    assert.equal(errorLine(r), want);
    const e = await runCli(["eval", "--model", model, "--text", TEST_TXT]);
    assert.equal(e.code, 1, describe(e));
    assert.equal(errorLine(e), want);
  });
});

Deno.test("reliability #11: an overlong --layers value is named once, by its flag", async () => {
  for (const value of ["99999999999999999999999", `0-${"9".repeat(400)}`]) {
    const r = await runCli([
      "prune",
      "--model",
      OPT_TINY,
      ...SPARSEGPT,
      "--layers",
      value,
      "--out",
      "/nonexistent/o",
    ]);
    assert.equal(r.code, 2, describe(r));
    assert.match(
      errorLine(r),
      /^--layers .* is out of range: layer numbers must be below 9007199254740992/,
    );
    assert.equal(r.stderr.split("--layers").length - 1, 1, "named once");
  }
});

Deno.test("reliability #7: a calibration or evaluation source that cannot be read whole is refused before reading", async () => {
  await withTempDir(async (tmp) => {
    const big = join(tmp, "big.txt");
    await Deno.writeTextFile(big, "");
    await Deno.truncate(big, 600 * 2 ** 20); // sparse: no disk used
    const cases: [string[], RegExp][] = [
      [[
        "prune",
        "--model",
        OPT_TINY,
        ...SPARSEGPT.slice(0, 4),
        "--calib",
        "/dev/zero",
        ...TINY,
        "--out",
        join(tmp, "o"),
      ], /^"\/dev\/zero" is not a regular file \(a device, pipe or socket\)\.$/],
      [
        [
          "prune",
          "--model",
          OPT_TINY,
          ...SPARSEGPT.slice(0, 4),
          "--calib",
          big,
          ...TINY,
          "--out",
          join(tmp, "o"),
        ],
        /^The file ".*big\.txt" has 629145600 bytes; text files are read whole and may have at most 536870888/,
      ],
      [
        ["eval", "--model", OPT_TINY, "--text", "/dev/zero"],
        /^"\/dev\/zero" is not a regular file/,
      ],
    ];
    for (const [args, message] of cases) {
      const t0 = performance.now();
      const r = await runCli(args);
      assert.equal(r.code, 1, describe(r));
      assert.match(errorLine(r), message);
      assert.ok(performance.now() - t0 < 20_000, "refused at once");
    }
    assert.deepEqual(await outputLeftovers(join(tmp, "o")), []);
  });
});

Deno.test("reliability #12: library arguments out of range are typed option errors before any work", async () => {
  const model = join(ROOT, OPT_TINY);
  const text = join(ROOT, TEST_TXT);
  const cases: [() => Promise<unknown>, string, string][] = [
    [
      () => evaluateCheckpoint({ model, text, seqlen: 0 }),
      "seqlen",
      "seqlen must be a positive integer (got 0)",
    ],
    [
      () => evaluateCheckpoint({ model, text, seqlen: 64, maxWindows: 1.5 }),
      "maxWindows",
      "maxWindows must be a positive integer (got 1.5)",
    ],
    [
      () =>
        pruneCheckpoint({
          model,
          out: "/nonexistent/o",
          evalText: text,
          maxWindows: -1,
          options: resolvePruneOptions({ method: "magnitude", sparsity: 0.5 }),
        }),
      "maxWindows",
      "maxWindows must be a positive integer (got -1)",
    ],
  ];
  for (const [f, option, message] of cases) {
    await assert.rejects(f, (e: unknown) => {
      assert.ok(e instanceof OptionError, String(e));
      assert.equal((e as OptionError).option, option);
      assert.equal((e as Error).message, message);
      return true;
    });
  }
});

Deno.test("reliability: a second run on the same output is refused up front; a killed run's lock is taken over", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "o");
    const lock = join(tmp, ".o.lock");
    const stamp = (pid: number) =>
      JSON.stringify({ pid, host: Deno.hostname(), started: Date.UTC(2026, 0, 2) });
    // A run that is still going: this test process.
    await Deno.writeTextFile(lock, stamp(Deno.pid));
    const r = await runCli(["prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", out]);
    assert.equal(r.code, 1, describe(r));
    assert.equal(
      errorLine(r),
      `Another run (process ${Deno.pid}, started 2026-01-02T00:00:00.000Z) is writing the ` +
        `output folder "${out}"; wait for it to end, or remove "${lock}" if that process is not sparsellm`,
    );
    assert.doesNotMatch(r.stderr, /layer 0/);
    assert.equal(await Deno.readTextFile(lock), stamp(Deno.pid), "the other run's lock stays");
    // A run that was killed: a process that has exited.
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    await Deno.writeTextFile(lock, stamp(gone.pid));
    const ok = await runCli(["prune", "--model", OPT_TINY, ...SPARSEGPT, "--out", out]);
    assert.equal(ok.code, 0, describe(ok));
    assert.match(ok.stderr, /note: removed ".*\.o\.lock", the lock of an interrupted earlier run/);
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), ["o"]);
  });
});

Deno.test({
  name: "reliability #6: a read-only output location is refused before any work, naming the folder",
  ignore: !MOUNT,
  async fn() {
    await withTempDir(async (tmp) => {
      const ro = join(tmp, "ro");
      await Deno.mkdir(ro);
      const m = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro],
      }).output();
      assert.ok(m.success);
      try {
        const r = await runCli([
          "prune",
          "--model",
          OPT_TINY,
          ...SPARSEGPT,
          "--out",
          join(ro, "a", "o"),
        ]);
        assert.equal(r.code, 1, describe(r));
        assert.equal(
          errorLine(r),
          `Cannot write the output folder "${join(ro, "a", "o")}": its parent "${
            join(ro, "a")
          }" refuses new files (Read-only file system (os error 30))`,
        );
        assert.doesNotMatch(r.stderr, /layer 0/);
      } finally {
        await unmount(ro);
      }
    });
  },
});
