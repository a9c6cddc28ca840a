/**
 * `bench`: prune one model with several methods at several sparsities, evaluate each, and
 * write `bench.json`, `bench.md` and `bench.svg`.
 *
 * @module
 */

import { join } from "node:path";
import { AtomicOutputDir } from "../io/atomic_dir.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import {
  OptionError,
  type PruneOptions,
  type PruneOptionsInput,
  resolvePruneOptions,
  validateForModel,
} from "../prune/options.ts";
import { defaultSeqlen, openModel } from "../io/model_files.ts";
import type { ProgressEvent } from "../prune/report.ts";
import { METHOD_NAMES, type MethodName } from "../prune/types.ts";
import { sweepChartSvg } from "./report/charts.ts";
import { formatMarkdownTable } from "./report/table.ts";
import { evaluateCheckpoint } from "./evaluate.ts";
import { pruneCheckpoint } from "./prune_checkpoint.ts";

/**
 * Arguments of {@linkcode runSweep}.
 *
 * @example Four methods at three settings
 * ```ts
 * import { runSweep, type SweepArgs } from "./sweep.ts";
 *
 * const args: SweepArgs = {
 *   model: "testdata/models/opt-tiny",
 *   calib: "testdata/kjv/train.txt",
 *   evalText: "testdata/kjv/test.txt",
 *   out: "out/sweep",
 *   methods: ["magnitude", "wanda", "sparsegpt", "sparsellm"],
 *   sparsities: ["0.5", "0.7", "2:4"],
 *   base: { nsamples: 32, seqlen: 256 },
 * };
 * const result = await runSweep(args);
 * ```
 */
export interface SweepArgs {
  /** Model folder. */
  model: string;
  /** Calibration text. */
  calib: string;
  /** Evaluation text. */
  evalText: string;
  /** Output folder for the pruned models and the tables. */
  out: string;
  /** Methods. */
  methods: MethodName[];
  /** Sparsities (`0.5`) and patterns (`2:4`). */
  sparsities: string[];
  /** Shared options (method and sparsity are overridden). */
  base: Omit<PruneOptionsInput, "method">;
  /** Evaluate at most N windows. */
  maxWindows?: number | undefined;
  /** Replace existing outputs. */
  force?: boolean;
  /** Progress. */
  onProgress?: (e: ProgressEvent) => void;
  /** Device. */
  gpu?: Gpu;
  /** Keep the pruned checkpoints (default false: only the tables and reports stay). */
  keepModels?: boolean;
}

/**
 * One cell of the sweep.
 *
 * @example The best cell of a sweep
 * ```ts
 * import type { SweepResult, SweepRow } from "./sweep.ts";
 *
 * declare const result: SweepResult;
 * const best: SweepRow = result.rows.reduce((a, b) => (b.perplexity < a.perplexity ? b : a));
 * console.log(`${best.method} at ${best.setting}: ppl ${best.perplexity}`);
 * ```
 */
export interface SweepRow {
  /** Method. */
  method: string;
  /** `0.5` or `2:4`. */
  setting: string;
  /** Achieved sparsity. */
  sparsity: number;
  /** Pruned perplexity. */
  perplexity: number;
  /** Pruning seconds. */
  seconds: number;
}

/**
 * What {@linkcode runSweep} returns.
 *
 * @example Print the sweep table
 * ```ts
 * import { runSweep, type SweepArgs, type SweepResult } from "./sweep.ts";
 *
 * declare const args: SweepArgs;
 * const result: SweepResult = await runSweep(args);
 * console.log(`dense perplexity ${result.dense}\n\n${result.markdown}`);
 * ```
 */
export interface SweepResult {
  /** Dense perplexity. */
  dense: number;
  /** Every cell. */
  rows: SweepRow[];
  /** Markdown table: methods × settings. */
  markdown: string;
}

/** Resolves the options of every (method, setting) cell; throws {@linkcode OptionError} naming the list. */
function sweepCells(a: SweepArgs): Map<string, PruneOptions> {
  const list = (key: "methods" | "sparsities", values: readonly string[]) => {
    if (values.length === 0) throw new OptionError(key, `${key} is empty`);
    const seen = new Set<string>();
    for (const v of values) {
      if (v === "") throw new OptionError(key, `${key} has an empty entry`);
      if (seen.has(v)) throw new OptionError(key, `${key} names "${v}" twice`);
      seen.add(v);
    }
  };
  list("methods", a.methods);
  list("sparsities", a.sparsities);
  for (const m of a.methods) {
    if (!(METHOD_NAMES as readonly string[]).includes(m)) {
      throw new OptionError(
        "methods",
        `methods names an unknown method "${m}"; expected some of ${METHOD_NAMES.join(", ")}`,
      );
    }
  }
  const cells = new Map<string, PruneOptions>();
  for (const setting of a.sparsities) {
    if (!setting.includes(":") && !/^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(setting)) {
      throw new OptionError(
        "sparsities",
        `sparsities has "${setting}", which is neither a number (0.5) nor an N:M pattern (2:4)`,
      );
    }
    for (const method of a.methods) {
      const input: PruneOptionsInput = { ...a.base, method };
      if (setting.includes(":")) input.pattern = setting;
      else input.sparsity = Number(setting);
      try {
        cells.set(`${method} ${setting}`, resolvePruneOptions(input));
      } catch (e) {
        if (!(e instanceof OptionError) || !["sparsity", "pattern"].includes(e.option)) throw e;
        throw new OptionError("sparsities", `sparsities has "${setting}": ${e.message}`);
      }
    }
  }
  return cells;
}

/**
 * Runs the sweep.
 *
 * @example Compare SparseGPT and SparseLLM at 70 %
 * ```ts
 * import { runSweep } from "./sweep.ts";
 *
 * const { markdown } = await runSweep({
 *   model: "testdata/models/opt-tiny",
 *   calib: "testdata/kjv/train.txt",
 *   evalText: "testdata/kjv/test.txt",
 *   out: "out/sweep",
 *   methods: ["sparsegpt", "sparsellm"],
 *   sparsities: ["0.7"],
 *   base: { nsamples: 32, seqlen: 256 },
 *   force: true,
 * });
 * ```
 */
export async function runSweep(a: SweepArgs): Promise<SweepResult> {
  // Every cell's options are checked before any work, so that a typo in the last entry of a list
  // does not fail after the dense evaluation and the first runs.
  const cells = sweepCells(a);
  // The output folder is written into (force: earlier results are replaced cell by cell), and
  // must not hold the model or the texts.
  await AtomicOutputDir.check(a.out, a.model, {
    force: true,
    inputs: [{ path: a.calib, what: "calibration file" }, {
      path: a.evalText,
      what: "evaluation text",
    }],
  });
  // ... and against the model (pattern widths, layers, seqlen), still before any work.
  const { reader, config } = await openModel(a.model);
  reader.close();
  const seqlen = a.base.seqlen ?? defaultSeqlen(config);
  for (const [cell, options] of cells) {
    try {
      validateForModel(options, config, seqlen);
    } catch (e) {
      if (!(e instanceof OptionError) || !["sparsity", "pattern"].includes(e.option)) throw e;
      const setting = cell.slice(cell.indexOf(" ") + 1);
      throw new OptionError("sparsities", `sparsities has "${setting}": ${e.message}`);
    }
  }
  const gpu = a.gpu ?? await getGpu();
  await Deno.mkdir(a.out, { recursive: true });
  const dense = (await evaluateCheckpoint({
    model: a.model,
    text: a.evalText,
    seqlen: a.base.seqlen,
    maxWindows: a.maxWindows,
    gpu,
    ...(a.onProgress ? { onProgress: a.onProgress } : {}),
  })).perplexity;
  const rows: SweepRow[] = [];
  for (const setting of a.sparsities) {
    for (const method of a.methods) {
      const options = cells.get(`${method} ${setting}`)!;
      const out = join(a.out, `${method}-${setting.replace(":", "of")}`);
      const r = await pruneCheckpoint({
        model: a.model,
        out,
        calib: a.calib,
        evalText: a.evalText,
        maxWindows: a.maxWindows,
        force: true,
        options,
        densePerplexity: dense,
        gpu,
        ...(a.onProgress ? { onProgress: a.onProgress } : {}),
      });
      rows.push({
        method,
        setting,
        sparsity: r.summary.sparsity,
        perplexity: r.summary.pruned_perplexity!,
        seconds: r.summary.prune_seconds,
      });
      await Deno.writeTextFile(
        join(a.out, `${method}-${setting.replace(":", "of")}.report.json`),
        JSON.stringify(r, null, 2),
      );
      if (!a.keepModels) await Deno.remove(out, { recursive: true });
    }
  }
  const headers = [
    "method",
    ...a.sparsities.map((s) => `ppl @ ${s}`),
    ...a.sparsities.map((s) => `s @ ${s}`),
  ];
  const table = a.methods.map((m) => [
    m,
    ...a.sparsities.map((s) =>
      rows.find((r) => r.method === m && r.setting === s)!.perplexity.toFixed(3)
    ),
    ...a.sparsities.map((s) =>
      rows.find((r) => r.method === m && r.setting === s)!.seconds.toFixed(1)
    ),
  ]);
  const markdown = `dense perplexity: ${dense.toFixed(3)}\n\n` + formatMarkdownTable(headers, [
    ...table,
  ]);
  const result: SweepResult = { dense, rows, markdown };
  await Deno.writeTextFile(join(a.out, "bench.json"), JSON.stringify(result, null, 2));
  await Deno.writeTextFile(join(a.out, "bench.md"), markdown + "\n");
  await Deno.writeTextFile(
    join(a.out, "bench.svg"),
    sweepChartSvg(
      rows.filter((r) => !r.setting.includes(":")).map((r) => ({
        method: r.method,
        sparsity: Number(r.setting),
        perplexity: r.perplexity,
      })),
      dense,
      `Perplexity versus sparsity (${a.model})`,
    ),
  );
  return result;
}
