/**
 * Pruning options. Every option is written once, in {@linkcode PRUNE_OPTIONS} (src/options/
 * table.ts): its kind, bounds and default, its CLI flag and help text. Everything else is derived
 * from that table: the zod schema here that validates input and builds the resolved object, the
 * types {@linkcode PruneOptionsInput} and {@linkcode PruneOptions}, the messages of
 * {@linkcode OptionError}, and the CLI's flags, help and flag-to-option mapping. Adding an option
 * is one entry in the table.
 *
 * @module
 */

import { z } from "zod";
import type { ModelConfig } from "../models/config.ts";
import { methodFor } from "./methods.ts";
import { parseNM, type SparsityPattern } from "./types.ts";
import { OptionError } from "./option_error.ts";
import {
  type OptionSpec,
  PRUNE_OPTIONS,
  type PruneOptions,
  type PruneOptionsInput,
} from "./option_table.ts";

export { OptionError } from "./option_error.ts";
export * from "./option_table.ts";

const SPECS: Readonly<Record<string, OptionSpec>> = PRUNE_OPTIONS;

/** The value in a message: strings quoted, numbers and arrays as JSON. */
function show(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value) ?? String(value);
}

/** What a valid value of an option is, for messages: `a positive integer`, `in [0, 1)`… */
function requirement(s: OptionSpec): string {
  switch (s.kind) {
    case "choice":
      return `one of ${s.values!.join(", ")}`;
    case "text":
      return "text";
    case "range":
      return "[start, end] with integers 0 <= start <= end";
    case "size":
      return "a size such as 512MiB, 4GiB or 2000000000";
    case "flag":
      return "true or false";
    case "list":
      return `a non-empty list of numbers in [${s.min}, ${s.lt})`;
  }
  const what = s.kind === "int" ? "an integer" : "a number";
  if (s.kind === "int" && s.min !== undefined && s.lt !== undefined) {
    return `an integer from ${s.min} to ${s.lt - 1}`;
  }
  if (s.min !== undefined && s.lt !== undefined) return `in [${s.min}, ${s.lt})`;
  if (s.min !== undefined && s.max !== undefined) return `${what} from ${s.min} to ${s.max}`;
  if (s.kind === "int" && s.min === 1) return "a positive integer";
  if (s.gt === 0 && s.lt === undefined) {
    return s.max === undefined ? "positive" : `positive and at most ${s.max}`;
  }
  const bounds = [
    s.min !== undefined ? `>= ${s.min}` : "",
    s.max !== undefined ? `<= ${s.max}` : "",
    s.gt !== undefined ? `> ${s.gt}` : "",
    s.lt !== undefined ? `< ${s.lt}` : "",
  ].filter(Boolean).join(" and ");
  return bounds ? `${what} ${bounds}` : what;
}

/** The zod schema of one option's input value, with its default. */
function fieldSchema(s: OptionSpec): z.ZodType {
  let schema: z.ZodType;
  if (s.kind === "int" || s.kind === "number" || s.kind === "list") {
    let n = s.kind === "int" ? z.number().int() : z.number();
    if (s.min !== undefined) n = n.min(s.min);
    if (s.max !== undefined) n = n.max(s.max);
    if (s.gt !== undefined) n = n.gt(s.gt);
    if (s.lt !== undefined) n = n.lt(s.lt);
    schema = s.kind === "list" ? z.array(n).min(1) : n;
  } else if (s.kind === "choice") schema = z.enum(s.values as [string, ...string[]]);
  else if (s.kind === "flag") schema = z.boolean();
  else if (s.kind === "text") schema = z.string();
  else if (s.kind === "range") {
    schema = z.tuple([z.number().int().min(0), z.number().int().min(0)]).refine(([a, b]) => a <= b);
  } else schema = z.union([z.number(), z.string()]);
  if (s.default !== undefined) return schema.default(s.default as never);
  return s.required ? schema : schema.optional();
}

/** The input schema: one field per option, defaults applied, unknown keys refused. */
const INPUT_SCHEMA = z.strictObject(
  Object.fromEntries(Object.entries(SPECS).map(([key, s]) => [key, fieldSchema(s)])),
);

/**
 * The whole schema: validates the input against {@linkcode PRUNE_OPTIONS} and transforms it into
 * the resolved options (cross-option checks throw {@linkcode OptionError} from the transform).
 */
const SCHEMA = INPUT_SCHEMA.transform((o): PruneOptions => {
  const input = o as PruneOptionsInput & Record<string, unknown>;
  const list = input.layerSparsities;
  if (list !== undefined && (input.sparsity !== undefined || input.pattern !== undefined)) {
    throw new OptionError(
      "layerSparsities",
      "layerSparsities replaces sparsity and pattern: give only one of them",
      ["sparsity", "pattern"],
    );
  }
  if (list !== undefined && input.sparsityProfile !== "uniform") {
    throw new OptionError(
      "sparsityProfile",
      `sparsityProfile ${input.sparsityProfile} cannot be combined with layerSparsities, which ` +
        "sets every layer's sparsity itself",
      ["layerSparsities"],
    );
  }
  if (input.pattern !== undefined && input.sparsityProfile !== "uniform") {
    throw new OptionError(
      "sparsityProfile",
      `sparsityProfile ${input.sparsityProfile} needs an unstructured sparsity, not pattern ` +
        `${input.pattern} (an N:M pattern prunes every layer alike)`,
      ["pattern"],
    );
  }
  if (list === undefined && (input.sparsity === undefined) === (input.pattern === undefined)) {
    throw new OptionError(
      "sparsity",
      "sparsity or pattern: give exactly one (e.g. 0.5 or 2:4)",
      ["pattern"],
    );
  }
  const pattern: SparsityPattern = input.pattern !== undefined
    ? parseNM(input.pattern)
    : { kind: "unstructured", sparsity: input.sparsity ?? listTarget(list!, input.layers) };
  // In the table's order, with the pattern where sparsity and pattern are.
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SPECS)) {
    const value = input[key];
    if (key === "sparsity") out.pattern = pattern;
    if (key === "sparsity" || key === "pattern" || value === undefined) continue;
    out[key] = spec.kind === "size" ? parseByteSize(value as number | string, key) : value;
  }
  const r = out as PruneOptions;
  if (r.wbits === undefined && (r.groupSize !== undefined || r.sym !== undefined)) {
    throw new OptionError("groupSize", "groupSize and sym need wbits (e.g. wbits: 4)", [
      "sym",
      "wbits",
    ]);
  }
  if (r.wbits !== undefined) {
    r.quant = { bits: r.wbits, groupSize: r.groupSize ?? 0, sym: r.sym ?? false };
    const sweep = r.method === "sparsegpt" || r.method === "sparsellm" || r.method === "admm";
    if (sweep && r.groupSize !== undefined && r.blocksize % r.groupSize !== 0) {
      throw new OptionError(
        "groupSize",
        `groupSize ${r.groupSize} must divide blocksize ${r.blocksize} for ${r.method}`,
        ["blocksize"],
      );
    }
  }
  if (pattern.kind === "nm" && r.blocksize % pattern.m !== 0) {
    throw new OptionError(
      "blocksize",
      `blocksize ${r.blocksize} must be a multiple of M = ${pattern.m} for pattern ${input.pattern}`,
      ["pattern"],
    );
  }
  return r;
});

/**
 * The nominal target of a per-layer list: the mean over the layers `layers` selects (over all
 * values when the range lies beyond the list, which `validateForModel` then refuses).
 */
function listTarget(list: readonly number[], layers?: [number, number]): number {
  const used = layers ? list.slice(layers[0], layers[1] + 1) : list;
  const values = used.length > 0 ? used : list;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 2 ** 10,
  m: 1e6,
  mb: 1e6,
  mib: 2 ** 20,
  g: 1e9,
  gb: 1e9,
  gib: 2 ** 30,
  t: 1e12,
  tb: 1e12,
  tib: 2 ** 40,
};

/**
 * Parses a byte size such as `"512MiB"`, `"4GiB"`, `"2e9"` or `1073741824`.
 *
 * @example Parse gpuMemory values
 * ```ts
 * import { parseByteSize } from "./options.ts";
 *
 * parseByteSize("512MiB"); // 536870912
 * parseByteSize("1.5GB"); // 1500000000
 * ```
 *
 * @param value The size.
 * @param option The option it belongs to, named in errors (default `gpuMemory`).
 * @returns The size in bytes, rounded down.
 * @throws {OptionError} When the text is not a size or the size is not positive.
 */
export function parseByteSize(value: number | string, option = "gpuMemory"): number {
  let bytes: number;
  if (typeof value === "number") bytes = value;
  else {
    const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      throw new OptionError(
        option,
        `${option} must be a size such as 512MiB, 4GiB or 2000000000 (got ${show(value)})`,
      );
    }
    bytes = Number(m[1]) * unit;
  }
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw new OptionError(option, `${option} must be positive (got ${show(value)})`);
  }
  return Math.floor(bytes);
}

/**
 * Validates pruning options and fills in defaults.
 *
 * @example Validate command-line style options
 * ```ts
 * import { resolvePruneOptions } from "@sparsellm/sparsellm";
 *
 * const options = resolvePruneOptions({ method: "wanda", pattern: "2:4", layers: [0, 11] });
 * console.log(options.pattern); // { kind: "nm", n: 2, m: 4 }
 * ```
 *
 * @param input The options as given.
 * @returns The options with defaults, the pattern parsed and sizes in bytes.
 * @throws {OptionError} Naming the first bad option (by its key) and its value.
 */
export function resolvePruneOptions(input: PruneOptionsInput): PruneOptions {
  const r = SCHEMA.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    const unknown = String(issue.keys[0]);
    const near = closestKey(unknown);
    throw new OptionError(
      unknown,
      `${unknown} is not an option${near ? ` (did you mean ${near}?)` : ""}; the options are ` +
        Object.keys(SPECS).join(", "),
    );
  }
  const key = String(issue.path[0]);
  const spec = SPECS[key];
  const value = (input as Record<string, unknown>)[key];
  if (value === undefined && spec.required) {
    throw new OptionError(key, `${key} is required: ${requirement(spec)}`);
  }
  const at = issue.path[1];
  if (spec.kind === "list" && Array.isArray(value) && typeof at === "number") {
    throw new OptionError(
      key,
      `${key} has ${show(value[at])} for layer ${at}: every value must be in ` +
        `[${spec.min}, ${spec.lt}) (got ${show(value)})`,
    );
  }
  throw new OptionError(key, `${key} must be ${requirement(spec)} (got ${show(value)})`);
}

/** The option key nearest to a misspelt one (edit distance at most 2), if any. */
function closestKey(word: string): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j];
        row[j] = Math.min(
          row[j] + 1,
          row[j - 1] + 1,
          prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1),
        );
        prev = cur;
      }
    }
    return row[b.length];
  };
  let best: string | undefined, bestD = 3;
  for (const key of Object.keys(SPECS)) {
    const d = distance(word, key);
    if (d < bestD) [best, bestD] = [key, d];
  }
  return best;
}

/**
 * Parses a layer range written as text: `"3"`, `"0-11"`.
 *
 * @example Parse a layer range
 * ```ts
 * import { parseLayerRange } from "./options.ts";
 *
 * parseLayerRange("0-11"); // [0, 11]
 * parseLayerRange("3"); // [3, 3]
 * ```
 *
 * @param text The range.
 * @returns The inclusive range.
 * @throws {OptionError} When the text is not a range or the range is empty.
 */
export function parseLayerRange(text: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!m) {
    throw new OptionError("layers", `layers must be N or A-B, e.g. 0-11 (got ${show(text)})`);
  }
  const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) {
    const shown = text.trim().length > 40 ? `${text.trim().slice(0, 40)}...` : text.trim();
    throw new OptionError(
      "layers",
      `layers ${shown} is out of range: layer numbers must be below ${2 ** 53}`,
    );
  }
  if (a > b) {
    throw new OptionError("layers", `layers ${text.trim()} is empty: start ${a} > end ${b}`);
  }
  return [a, b];
}

/**
 * Checks options against a model: `layers` within the layer count, one `layerSparsities` value
 * per decoder layer, the pattern's M dividing the input width of every prunable matrix and within
 * the kernels' limits, `seqlen` within the learned positions of OPT models.
 *
 * @example Check options against a model before pruning
 * ```ts
 * import { resolvePruneOptions } from "@sparsellm/sparsellm";
 * import { parseModelConfig } from "../models/config.ts";
 * import { validateForModel } from "./options.ts";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/opt-tiny/config.json"));
 * const config = parseModelConfig(json, "testdata/models/opt-tiny/config.json");
 * const options = resolvePruneOptions({ method: "sparsegpt", pattern: "2:4", layers: [0, 1] });
 * validateForModel(options, config, 256); // throws OptionError when they do not fit
 * ```
 *
 * @param o The resolved options.
 * @param config The model.
 * @param seqlen The calibration window length that will be used.
 * @throws {OptionError} Naming the option that does not fit.
 */
export function validateForModel(o: PruneOptions, config: ModelConfig, seqlen: number): void {
  if (o.layers && o.layers[1] >= config.numLayers) {
    throw new OptionError(
      "layers",
      `layers ${o.layers[0]}-${o.layers[1]} is out of range: the model has ${config.numLayers} ` +
        `layers (0-${config.numLayers - 1})`,
    );
  }
  if (o.layerSparsities && o.layerSparsities.length !== config.numLayers) {
    throw new OptionError(
      "layerSparsities",
      `layerSparsities has ${o.layerSparsities.length} values (${o.layerSparsities.join(",")}), ` +
        `but the model has ${config.numLayers} decoder layers: give one value per layer`,
    );
  }
  if (config.modelType === "opt" && seqlen > config.maxPositions) {
    throw new OptionError(
      "seqlen",
      `seqlen ${seqlen} exceeds the model's ${config.maxPositions} learned positions`,
    );
  }
  const gs = o.quant?.groupSize ?? 0;
  if (gs > 0) {
    for (
      const w of new Set([config.hiddenSize, config.numHeads * config.headDim, config.ffnSize])
    ) {
      if (w % gs !== 0) {
        throw new OptionError(
          "groupSize",
          `groupSize ${gs} does not fit: a matrix has ${w} inputs, not a multiple of ${gs}`,
        );
      }
    }
  }
  if (o.pattern.kind === "nm") {
    const { n, m } = o.pattern;
    const maxM = methodFor(o.method).maxM;
    if (m > maxM) {
      throw new OptionError(
        "pattern",
        `pattern ${n}:${m}: M must be at most ${maxM} for ${o.method}`,
      );
    }
    const widths = new Set([
      config.hiddenSize,
      config.numHeads * config.headDim,
      config.ffnSize,
    ]);
    for (const w of widths) {
      if (w % m !== 0) {
        throw new OptionError(
          "pattern",
          `pattern ${n}:${m} does not fit: a prunable matrix has ${w} inputs, not a multiple ` +
            `of ${m}`,
        );
      }
    }
  }
}
