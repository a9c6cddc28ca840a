/**
 * Causal multi-head attention with grouped key/value heads, two ways:
 * - `fused` (`kernels/attention.wgsl`): one invocation per (sequence, head, query) with an
 *   online softmax; no scores are stored.
 * - `matmul`: per head, the scores of every sequence are computed with {@linkcode matmul},
 *   normalised by a causal softmax kernel (`kernels/attention_softmax.wgsl`) and multiplied by
 *   the values with {@linkcode matmul}; at most one head's `seqlen × seqlen` scores per
 *   sequence exist at a time. Register-blocked matmuls make this several times faster on CPU
 *   adapters (lavapipe), where the fused kernel is bound by its loads.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { ATTENTION_WGSL } from "./attention.wgsl.ts";
import { ATTENTION_SOFTMAX_WGSL } from "./attention_softmax.wgsl.ts";
import { matmul } from "./matmul.ts";

const WG = 64;

/** Largest head dimension the attention kernel supports. */
export const MAX_HEAD_DIM: number = 256;

/** Arguments of {@linkcode attention}. Rows are tokens `t = s·seqlen + i`. */
export interface AttentionArgs {
  /** Queries: row `t`, head `h` at `offQ + t·ldq + h·headDim`. */
  q: GpuTensor;
  /** Keys: row `t`, kv head `kh` at `offK + t·ldk + kh·headDim`. */
  k: GpuTensor;
  /** Values, laid out as the keys. */
  v: GpuTensor;
  /** Output: row `t`, head `h` at `offO + t·ldo + h·headDim`. */
  out: GpuTensor;
  /** Independent sequences. */
  nseq: number;
  /** Tokens per sequence; each query attends to keys `0..i` of its sequence. */
  seqlen: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads (divides `heads`); query head `h` uses kv head `h / (heads / kvHeads)`. */
  kvHeads: number;
  /** Values per head, a multiple of 4, at most {@linkcode MAX_HEAD_DIM}. */
  headDim: number;
  /** Score scale, usually `headDim^-0.5`. */
  scale: number;
  /**
   * Sliding window: query `i` attends keys `max(0, i + 1 - window) .. i` (the `window` most
   * recent positions, itself included). 0 or absent: full causal attention.
   */
  window?: number;
  /** Row stride of q (default `heads · headDim`). */
  ldq?: number;
  /** Row stride of k (default `kvHeads · headDim`). */
  ldk?: number;
  /** Row stride of v (default `kvHeads · headDim`). */
  ldv?: number;
  /** Row stride of out (default `heads · headDim`). */
  ldo?: number;
  /** Element offset of q. */
  offQ?: number;
  /** Element offset of k. */
  offK?: number;
  /** Element offset of v. */
  offV?: number;
  /** Element offset of out. */
  offO?: number;
  /** Which implementation (default `fused`). */
  mode?: AttentionMode;
  /**
   * Score scratch of the `matmul` mode: at least `seqlen²` floats; with `g · seqlen²` floats,
   * `g` sequences are processed per dispatch.
   */
  scores?: GpuTensor;
}

/**
 * Attention implementations: fused online softmax, or matmul + causal softmax per head.
 *
 * @example Force the matmul attention on a device
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { type AttentionMode } from "./attention.ts";
 * import { setAttentionMode } from "../models/layer.ts";
 *
 * const mode: AttentionMode = "matmul";
 * setAttentionMode(await getGpu(), mode);
 * ```
 */
export type AttentionMode = "fused" | "matmul";

/** The attention kernel descriptor. */
export function attentionKernel(): Kernel {
  return {
    name: "attention",
    source: ATTENTION_WGSL,
    bindings: ["read", "read", "read", "storage", "uniform"],
    constants: { WG },
  };
}

/** The causal softmax kernel descriptor of the `matmul` attention mode. */
export function attentionSoftmaxKernel(): Kernel {
  return {
    name: "attention_softmax",
    source: ATTENTION_SOFTMAX_WGSL,
    bindings: ["storage", "uniform"],
    constants: { WG },
  };
}

function windowOf(a: AttentionArgs): number {
  const w = a.window ?? 0;
  if (!Number.isInteger(w) || w < 0) {
    throw new RangeError(
      `Cannot run attention with sliding window ${w}: it must be a whole number >= 0`,
    );
  }
  return w;
}

/** Records causal (optionally sliding-window) attention over `nseq` independent sequences. */
export function attention(batch: Batch, a: AttentionArgs): void {
  if (a.headDim % 4 !== 0 || a.headDim < 4 || a.headDim > MAX_HEAD_DIM) {
    throw new RangeError(
      `Cannot run attention with head dimension ${a.headDim}: it must be a multiple of 4 ` +
        `between 4 and ${MAX_HEAD_DIM}`,
    );
  }
  if (a.kvHeads < 1 || a.heads % a.kvHeads !== 0) {
    throw new RangeError(
      `Cannot run attention with ${a.heads} query heads and ${a.kvHeads} key/value heads: ` +
        `the key/value heads must divide the query heads`,
    );
  }
  const kvd = a.kvHeads * a.headDim, qd = a.heads * a.headDim;
  if (a.mode === "matmul") {
    attentionByMatmul(batch, a, a.ldq ?? qd, a.ldk ?? kvd, a.ldv ?? kvd, a.ldo ?? qd);
    return;
  }
  const u = new Uniforms()
    .u32(a.nseq, a.seqlen, a.heads, a.kvHeads)
    .u32(a.headDim, a.ldq ?? qd, a.ldk ?? kvd, a.ldv ?? kvd)
    .u32(a.ldo ?? qd, a.offQ ?? 0, a.offK ?? 0, a.offV ?? 0)
    .u32(a.offO ?? 0).f32(a.scale).u32(windowOf(a), 0);
  batch.dispatch(
    attentionKernel(),
    [a.q, a.k, a.v, a.out],
    u.bytes(),
    [Math.ceil((a.nseq * a.heads * a.seqlen) / WG)],
  );
}

function attentionByMatmul(
  batch: Batch,
  a: AttentionArgs,
  ldq: number,
  ldk: number,
  ldv: number,
  ldo: number,
): void {
  const n = a.seqlen, hd = a.headDim, sq = n * n;
  if (!a.scores || a.scores.size < sq) {
    throw new RangeError(
      `The matmul attention mode needs a score scratch of at least ${sq} values (seqlen²)`,
    );
  }
  const group = Math.min(a.nseq, Math.floor(a.scores.size / sq));
  const perKv = a.heads / a.kvHeads;
  for (let s0 = 0; s0 < a.nseq; s0 += group) {
    const count = Math.min(group, a.nseq - s0);
    for (let h = 0; h < a.heads; h++) {
      const kh = Math.floor(h / perKv);
      matmul(batch, {
        a: a.q,
        b: a.k,
        c: a.scores,
        M: n,
        N: n,
        K: hd,
        transB: true,
        lda: ldq,
        ldb: ldk,
        ldc: n,
        offA: (a.offQ ?? 0) + s0 * n * ldq + h * hd,
        offB: (a.offK ?? 0) + s0 * n * ldk + kh * hd,
        alpha: a.scale,
        count,
        strideA: n * ldq,
        strideB: n * ldk,
        strideC: sq,
      });
      batch.dispatch(
        attentionSoftmaxKernel(),
        [a.scores],
        new Uniforms().u32(count * n, n, 0, windowOf(a)).bytes(),
        [Math.ceil((count * n) / WG)],
      );
      matmul(batch, {
        a: a.scores,
        b: a.v,
        c: a.out,
        M: n,
        N: hd,
        K: n,
        lda: n,
        ldb: ldv,
        ldc: ldo,
        offB: (a.offV ?? 0) + s0 * n * ldv + kh * hd,
        offC: (a.offO ?? 0) + s0 * n * ldo + h * hd,
        count,
        strideA: sq,
        strideB: n * ldv,
        strideC: n * ldo,
      });
    }
  }
}
