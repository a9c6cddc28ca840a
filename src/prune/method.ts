/**
 * What a pruning method is to the pipeline: it names the statistics it needs from the dense
 * layer, then prunes one decoder layer's weights in place. The pipeline owns the loop over layers
 * (statistics, reconstruction errors, sparsity counts, the next layer's inputs); a method owns
 * its math. Adding a method is one file implementing {@linkcode PruneMethod} plus one line in
 * `methods.ts`.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { ChunkStore } from "../gpu/chunk_store.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import type { ActivationTap, Architecture, LinearSpec } from "../models/arch.ts";
import type { LayerWeights } from "../models/layer_weights.ts";
import type { PruneOptions } from "./options.ts";
import type { MatrixReport } from "./report.ts";
import type { FfnReport } from "./sparsellm/types.ts";
import type { MatrixSolver } from "./solver.ts";
import type { MethodName } from "./types.ts";
import type { QuantRecorder } from "../quant/recorder.ts";

/** What a method asks the pipeline to collect while it runs the dense layer. */
export interface StatsRequest {
  /** Taps whose input Hessian the method does not need (all others get one). */
  skipHessians?: readonly ActivationTap[];
  /** Mean squared column norms of every tap's input (Wanda's statistic). */
  columnNorms?: boolean;
  /** Copies of the FFN input rows of every calibration chunk. */
  ffnInputs?: boolean;
  /** Keep the dense layer's outputs in the calibration store's `out` field. */
  denseOutputs?: boolean;
}

/** Statistics of one dense layer on the calibration tokens (all owned by the pipeline). */
export interface LayerStats {
  /** Undamped input Hessians (2/nseq)·XᵀX, full, per tap. */
  hessians: Map<ActivationTap, GpuTensor>;
  /** Mean squared column norms per tap (when asked for). */
  columnNorms: Map<ActivationTap, GpuTensor>;
  /** FFN input rows per calibration chunk (when asked for). */
  ffnInputs: GpuTensor[];
}

/** The calibration hidden states of a layer: its inputs and outputs, per chunk of sequences. */
export type CalibrationStore = ChunkStore<"hidden" | "out">;

/** Everything a method may use to prune one decoder layer. */
export interface LayerJob {
  /** Device. */
  gpu: Gpu;
  /** Model architecture. */
  arch: Architecture;
  /** The layer's weights on the GPU (pruned in place). */
  weights: LayerWeights;
  /** Layer index. */
  layer: number;
  /** Validated options. */
  options: PruneOptions;
  /** Tokens per calibration sequence. */
  seqlen: number;
  /** Calibration sequences (0 without calibration). */
  nseq: number;
  /** The layer's calibration inputs (and dense outputs when asked for). */
  calib: CalibrationStore;
  /** Statistics of the dense layer. */
  stats: LayerStats;
  /** Reports what is being pruned, e.g. `q` or `ffn iterate 2`. */
  progress: (detail: string) => void;
  /** The layer solver the options choose (for methods that re-prune with one). */
  solver: MatrixSolver;
  /** Cancels between matrices. */
  signal?: AbortSignal;
  /** With `options.quant`: where quantizing solvers leave each matrix's grids. */
  quant?: QuantRecorder;
}

/** What a method did to one layer. */
export interface LayerOutcome {
  /** Per pruned matrix (`relError` NaN where the pipeline should measure it). */
  matrices: MatrixReport[];
  /** SparseLLM's record of the feed-forward block. */
  ffn?: FfnReport;
}

/** A pruning method. */
export interface PruneMethod {
  /** The name options and reports use. */
  readonly name: MethodName;
  /** Whether it needs calibration data. */
  readonly needsCalibration: boolean;
  /** Largest M of an N:M pattern it supports. */
  readonly maxM: number;
  /** Statistics the method needs from the dense layer, for these options. */
  stats(options: PruneOptions): StatsRequest;
  /** Prunes the layer's weights in place. */
  pruneLayer(job: LayerJob): Promise<LayerOutcome>;
}

/** A fresh report for a matrix of the layer, before it is pruned. */
export function matrixReport(job: LayerJob, spec: LinearSpec): MatrixReport {
  const lw = job.weights.linear(spec.role);
  return {
    name: spec.weight.replace("{i}", String(job.layer)),
    role: spec.role,
    rows: lw.rows,
    cols: lw.cols,
    sparsity: 0,
    relError: NaN,
    seconds: 0,
  };
}

/**
 * Prunes the given matrices one by one with `pruneOne` (which records or awaits its GPU work),
 * timing each after its work has finished. `pruneOne` may return the damping it used.
 */
export async function pruneEach(
  job: LayerJob,
  specs: readonly LinearSpec[],
  pruneOne: (spec: LinearSpec) => Promise<number | void> | number | void,
): Promise<MatrixReport[]> {
  const out: MatrixReport[] = [];
  for (const spec of specs) {
    job.signal?.throwIfAborted();
    job.progress(spec.role);
    const t0 = performance.now();
    const m = matrixReport(job, spec);
    const damping = await pruneOne(spec);
    if (typeof damping === "number") m.damping = damping;
    await job.gpu.sync();
    m.seconds = (performance.now() - t0) / 1000;
    out.push(m);
  }
  return out;
}
