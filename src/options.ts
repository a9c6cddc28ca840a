/**
 * Pruning options: defaults of the reference tools, validated with zod, with messages that
 * name the option and the offending value.
 *
 * @module
 */

import { z } from "zod";
import { SPARSELLM_DEFAULTS } from "./prune/sparsellm/types.ts";
import type { ModelConfig } from "./models/config.ts";
import { SPARSEGPT_MAX_M } from "./kernels/sparsegpt.ts";
import { MAX_NM_M } from "./kernels/mask.ts";
import { type MethodName, parseNM, type SparsityPattern } from "./prune/types.ts";
import type { QuantSpec } from "./quant/grid.ts";

/**
 * A bad option value (the CLI maps it to exit code 2). The message names the option.
 *
 * @example Report a bad option value
 * ```ts
 * import { OptionError, resolvePruneOptions } from "@sparsellm/sparsellm";
 *
 * try {
 *   resolvePruneOptions({ method: "wanda", sparsity: 1.5 });
 * } catch (e) {
 *   if (!(e instanceof OptionError)) throw e;
 *   console.error(e.message); // --sparsity must be in [0, 1)
 * }
 * ```
 */
export class OptionError extends RangeError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "OptionError";
  }
}

/**
 * Options accepted by the pruner (all optional except `method` and a sparsity or pattern).
 *
 * @example SparseLLM at 2:4 on 64 windows of 256 tokens
 * ```ts
 * import { type PruneOptionsInput, SparseLLMPruner } from "@sparsellm/sparsellm";
 *
 * const input: PruneOptionsInput = {
 *   method: "sparsellm",
 *   pattern: "2:4",
 *   nsamples: 64,
 *   seqlen: 256,
 *   iters: 4,
 * };
 * const pruner = new SparseLLMPruner(input);
 * ```
 */
export interface PruneOptionsInput {
  /** Pruning method. */
  method: MethodName;
  /** Unstructured sparsity in [0, 1). */
  sparsity?: number;
  /** N:M pattern such as `"2:4"` (N zeros in every M consecutive input weights). */
  pattern?: string;
  /** Calibration windows (default 128). */
  nsamples?: number;
  /** Tokens per calibration window (default: the model's maximum, at most 2048). */
  seqlen?: number;
  /** Random seed for calibration sampling (default 0). */
  seed?: number;
  /** SparseGPT block size (default 128). */
  blocksize?: number;
  /** Hessian damping as a fraction of mean(diag(H)) (default 0.01). */
  percdamp?: number;
  /** Inclusive range of decoder layers to prune, e.g. `[0, 1]` (default all). */
  layers?: [number, number];
  /** SparseLLM outer iterations (default 4). */
  iters?: number;
  /** SparseLLM penalty on the linear constraints. */
  alpha?: number;
  /** SparseLLM weight of the output term. */
  beta?: number;
  /** SparseLLM penalty on the activation constraint. */
  gamma?: number;
  /** SparseLLM penalty growth factor per iteration. */
  growth?: number;
  /** SparseLLM refits' damping towards the dense weights (default: `percdamp`). */
  refitDamp?: number;
  /**
   * SparseLLM: which FFN input to calibrate on. `dense` (default): the dense layer's FFN inputs
   * and outputs, as the reference code does; `pruned`: the inputs the pruned attention
   * produces, with a target that also compensates the attention's error (better at 80 % on
   * opt-small, worse at 70 % and 90 %; see BENCHMARKS.md).
   */
  ffnInput?: "pruned" | "dense";
  /**
   * GPU memory budget for data that grows with the calibration set, in bytes or as text such as
   * `"512MiB"`, `"4GiB"`: the calibration hidden states (both copies) when they exceed half of it,
   * and SparseLLM's auxiliary variables when they exceed it, are kept in host memory and moved in
   * chunks (same results). Default: the adapter's `maxBufferSize`.
   */
  gpuMemory?: number | string;
  /**
   * Quantize the kept weights to this many bits (2 to 8): inside the SparseGPT sweep for
   * `sparsegpt` and `sparsellm`, round-to-nearest after pruning for `magnitude` and `wanda`.
   */
  wbits?: number;
  /** With `wbits`: inputs per group of a row sharing one grid (default: one grid per row). */
  groupSize?: number;
  /** With `wbits`: symmetric grids. */
  sym?: boolean;
}

/**
 * Options after validation and defaults.
 *
 * @example Options with their defaults filled in
 * ```ts
 * import { type PruneOptions, resolvePruneOptions, targetSparsity } from "@sparsellm/sparsellm";
 *
 * const options: PruneOptions = resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5 });
 * console.log(options.nsamples, options.blocksize, targetSparsity(options.pattern)); // 128 128 0.5
 * ```
 */
export interface PruneOptions {
  /** Pruning method. */
  method: MethodName;
  /** What to zero. */
  pattern: SparsityPattern;
  /** Calibration windows. */
  nsamples: number;
  /** Tokens per window (undefined: the model's maximum, at most 2048). */
  seqlen?: number;
  /** Sampling seed. */
  seed: number;
  /** SparseGPT block size. */
  blocksize: number;
  /** Damping fraction. */
  percdamp: number;
  /** Inclusive layer range (undefined: all layers). */
  layers?: [number, number];
  /** SparseLLM iterations. */
  iters: number;
  /** SparseLLM α. */
  alpha: number;
  /** SparseLLM β. */
  beta: number;
  /** SparseLLM γ. */
  gamma: number;
  /** SparseLLM penalty growth. */
  growth: number;
  /** SparseLLM refit damping (undefined: `percdamp`). */
  refitDamp?: number;
  /** SparseLLM FFN calibration input. */
  ffnInput: "pruned" | "dense";
  /** GPU memory budget in bytes (undefined: the adapter's `maxBufferSize`). */
  gpuMemory?: number;
  /** Quantization of the kept weights (undefined: none). */
  quant?: QuantSpec;
}

const positiveInt = (name: string) =>
  z.number({ error: `--${name} must be a number` }).int(`--${name} must be an integer`).positive(
    `--${name} must be positive`,
  );
const positive = (name: string) =>
  z.number({ error: `--${name} must be a number` }).positive(`--${name} must be positive`);

const schema = z.object({
  method: z.enum(["magnitude", "wanda", "sparsegpt", "sparsellm"], {
    error: (iss) =>
      `--method must be one of magnitude, wanda, sparsegpt, sparsellm (got ${
        JSON.stringify(iss.input)
      })`,
  }),
  sparsity: z.number({ error: "--sparsity must be a number" }).min(
    0,
    "--sparsity must be in [0, 1)",
  )
    .lt(1, "--sparsity must be in [0, 1)").optional(),
  pattern: z.string().optional(),
  nsamples: positiveInt("nsamples").default(128),
  seqlen: positiveInt("seqlen").optional(),
  seed: z.number().int("--seed must be an integer").min(0, "--seed must be >= 0").default(0),
  blocksize: positiveInt("blocksize").default(128),
  percdamp: z.number().min(0, "--percdamp must be >= 0").default(0.01),
  layers: z.tuple([z.number().int().min(0), z.number().int().min(0)]).optional(),
  iters: z.number().int("--iters must be an integer").min(0, "--iters must be >= 0").default(
    SPARSELLM_DEFAULTS.iters,
  ),
  alpha: positive("alpha").default(SPARSELLM_DEFAULTS.alpha),
  beta: positive("beta").default(SPARSELLM_DEFAULTS.beta),
  gamma: positive("gamma").default(SPARSELLM_DEFAULTS.gamma),
  growth: z.number().min(1, "--growth must be >= 1").default(SPARSELLM_DEFAULTS.growth),
  refitDamp: z.number({ error: "--refit-damp must be a number" }).positive(
    "--refit-damp must be positive",
  ).optional(),
  ffnInput: z.enum(["pruned", "dense"], { error: "--ffn-input must be pruned or dense" }).default(
    "dense",
  ),
  gpuMemory: z.union([z.number(), z.string()]).optional(),
  wbits: z.number({ error: "--wbits must be a number" }).int("--wbits must be an integer")
    .min(2, "--wbits must be from 2 to 8").max(8, "--wbits must be from 2 to 8").optional(),
  groupSize: positiveInt("group-size").optional(),
  sym: z.boolean().optional(),
});

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
 * @example Parse --gpu-memory values
 * ```ts
 * import { parseByteSize } from "@sparsellm/sparsellm";
 *
 * parseByteSize("512MiB"); // 536870912
 * parseByteSize("1.5GB"); // 1500000000
 * ```
 */
export function parseByteSize(value: number | string, flag = "--gpu-memory"): number {
  let bytes: number;
  if (typeof value === "number") bytes = value;
  else {
    const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      throw new OptionError(
        `Invalid ${flag} "${value}": expected a size such as 512MiB, 4GiB or 2000000000`,
      );
    }
    bytes = Number(m[1]) * unit;
  }
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw new OptionError(`Invalid ${flag} ${JSON.stringify(value)}: it must be positive`);
  }
  return Math.floor(bytes);
}

/**
 * Validates pruning options and fills in defaults. Throws `RangeError` naming the option.
 *
 * @example Validate command-line style options
 * ```ts
 * import { resolvePruneOptions } from "@sparsellm/sparsellm";
 *
 * const options = resolvePruneOptions({ method: "wanda", pattern: "2:4", layers: [0, 11] });
 * console.log(options.pattern); // { kind: "nm", n: 2, m: 4 }
 * ```
 */
export function resolvePruneOptions(input: PruneOptionsInput): PruneOptions {
  const r = schema.safeParse(input);
  if (!r.success) throw new OptionError(r.error.issues.map((i) => i.message).join("; "));
  const o = r.data;
  if ((o.sparsity === undefined) === (o.pattern === undefined)) {
    throw new OptionError("Give exactly one of --sparsity (e.g. 0.5) or --pattern (e.g. 2:4)");
  }
  const pattern: SparsityPattern = o.pattern !== undefined
    ? parseNM(o.pattern)
    : { kind: "unstructured", sparsity: o.sparsity! };
  if (pattern.kind === "nm" && o.blocksize % pattern.m !== 0) {
    throw new OptionError(
      `--blocksize ${o.blocksize} must be a multiple of M = ${pattern.m} for --pattern ${o.pattern}`,
    );
  }
  if (o.layers && o.layers[0] > o.layers[1]) {
    throw new OptionError(`--layers ${o.layers[0]}-${o.layers[1]} is empty: start > end`);
  }
  const out: PruneOptions = {
    method: o.method,
    pattern,
    nsamples: o.nsamples,
    seed: o.seed,
    blocksize: o.blocksize,
    percdamp: o.percdamp,
    iters: o.iters,
    alpha: o.alpha,
    beta: o.beta,
    gamma: o.gamma,
    growth: o.growth,
    ffnInput: o.ffnInput,
  };
  if (o.seqlen !== undefined) out.seqlen = o.seqlen;
  if (o.layers) out.layers = [o.layers[0], o.layers[1]];
  if (o.gpuMemory !== undefined) out.gpuMemory = parseByteSize(o.gpuMemory);
  if (o.refitDamp !== undefined) out.refitDamp = o.refitDamp;
  if (o.wbits === undefined && (o.groupSize !== undefined || o.sym !== undefined)) {
    throw new OptionError("--group-size and --sym need --wbits (e.g. --wbits 4)");
  }
  if (o.wbits !== undefined) {
    out.quant = { bits: o.wbits, groupSize: o.groupSize ?? 0, sym: o.sym ?? false };
    const sweep = o.method === "sparsegpt" || o.method === "sparsellm";
    if (sweep && o.groupSize !== undefined && o.blocksize % o.groupSize !== 0) {
      throw new OptionError(
        `--group-size ${o.groupSize} must divide --blocksize ${o.blocksize} for ${o.method}`,
      );
    }
  }
  return out;
}

/**
 * Parses `--layers` text: `"3"`, `"0-11"`.
 *
 * @example Parse a --layers value
 * ```ts
 * import { parseLayerRange } from "@sparsellm/sparsellm";
 *
 * parseLayerRange("0-11"); // [0, 11]
 * parseLayerRange("3"); // [3, 3]
 * ```
 */
export function parseLayerRange(text: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!m) throw new OptionError(`Invalid --layers "${text}": expected N or A-B, e.g. 0-11`);
  const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
  if (a > b) throw new OptionError(`Invalid --layers "${text}": start ${a} > end ${b}`);
  return [a, b];
}

/**
 * Checks options against a model: `--layers` within the layer count, `--pattern` M dividing the
 * input width of every prunable matrix and within the kernels' limits, `--seqlen` within the
 * learned positions of OPT models.
 *
 * @example Check options against a model before pruning
 * ```ts
 * import { parseModelConfig, resolvePruneOptions, validateForModel } from "@sparsellm/sparsellm";
 *
 * const json = JSON.parse(await Deno.readTextFile("testdata/models/opt-tiny/config.json"));
 * const config = parseModelConfig(json, "testdata/models/opt-tiny/config.json");
 * const options = resolvePruneOptions({ method: "sparsegpt", pattern: "2:4", layers: [0, 1] });
 * validateForModel(options, config, 256); // throws OptionError when they do not fit
 * ```
 */
export function validateForModel(o: PruneOptions, config: ModelConfig, seqlen: number): void {
  if (o.layers && o.layers[1] >= config.numLayers) {
    throw new OptionError(
      `--layers ${o.layers[0]}-${o.layers[1]} is out of range: the model has ${config.numLayers} ` +
        `layers (0-${config.numLayers - 1})`,
    );
  }
  if (config.modelType === "opt" && seqlen > config.maxPositions) {
    throw new OptionError(
      `--seqlen ${seqlen} exceeds the model's ${config.maxPositions} learned positions`,
    );
  }
  const gs = o.quant?.groupSize ?? 0;
  if (gs > 0) {
    for (
      const w of new Set([config.hiddenSize, config.numHeads * config.headDim, config.ffnSize])
    ) {
      if (w % gs !== 0) {
        throw new OptionError(
          `--group-size ${gs} does not fit: a matrix has ${w} inputs, not a multiple of ${gs}`,
        );
      }
    }
  }
  if (o.pattern.kind === "nm") {
    const { n, m } = o.pattern;
    const maxM = o.method === "sparsegpt" || o.method === "sparsellm" ? SPARSEGPT_MAX_M : MAX_NM_M;
    if (m > maxM) {
      throw new OptionError(`--pattern ${n}:${m}: M must be at most ${maxM} for ${o.method}`);
    }
    const widths = new Set([
      config.hiddenSize,
      config.numHeads * config.headDim,
      config.ffnSize,
    ]);
    for (const w of widths) {
      if (w % m !== 0) {
        throw new OptionError(
          `--pattern ${n}:${m} does not fit: a prunable matrix has ${w} inputs, not a multiple of ${m}`,
        );
      }
    }
  }
}
