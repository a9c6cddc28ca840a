/**
 * The CLI's commands and flags: the pruning flags come from the option table
 * (`PRUNE_OPTIONS`), the file flags are listed here; help texts, the mapping from parsed flags
 * to library options, and the rewriting of library option keys in error messages into flags.
 *
 * @module
 */

import { METHOD_NAMES } from "../src/prune/types.ts";
import {
  OptionError,
  type OptionSpec,
  parseLayerRange,
  PRUNE_OPTIONS,
  type PruneOptionsInput,
} from "../src/prune/options.ts";

/** A usage error: exit code 2. */
export class UsageError extends Error {
  /** Creates a usage error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A command-line flag. */
export interface Flag {
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
  return s.kind === "flag" ? { flag: s.flag, help, key } : { flag: s.flag, arg: s.arg, help, key };
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
const SAVE_QUANTIZED: Flag = {
  flag: "save-quantized",
  arg: "DIR",
  key: "saveQuantized",
  help: "with --wbits: also write the GPTQ checkpoint layout (qweight, qzeros, scales, g_idx; " +
    "2, 3, 4 or 8 bits) to DIR",
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
export interface Command {
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

export const COMMANDS: Record<string, Command> = {
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
      SAVE_QUANTIZED,
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
        key: "methods",
        arg: "LIST",
        help: `methods to compare (default: ${METHOD_NAMES.join(",")})`,
      },
      {
        flag: "sparsities",
        key: "sparsities",
        arg: "LIST",
        help: "sparsities and patterns (default: 0.5,0.7,0.8,0.9,3:4)",
      },
      MAX_WINDOWS,
      ...PRUNE_FLAGS.filter((f) =>
        !["method", "sparsity", "pattern", "layerSparsities"].includes(f.key!)
      ),
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

/** The help text of a command. */
export function commandHelp(c: Command): string {
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

/** The help text of the CLI itself. */
export const MAIN_HELP: string = `sparsellm — prune OPT and LLaMA checkpoints on WebGPU

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
export function inFlagWords(e: unknown, message: string): string {
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

/** Reads a number flag; throws {@linkcode UsageError} naming the flag when it is not a number. */
export function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) {
    throw new UsageError(`--${name} must be a number (got "${v}")`);
  }
  return x;
}

/** Reads a comma-separated list of numbers, e.g. `0.6,0.7,0.8`. */
export function numberList(name: string, v: string): number[] {
  const parts = v.split(",").map((p) => p.trim());
  if (parts.some((p) => p === "" || !Number.isFinite(Number(p)))) {
    throw new UsageError(`--${name} must be comma-separated numbers such as 0.6,0.7 (got "${v}")`);
  }
  return parts.map(Number);
}

/** Reads a positive integer flag. */
export function posInt(name: string, v: string | undefined): number | undefined {
  const x = num(name, v);
  if (x !== undefined && (!Number.isInteger(x) || x < 1)) {
    throw new UsageError(`--${name} must be a positive integer (got "${v}")`);
  }
  return x;
}

/** Reads a required flag. */
export function need(name: string, v: string | undefined): string {
  if (v === undefined || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

/** Parsed flag values by flag name. */
export type Values = Record<string, string | boolean | undefined>;

/** The pruning options given as flags, read as the option table says. */
export function pruneOptionsFrom(v: Values): PruneOptionsInput {
  const o: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(PRUNE_OPTIONS) as [string, OptionSpec][]) {
    const text = v[s.flag];
    if (s.kind === "flag") {
      if (text === true) o[key] = true;
      continue;
    }
    if (typeof text !== "string") continue;
    o[key] = s.kind === "int" || s.kind === "number"
      ? num(s.flag, text)
      : s.kind === "range"
      ? parseLayerRange(text)
      : s.kind === "list"
      ? numberList(s.flag, text)
      : text;
  }
  return o as PruneOptionsInput;
}

/** The `parseArgs` options of a command: its flags, and `--help`/`-h`. */
export function parseArgsOptions(
  c: Command,
): Record<string, { type: "string" | "boolean"; short?: string }> {
  return Object.fromEntries([
    ["help", { type: "boolean", short: "h" }],
    ...c.flags.map((f) => [f.flag, { type: f.arg ? "string" : "boolean" }]),
  ]);
}
