// Float64 CPU reference of the decoder forward pass (Hugging Face OPT / LLaMA semantics, and the
// LLaMA-like Mistral / Qwen2 / Qwen3 / Gemma / Phi-3 variants), for tests only. Matrices are
// row-major Float64Arrays; weights may be Float32Arrays. Every variant is written here from the
// transformers modeling code's semantics (not from src/): llama3 rope frequencies per frequency as
// in Meta's `apply_scaling`, sliding windows as "the W most recent keys", Gemma's `(1 + w)` norm,
// sqrt(hidden) embedding scale and tanh-GELU, Phi-3's fused rows q | k | v and gate | up, Qwen3's
// per-head q/k RMSNorm before RoPE.

import type { Architecture, LinearRole } from "../../src/models/arch.ts";
import { layerName } from "../../src/models/tensor_names.ts";
import type { RopeScaling } from "../../src/models/config.ts";
import type { WeightSource } from "../../src/models/weights.ts";

type Vec = ArrayLike<number>;

/** y = x · Wᵀ (+ b): x [rows, cols], W [out, cols]. */
export function linearRef(
  x: Vec,
  rows: number,
  cols: number,
  w: Vec,
  out: number,
  b?: Vec,
): Float64Array {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      const xo = r * cols, wo = o * cols;
      for (let c = 0; c < cols; c++) s += x[xo + c] * w[wo + c];
      y[r * out + o] = s;
    }
  }
  return y;
}

/** LayerNorm (biased variance) or RMSNorm of each row. */
export function normRef(
  kind: "layernorm" | "rmsnorm",
  x: Vec,
  rows: number,
  cols: number,
  w: Vec,
  b: Vec | undefined,
  eps: number,
  wOffset = 0,
): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    if (kind === "layernorm") {
      for (let c = 0; c < cols; c++) mean += x[r * cols + c];
      mean /= cols;
    }
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += (x[r * cols + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) {
      y[r * cols + c] = (x[r * cols + c] - mean) * inv * (w[c] + wOffset) + (b ? b[c] : 0);
    }
  }
  return y;
}

/**
 * Inverse RoPE frequencies in float64: theta^(-2i/d), then `linear` (divided by factor) or
 * `llama3` scaling, one frequency at a time as Meta's `apply_scaling` loop does it.
 */
export function ropeFreqsRef(hd: number, theta: number, scaling?: RopeScaling): Float64Array {
  const out = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) {
    const f = 1 / Math.pow(theta, (2 * i) / hd);
    if (!scaling || scaling.type === "default") out[i] = f;
    else if (scaling.type === "linear") out[i] = f / scaling.factor;
    else {
      const lowWavelen = scaling.originalMaxPositions / scaling.lowFreqFactor;
      const highWavelen = scaling.originalMaxPositions / scaling.highFreqFactor;
      const wavelen = 2 * Math.PI / f;
      if (wavelen < highWavelen) out[i] = f;
      else if (wavelen > lowWavelen) out[i] = f / scaling.factor;
      else {
        const smooth = (scaling.originalMaxPositions / wavelen - scaling.lowFreqFactor) /
          (scaling.highFreqFactor - scaling.lowFreqFactor);
        out[i] = (1 - smooth) * f / scaling.factor + smooth * f;
      }
    }
  }
  return out;
}

/** Rotary embedding (rotate_half) of every head of every row, positions t % seqlen. */
export function ropeRef(
  x: Vec,
  rows: number,
  seqlen: number,
  heads: number,
  hd: number,
  theta: number,
  scaling?: RopeScaling,
): Float64Array {
  const y = Float64Array.from(x as ArrayLike<number>);
  const half = hd / 2, ld = heads * hd;
  const freqs = ropeFreqsRef(hd, theta, scaling);
  for (let t = 0; t < rows; t++) {
    const pos = t % seqlen;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const ang = pos * freqs[i];
        const c = Math.cos(ang), s = Math.sin(ang);
        const b = t * ld + h * hd;
        const x1 = x[b + i], x2 = x[b + i + half];
        y[b + i] = x1 * c - x2 * s;
        y[b + i + half] = x2 * c + x1 * s;
      }
    }
  }
  return y;
}

/**
 * Causal attention with grouped kv heads; q [T, H·hd], k/v [T, KV·hd] → [T, H·hd]. With a
 * sliding `window`, query i sees only the `window` most recent keys (itself included).
 */
export function attentionRef(
  q: Vec,
  k: Vec,
  v: Vec,
  nseq: number,
  seqlen: number,
  heads: number,
  kvHeads: number,
  hd: number,
  scale: number,
  window: number | null = null,
): Float64Array {
  const out = new Float64Array(nseq * seqlen * heads * hd);
  const qd = heads * hd, kvd = kvHeads * hd, group = heads / kvHeads;
  const sc = new Float64Array(seqlen);
  for (let s = 0; s < nseq; s++) {
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < seqlen; i++) {
        const qb = (s * seqlen + i) * qd + h * hd;
        let m = -Infinity;
        const j0 = window === null ? 0 : Math.max(0, i - window + 1);
        for (let j = j0; j <= i; j++) {
          const kb = (s * seqlen + j) * kvd + kh * hd;
          let d = 0;
          for (let c = 0; c < hd; c++) d += q[qb + c] * k[kb + c];
          sc[j] = d * scale;
          m = Math.max(m, sc[j]);
        }
        let l = 0;
        for (let j = j0; j <= i; j++) l += sc[j] = Math.exp(sc[j] - m);
        const ob = (s * seqlen + i) * qd + h * hd;
        for (let j = j0; j <= i; j++) {
          const vb = (s * seqlen + j) * kvd + kh * hd, p = sc[j] / l;
          for (let c = 0; c < hd; c++) out[ob + c] += p * v[vb + c];
        }
      }
    }
  }
  return out;
}

/** relu(x). */
export function reluRef(x: Vec): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v) => Math.max(v, 0));
}

/** silu(x) = x / (1 + e^-x). */
export function siluRef(x: Vec): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v) => v / (1 + Math.exp(-v)));
}

/** gelu with the tanh approximation (`gelu_pytorch_tanh`) of g, times u. */
export function geluTanhMulRef(g: Vec, u: Vec): Float64Array {
  const out = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const x = g[i];
    out[i] = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))) * u[i];
  }
  return out;
}

/** silu(g) · u. */
export function siluMulRef(g: Vec, u: Vec): Float64Array {
  const s = siluRef(g);
  for (let i = 0; i < s.length; i++) s[i] *= u[i];
  return s;
}

/** A layer's weights read from a source, keyed by role / norm. */
export interface RefLayerWeights {
  linear: Map<LinearRole, { w: Float32Array; b?: Float32Array }>;
  attnNorm: { w: Float32Array; b?: Float32Array };
  ffnNorm: { w: Float32Array; b?: Float32Array };
  /** Qwen3's per-head query / key norms. */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
}

/** Rows `start .. start + rows - 1` of a `[*, cols]` weight (and bias). */
function sliceRows(
  l: { w: Float32Array; b?: Float32Array },
  cols: number,
  start: number,
  rows: number,
): { w: Float32Array; b?: Float32Array } {
  const w = l.w.slice(start * cols, (start + rows) * cols);
  return l.b ? { w, b: l.b.slice(start, start + rows) } : { w };
}

/** Reads one layer's weights. */
export async function readRefLayer(
  arch: Architecture,
  source: WeightSource,
  layer: number,
): Promise<RefLayerWeights> {
  const linear = new Map<LinearRole, { w: Float32Array; b?: Float32Array }>();
  for (const l of arch.linears) {
    const w = await source.readF32(layerName(l.weight, layer));
    const lw = l.bias ? { w, b: await source.readF32(layerName(l.bias, layer)) } : { w };
    linear.set(l.role, lw);
    // Phi-3: qkv_proj rows q | k | v (query_pos = heads·head_dim), gate_up_proj rows gate | up
    // (chunk(2)), as Phi3Attention.forward / Phi3MLP.forward split them.
    const qd = arch.numHeads * arch.headDim, kvd = arch.numKvHeads * arch.headDim;
    if (l.role === "qkv") {
      linear.set("q", sliceRows(lw, l.cols, 0, qd));
      linear.set("k", sliceRows(lw, l.cols, qd, kvd));
      linear.set("v", sliceRows(lw, l.cols, qd + kvd, kvd));
    } else if (l.role === "gate_up") {
      linear.set("gate", sliceRows(lw, l.cols, 0, l.rows / 2));
      linear.set("up", sliceRows(lw, l.cols, l.rows / 2, l.rows / 2));
    }
  }
  const nrm = async (spec: { weight: string; bias?: string }) => {
    const w = await source.readF32(layerName(spec.weight, layer));
    return spec.bias ? { w, b: await source.readF32(layerName(spec.bias, layer)) } : { w };
  };
  const out: RefLayerWeights = {
    linear,
    attnNorm: await nrm(arch.attnNorm),
    ffnNorm: await nrm(arch.ffnNorm),
  };
  if (arch.qkNorm) {
    out.qNorm = await source.readF32(layerName(arch.qkNorm.q.weight, layer));
    out.kNorm = await source.readF32(layerName(arch.qkNorm.k.weight, layer));
  }
  return out;
}

/** Output and intermediate activations of one decoder layer. */
export interface RefLayerResult {
  out: Float64Array;
  /** The residual stream entering the feed-forward block (hidden + attention output). */
  mid: Float64Array;
  taps: Record<"attn_in" | "attn_out" | "ffn_in" | "ffn_act", Float64Array>;
}

/** One decoder layer in float64, following the architecture description. */
export function decoderLayerRef(
  arch: Architecture,
  w: RefLayerWeights,
  hidden: Vec,
  nseq: number,
  seqlen: number,
): RefLayerResult {
  const T = nseq * seqlen, d = arch.hiddenSize, H = arch.numHeads, KV = arch.numKvHeads;
  const hd = arch.headDim, F = arch.ffnSize;
  const lin = (role: LinearRole, x: Vec, cols: number) => {
    const l = w.linear.get(role)!;
    return linearRef(x, T, cols, l.w, l.w.length / cols, l.b);
  };
  const off = arch.normWeightOffset;
  const attnIn = normRef(arch.norm, hidden, T, d, w.attnNorm.w, w.attnNorm.b, arch.normEps, off);
  let q = lin("q", attnIn, d), k = lin("k", attnIn, d);
  const v = lin("v", attnIn, d);
  if (w.qNorm && w.kNorm) {
    // Qwen3Attention: q_norm / k_norm over each head's head_dim values, before RoPE.
    q = normRef("rmsnorm", q, T * H, hd, w.qNorm, undefined, arch.normEps);
    k = normRef("rmsnorm", k, T * KV, hd, w.kNorm, undefined, arch.normEps);
  }
  if (arch.positions.kind === "rope") {
    q = ropeRef(q, T, seqlen, H, hd, arch.positions.theta, arch.positions.scaling);
    k = ropeRef(k, T, seqlen, KV, hd, arch.positions.theta, arch.positions.scaling);
  }
  const attnOut = attentionRef(
    q,
    k,
    v,
    nseq,
    seqlen,
    H,
    KV,
    hd,
    1 / Math.sqrt(hd),
    arch.slidingWindow,
  );
  const o = lin("o", attnOut, H * hd);
  const mid = new Float64Array(T * d);
  for (let i = 0; i < mid.length; i++) mid[i] = hidden[i] + o[i];
  const ffnIn = normRef(arch.norm, mid, T, d, w.ffnNorm.w, w.ffnNorm.b, arch.normEps, off);
  let act: Float64Array;
  if (arch.activation === "relu") act = reluRef(lin("fc1", ffnIn, d));
  else if (arch.activation === "gelu-tanh-glu") {
    act = geluTanhMulRef(lin("gate", ffnIn, d), lin("up", ffnIn, d));
  } else act = siluMulRef(lin("gate", ffnIn, d), lin("up", ffnIn, d));
  const down = lin(arch.ffnRoles[arch.ffnRoles.length - 1], act, F);
  const out = new Float64Array(T * d);
  for (let i = 0; i < out.length; i++) out[i] = mid[i] + down[i];
  return {
    out,
    mid,
    taps: { attn_in: attnIn, attn_out: attnOut, ffn_in: ffnIn, ffn_act: act },
  };
}

/**
 * Next-token NLLs (seqlen - 1 per sequence), argmax (seqlen per sequence) and logits
 * (`[T, vocab]`) of a whole model.
 */
export async function modelRef(
  arch: Architecture,
  source: WeightSource,
  ids: Int32Array,
  nseq: number,
  seqlen: number,
): Promise<{ nll: Float64Array; argmax: Int32Array; logits: Float64Array }> {
  const T = nseq * seqlen, d = arch.hiddenSize, V = arch.vocabSize;
  const emb = await source.readF32(arch.embedTokens);
  let h: Float64Array = new Float64Array(T * d);
  const pos = arch.positions.kind === "learned"
    ? await source.readF32(arch.positions.tensor)
    : undefined;
  const off = arch.positions.kind === "learned" ? arch.positions.offset : 0;
  // Gemma scales the embeddings by sqrt(hidden) (float64 here, as the arch fixtures' reference).
  const scale = arch.embedScale !== 1 ? Math.sqrt(d) : 1;
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < d; c++) {
      h[t * d + c] = emb[ids[t] * d + c] * scale + (pos ? pos[(t % seqlen + off) * d + c] : 0);
    }
  }
  for (let l = 0; l < arch.numLayers; l++) {
    h = decoderLayerRef(arch, await readRefLayer(arch, source, l), h, nseq, seqlen).out;
  }
  const fw = await source.readF32(arch.finalNorm.weight);
  const fb = arch.finalNorm.bias ? await source.readF32(arch.finalNorm.bias) : undefined;
  const xn = normRef(arch.norm, h, T, d, fw, fb, arch.normEps, arch.normWeightOffset);
  const head = await source.readF32(arch.lmHead);
  const logits = linearRef(xn, T, d, head, V);
  const nll = new Float64Array(nseq * (seqlen - 1));
  const argmax = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    let m = -Infinity, am = 0;
    for (let c = 0; c < V; c++) {
      if (logits[t * V + c] > m) {
        m = logits[t * V + c];
        am = c;
      }
    }
    argmax[t] = am;
    const s = Math.floor(t / seqlen), i = t % seqlen;
    if (i < seqlen - 1) {
      let z = 0;
      for (let c = 0; c < V; c++) z += Math.exp(logits[t * V + c] - m);
      nll[s * (seqlen - 1) + i] = m + Math.log(z) - logits[t * V + ids[t + 1]];
    }
  }
  return { nll, argmax, logits };
}

/** Deterministic pseudo-random numbers in [-scale, scale). */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Largest absolute difference. */
export function maxAbsDiff(a: Vec, b: Vec): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Largest absolute value. */
export function maxAbs(a: Vec): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
