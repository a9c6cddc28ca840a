/**
 * The layer-input Hessian `H = (2/nseq)·Σ_tokens x·xᵀ` accumulated on the GPU with the
 * reference's running average (SparseGPT `add_batch`): for a chunk of b sequences,
 * `H ← H·n/(n+b) + (2/(n+b))·XᵀX`, `n ← n + b`. Only the lower triangle is accumulated (half
 * the flops); {@linkcode HessianAccumulator.finalize} mirrors it into the upper triangle.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { recordFill, recordTriFix } from "../kernels/linalg_util.ts";
import { recordLowerProduct } from "../linalg/lower_product.ts";

/** Which rows of X a call to {@linkcode HessianAccumulator.add} reads. */
export interface HessianChunk {
  /** Element offset of the first token's row in X (default 0). */
  offset?: number;
  /** Number of tokens (rows) to read (default: all rows of X after `offset`). */
  tokens?: number;
}

/** Accumulates the Hessian of a linear layer with `cols` inputs. */
export class HessianAccumulator {
  /** The GPU. */
  readonly gpu: Gpu;
  /** Number of inputs (H is cols × cols). */
  readonly cols: number;
  /**
   * The Hessian (cols × cols, f32). Its lower triangle is current after every `add`; the upper
   * triangle only after {@linkcode HessianAccumulator.finalize}.
   */
  readonly H: GpuTensor;
  #nsamples = 0;
  #owned: boolean;

  /** Allocates H (or uses `opts.h`, which must be cols × cols). */
  constructor(gpu: Gpu, cols: number, opts: { h?: GpuTensor; label?: string } = {}) {
    if (!Number.isInteger(cols) || cols < 1) {
      throw new RangeError(`Invalid Hessian size ${cols}: expected a positive integer`);
    }
    if (
      opts.h && (opts.h.shape.length !== 2 || opts.h.shape[0] !== cols || opts.h.shape[1] !== cols)
    ) {
      throw new TypeError(
        `Cannot accumulate a ${cols}×${cols} Hessian into a tensor of shape [${
          opts.h.shape.join(", ")
        }]`,
      );
    }
    this.gpu = gpu;
    this.cols = cols;
    this.#owned = !opts.h;
    this.H = opts.h ?? gpu.alloc([cols, cols], opts.label ?? "hessian");
  }

  /** Sequences accumulated so far (the reference's `nsamples`). */
  get nsamples(): number {
    return this.#nsamples;
  }

  /**
   * Records adding a chunk of `nseq` sequences whose tokens are the rows of `X`
   * ([T, cols] row-major, tokens × features): `H ← H·n/(n+nseq) + (2/(n+nseq))·XᵀX`.
   */
  add(batch: Batch, X: GpuTensor, nseq: number, chunk: HessianChunk = {}): void {
    const cols = this.cols;
    if (X.shape[X.shape.length - 1] !== cols) {
      throw new TypeError(
        `Cannot add activations of shape [${X.shape.join(", ")}] to a Hessian of ${cols} inputs`,
      );
    }
    if (X.buffer === this.H.buffer) {
      throw new TypeError("Cannot add activations that share the Hessian's GPU buffer");
    }
    if (!(nseq > 0) || !Number.isFinite(nseq)) {
      throw new RangeError(`Invalid sequence count ${nseq}: expected a positive number`);
    }
    const offset = chunk.offset ?? 0;
    const tokens = chunk.tokens ?? Math.floor((X.size - offset) / cols);
    if (
      !Number.isInteger(offset) || offset < 0 || !(tokens >= 1) || offset + tokens * cols > X.size
    ) {
      throw new RangeError(
        `Cannot read ${tokens} tokens at element offset ${offset} from a tensor of ${X.size} elements`,
      );
    }
    const n = this.#nsamples;
    const total = n + nseq;
    recordLowerProduct(batch, {
      a: X,
      b: X,
      c: this.H,
      m: cols,
      K: tokens,
      transA: true,
      lda: cols,
      ldb: cols,
      ldc: cols,
      offA: offset,
      offB: offset,
      alpha: 2 / total,
      beta: n / total,
    });
    this.#nsamples = total;
  }

  /** Records mirroring the lower triangle into the upper one and returns the full H. */
  finalize(batch: Batch): GpuTensor {
    if (this.#nsamples === 0) recordFill(batch, this.H, { rows: this.cols, cols: this.cols }, 0);
    else recordTriFix(batch, this.H, this.cols, "mirror-lower");
    return this.H;
  }

  /** Starts over (the next `add` overwrites H). */
  reset(): void {
    this.#nsamples = 0;
  }

  /** Returns H to the pool if this accumulator allocated it. */
  free(): void {
    if (this.#owned) this.gpu.free(this.H);
  }
}
