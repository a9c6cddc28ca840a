/**
 * Command line interface: `prune`, `eval`, `inspect` and `bench`.
 *
 * ```sh
 * deno run -A cli.ts prune --model DIR --method sparsellm --sparsity 0.7 --calib train.txt --out pruned
 * deno run -A cli.ts eval --model DIR --text test.txt --seqlen 256
 * deno run -A cli.ts inspect --model DIR
 * ```
 *
 * Exit codes: 0 ok, 1 failure, 2 usage error, 3 no WebGPU adapter.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { NoGpuAdapterError } from "./src/gpu/errors.ts";
import {
  OptionError,
  parseLayerRange,
  type PruneOptionsInput,
  resolvePruneOptions,
} from "./src/options.ts";
import type { MethodName } from "./src/prune/types.ts";
import { ProgressReporter } from "./src/report/progress.ts";
import { formatTable } from "./src/report/table.ts";
import { formatNumber } from "./src/report/format_number.ts";
import { inspectCheckpoint } from "./src/io/inspect.ts";
import { evaluateCheckpoint } from "./src/io/evaluate.ts";
import { pruneCheckpoint } from "./src/io/prune_checkpoint.ts";
import { runSweep } from "./src/io/sweep.ts";
import type { ProgressEvent } from "./src/prune/report.ts";

/** A usage error: exit code 2. */
export class UsageError extends Error {
  /** Creates a usage error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const HELP: Record<string, string> = {
  main: `sparsellm — prune OPT and LLaMA checkpoints on WebGPU

Usage: deno run -A cli.ts <command> [options]

Commands:
  prune     prune a checkpoint folder into a new folder (magnitude, wanda, sparsegpt, sparsellm)
  eval      perplexity of a checkpoint on a text file
  inspect   architecture, sizes, dtypes and prunable matrices of a checkpoint
  bench     sweep methods x sparsities on a model and write a table and a chart

Run "deno run -A cli.ts <command> --help" for the options of a command.
Exit codes: 0 ok, 1 failure, 2 usage error, 3 no WebGPU adapter.`,
  prune: `Usage: deno run -A cli.ts prune --model DIR --method METHOD (--sparsity S | --pattern N:M)
                                --calib FILE --out DIR [options]

Options:
  --model DIR        Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)
  --method NAME      magnitude | wanda | sparsegpt | sparsellm
  --sparsity S       unstructured sparsity in [0, 1)
  --pattern N:M      N zeros in every M consecutive input weights (2:4, 4:8, 3:4)
  --calib FILE       calibration text (.txt) or JSONL with a "text" field (not used by magnitude)
  --out DIR          output folder (must not exist or be empty, unless --force)
  --eval FILE        evaluate dense and pruned perplexity on this text file
  --nsamples N       calibration windows (default: 128)
  --seqlen N         tokens per window (default: the model's max positions, at most 2048)
  --seed N           calibration sampling seed (default: 0)
  --blocksize N      SparseGPT block size (default: 128)
  --percdamp F       Hessian damping, fraction of mean(diag(H)) (default: 0.01)
  --layers A-B       prune only decoder layers A..B (default: all)
  --iters N          SparseLLM outer iterations (default: 4)
  --alpha F --beta F --gamma F --growth F
                     SparseLLM penalties (defaults: 1, 1, 1, growth 2; see README)
  --refit-damp F     SparseLLM least-squares refits' pull towards the dense weights, fraction of
                     mean(diag(H)) (default: --percdamp)
  --ffn-input MODE   SparseLLM FFN calibration: dense (the dense layer's FFN inputs and outputs,
                     as the reference does; default) or pruned (inputs from the pruned attention,
                     target also compensates its error)
  --gpu-memory SIZE  GPU budget for data that grows with the calibration set (e.g. 512MiB,
                     4GiB): calibration hidden states above half of it and SparseLLM's auxiliary
                     variables above it stay in host memory (default: the adapter's maxBufferSize)
  --wbits N          quantize the kept weights to N bits (2-8): inside the SparseGPT sweep for
                     sparsegpt and sparsellm, round-to-nearest for magnitude and wanda; weights
                     are written on their grids in the input dtype, grids in quant_grids.safetensors
  --group-size G     with --wbits: one grid per G consecutive inputs of a row (default: per row)
  --sym              with --wbits: symmetric grids
  --save-quantized DIR
                     with --wbits: also write the GPTQ checkpoint layout (qweight, qzeros, scales,
                     g_idx; 2, 3, 4 or 8 bits) to DIR
  --max-windows N    evaluate at most N windows of the --eval text
  --force            replace a non-empty --out folder (and discard an interrupted run's state)
  --resume           continue an interrupted run from its last finished layer (the state is
                     saved after every layer in .<out>.resume beside --out; the result is
                     byte-identical to an uninterrupted run)
  --json             print the report summary as one JSON object on stdout
  --quiet            no progress on stderr
  --verbose          stack traces on errors

Examples:
  deno run -A cli.ts prune --model opt-125m --method sparsegpt --sparsity 0.5 --calib c4.txt --out opt-50
  deno run -A cli.ts prune --model llama --method wanda --pattern 2:4 --calib c4.jsonl --out llama-24`,
  eval:
    `Usage: deno run -A cli.ts eval --model DIR --text FILE [--seqlen N] [--max-windows N] [--json]

Options:
  --model DIR        checkpoint folder
  --text FILE        evaluation text, read whole, cut into non-overlapping windows
  --seqlen N         window length (default: the model's max positions, at most 2048)
  --max-windows N    evaluate only the first N windows
  --json             print {"perplexity", "windows", "seqlen", "tokens", "seconds"} on stdout

Example:
  deno run -A cli.ts eval --model testdata/models/opt-small --text testdata/kjv/test.txt --seqlen 256`,
  inspect: `Usage: deno run -A cli.ts inspect --model DIR [--json]

Prints architecture, layer count, hidden and FFN sizes, parameter count, dtypes and which
matrices are prunable.

Example:
  deno run -A cli.ts inspect --model testdata/models/opt-small`,
  bench: `Usage: deno run -A cli.ts bench --model DIR --calib FILE --eval FILE --out DIR
                                [--methods a,b] [--sparsities 0.5,0.7,2:4] [options]

Prunes the model with every method at every sparsity, evaluates each, and writes
bench.json, bench.md and bench.svg (perplexity versus sparsity per method) into --out.

Options: --nsamples --seqlen --seed --max-windows --iters as for prune; --json.

Example:
  deno run -A cli.ts bench --model testdata/models/opt-small --calib testdata/kjv/train.txt \\
    --eval testdata/kjv/test.txt --seqlen 256 --nsamples 32 --max-windows 32 --out out/bench`,
};

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

const COMMON = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  verbose: { type: "boolean" },
  model: { type: "string" },
} as const;

const PRUNE_OPTS = {
  ...COMMON,
  method: { type: "string" },
  sparsity: { type: "string" },
  pattern: { type: "string" },
  calib: { type: "string" },
  out: { type: "string" },
  eval: { type: "string" },
  nsamples: { type: "string" },
  seqlen: { type: "string" },
  seed: { type: "string" },
  blocksize: { type: "string" },
  percdamp: { type: "string" },
  layers: { type: "string" },
  iters: { type: "string" },
  alpha: { type: "string" },
  beta: { type: "string" },
  gamma: { type: "string" },
  growth: { type: "string" },
  "refit-damp": { type: "string" },
  "ffn-input": { type: "string" },
  "gpu-memory": { type: "string" },
  "max-windows": { type: "string" },
  wbits: { type: "string" },
  "group-size": { type: "string" },
  sym: { type: "boolean" },
  "save-quantized": { type: "string" },
  force: { type: "boolean" },
  resume: { type: "boolean" },
  methods: { type: "string" },
  sparsities: { type: "string" },
} as const;

function pruneOptionsFrom(v: Values): PruneOptionsInput {
  const o: PruneOptionsInput = { method: need("method", v.method as string) as MethodName };
  const set = <K extends keyof PruneOptionsInput>(k: K, x: PruneOptionsInput[K] | undefined) => {
    if (x !== undefined) o[k] = x;
  };
  set("sparsity", num("sparsity", v.sparsity as string));
  set("pattern", v.pattern as string | undefined);
  set("nsamples", num("nsamples", v.nsamples as string));
  set("seqlen", num("seqlen", v.seqlen as string));
  set("seed", num("seed", v.seed as string));
  set("blocksize", num("blocksize", v.blocksize as string));
  set("percdamp", num("percdamp", v.percdamp as string));
  set("iters", num("iters", v.iters as string));
  set("alpha", num("alpha", v.alpha as string));
  set("beta", num("beta", v.beta as string));
  set("gamma", num("gamma", v.gamma as string));
  set("growth", num("growth", v.growth as string));
  set("refitDamp", num("refit-damp", v["refit-damp"] as string));
  if (v["ffn-input"] !== undefined) o.ffnInput = v["ffn-input"] as "pruned" | "dense";
  if (v["gpu-memory"] !== undefined) o.gpuMemory = v["gpu-memory"] as string;
  set("wbits", num("wbits", v.wbits as string));
  set("groupSize", num("group-size", v["group-size"] as string));
  if (v.sym) o.sym = true;
  if (typeof v.layers === "string") {
    try {
      o.layers = parseLayerRange(v.layers);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return o;
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
  const input = pruneOptionsFrom(v);
  let options;
  try {
    options = resolvePruneOptions(input);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
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
  const methods = ((v.methods as string | undefined) ?? "magnitude,wanda,sparsegpt,sparsellm")
    .split(",").map((s) => s.trim()) as MethodName[];
  const sparsities = ((v.sparsities as string | undefined) ?? "0.5,0.7,0.8,0.9,3:4").split(",")
    .map((s) => s.trim());
  const base = pruneOptionsFrom({ ...v, method: "magnitude", sparsity: "0.5" });
  delete base.sparsity;
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
      out(HELP.main);
      return cmd === undefined ? 2 : 0;
    }
    if (!(cmd in HELP) || cmd === "main") throw new UsageError(`Unknown command "${cmd}"`);
    const options = cmd === "eval"
      ? {
        ...COMMON,
        text: { type: "string" },
        seqlen: { type: "string" },
        "max-windows": { type: "string" },
      } as const
      : cmd === "inspect"
      ? COMMON
      : PRUNE_OPTS;
    let values: Values;
    try {
      values = parseArgs({
        args: args.slice(1),
        options: options as Parameters<typeof parseArgs>[0] extends infer P
          ? P extends { options?: infer O } ? O : never
          : never,
        strict: true,
        allowPositionals: false,
      }).values as Values;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.help) {
      out(HELP[cmd]);
      return 0;
    }
    if (cmd === "inspect") await cmdInspect(values);
    else if (cmd === "eval") await cmdEval(values);
    else if (cmd === "prune") await cmdPrune(values);
    else await cmdBench(values);
    return 0;
  } catch (e) {
    const err = e as Error;
    const msg = verbose && err.stack ? err.stack : err.message;
    console.error(`error: ${msg.replaceAll("\n", " ")}`);
    if (Deno.env.get("SPARSELLM_STACK")) console.error((e as Error).stack);
    if (e instanceof UsageError || e instanceof OptionError) {
      console.error(
        `Run "deno run -A cli.ts ${cmd && cmd in HELP ? cmd + " " : ""}--help" for usage.`,
      );
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
