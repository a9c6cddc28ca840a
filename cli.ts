/**
 * Command line interface: `prune`, `eval`, `inspect` and `bench`.
 *
 * ```sh
 * deno run -A cli.ts prune --model DIR --method sparsellm --sparsity 0.7 --calib train.txt --out pruned
 * deno run -A cli.ts eval --model DIR --text test.txt --seqlen 256
 * deno run -A cli.ts inspect --model DIR
 * ```
 *
 * The pruning flags, their help and their mapping to library options come from the option table
 * (`PRUNE_OPTIONS` in src/options.ts); library errors name options by their library key, which
 * the CLI replaces by the flag.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage error, 3 no WebGPU adapter.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { NoGpuAdapterError } from "./src/gpu/errors.ts";
import { OptionError, resolvePruneOptions } from "./src/prune/options.ts";
import { METHOD_NAMES, type MethodName } from "./src/prune/types.ts";
import {
  commandHelp,
  COMMANDS,
  inFlagWords,
  MAIN_HELP,
  need,
  parseArgsOptions,
  posInt,
  pruneOptionsFrom,
  UsageError,
  type Values,
} from "./cli/flags.ts";
import { ProgressReporter } from "./src/app/report/progress.ts";
import { formatTable } from "./src/app/report/table.ts";
import { formatNumber } from "./src/app/report/format_number.ts";
import { inspectCheckpoint } from "./src/app/inspect.ts";
import { evaluateCheckpoint } from "./src/app/evaluate.ts";
import { pruneCheckpoint } from "./src/app/prune_checkpoint.ts";
import { runSweep } from "./src/app/sweep.ts";
import { architectureLines } from "./src/models/describe.ts";
import type { ProgressEvent } from "./src/prune/report.ts";

export { UsageError } from "./cli/flags.ts";

function progressPrinter(quiet: boolean): (e: ProgressEvent) => void {
  if (quiet) return () => {};
  const reporter = new ProgressReporter({
    sink: Deno.stderr.writable,
    isTerminal: Deno.stderr.isTerminal(),
  });
  let phase = "";
  return (e) => {
    if (e.phase !== phase) {
      if (phase) reporter.finish();
      phase = e.phase;
      reporter.start(e.phase, e.total);
    }
    reporter.update(e.done, e.detail);
  };
}

/**
 * A report figure in fixed notation, or `-` when it is absent or not finite (report.json stores
 * non-finite figures as null), so that no printer fails on a missing field.
 */
function fixedOrDash(value: number | null | undefined, decimals: number, unit = ""): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(decimals) + unit : "-";
}

const encoder = new TextEncoder();
function out(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text + "\n"));
}

async function cmdInspect(v: Values): Promise<void> {
  const r = await inspectCheckpoint(need("model", v.model as string));
  if (v.json) return out(JSON.stringify(r));
  out(`model        ${r.dir}`);
  out(`architecture ${r.architecture} (model_type ${r.modelType})`);
  out(`layers       ${r.layers}`);
  out(`hidden       ${r.hiddenSize}   heads ${r.heads} (kv ${r.kvHeads})   ffn ${r.ffnSize}`);
  out(`vocab        ${r.vocabSize}   max positions ${r.maxPositions}`);
  out(`parameters   ${r.parameters.toLocaleString("en-US")}`);
  out(`dtypes       ${Object.entries(r.dtypes).map(([k, n]) => `${k} x${n}`).join(", ")}`);
  out(`files        ${r.files.join(", ")}`);
  if (r.quantization) {
    const q = r.quantization;
    out(
      `quantized    ${q.bits} bits, ${
        q.groupSize ? `groups of ${q.groupSize}` : "one grid per row"
      }${q.sym ? ", symmetric" : ""}, ${q.matrices} matrices (${
        q.format === "gptq" ? "GPTQ layout" : "weights on their grids"
      })`,
    );
  }
  out(
    `prunable     ${r.prunable.length} matrices, ${
      r.prunableParameters.toLocaleString("en-US")
    } weights: ${r.prunableRoles.join(", ")} in each layer`,
  );
  if (r.description) { for (const line of architectureLines(r.description)) out(line); }
  if (r.quantization) {
    const q = r.quantization;
    out(
      `quantized    ${q.bits} bits, ${
        q.groupSize ? `groups of ${q.groupSize}` : "one grid per row"
      }${q.sym ? ", symmetric" : ""}, ${q.matrices} matrices (${
        q.format === "gptq" ? "GPTQ layout" : "weights on their grids"
      })`,
    );
  }
}

async function cmdEval(v: Values): Promise<void> {
  const r = await evaluateCheckpoint({
    model: need("model", v.model as string),
    text: need("text", v.text as string),
    seqlen: posInt("seqlen", v.seqlen as string),
    maxWindows: posInt("max-windows", v["max-windows"] as string),
    onProgress: progressPrinter(!!v.quiet),
  });
  if (v.json) return out(JSON.stringify(r));
  out(
    `perplexity ${fixedOrDash(r.perplexity, 4)} (${r.windows} windows x ${r.seqlen} tokens, ${
      fixedOrDash(r.seconds, 1)
    } s)`,
  );
}

async function cmdPrune(v: Values): Promise<void> {
  const options = resolvePruneOptions(pruneOptionsFrom(v));
  using interrupt = interruptSignal();
  const report = await pruneCheckpoint({
    model: need("model", v.model as string),
    out: need("out", v.out as string),
    calib: options.method === "magnitude"
      ? v.calib as string | undefined
      : need("calib", v.calib as string),
    evalText: v.eval as string | undefined,
    maxWindows: posInt("max-windows", v["max-windows"] as string),
    force: !!v.force,
    resume: !!v.resume,
    ...(v["save-quantized"] !== undefined ? { saveQuantized: v["save-quantized"] as string } : {}),
    options,
    onProgress: progressPrinter(!!v.quiet),
    onNotice: (message) => console.error(`note: ${message}`),
    signal: interrupt.signal,
  });
  if (v.json) return out(JSON.stringify(report.summary));
  const rows = report.layers.flatMap((l) =>
    l.matrices.map((m) => [
      l.layer,
      m.role,
      `${m.rows}x${m.cols}`,
      fixedOrDash(m.sparsity === null ? null : 100 * m.sparsity, 2, "%"),
      // Without calibration data (magnitude) there is no relative error: report.json holds null.
      m.relError === null || !Number.isFinite(m.relError) ? "-" : formatNumber(m.relError),
      fixedOrDash(m.seconds, 2),
    ])
  );
  out(formatTable(["layer", "matrix", "shape", "sparsity", "rel. error", "seconds"], rows));
  const s = report.summary;
  out("");
  out(
    `method ${s.method}, achieved sparsity ${
      fixedOrDash(100 * s.sparsity, 2, "%")
    } of prunable weights`,
  );
  if (s.dense_perplexity !== undefined || s.pruned_perplexity !== undefined) {
    out(
      `perplexity: dense ${fixedOrDash(s.dense_perplexity, 4)} -> pruned ${
        fixedOrDash(s.pruned_perplexity, 4)
      }`,
    );
  }
  out(`pruning took ${fixedOrDash(s.prune_seconds, 1)} s; wrote ${s.out}`);
}

async function cmdBench(v: Values): Promise<void> {
  const methods = ((v.methods as string | undefined) ?? METHOD_NAMES.join(","))
    .split(",").map((s) => s.trim()) as MethodName[];
  const sparsities = ((v.sparsities as string | undefined) ?? "0.5,0.7,0.8,0.9,3:4").split(",")
    .map((s) => s.trim());
  const { method: _, ...base } = pruneOptionsFrom(v);
  const r = await runSweep({
    model: need("model", v.model as string),
    calib: need("calib", v.calib as string),
    evalText: need("eval", v.eval as string),
    out: need("out", v.out as string),
    methods,
    sparsities,
    base,
    maxWindows: posInt("max-windows", v["max-windows"] as string),
    force: !!v.force,
    onProgress: progressPrinter(!!v.quiet),
  });
  if (v.json) return out(JSON.stringify(r));
  out(r.markdown);
}

/**
 * Ctrl-C (SIGINT) aborts the run between steps, so the temporary output folder is removed and
 * the resume state stays consistent; a second Ctrl-C exits at once.
 */
function interruptSignal(): { signal: AbortSignal; [Symbol.dispose](): void } {
  const controller = new AbortController();
  const onInt = () => {
    if (controller.signal.aborted) Deno.exit(130);
    console.error("\ninterrupted: stopping after the current step (Ctrl-C again to exit now)");
    controller.abort(new InterruptedError());
  };
  let listening = false;
  try {
    Deno.addSignalListener("SIGINT", onInt);
    listening = true;
  } catch {
    // Signals are not available on this platform.
  }
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      if (listening) Deno.removeSignalListener("SIGINT", onInt);
    },
  };
}

/** The run was interrupted with Ctrl-C. */
class InterruptedError extends Error {
  constructor() {
    super("Interrupted");
    this.name = "InterruptedError";
  }
}

/** Runs the CLI with arguments; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const cmd = args[0];
  const verbose = args.includes("--verbose");
  try {
    if (cmd === undefined || cmd === "-h" || cmd === "--help" || cmd === "help") {
      out(MAIN_HELP);
      return cmd === undefined ? 2 : 0;
    }
    const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!command) throw new UsageError(`Unknown command "${cmd}"`);
    let values: Values;
    try {
      values = parseArgs({
        args: args.slice(1),
        options: parseArgsOptions(command),
        strict: true,
        allowPositionals: false,
      }).values as Values;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.help) {
      out(commandHelp(command));
      return 0;
    }
    if (cmd === "inspect") await cmdInspect(values);
    else if (cmd === "eval") await cmdEval(values);
    else if (cmd === "prune") await cmdPrune(values);
    else await cmdBench(values);
    return 0;
  } catch (e) {
    const err = e as Error;
    const msg = inFlagWords(e, verbose && err.stack ? err.stack : err.message);
    console.error(`error: ${msg.replaceAll("\n", " ")}`);
    if (Deno.env.get("SPARSELLM_STACK")) console.error((e as Error).stack);
    if (e instanceof UsageError || e instanceof OptionError) {
      const known = cmd !== undefined && Object.hasOwn(COMMANDS, cmd);
      console.error(`Run "deno run -A cli.ts ${known ? cmd + " " : ""}--help" for usage.`);
      return 2;
    }
    if (e instanceof NoGpuAdapterError) return 3;
    if (e instanceof InterruptedError) return 130;
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
