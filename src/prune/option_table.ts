/**
 * The option table: every pruning option once (kind, bounds, default, CLI flag and help), and
 * the input and resolved option types computed from it. Validation lives in `../options.ts`.
 *
 * The table is a literal (`as const`) rather than a table of zod schemas typed with
 * `z.input`/`z.output`: JSR wants an explicit type for everything a public type refers to, and
 * a zod schema's type can only be inferred, while a literal's type is the literal itself.
 *
 * @module
 */

import { SPARSELLM_DEFAULTS } from "./sparsellm/types.ts";
import { METHOD_NAMES, type SparsityPattern } from "./types.ts";
import type { QuantSpec } from "../quant/grid.ts";
import { MAX_SEED } from "../data/prng.ts";
import { SPARSEGPT_MAX_BLOCK } from "../kernels/constants.ts";

/** Most calibration windows (beyond, the sampling tables alone outgrow any machine). */
export const MAX_NSAMPLES = 1 << 20;
/** Longest window: positions are 32-bit in the kernels, and no model has more learned ones. */
export const MAX_SEQLEN = 1 << 20;
/** Largest damping fraction: beyond it the damped Hessian is the identity to float32 precision. */
export const MAX_DAMPING = 100;
/** Most SparseLLM iterations. */
export const MAX_ITERS = 1000;
/** Largest SparseLLM penalty (alpha, beta, gamma). */
export const MAX_PENALTY = 1e6;
/** Largest SparseLLM penalty growth factor per iteration. */
export const MAX_GROWTH = 100;
/** Largest OWL outlier multiple M. */
export const MAX_OWL_M = 1e6;

/**
 * How one option is read, checked and documented (an entry of {@linkcode PRUNE_OPTIONS}).
 *
 * @example An integer option with a default
 * ```ts
 * import type { OptionSpec } from "@sparsellm/sparsellm";
 *
 * const nsamples: OptionSpec = {
 *   kind: "int",
 *   min: 1,
 *   default: 128,
 *   flag: "nsamples",
 *   arg: "N",
 *   help: "calibration windows",
 * };
 * ```
 */
export interface OptionSpec {
  /**
   * The value: `int` or `number` (with the bounds below), `choice` (one of `values`), `text`,
   * `range` (an inclusive `[start, end]` of integers >= 0, on the command line `A-B` or `N`),
   * `size` (bytes as a number, or text such as `"512MiB"`; resolved to a number), `flag`
   * (a boolean switch; `arg` is then unused), `list` (a non-empty list of numbers, each within
   * the bounds below; on the command line comma-separated).
   */
  readonly kind: "int" | "number" | "choice" | "text" | "range" | "size" | "flag" | "list";
  /** The allowed values of a `choice`. */
  readonly values?: readonly string[];
  /** Smallest allowed value (inclusive). */
  readonly min?: number;
  /** Largest allowed value (inclusive): what the implementation can represent or run. */
  readonly max?: number;
  /** Values must be greater than this. */
  readonly gt?: number;
  /** Values must be less than this. */
  readonly lt?: number;
  /** The value when the option is not given (the option is then always set when resolved). */
  readonly default?: number | string;
  /** The option must be given. */
  readonly required?: boolean;
  /** The CLI flag, without the leading `--`. */
  readonly flag: string;
  /** The placeholder of the value in the CLI help (`N`, `F`, `N:M`…). */
  readonly arg: string;
  /** The CLI help text; `{values}` stands for the values of a `choice`. */
  readonly help: string;
  /** The CLI help's description of the default when it is not a plain value (an option key stands for that option's value). */
  readonly defaultHelp?: string;
}

/**
 * Every pruning option, once: the key is the library name (`resolvePruneOptions({ refitDamp })`),
 * the entry says what values it takes, its default, its CLI flag (`--refit-damp`) and help. The
 * CLI builds its `prune` flags, help text and mapping from this table.
 *
 * @example The CLI flag and default of an option
 * ```ts
 * import { PRUNE_OPTIONS } from "@sparsellm/sparsellm";
 *
 * const { flag, default: d } = PRUNE_OPTIONS.nsamples;
 * console.log(`--${flag} (default: ${d})`); // --nsamples (default: 128)
 * ```
 */
export const PRUNE_OPTIONS = {
  method: {
    kind: "choice",
    values: METHOD_NAMES,
    required: true,
    flag: "method",
    arg: "NAME",
    help: "{values}",
  },
  sparsity: {
    kind: "number",
    min: 0,
    lt: 1,
    flag: "sparsity",
    arg: "S",
    help: "unstructured sparsity in [0, 1)",
  },
  pattern: {
    kind: "text",
    flag: "pattern",
    arg: "N:M",
    help: "N zeros in every M consecutive input weights (2:4, 4:8, 3:4)",
  },
  layerSparsities: {
    kind: "list",
    min: 0,
    lt: 1,
    flag: "layer-sparsities",
    arg: "S,S,...",
    help: "sparsity of each decoder layer, one value in [0, 1) per layer (instead of " +
      "--sparsity; the report's target is the mean over the pruned layers)",
  },
  sparsityProfile: {
    kind: "choice",
    values: ["uniform", "owl"],
    default: "uniform",
    flag: "sparsity-profile",
    arg: "NAME",
    help: "how --sparsity is spread over the pruned layers: uniform (every layer at --sparsity) " +
      "or owl (OWL, Yin et al. 2024: layers with more outlier Wanda scores are pruned less, " +
      "the mean stays --sparsity; needs --calib; unstructured only; uniform measured better " +
      "on the valid split, see BENCHMARKS.md)",
  },
  owlM: {
    kind: "number",
    gt: 0,
    max: MAX_OWL_M,
    default: 5,
    flag: "owl-m",
    arg: "F",
    help: "OWL: a weight is an outlier when its Wanda score |W_ij|·‖X_j‖ exceeds F times the " +
      "mean score of its layer",
  },
  owlLambda: {
    kind: "number",
    min: 0,
    lt: 0.5,
    default: 0.08,
    flag: "owl-lambda",
    arg: "F",
    help: "OWL: the layers' sparsities differ by at most 2F (their mean is --sparsity)",
  },
  nsamples: {
    kind: "int",
    min: 1,
    default: 128,
    max: MAX_NSAMPLES,
    flag: "nsamples",
    arg: "N",
    help: "calibration windows",
  },
  seqlen: {
    kind: "int",
    min: 1,
    max: MAX_SEQLEN,
    flag: "seqlen",
    arg: "N",
    help: "tokens per window",
    defaultHelp: "the model's max positions, at most 2048",
  },
  seed: {
    kind: "int",
    min: 0,
    default: 0,
    max: MAX_SEED,
    flag: "seed",
    arg: "N",
    help: "calibration sampling seed",
  },
  blocksize: {
    kind: "int",
    min: 1,
    default: 128,
    max: SPARSEGPT_MAX_BLOCK,
    flag: "blocksize",
    arg: "N",
    help: "SparseGPT block size",
  },
  percdamp: {
    kind: "number",
    min: 0,
    default: 0.01,
    max: MAX_DAMPING,
    flag: "percdamp",
    arg: "F",
    help: "Hessian damping, fraction of mean(diag(H))",
  },
  layers: {
    kind: "range",
    flag: "layers",
    arg: "A-B",
    help: "prune only decoder layers A..B",
    defaultHelp: "all",
  },
  iters: {
    kind: "int",
    min: 0,
    default: SPARSELLM_DEFAULTS.iters,
    max: MAX_ITERS,
    flag: "iters",
    arg: "N",
    help: "SparseLLM outer iterations",
  },
  alpha: {
    kind: "number",
    gt: 0,
    default: SPARSELLM_DEFAULTS.alpha,
    max: MAX_PENALTY,
    flag: "alpha",
    arg: "F",
    help: "SparseLLM penalty on the linear constraints",
  },
  beta: {
    kind: "number",
    gt: 0,
    default: SPARSELLM_DEFAULTS.beta,
    max: MAX_PENALTY,
    flag: "beta",
    arg: "F",
    help: "SparseLLM weight of the output term",
  },
  gamma: {
    kind: "number",
    gt: 0,
    default: SPARSELLM_DEFAULTS.gamma,
    max: MAX_PENALTY,
    flag: "gamma",
    arg: "F",
    help: "SparseLLM penalty on the activation constraint",
  },
  growth: {
    kind: "number",
    min: 1,
    default: SPARSELLM_DEFAULTS.growth,
    max: MAX_GROWTH,
    flag: "growth",
    arg: "F",
    help: "SparseLLM penalty growth factor per iteration",
  },
  refitDamp: {
    kind: "number",
    gt: 0,
    max: MAX_DAMPING,
    flag: "refit-damp",
    arg: "F",
    help: "SparseLLM least-squares refits' pull towards the dense weights, fraction of " +
      "mean(diag(H))",
    defaultHelp: "percdamp",
  },
  ffnInput: {
    kind: "choice",
    values: ["pruned", "dense"],
    default: "dense",
    flag: "ffn-input",
    arg: "MODE",
    help: "SparseLLM FFN calibration: dense (the dense layer's FFN inputs and outputs, as the " +
      "reference does) or pruned (inputs from the pruned attention, target also compensates its " +
      "error; better at 80 % on opt-small, worse at 70 % and 90 %, see BENCHMARKS.md)",
  },
  solver: {
    kind: "choice",
    values: ["sparsegpt", "admm"],
    default: "admm",
    flag: "solver",
    arg: "NAME",
    help: "layer solver SparseLLM (re-)prunes each matrix with: {values} (admm measured " +
      "better on the valid split, see BENCHMARKS.md)",
  },
  admmIters: {
    kind: "int",
    min: 1,
    max: MAX_ITERS,
    default: 20,
    flag: "admm-iters",
    arg: "N",
    help: "ADMM iterations per matrix (the mask is reselected in the first min(15, N))",
  },
  admmRho: {
    kind: "number",
    gt: 0,
    max: MAX_PENALTY,
    default: 0.3,
    flag: "admm-rho",
    arg: "F",
    help: "ADMM penalty, relative to the normalised Hessian's unit diagonal",
  },
  wbits: {
    kind: "int",
    min: 2,
    lt: 9,
    flag: "wbits",
    arg: "N",
    help: "quantize kept weights to N bits (2..8): GPTQ for sparsegpt, admm, sparsellm, " +
      "round-to-nearest for magnitude, wanda; grids in quant_grids.safetensors",
    defaultHelp: "no quantization",
  },
  groupSize: {
    kind: "int",
    min: 1,
    max: MAX_SEQLEN,
    flag: "group-size",
    arg: "G",
    help: "with --wbits: one grid per G consecutive inputs of a row (128 is common)",
    defaultHelp: "one grid per row",
  },
  quantOrder: {
    kind: "choice",
    values: ["after", "joint"],
    default: "after",
    flag: "quant-order",
    arg: "MODE",
    help: "with --wbits (sparsegpt solver): after (prune, then GPTQ with the mask fixed; better " +
      "on the valid split) or joint (in the sweep, dense grids, as the SparseGPT reference)",
  },
  sym: {
    kind: "flag",
    flag: "sym",
    arg: "",
    help: "with --wbits: symmetric grids",
  },
  gpuMemory: {
    kind: "size",
    flag: "gpu-memory",
    arg: "SIZE",
    help: "GPU budget for data that grows with the calibration set (e.g. 512MiB, 4GiB): " +
      "calibration hidden states above half of it and SparseLLM's auxiliary variables above it " +
      "stay in host memory, with the same results",
    defaultHelp: "the adapter's maxBufferSize",
  },
} as const satisfies Record<string, OptionSpec>;

/**
 * The type of the value an option takes as input: `number` for `int` and `number`, the union of
 * the values of a `choice`, `string` for `text`, `[start, end]` for `range`, and
 * `number | string` for `size`, `number[]` for `list`.
 *
 * @example The input type of the method option
 * ```ts
 * import type { OptionInputValue, PRUNE_OPTIONS } from "@sparsellm/sparsellm";
 *
 * const m: OptionInputValue<typeof PRUNE_OPTIONS.method> = "wanda";
 * ```
 */
export type OptionInputValue<S extends OptionSpec> = S["kind"] extends "int" | "number" ? number
  : S["kind"] extends "flag" ? boolean
  : S["kind"] extends "list" ? number[]
  : S["kind"] extends "choice" ? NonNullable<S["values"]>[number]
  : S["kind"] extends "text" ? string
  : S["kind"] extends "range" ? [number, number]
  : number | string;

/**
 * The type of an option's resolved value: as {@linkcode OptionInputValue}, except that a `size`
 * resolves to a number of bytes.
 *
 * @example The resolved type of the GPU budget
 * ```ts
 * import type { OptionValue, PRUNE_OPTIONS } from "@sparsellm/sparsellm";
 *
 * const bytes: OptionValue<typeof PRUNE_OPTIONS.gpuMemory> = 512 * 2 ** 20;
 * ```
 */
export type OptionValue<S extends OptionSpec> = S["kind"] extends "size" ? number
  : OptionInputValue<S>;

/**
 * Options accepted by the pruner: one field per entry of {@linkcode PRUNE_OPTIONS} (see there
 * for what each means), all optional except `method`; give a `sparsity`, a `pattern` or
 * `layerSparsities`.
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
export type PruneOptionsInput =
  & {
    -readonly [
      K in keyof typeof PRUNE_OPTIONS as (typeof PRUNE_OPTIONS)[K] extends { required: true } ? K
        : never
    ]: OptionInputValue<(typeof PRUNE_OPTIONS)[K]>;
  }
  & {
    -readonly [
      K in keyof typeof PRUNE_OPTIONS as (typeof PRUNE_OPTIONS)[K] extends { required: true }
        ? never
        : K
    ]?: OptionInputValue<(typeof PRUNE_OPTIONS)[K]>;
  };

/**
 * Options after validation and defaults: every option of {@linkcode PRUNE_OPTIONS} with a
 * default (or required) is set, the others are optional; `sparsity` and `pattern` are resolved
 * into one {@linkcode SparsityPattern} (with `layerSparsities`, unstructured at the mean of the
 * pruned layers' values), and `gpuMemory` into bytes.
 *
 * @example Options with their defaults filled in
 * ```ts
 * import { type PruneOptions, resolvePruneOptions } from "@sparsellm/sparsellm";
 * import { targetSparsity } from "./types.ts";
 *
 * const options: PruneOptions = resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5 });
 * console.log(options.nsamples, options.blocksize, targetSparsity(options.pattern)); // 128 128 0.5
 * ```
 */
export type PruneOptions =
  & {
    -readonly [
      K in keyof typeof PRUNE_OPTIONS as K extends "sparsity" | "pattern" ? never
        : (typeof PRUNE_OPTIONS)[K] extends { required: true } | { default: unknown } ? K
        : never
    ]: OptionValue<(typeof PRUNE_OPTIONS)[K]>;
  }
  & {
    -readonly [
      K in keyof typeof PRUNE_OPTIONS as K extends "sparsity" | "pattern" ? never
        : (typeof PRUNE_OPTIONS)[K] extends { required: true } | { default: unknown } ? never
        : K
    ]?: OptionValue<(typeof PRUNE_OPTIONS)[K]>;
  }
  & {
    /** What to zero: from `sparsity` or `pattern`. */
    pattern: SparsityPattern;
    /** Quantization of the kept weights, from `wbits`, `groupSize` and `sym` (none without). */
    quant?: QuantSpec;
  };
