/**
 * The shapes SparseLLM works on: one feed-forward block with its calibration input, the options
 * of the alternating minimisation, and what it reports per iterate.
 *
 * @module
 */

import type { GpuTensor } from "../../gpu/tensor.ts";
import type { AuxGate } from "../../kernels/auxiliary.ts";
import type { QuantSpec } from "../../quant/grid.ts";
import type { QuantOutcome } from "../../quant/recorder.ts";
import type { MatrixSolver } from "../solver.ts";
import type { SparsityPattern } from "../types.ts";

/**
 * A linear layer on the GPU: weight [rows = outputs, cols = inputs], optional bias [rows].
 *
 * @example Upload fc1 of a 64-wide OPT layer
 * ```ts
 * import { getGpu } from "../../gpu/device.ts";
 * import { type FfnLinear } from "./types.ts";
 *
 * const gpu = await getGpu();
 * const fc1: FfnLinear = {
 *   weight: gpu.upload(new Float32Array(256 * 64), [256, 64], "fc1.weight"),
 *   bias: gpu.upload(new Float32Array(256), [256], "fc1.bias"),
 * };
 * ```
 */
export interface FfnLinear {
  /** Weight, pruned in place. */
  weight: GpuTensor;
  /** Optional bias (never changed). */
  bias?: GpuTensor;
}

/**
 * One chunk of calibration tokens: the FFN input rows.
 *
 * @example Four sequences of 128 tokens
 * ```ts
 * import { getGpu } from "../../gpu/device.ts";
 * import { type FfnChunk } from "./types.ts";
 *
 * const gpu = await getGpu();
 * const chunk: FfnChunk = { x: gpu.alloc([4 * 128, 64], "ffn_in"), tokens: 4 * 128, nseq: 4 };
 * ```
 */
export interface FfnChunk {
  /** FFN input (after the norm), [tokens, d]. */
  x: GpuTensor;
  /** Tokens in this chunk. */
  tokens: number;
  /** Sequences in this chunk. */
  nseq: number;
  /**
   * What the FFN should output for these tokens, without the second linear's bias, [tokens, d]
   * (not modified). Default: the dense FFN's own output on `x`.
   */
  target?: GpuTensor;
}

/**
 * The FFN of one decoder layer plus its calibration input.
 *
 * @example The feed-forward block of an OPT layer
 * ```ts
 * import { getGpu } from "../../gpu/device.ts";
 * import { type FfnChunk, type FfnLinear, type FfnProblem } from "./types.ts";
 *
 * declare const chunks: FfnChunk[];
 * declare const fc1: FfnLinear;
 * declare const fc2: FfnLinear;
 * const gpu = await getGpu();
 * const problem: FfnProblem = {
 *   kind: "relu",
 *   chunks,
 *   nseq: 128,
 *   d: 64,
 *   f: 256,
 *   up: fc1,
 *   down: fc2,
 *   hx: gpu.alloc([64, 64], "Hx"),
 * };
 * ```
 */
export interface FfnProblem {
  /** `relu` (OPT: fc1 → ReLU → fc2) or `glu` (LLaMA: gate(gate_proj)·up → down). */
  kind: "relu" | "glu";
  /** The GLU's gate function: `silu` (LLaMA, default) or `gelu-tanh` (Gemma's GeGLU). */
  gateFn?: AuxGate;
  /** Calibration input in chunks of tokens. */
  chunks: FfnChunk[];
  /** Number of calibration sequences (the Hessian normalisation). */
  nseq: number;
  /** Hidden size. */
  d: number;
  /** FFN width. */
  f: number;
  /** fc1 (OPT) or up_proj (LLaMA). */
  up: FfnLinear;
  /** gate_proj (LLaMA only). */
  gate?: FfnLinear;
  /** fc2 (OPT) or down_proj (LLaMA). */
  down: FfnLinear;
  /** Undamped Hessian of the input, (2/nseq)·XᵀX, [d, d]; not modified. */
  hx: GpuTensor;
}

/**
 * Options of {@linkcode sparsellmFfn}.
 *
 * @example Eight iterations at 70 % sparsity
 * ```ts
 * import { SPARSELLM_DEFAULTS, type SparseLLMOptions } from "./types.ts";
 *
 * const options: SparseLLMOptions = {
 *   ...SPARSELLM_DEFAULTS,
 *   pattern: { kind: "unstructured", sparsity: 0.7 },
 *   iters: 8,
 *   onIterate: (it) => console.log(it.iter, it.outputError),
 * };
 * ```
 */
export interface SparseLLMOptions {
  /** Target sparsity pattern. */
  pattern: SparsityPattern;
  /** Outer iterations after iterate 0 (default 4). */
  iters: number;
  /** Penalty on the linear constraints z = W1·x + b1, relative to γ. */
  alpha: number;
  /** Weight of the output term ‖T − W2·p‖². */
  beta: number;
  /** Penalty on the activation constraint p = φ(z), relative to mean(diag(Ŵ2Ŵ2ᵀ)). */
  gamma: number;
  /** Factor by which α and γ grow after every iteration (1 = constant). */
  growth: number;
  /** SparseGPT block size. */
  blocksize: number;
  /** SparseGPT / least-squares damping as a fraction of mean(diag(H)). */
  percdamp: number;
  /**
   * Strength of the least-squares refits' pull towards the dense weights, as a fraction of
   * mean(diag(H)) (default: `percdamp`). Larger values fit the calibration tokens less closely.
   */
  refitDamp?: number;
  /**
   * Stop after an iteration (from the second on) that improves the best real output error by
   * less than this fraction (default 0.01; 0 runs all `iters`).
   */
  tolerance: number;
  /** The solver that (re-)prunes each matrix (default: SparseGPT). */
  solver?: MatrixSolver;
  /** Quantize in every re-pruning (so the kept iterate is pruned and quantized). */
  quant?: QuantSpec;
  /** With `quant` and the SparseGPT solver: quantize after pruning (default) or in its sweep. */
  quantOrder?: "after" | "joint";
  /** Told the grids of a matrix the solver quantized. */
  onQuantized?: (w: GpuTensor, outcome: QuantOutcome) => void;
  /** Told which weights' current iterate is kept as the best so far. */
  onKeep?: (weights: readonly GpuTensor[]) => void;
  /** Told which weights were restored to the kept iterate. */
  onRestore?: (weights: readonly GpuTensor[]) => void;
  /** Called after every iterate (for progress reporting). */
  onIterate?: (it: FfnIterate) => void;
  /**
   * Largest number of bytes the auxiliary variables (FFN width × tokens each) may take on the
   * GPU; beyond it they are kept in host memory and moved chunk by chunk. Default: unlimited.
   */
  auxMemory?: number;
}

/**
 * One measured iterate.
 *
 * @example Log every iterate
 * ```ts
 * import { SPARSELLM_DEFAULTS } from "./types.ts";
 * import type { FfnIterate } from "@sparsellm/sparsellm";
 * import type { SparseLLMOptions } from "./types.ts";
 *
 * const log = (it: FfnIterate) =>
 *   console.log(`iterate ${it.iter}: error ${it.outputError.toExponential(3)} (${it.seconds} s)`);
 * const options: SparseLLMOptions = { ...SPARSELLM_DEFAULTS, pattern: { kind: "nm", n: 2, m: 4 } };
 * options.onIterate = log;
 * ```
 */
export interface FfnIterate {
  /** 0 = SparseGPT, 1.. = alternating iterations. */
  iter: number;
  /** Real output error ‖T − Ŵ2·φ(Ŵ1·x + b1)‖² / ‖T‖² on the calibration tokens. */
  outputError: number;
  /** Relaxed objective terms after the auxiliary updates, each divided by ‖T‖². */
  relaxed?: { output: number; activation: number; linear: number };
  /** α used. */
  alpha?: number;
  /** γ used. */
  gamma?: number;
  /** Seconds spent on this iterate. */
  seconds: number;
}

/**
 * What {@linkcode sparsellmFfn} did.
 *
 * @example How much SparseLLM gained over SparseGPT
 * ```ts
 * import type { FfnReport, PrunedModel } from "@sparsellm/sparsellm";
 *
 * declare const pruned: PrunedModel;
 * const report: FfnReport | undefined = pruned.layers[0].ffn;
 * if (report) {
 *   const gain = 1 - report.finalError / report.sparsegptError;
 *   console.log(`kept iterate ${report.kept}: ${(100 * gain).toFixed(1)} % below SparseGPT`);
 * }
 * ```
 */
export interface FfnReport {
  /** Every iterate, in order. */
  iterates: FfnIterate[];
  /** Index into `iterates` of the kept weights. */
  kept: number;
  /** SparseGPT's output error (iterate 0). */
  sparsegptError: number;
  /** Output error of the kept weights. */
  finalError: number;
  /** Largest damping fraction SparseGPT had to use (after retries). */
  maxDamping: number;
  /** Whether the auxiliary variables were kept in host memory (see `auxMemory`). */
  auxSpilled: boolean;
  /** Bytes the auxiliary variables took. */
  auxBytes: number;
  /**
   * Relative error ‖W2·A − Ŵ2·A‖²/‖W2·A‖² of the kept second linear alone, on the dense
   * activations A of this FFN's calibration inputs.
   */
  downRelError: number;
}

/**
 * Default SparseLLM options, chosen by measurement on the fixtures (see BENCHMARKS.md).
 *
 * @example Read the defaults
 * ```ts
 * import { SPARSELLM_DEFAULTS } from "./types.ts";
 *
 * console.log(SPARSELLM_DEFAULTS.iters, SPARSELLM_DEFAULTS.growth); // 4 2
 * ```
 */
export const SPARSELLM_DEFAULTS: Omit<SparseLLMOptions, "pattern"> = {
  iters: 4,
  alpha: 1,
  beta: 1,
  gamma: 1,
  growth: 2,
  blocksize: 128,
  percdamp: 0.01,
  tolerance: 0.01,
};
