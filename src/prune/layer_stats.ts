/**
 * The pipeline's pass over the dense layer: it runs the layer on every calibration chunk and
 * accumulates, for every activation tap, what the method asked for (input Hessians, column
 * norms, copies of the FFN inputs, the dense outputs).
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import { type GpuTensor, view } from "../gpu/tensor.ts";
import type { ActivationTap, Architecture } from "../models/arch.ts";
import type { LayerWeights } from "../models/layer_weights.ts";
import { runLayer } from "../models/layer.ts";
import { HessianAccumulator } from "./hessian.ts";
import type { CalibrationStore, LayerStats, StatsRequest } from "./method.ts";
import { ColumnNormAccumulator } from "./stats.ts";

const TAPS: ActivationTap[] = ["attn_in", "attn_out", "ffn_in", "ffn_act"];

/** Input width of an activation tap. */
export function tapWidth(arch: Architecture, tap: ActivationTap): number {
  if (tap === "attn_out") return arch.numHeads * arch.headDim;
  return tap === "ffn_act" ? arch.ffnSize : arch.hiddenSize;
}

/** Statistics of one layer, with what they own. */
export interface CollectedStats extends LayerStats {
  /** Returns every buffer to the pool. */
  free(): void;
}

/** Collects the statistics `request` names from the dense layer on every calibration chunk. */
export async function collectLayerStats(
  gpu: Gpu,
  arch: Architecture,
  w: LayerWeights,
  layer: number,
  calib: CalibrationStore,
  seqlen: number,
  request: StatsRequest,
): Promise<CollectedStats> {
  const accs = new Map<ActivationTap, HessianAccumulator>();
  const norms = new Map<ActivationTap, ColumnNormAccumulator>();
  const ffnInputs: GpuTensor[] = [];
  const stats: CollectedStats = {
    hessians: new Map(),
    columnNorms: new Map(),
    ffnInputs,
    free() {
      for (const acc of accs.values()) acc.free();
      for (const n of norms.values()) n.free();
      gpu.free(...ffnInputs);
    },
  };
  try {
    for (const t of TAPS) {
      if (request.skipHessians?.includes(t)) continue;
      const acc = new HessianAccumulator(gpu, tapWidth(arch, t), { label: `H/${t}` });
      accs.set(t, acc);
      stats.hessians.set(t, acc.H);
    }
    if (request.columnNorms) {
      for (const t of TAPS) {
        const n = new ColumnNormAccumulator(gpu, tapWidth(arch, t));
        norms.set(t, n);
        stats.columnNorms.set(t, n.colSq);
      }
    }
    await calib.each(`layer${layer}/stats`, {
      reads: ["hidden"],
      writes: request.denseOutputs ? ["out"] : [],
      // SparseGPT reads the lower triangle only; the error report and SparseLLM need all of H.
      finish: (b) => {
        for (const acc of accs.values()) acc.finalize(b);
      },
    }, (b, c) => {
      runLayer(gpu, b, arch, w, c.hidden, c.out, seqlen, {
        onInput(tap, x, rows, cols, batch: Batch) {
          accs.get(tap)?.add(batch, view(x, [rows, cols]), c.nseq);
          norms.get(tap)?.add(batch, x, c.nseq, rows);
          if (request.ffnInputs && tap === "ffn_in") {
            const keep = gpu.alloc([rows, cols], `ffn_in/${ffnInputs.length}`);
            batch.copy(x.buffer, 0, keep.buffer, 0, rows * cols * 4);
            ffnInputs.push(keep);
          }
        },
      });
    });
    return stats;
  } catch (e) {
    stats.free();
    throw e;
  }
}
