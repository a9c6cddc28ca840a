/**
 * One decoder-layer runner for every family: it reads an {@linkcode Architecture} (data) and
 * records the whole layer into a batch. Also loads a layer's weights onto the GPU.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { activation } from "../kernels/activation.ts";
import { attention, type AttentionMode } from "../kernels/attention.ts";
import { matmul } from "../kernels/matmul.ts";
import { norm } from "../kernels/norm.ts";
import { rope } from "../kernels/rope.ts";
import type { ActivationTap, Architecture, LinearRole } from "./arch.ts";
import type { LayerWeights, LinearWeights, NormWeights } from "./layer_weights.ts";
import { scratch } from "./scratch.ts";
import { ropeTableFor } from "./rope_cache.ts";
import { projectionRows } from "./tensor_names.ts";

/**
 * Receives the activations of a decoder layer as they are produced, so that statistics (e.g.
 * Hessians `XᵀX`) can be accumulated in the same batch.
 *
 * @example Log the inputs of the linear layers
 * ```ts
 * import { runLayer } from "./layer.ts";
 * import type { Gpu } from "../gpu/device.ts";
 * import type { GpuTensor } from "../gpu/tensor.ts";
 * import type { Architecture } from "./arch.ts";
 * import type { LayerTaps } from "./layer.ts";
 * import type { LayerWeights } from "./layer_weights.ts";
 *
 * declare const gpu: Gpu, arch: Architecture, weights: LayerWeights, hidden: GpuTensor;
 * const taps: LayerTaps = {
 *   onInput: (tap, _x, rows, cols) => console.log(`${tap}: ${rows}x${cols}`),
 * };
 * const batch = gpu.batch("layer 0");
 * runLayer(gpu, batch, arch, weights, hidden, hidden, 256, taps);
 * batch.submit();
 * ```
 */
export interface LayerTaps {
  /**
   * Called right after tap `tap` is recorded: `x` is a `[rows, cols]` scratch tensor that the
   * runner overwrites later in the same batch, so record any use of it into `batch` now.
   */
  onInput?(tap: ActivationTap, x: GpuTensor, rows: number, cols: number, batch: Batch): void;
  /**
   * Stop after the attention block: `out` then holds the residual stream that enters the
   * feed-forward block (`hidden` + attention output), and the last tap is `ffn_in`.
   */
  attentionOnly?: boolean;
}

/** The attention mode chosen for a device, kept by {@linkcode Gpu.cached}. */
function modeOf(gpu: Gpu): { mode?: AttentionMode } {
  return gpu.cached("models/attention-mode", () => ({}));
}

/**
 * Chooses the attention implementation {@linkcode runLayer} uses on a device; `undefined`
 * restores the default: `matmul` on fallback (CPU) adapters, `fused` otherwise.
 *
 * @example Switch to matmul attention and back
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { attentionMode, setAttentionMode } from "./layer.ts";
 *
 * const gpu = await getGpu();
 * setAttentionMode(gpu, "matmul");
 * console.log(attentionMode(gpu)); // matmul
 * setAttentionMode(gpu, undefined); // back to the default
 * ```
 */
export function setAttentionMode(gpu: Gpu, mode: AttentionMode | undefined): void {
  modeOf(gpu).mode = mode;
}

/**
 * The attention implementation {@linkcode runLayer} uses on a device.
 *
 * @example The default attention of a device
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { attentionMode } from "./layer.ts";
 *
 * attentionMode(await getGpu()); // "fused" on a hardware adapter, "matmul" on lavapipe
 * ```
 */
export function attentionMode(gpu: Gpu): AttentionMode {
  return modeOf(gpu).mode ?? (gpu.info.isFallbackAdapter ? "matmul" : "fused");
}

/** Score scratch budget of the matmul attention mode, in floats (32 MiB). */
const SCORE_FLOATS = 8 * 1024 * 1024;

function linearInto(
  batch: Batch,
  x: GpuTensor,
  lw: LinearWeights,
  out: GpuTensor,
  rows: number,
  accumulate: boolean,
  part?: { start: number; rows: number },
): void {
  const start = part?.start ?? 0;
  matmul(batch, {
    a: x,
    b: lw.weight,
    c: out,
    M: rows,
    N: part?.rows ?? lw.rows,
    K: lw.cols,
    transB: true,
    ...(start ? { offB: start * lw.cols } : {}),
    ...(lw.bias ? { bias: lw.bias, ...(start ? { offBias: start } : {}) } : {}),
    ...(accumulate ? { beta: 1 } : {}),
  });
}

/** `out = x · Wᵀ (+ b)` for the rows of the projection `role` (its own linear or a fused block). */
function projectInto(
  batch: Batch,
  arch: Architecture,
  weights: LayerWeights,
  role: LinearRole,
  x: GpuTensor,
  out: GpuTensor,
  rows: number,
): void {
  const p = projectionRows(arch, role);
  const lw = weights.linear(p.linear.role);
  linearInto(batch, x, lw, out, rows, false, p.linear.parts ? p : undefined);
}

/**
 * Records one whole decoder layer into a batch (nothing is awaited or read back):
 * pre-norm attention with a residual, then a pre-norm feed-forward block with a residual.
 * `hidden` holds `T = nseq · seqlen` rows of independent sequences, each attending causally
 * from its own position 0. `out` may be `hidden` itself (in place).
 *
 * @example Run one decoder layer on embedded tokens
 * ```ts
 * import { type Gpu } from "../gpu/device.ts";
 * import { type GpuTensor } from "../gpu/tensor.ts";
 * import { type Architecture } from "./arch.ts";
 * import { runLayer } from "./layer.ts";
 * import type { LayerWeights } from "./layer_weights.ts";
 *
 * declare const gpu: Gpu, arch: Architecture, weights: LayerWeights;
 * declare const hidden: GpuTensor; // [nseq * 256, hidden]
 * const out = gpu.alloc(hidden.shape, "out");
 * const batch = gpu.batch("layer");
 * runLayer(gpu, batch, arch, weights, hidden, out, 256);
 * batch.submit();
 * await gpu.sync();
 * ```
 *
 * @param gpu The device (for scratch buffers).
 * @param batch Where the dispatches are recorded.
 * @param arch The architecture.
 * @param weights The layer's weights.
 * @param hidden Input `[T, hidden]`.
 * @param out Output `[T, hidden]` (may be `hidden`).
 * @param seqlen Tokens per sequence.
 * @param taps Optional observer of the activations feeding the linear layers.
 * @throws {RangeError} When the shapes do not fit.
 */
export function runLayer(
  gpu: Gpu,
  batch: Batch,
  arch: Architecture,
  weights: LayerWeights,
  hidden: GpuTensor,
  out: GpuTensor,
  seqlen: number,
  taps?: LayerTaps,
): void {
  const d = arch.hiddenSize;
  const T = hidden.shape.length === 2 ? hidden.shape[0] : Math.floor(hidden.size / d);
  if (hidden.size < T * d || hidden.shape[hidden.shape.length - 1] !== d) {
    throw new RangeError(
      `Cannot run a decoder layer on hidden states of shape [${
        hidden.shape.join(", ")
      }]: expected [T, ${d}]`,
    );
  }
  if (out.size < T * d) {
    throw new RangeError(
      `Cannot run a decoder layer into an output of ${out.size} values: ${T * d} needed`,
    );
  }
  if (!Number.isInteger(seqlen) || seqlen < 1 || T % seqlen !== 0) {
    throw new RangeError(
      `Cannot run a decoder layer on ${T} rows with sequence length ${seqlen}: ` +
        `the rows must be a whole number of sequences`,
    );
  }
  const nseq = T / seqlen;
  const H = arch.numHeads, KV = arch.numKvHeads, hd = arch.headDim, F = arch.ffnSize;
  const ws = scratch(gpu);
  const xn = ws.get("norm", T, d);
  const tap = (name: ActivationTap, x: GpuTensor, cols: number) =>
    taps?.onInput?.(name, x, T, cols, batch);
  const normInto = (w: NormWeights, src: GpuTensor) =>
    norm(batch, {
      kind: arch.norm,
      x: src,
      y: xn,
      weight: w.weight,
      ...(w.bias ? { bias: w.bias } : {}),
      rows: T,
      cols: d,
      eps: arch.normEps,
      ...(arch.normWeightOffset ? { weightOffset: arch.normWeightOffset } : {}),
    });

  // attention block
  normInto(weights.norm("attn"), hidden);
  tap("attn_in", xn, d);
  let q = ws.get("q", T, H * hd), k = ws.get("k", T, KV * hd);
  const v = ws.get("v", T, KV * hd);
  projectInto(batch, arch, weights, "q", xn, q, T);
  projectInto(batch, arch, weights, "k", xn, k, T);
  projectInto(batch, arch, weights, "v", xn, v, T);
  if (arch.qkNorm) {
    // Qwen3: RMSNorm over each head's headDim values (rows of [T·heads, headDim]), before RoPE.
    const qn = ws.get("q_normed", T, H * hd), kn = ws.get("k_normed", T, KV * hd);
    for (const [src, dst, heads, which] of [[q, qn, H, "q"], [k, kn, KV, "k"]] as const) {
      norm(batch, {
        kind: "rmsnorm",
        x: src,
        y: dst,
        weight: weights.norm(which).weight,
        rows: T * heads,
        cols: hd,
        eps: arch.normEps,
      });
    }
    q = qn;
    k = kn;
  }
  if (arch.positions.kind === "rope") {
    const table = ropeTableFor(gpu, arch.positions.theta, hd, seqlen, arch.positions.scaling);
    rope(batch, {
      x: q,
      table: table.tensor,
      tableRows: table.rows,
      rows: T,
      seqlen,
      heads: H,
      headDim: hd,
    });
    rope(batch, {
      x: k,
      table: table.tensor,
      tableRows: table.rows,
      rows: T,
      seqlen,
      heads: KV,
      headDim: hd,
    });
  }
  const ao = ws.get("attn", T, H * hd);
  const mode = attentionMode(gpu);
  const group = Math.max(1, Math.min(nseq, Math.floor(SCORE_FLOATS / (seqlen * seqlen))));
  attention(batch, {
    mode,
    ...(mode === "matmul" ? { scores: ws.get("scores", group * seqlen, seqlen) } : {}),
    q,
    k,
    v,
    out: ao,
    nseq,
    seqlen,
    heads: H,
    kvHeads: KV,
    headDim: hd,
    scale: arch.attnScale,
    ...(arch.slidingWindow !== null ? { window: arch.slidingWindow } : {}),
  });
  tap("attn_out", ao, H * hd);
  if (out.buffer !== hidden.buffer) batch.copy(hidden.buffer, 0, out.buffer, 0, T * d * 4);
  linearInto(batch, ao, weights.linear("o"), out, T, true);

  // feed-forward block
  normInto(weights.norm("ffn"), out);
  tap("ffn_in", xn, d);
  if (taps?.attentionOnly) return;
  const act = ws.get("act", T, F);
  if (arch.activation === "relu") {
    const h1 = ws.get("ff1", T, F);
    linearInto(batch, xn, weights.linear("fc1"), h1, T, false);
    activation(batch, { kind: "relu", a: h1, out: act, n: T * F });
  } else {
    const g = ws.get("ff1", T, F), u = ws.get("ff2", T, F);
    projectInto(batch, arch, weights, "gate", xn, g, T);
    projectInto(batch, arch, weights, "up", xn, u, T);
    const kind = arch.activation === "gelu-tanh-glu" ? "gelu-tanh-mul" : "silu-mul";
    activation(batch, { kind, a: g, b: u, out: act, n: T * F });
  }
  tap("ffn_act", act, F);
  const outRole = arch.ffnRoles[arch.ffnRoles.length - 1];
  linearInto(batch, act, weights.linear(outRole), out, T, true);
}
