/**
 * Non-uniform layer sparsity: the target of every decoder layer, from an explicit list
 * (`layerSparsities`) or from OWL (`sparsityProfile: "owl"`), whose outlier ratios come from a
 * pass over the dense model before any pruning: the calibration windows run through the dense
 * layers one by one, and each pruned layer's ratio is computed from its weights and the column
 * norms of its linears' inputs (Wanda's statistic) by {@linkcode layerOutlierRatio}.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Architecture } from "../models/arch.ts";
import { loadLayerWeights } from "../models/layer_weights.ts";
import { runLayer } from "../models/layer.ts";
import type { WeightSource } from "../models/weights.ts";
import { collectLayerStats } from "./layer_stats.ts";
import type { CalibrationStore } from "./method.ts";
import { OptionError } from "./option_error.ts";
import type { PruneOptions } from "./options.ts";
import { layerOutlierRatio, type OwlMatrix, owlSparsities } from "./owl.ts";
import { targetSparsity } from "./types.ts";

/** The per-layer targets of a non-uniform profile. */
export interface LayerTargets {
  /** Target sparsity per decoder layer (NaN for the layers the options do not prune). */
  sparsities: number[];
  /** With OWL: the outlier ratio per decoder layer (NaN for the layers not pruned). */
  outlierRatios?: number[];
}

/** What the OWL pass needs of the pipeline. */
export interface OwlPassArgs {
  /** Device. */
  gpu: Gpu;
  /** Model architecture. */
  arch: Architecture;
  /** Dense weights. */
  source: WeightSource;
  /** Validated options (`sparsityProfile: "owl"`). */
  options: PruneOptions;
  /** Holds the embedded calibration windows in `hidden` (overwritten by the pass). */
  calib: CalibrationStore;
  /** Tokens per calibration window. */
  seqlen: number;
  /** Calibration windows (0: the pass refuses to run). */
  nseq: number;
  /** Decoder layers pruned, in order. */
  pruned: readonly number[];
  /** Reports the layer being scored. */
  progress?: (layer: number) => void;
  /** Cancels between layers. */
  signal?: AbortSignal;
}

/**
 * The outlier ratio of every pruned layer of the dense model (NaN for the other layers), from the
 * calibration windows embedded in `calib.hidden`: each layer's column norms are accumulated while
 * the dense layer runs, and its output becomes the next layer's input.
 *
 * @example OWL ratios of the layers a run prunes
 * ```ts ignore
 * const ratios = await owlOutlierRatios({ gpu, arch, source, options, calib, seqlen, nseq,
 *   pruned: [0, 1, 2, 3] });
 * ```
 */
export async function owlOutlierRatios(a: OwlPassArgs): Promise<number[]> {
  const { gpu, arch, calib, seqlen } = a;
  if (a.nseq === 0) {
    throw new OptionError("sparsityProfile", "sparsityProfile owl needs calibration windows", [
      "calib",
    ]);
  }
  const ratios = new Array<number>(arch.numLayers).fill(NaN);
  const last = Math.max(...a.pruned);
  const taps = ["attn_in", "attn_out", "ffn_in", "ffn_act"] as const;
  for (let layer = 0; layer <= last; layer++) {
    a.signal?.throwIfAborted();
    a.progress?.(layer);
    const w = await loadLayerWeights(gpu, arch, a.source, layer);
    try {
      if (a.pruned.includes(layer)) {
        const stats = await collectLayerStats(gpu, arch, w, layer, calib, seqlen, {
          skipHessians: taps,
          columnNorms: true,
          denseOutputs: layer < last,
        });
        try {
          const matrices: OwlMatrix[] = [];
          for (const spec of arch.linears) {
            const lw = w.linear(spec.role);
            matrices.push({
              weights: await gpu.read(lw.weight),
              rows: lw.rows,
              cols: lw.cols,
              colSq: await gpu.read(stats.columnNorms.get(spec.input)!),
            });
          }
          ratios[layer] = layerOutlierRatio(matrices, a.options.owlM);
        } finally {
          stats.free();
        }
      } else if (layer < last) {
        await calib.each(`layer${layer}/owl`, { reads: ["hidden"], writes: ["out"] }, (b, c) => {
          runLayer(gpu, b, arch, w, c.hidden, c.out, seqlen);
        });
      }
      if (layer < last) calib.swap("hidden", "out");
    } finally {
      w.release();
    }
    await gpu.sync();
    gpu.pool.trim();
  }
  return ratios;
}

/**
 * The decoder layers' targets under the options' profile: undefined for `uniform` (every layer
 * at the options' sparsity), the list for `layerSparsities`, OWL's sparsities (mean = the target
 * over the pruned layers) from the outlier ratios `ratios` for `owl`.
 *
 * @example Targets from an explicit list
 * ```ts
 * import { resolvePruneOptions } from "@sparsellm/sparsellm";
 * import { layerTargetsFrom } from "./layer_targets.ts";
 *
 * const o = resolvePruneOptions({ method: "wanda", layerSparsities: [0.5, 0.6, 0.7, 0.8] });
 * layerTargetsFrom(o, 4, [0, 1, 2, 3])?.sparsities; // [0.5, 0.6, 0.7, 0.8]
 * ```
 *
 * @throws {OptionError} Naming `owlLambda` when OWL would put a layer outside [0, 1).
 */
export function layerTargetsFrom(
  o: PruneOptions,
  numLayers: number,
  pruned: readonly number[],
  ratios?: readonly number[],
): LayerTargets | undefined {
  const sparsities = new Array<number>(numLayers).fill(NaN);
  if (o.layerSparsities) {
    for (const l of pruned) sparsities[l] = o.layerSparsities[l];
    return { sparsities };
  }
  if (o.sparsityProfile !== "owl") return undefined;
  if (!ratios) throw new RangeError("OWL layer targets need the layers' outlier ratios");
  const s = targetSparsity(o.pattern);
  let owl: number[];
  try {
    owl = owlSparsities(pruned.map((l) => ratios[l]), s, o.owlLambda);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new OptionError(
      "owlLambda",
      `owlLambda ${o.owlLambda} is too large for sparsity ${s}: ${e.message}`,
      ["sparsity"],
    );
  }
  pruned.forEach((l, i) => (sparsities[l] = owl[i]));
  return { sparsities, outlierRatios: [...ratios] };
}
