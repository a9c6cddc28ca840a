/**
 * What `pruneCheckpoint` reports (also written as `report.json`), and the helpers that build it.
 *
 * @module
 */

import type { PruneOptions } from "../prune/options.ts";
import type { LayerReport } from "../prune/report.ts";
import type { FfnReport } from "../prune/sparsellm/types.ts";

/**
 * The report summary (`prune --json` prints it).
 *
 * @example Compare dense and pruned perplexity
 * ```ts
 * import { type PruneCheckpointArgs, pruneCheckpoint } from "@sparsellm/sparsellm/io";
 * import type { PruneSummary } from "@sparsellm/sparsellm/io";
 *
 * declare const args: PruneCheckpointArgs;
 * const s: PruneSummary = (await pruneCheckpoint(args)).summary;
 * console.log(`${s.method} ${s.pattern}: ${s.dense_perplexity} -> ${s.pruned_perplexity}`);
 * ```
 */
export interface PruneSummary {
  /** Method. */
  method: string;
  /** `unstructured` or `N:M`. */
  pattern: string;
  /** Requested fraction of zeros. */
  target_sparsity: number;
  /** Achieved fraction of zeros over the pruned matrices. */
  sparsity: number;
  /** How the target is spread over the layers, when not uniformly: `owl` or `list`. */
  sparsity_profile?: "owl" | "list";
  /** With a non-uniform profile: the target sparsity of each pruned layer, in order. */
  layer_sparsities?: number[];
  /** Dense perplexity (with `evalText`). */
  dense_perplexity?: number;
  /** Pruned perplexity (with `evalText`). */
  pruned_perplexity?: number;
  /** Evaluation windows (with `evalText`). */
  eval_windows?: number;
  /** Window length used for evaluation. */
  eval_seqlen?: number;
  /** Calibration windows. */
  nsamples: number;
  /** Calibration window length. */
  seqlen: number;
  /** Pruned decoder layers. */
  layers_pruned: number[];
  /** Seconds spent in the pruning pipeline. */
  prune_seconds: number;
  /** Seconds for everything. */
  total_seconds: number;
  /** Largest single GPU buffer created (bytes). */
  largest_gpu_buffer_bytes: number;
  /** Peak bytes of GPU buffers in use in any layer (bytes). */
  peak_gpu_layer_bytes: number;
  /** Whether the calibration hidden states were kept in host memory (the `gpuMemory` option). */
  calibration_on_host: boolean;
  /** Output folder. */
  out: string;
}

/**
 * `report.json`.
 *
 * @example Read report.json of an earlier run
 * ```ts
 * import type { PruneReport } from "@sparsellm/sparsellm/io";
 *
 * const report: PruneReport = JSON.parse(await Deno.readTextFile("out/demo/report.json"));
 * for (const layer of report.layers) console.log(layer.layer, layer.ffn?.finalError);
 * ```
 */
export interface PruneReport {
  /** Summary. */
  summary: PruneSummary;
  /** Options as used. */
  options: PruneOptions & { seqlen: number };
  /** Input model folder. */
  model: string;
  /** Adapter description. */
  adapter: string;
  /** Per layer. */
  layers: LayerReport[];
}

/** A layer report whose non-finite errors are `null` (JSON has no NaN). */
export function jsonSafeLayer(l: LayerReport): LayerReport {
  const fix = (x: number) => (Number.isFinite(x) ? x : null) as number;
  const out: LayerReport = {
    ...l,
    matrices: l.matrices.map((m) => ({ ...m, relError: fix(m.relError) })),
  };
  if (l.ffn) out.ffn = l.ffn as FfnReport;
  return out;
}

/** Fraction of zeros over the pruned matrices of the given layer reports. */
export function overallSparsity(layers: LayerReport[]): number {
  let zeros = 0, total = 0;
  for (const l of layers) {
    if (!l.pruned) continue;
    for (const m of l.matrices) {
      zeros += Math.round(m.sparsity * m.rows * m.cols);
      total += m.rows * m.cols;
    }
  }
  return total ? zeros / total : 0;
}
