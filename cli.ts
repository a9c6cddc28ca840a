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
import {
  OptionError,
  type OptionSpec,
  parseLayerRange,
  PRUNE_OPTIONS,
  type PruneOptionsInput,
  resolvePruneOptions,
} from "./src/options.ts";
import { METHOD_NAMES, type MethodName } from "./src/prune/types.ts";
import { ProgressReporter } from "./src/app/report/progress.ts";
import { formatTable } from "./src/app/report/table.ts";
import { formatNumber } from "./src/app/report/format_number.ts";
import { inspectCheckpoint } from "./src/app/inspect.ts";
import { evaluateCheckpoint } from "./src/app/evaluate.ts";
import { pruneCheckpoint } from "./src/app/prune_checkpoint.ts";
import { runSweep } from "./src/app/sweep.ts";
import type { ProgressEvent } from "./src/prune/report.ts";

/** A usage error: exit code 2. */
export class UsageError extends Error {
  /** Creates a usage error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A command-line flag. */
interface Flag {
  /** The flag without `--`. */
  flag: string;
  /** The placeholder of its value; a flag without one is a switch. */
  arg?: string;
  /** Help text. */
  help: string;
  /** The library option or argument it sets, as library errors name it. */
  key?: string;
}

const HELP_COLUMN = 21;
const HELP_WIDTH = 100;

/** The pruning options of the option table as flags, in the table's order. */
const PRUNE_FLAGS: Flag[] = (Object.entries(PRUNE_OPTIONS) as [string, OptionSpec][]).map((
  [key, s],
) => {
  const def = s.defaultHelp !== undefined && Object.hasOwn(PRUNE_OPTIONS, s.defaultHelp)
    ? `--${(PRUNE_OPTIONS as Record<string, OptionSpec>)[s.defaultHelp].flag}`
    : s.defaultHelp ?? s.default;
  const help = s.help.replace("{values}", (s.values ?? []).join(" | ")) +
    (def !== undefined ? ` (default: ${def})` : "");
  return { flag: s.flag, arg: s.arg, help, key };
});

const MODEL: Flag = {
  flag: "model",
  arg: "DIR",
  key: "model",
  help: "Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)",
};
const CALIB: Flag = {
  flag: "calib",
  arg: "FILE",
  key: "calib",
  help: 'calibration text (.txt) or JSONL with a "text" field (not used by magnitude)',
};
const OUT: Flag = {
  flag: "out",
  arg: "DIR",
  key: "out",
  help: "output folder (must not exist or be empty, unless --force)",
};
const EVAL: Flag = {
  flag: "eval",
  arg: "FILE",
  key: "evalText",
  help: "evaluate dense and pruned perplexity on this text file",
};
const MAX_WINDOWS: Flag = {
  flag: "max-windows",
  arg: "N",
  key: "maxWindows",
  help: "evaluate at most N windows of the --eval text",
};
const FORCE: Flag = {
  flag: "force",
  key: "force",
  help: "replace a non-empty --out folder (and discard an interrupted run's state)",
};
const RESUME: Flag = {
  flag: "resume",
  key: "resume",
  help: "continue an interrupted run from its last finished layer (the state is saved after " +
    "every layer in .<out>.resume beside --out; the result is byte-identical to an " +
    "uninterrupted run)",
};
const JSON_OUT: Flag = { flag: "json", help: "print the result as one JSON object on stdout" };
const QUIET: Flag = { flag: "quiet", help: "no progress on stderr" };
const VERBOSE: Flag = { flag: "verbose", help: "stack traces on errors" };

/** A subcommand: its help and flags. */
interface Command {
  /** One line for the main help. */
  summary: string;
  /** The usage line(s). */
  usage: string;
  /** A paragraph between usage and options. */
  about?: string;
  /** Its flags, in help order. */
  flags: Flag[];
  /** Example command lines. */
  examples: string[];
}

const COMMANDS: Record<string, Command> = {
  prune: {
    summary: "prune a checkpoint folder into a new folder (magnitude, wanda, sparsegpt, sparsellm)",
    usage:
      `Usage: deno run -A cli.ts prune --model DIR --method METHOD (--sparsity S | --pattern N:M)
                                --calib FILE --out DIR [options]`,
    flags: [
      MODEL,
      CALIB,
      OUT,
      EVAL,
      MAX_WINDOWS,
      ...PRUNE_FLAGS,
      FORCE,
      RESUME,
      { ...JSON_OUT, help: "print the report summary as one JSON object on stdout" },
      QUIET,
      VERBOSE,
    ],
    examples: [
      "deno run -A cli.ts prune --model opt-125m --method sparsegpt --sparsity 0.5 --calib c4.txt --out opt-50",
      "deno run -A cli.ts prune --model llama --method wanda --pattern 2:4 --calib c4.jsonl --out llama-24",
    ],
  },
  eval: {
    summary: "perplexity of a checkpoint on a text file",
    usage:
      "Usage: deno run -A cli.ts eval --model DIR --text FILE [--seqlen N] [--max-windows N] [--json]",
    flags: [
      { ...MODEL, help: "checkpoint folder" },
      {
        flag: "text",
        arg: "FILE",
        key: "text",
        help: "evaluation text, read whole, cut into non-overlapping windows",
      },
      {
        flag: "seqlen",
        arg: "N",
        key: "seqlen",
        help: "window length (default: the model's max positions, at most 2048)",
      },
      { ...MAX_WINDOWS, help: "evaluate only the first N windows" },
      {
        ...JSON_OUT,
        help: 'print {"perplexity", "windows", "seqlen", "tokens", "seconds"} on stdout',
      },
      QUIET,
      VERBOSE,
    ],
    examples: [
      "deno run -A cli.ts eval --model testdata/models/opt-small --text testdata/kjv/test.txt --seqlen 256",
    ],
  },
  inspect: {
    summary: "architecture, sizes, dtypes and prunable matrices of a checkpoint",
    usage: "Usage: deno run -A cli.ts inspect --model DIR [--json]",
    about: "Prints architecture, layer count, hidden and FFN sizes, parameter count, dtypes and " +
      "which\nmatrices are prunable.",
    flags: [{ ...MODEL, help: "checkpoint folder" }, JSON_OUT, VERBOSE],
    examples: ["deno run -A cli.ts inspect --model testdata/models/opt-small"],
  },
  bench: {
    summary: "sweep methods x sparsities on a model and write a table and a chart",
    usage: `Usage: deno run -A cli.ts bench --model DIR --calib FILE --eval FILE --out DIR
                                [--methods a,b] [--sparsities 0.5,0.7,2:4] [options]`,
    about: "Prunes the model with every method at every sparsity, evaluates each, and writes\n" +
      "bench.json, bench.md and bench.svg (perplexity versus sparsity per method) into --out.",
    flags: [
      MODEL,
      CALIB,
      { ...EVAL, help: "evaluation text" },
      { ...OUT, help: "output folder for the tables, the chart and the per-run reports" },
      {
        flag: "methods",
        arg: "LIST",
        help: `methods to compare (default: ${METHOD_NAMES.join(",")})`,
      },
      {
        flag: "sparsities",
        arg: "LIST",
        help: "sparsities and patterns (default: 0.5,0.7,0.8,0.9,3:4)",
      },
      MAX_WINDOWS,
      ...PRUNE_FLAGS.filter((f) => !["method", "sparsity", "pattern"].includes(f.key!)),
      { ...FORCE, help: "replace earlier results in --out" },
      JSON_OUT,
      QUIET,
      VERBOSE,
    ],
    examples: [
      "deno run -A cli.ts bench --model testdata/models/opt-small --calib testdata/kjv/train.txt \\\n" +
      "    --eval testdata/kjv/test.txt --seqlen 256 --nsamples 32 --max-windows 32 --out out/bench",
    ],
  },
};

/** Wraps `text` into lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** The help of one flag: `  --flag ARG` padded to the help column, the text wrapped. */
function flagHelp(f: Flag): string {
  const name = `  --${f.flag}${f.arg ? " " + f.arg : ""}`;
  const text = wrap(f.help, HELP_WIDTH - HELP_COLUMN);
  const pad = " ".repeat(HELP_COLUMN);
  const first = name.length < HELP_COLUMN - 1
    ? name.padEnd(HELP_COLUMN) + text[0]
    : `${name}\n${pad}${text[0]}`;
  return [first, ...text.slice(1).map((l) => pad + l)].join("\n");
}

function commandHelp(c: Command): string {
  return [
    c.usage,
    ...(c.about ? ["", c.about] : []),
    "",
    "Options:",
    ...c.flags.map(flagHelp),
    "",
    c.examples.length > 1 ? "Examples:" : "Example:",
    ...c.examples.map((e) => `  ${e}`),
  ].join("\n");
}

const MAIN_HELP = `sparsellm — prune OPT and LLaMA checkpoints on WebGPU

Usage: deno run -A cli.ts <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`).join("\n")}

Run "deno run -A cli.ts <command> --help" for the options of a command.
Exit codes: 0 ok, 1 failure, 2 usage error, 3 no WebGPU adapter.`;

/** Library key -> flag, for every flag that sets a library option or argument. */
const FLAG_OF: Map<string, string> = new Map(
  Object.values(COMMANDS).flatMap((c) => c.flags).filter((f) => f.key).map((f) => [f.key!, f.flag]),
);

/**
 * A library error's message in the CLI's words: an {@linkcode OptionError}'s leading key and the
 * related options it names become flags (`refitDamp must be positive` → `--refit-damp must be
 * positive`), and boolean arguments written `key: true` become switches (`resume: true` →
 * `--resume`).
 */
function inFlagWords(e: unknown, message: string): string {
  let msg = message;
  if (e instanceof OptionError) {
    const flag = FLAG_OF.get(e.option);
    if (flag && msg.startsWith(e.option)) msg = `--${flag}${msg.slice(e.option.length)}`;
    for (const key of e.related) {
      const f = FLAG_OF.get(key);
      if (f) msg = msg.replace(new RegExp(`(?<![\\w-])${key}\\b`), `--${f}`);
    }
  }
  for (const [key, flag] of FLAG_OF) msg = msg.replaceAll(`${key}: true`, `--${flag}`);
  return msg;
}

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) {
    throw new UsageError(`--${name} must be a number (got "${v}")`);
  }
  return x;
}

function posInt(name: string, v: string | undefined): number | undefined {
  const x = num(name, v);
  if (x !== undefined && (!Number.isInteger(x) || x < 1)) {
    throw new UsageError(`--${name} must be a positive integer (got "${v}")`);
  }
  return x;
}

function need(name: string, v: string | undefined): string {
  if (v === undefined || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

type Values = Record<string, string | boolean | undefined>;

/** The pruning options given as flags, read as the option table says. */
function pruneOptionsFrom(v: Values): PruneOptionsInput {
  const o: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(PRUNE_OPTIONS) as [string, OptionSpec][]) {
    const text = v[s.flag];
    if (typeof text !== "string") continue;
    o[key] = s.kind === "int" || s.kind === "number"
      ? num(s.flag, text)
      : s.kind === "range"
      ? parseLayerRange(text)
      : text;
  }
  return o as PruneOptionsInput;
}

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
  out(
    `prunable     ${r.prunable.length} matrices, ${
      r.prunableParameters.toLocaleString("en-US")
    } weights: ${r.prunableRoles.join(", ")} in each layer`,
  );
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
    `perplexity ${r.perplexity.toFixed(4)} (${r.windows} windows x ${r.seqlen} tokens, ${
      r.seconds.toFixed(1)
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
    options,
    onProgress: progressPrinter(!!v.quiet),
    signal: interrupt.signal,
  });
  if (v.json) return out(JSON.stringify(report.summary));
  const rows = report.layers.flatMap((l) =>
    l.matrices.map((m) => [
      l.layer,
      m.role,
      `${m.rows}x${m.cols}`,
      (100 * m.sparsity).toFixed(2) + "%",
      formatNumber(m.relError),
      m.seconds.toFixed(2),
    ])
  );
  out(formatTable(["layer", "matrix", "shape", "sparsity", "rel. error", "seconds"], rows));
  const s = report.summary;
  out("");
  out(
    `method ${s.method}, achieved sparsity ${(100 * s.sparsity).toFixed(2)}% of prunable weights`,
  );
  if (s.dense_perplexity !== undefined) {
    out(
      `perplexity: dense ${s.dense_perplexity.toFixed(4)} -> pruned ${
        s.pruned_perplexity!.toFixed(4)
      }`,
    );
  }
  out(`pruning took ${s.prune_seconds.toFixed(1)} s; wrote ${s.out}`);
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
        options: Object.fromEntries([
          ["help", { type: "boolean", short: "h" }],
          ...command.flags.map((f) => [f.flag, { type: f.arg ? "string" : "boolean" }]),
        ]),
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
