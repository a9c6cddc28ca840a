/**
 * What SparseLLM's feed-forward block is asked to reproduce. By default (`ffnInput: "dense"`, as
 * the reference code does) it sees the dense layer's FFN inputs and reproduces the dense FFN's
 * own output. With `ffnInput: "pruned"` it sees the inputs the pruned attention produces and is
 * asked for the dense layer's output, so that it also compensates the attention's error:
 * target = (dense layer out) − (residual stream entering the FFN after the pruned attention) − b2.
 *
 * @module
 */

import type { Batch } from "../../gpu/device.ts";
import { type GpuTensor, view } from "../../gpu/tensor.ts";
import { addScaled } from "../../kernels/add_scaled.ts";
import { runLayer } from "../../models/layer.ts";
import { HessianAccumulator } from "../hessian.ts";
import type { LayerJob } from "../method.ts";
import type { FfnChunk } from "./types.ts";

/** The FFN's calibration problem: its input chunks and their Hessian. */
export interface FfnTarget {
  /** Input rows (and targets, when not the dense FFN's own output) per chunk. */
  chunks: FfnChunk[];
  /** Undamped Hessian of the inputs. */
  hx: GpuTensor;
  /** Returns what this target allocated to the pool. */
  free(): void;
}

/** The dense inputs the pipeline kept, with the dense FFN's output as the target. */
export function denseTarget(job: LayerJob): FfnTarget {
  return {
    chunks: job.stats.ffnInputs.map((x, i) => {
      const { tokens, nseq } = job.calib.chunks[i];
      return { x, tokens, nseq };
    }),
    hx: job.stats.hessians.get("ffn_in")!,
    free() {},
  };
}

/**
 * Runs the pruned attention on the layer's inputs and builds the FFN inputs, their Hessian and
 * the targets from the dense outputs the pipeline kept (`denseOutputs`).
 */
export async function prunedAttentionTarget(
  job: LayerJob,
  downBias: GpuTensor | undefined,
): Promise<FfnTarget> {
  const { gpu, arch, weights: w, calib, seqlen } = job;
  const d = arch.hiddenSize;
  const acc = new HessianAccumulator(gpu, d, { label: "H/ffn_in_pruned" });
  const xs: GpuTensor[] = [];
  const targets: GpuTensor[] = [];
  const res = gpu.alloc([Math.max(...calib.chunks.map((c) => c.tokens)), d], "ffn/res");
  try {
    await calib.each(`layer${job.layer}/pruned-attn`, {
      reads: ["hidden", "out"],
      writes: [],
      finish: (b) => acc.finalize(b),
    }, (b, c) => {
      const n = c.tokens;
      runLayer(gpu, b, arch, w, c.hidden, res, seqlen, {
        attentionOnly: true,
        onInput(tap, x, rows, cols, batch: Batch) {
          if (tap !== "ffn_in") return;
          acc.add(batch, view(x, [rows, cols]), c.nseq);
          const keep = gpu.alloc([rows, cols], "ffn_in/pruned");
          batch.copy(x.buffer, 0, keep.buffer, 0, rows * cols * 4);
          xs.push(keep);
        },
      });
      const target = gpu.alloc([n, d], "ffn/target");
      b.copy(c.out.buffer, 0, target.buffer, 0, n * d * 4);
      addScaled(b, { out: target, x: res, count: n * d, scale: -1 });
      if (downBias) {
        addScaled(b, { out: target, x: downBias, count: n * d, period: d, scale: -1 });
      }
      targets.push(target);
    });
  } catch (e) {
    gpu.free(...xs, ...targets);
    acc.free();
    throw e;
  } finally {
    gpu.free(res);
  }
  return {
    chunks: xs.map((x, i) => ({
      x,
      tokens: calib.chunks[i].tokens,
      nseq: calib.chunks[i].nseq,
      target: targets[i],
    })),
    hx: acc.H,
    free() {
      gpu.free(...xs, ...targets);
      acc.free();
    },
  };
}
