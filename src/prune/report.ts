/**
 * What a pruning run reports: progress events while it runs, and per layer and matrix what
 * happened (sparsity, reconstruction error, time, SparseLLM's iterates).
 *
 * @module
 */

import type { LinearRole } from "../models/arch.ts";
import type { FfnReport } from "./sparsellm/types.ts";
import type { MatrixQuantReport } from "../quant/apply.ts";

/**
 * A progress event: phase, counts, and what is being worked on.
 *
 * @example Print progress events
 * ```ts
 * import type { ProgressEvent } from "@sparsellm/sparsellm";
 *
 * const onProgress = (e: ProgressEvent) =>
 *   console.log(`${e.phase} ${e.done}/${e.total} ${e.detail ?? ""} (${e.elapsed.toFixed(1)} s)`);
 * onProgress({ phase: "prune", done: 0, total: 2, detail: "layer 0 fc1", layer: 0, elapsed: 1.5 });
 * ```
 */
export interface ProgressEvent {
  /** Phase name, e.g. `prune` or `eval`. */
  phase: string;
  /** Steps done in this phase. */
  done: number;
  /** Steps in this phase. */
  total: number;
  /** What is happening now, e.g. `layer 3 fc1`. */
  detail?: string;
  /** Layer index, when the event concerns one. */
  layer?: number;
  /** Matrix role, when the event concerns one. */
  matrix?: string;
  /** Seconds since the phase started. */
  elapsed: number;
}

/**
 * What happened to one matrix.
 *
 * @example Find the matrix with the largest reconstruction error
 * ```ts
 * import type { MatrixReport, PrunedModel } from "@sparsellm/sparsellm";
 *
 * declare const pruned: PrunedModel;
 * const matrices: MatrixReport[] = pruned.layers.flatMap((l) => l.matrices);
 * const worst = matrices.reduce((a, b) => (b.relError > a.relError ? b : a));
 * console.log(worst.name, worst.role, `${worst.rows}x${worst.cols}`, worst.relError);
 * ```
 */
export interface MatrixReport {
  /** Tensor name. */
  name: string;
  /** Role in the layer. */
  role: LinearRole;
  /** Output features. */
  rows: number;
  /** Input features. */
  cols: number;
  /** Fraction of exact zeros after pruning. */
  sparsity: number;
  /** ‖WX − ŴX‖²/‖WX‖² on the dense layer's calibration inputs (NaN without calibration). */
  relError: number;
  /** Seconds spent pruning it. */
  seconds: number;
  /** Damping fraction SparseGPT used (after retries), when it ran. */
  damping?: number;
  /** With `--wbits`: bits, groups, mask sparsity vs final zeros, rounding error, grids. */
  quant?: MatrixQuantReport;
}

/**
 * What happened to one decoder layer.
 *
 * @example Summarise each pruned layer
 * ```ts
 * import type { LayerReport, PrunedModel } from "@sparsellm/sparsellm";
 *
 * declare const pruned: PrunedModel;
 * const report: LayerReport = pruned.layers[0];
 * console.log(report.layer, report.pruned, report.seconds, report.ffn?.finalError);
 * ```
 */
export interface LayerReport {
  /** Layer index. */
  layer: number;
  /** Whether it was pruned (see `layers` option). */
  pruned: boolean;
  /** Per matrix. */
  matrices: MatrixReport[];
  /** Seconds for the whole layer (statistics, pruning, re-run). */
  seconds: number;
  /**
   * The layer's own target sparsity under a non-uniform profile (`layerSparsities` or
   * `sparsityProfile: "owl"`); absent when every layer has the options' target.
   */
  targetSparsity?: number;
  /** With `sparsityProfile: "owl"`: the layer's outlier ratio on the dense model. */
  outlierRatio?: number;
  /** SparseLLM's per-iterate record of the feed-forward block. */
  ffn?: FfnReport;
  /** Peak bytes of GPU buffers in use while this layer was processed. */
  gpuPeakBytes?: number;
  /** Bytes of all GPU buffers the pool holds (in use or free) at the end of this layer. */
  gpuPoolBytes?: number;
}

/**
 * Pruned tensors of one layer, float32 row-major, keyed by tensor name.
 *
 * @example Lay pruned tensors over the dense weights
 * ```ts
 * import { OverlayWeightSource } from "../pruner.ts";
 * import type { PrunedTensors, WeightSource } from "@sparsellm/sparsellm";
 *
 * declare const dense: WeightSource;
 * const tensors: PrunedTensors = new Map();
 * tensors.set("model.decoder.layers.0.fc1.weight", new Float32Array(256 * 64));
 * const pruned = new OverlayWeightSource(dense, tensors);
 * ```
 */
export type PrunedTensors = Map<string, Float32Array>;

/**
 * What a pruning pipeline run returns.
 *
 * @example Report on a finished run
 * ```ts
 * import { type PipelineArgs, prunePipeline } from "./pipeline.ts";
 * import { type PipelineResult } from "./report.ts";
 *
 * declare const args: PipelineArgs;
 * const result: PipelineResult = await prunePipeline(args);
 * console.log(`${result.layers.length} layers, sparsity ${result.sparsity}, ${result.seconds} s`);
 * ```
 */
export interface PipelineResult {
  /** Per layer. */
  layers: LayerReport[];
  /** Total seconds. */
  seconds: number;
  /** Pruned weights / prunable weights. */
  sparsity: number;
  /** Whether the calibration hidden states were kept in host memory (see `gpuMemory`). */
  calibrationOnHost: boolean;
}
