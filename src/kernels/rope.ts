/**
 * Rotary position embeddings (`kernels/rope.wgsl`), Hugging Face `rotate_half` convention:
 * the cos/sin table and the typed wrapper that rotates query or key heads in place.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import type { RopeScaling } from "../models/config.ts";
import { ROPE_WGSL } from "./rope.wgsl.ts";

const WG = 64;

/**
 * The inverse frequencies of rotary embeddings, rounded to f32 as Hugging Face computes them:
 * `1 / theta^(2i / headDim)` for `i < headDim / 2`, then the scaling — `linear`: divided by
 * `factor`; `llama3` (`_compute_llama3_parameters`): with wavelength `2π / f`, kept when shorter
 * than `original / high_freq_factor`, divided by `factor` when longer than
 * `original / low_freq_factor`, else blended `(1 - s)·f / factor + s·f` with
 * `s = (original / wavelength - low) / (high - low)`.
 * For Llama 3 (`factor` 8, low / high 1 / 4, original 64, head_dim 32, base 500000) the first
 * two frequencies are kept, the third blended and the rest divided by 8.
 */
export function ropeInverseFrequencies(
  headDim: number,
  theta: number,
  scaling: RopeScaling = { type: "default" },
): Float64Array {
  if (headDim % 2 !== 0) {
    throw new RangeError(`Cannot build a rotary table: head dimension ${headDim} is odd`);
  }
  const half = headDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const f = Math.fround(1 / Math.fround(Math.pow(theta, (2 * i) / headDim)));
    if (scaling.type === "default") out[i] = f;
    else if (scaling.type === "linear") out[i] = Math.fround(f / scaling.factor);
    else {
      const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: orig } =
        scaling;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < orig / high) out[i] = f;
      else if (wavelen > orig / low) out[i] = Math.fround(f / factor);
      else {
        const s = (orig / wavelen - low) / (high - low);
        out[i] = Math.fround(((1 - s) * f) / factor + s * f);
      }
    }
  }
  return out;
}

/**
 * The cos/sin table of rotary embeddings for positions `0..positions-1`: `positions × half`
 * cosines followed by `positions × half` sines, `half = headDim / 2`, with the inverse
 * frequencies of {@linkcode ropeInverseFrequencies} (f32) and the angles `pos · f_i` rounded to
 * f32 as in Hugging Face's f32 computation, then cos/sin taken in f64.
 */
export function ropeTable(
  positions: number,
  headDim: number,
  theta: number,
  scaling: RopeScaling = { type: "default" },
): Float32Array<ArrayBuffer> {
  const freqs = ropeInverseFrequencies(headDim, theta, scaling);
  const half = headDim / 2;
  const out = new Float32Array(2 * positions * half);
  for (let i = 0; i < half; i++) {
    const inv = freqs[i];
    for (let p = 0; p < positions; p++) {
      const ang = Math.fround(p * inv);
      out[p * half + i] = Math.cos(ang);
      out[positions * half + p * half + i] = Math.sin(ang);
    }
  }
  return out;
}

/** Arguments of {@linkcode rope}. */
export interface RopeArgs {
  /** Rows of heads, rotated in place. */
  x: GpuTensor;
  /** Table from {@linkcode ropeTable}, uploaded. */
  table: GpuTensor;
  /** Positions the table holds (its `positions`). */
  tableRows: number;
  /** Number of rows (tokens). */
  rows: number;
  /** Tokens per sequence: row `t` has position `t % seqlen + posOffset`. */
  seqlen: number;
  /** Heads per row. */
  heads: number;
  /** Values per head (even). */
  headDim: number;
  /** Row stride in elements (default `heads · headDim`). */
  ld?: number;
  /** Element offset of the first row. */
  off?: number;
  /** Position of the first token of each sequence (default 0). */
  posOffset?: number;
}

/** The rope kernel descriptor. */
export function ropeKernel(): Kernel {
  return {
    name: "rope",
    source: ROPE_WGSL,
    bindings: ["storage", "read", "uniform"],
    constants: { WG },
  };
}

/** Records an in-place rotary embedding of every head of `rows` rows into a batch. */
export function rope(batch: Batch, a: RopeArgs): void {
  const posOffset = a.posOffset ?? 0;
  if (Math.min(a.seqlen, a.rows) + posOffset > a.tableRows) {
    throw new RangeError(
      `Cannot apply rotary embeddings: positions up to ${
        Math.min(a.seqlen, a.rows) + posOffset
      } exceed the table's ${a.tableRows}`,
    );
  }
  const u = new Uniforms()
    .u32(a.rows, a.seqlen, a.heads, a.headDim)
    .u32(a.ld ?? a.heads * a.headDim, a.off ?? 0, a.tableRows, posOffset);
  batch.dispatch(
    ropeKernel(),
    [a.x, a.table],
    u.bytes(),
    [Math.ceil((a.rows * a.heads * (a.headDim / 2)) / WG)],
  );
}
