/**
 * Calibration statistics for Wanda: the running mean of squared input-column norms.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { COLNORM_MAX_SLABS, colNormUpdate } from "../kernels/colnorm.ts";

/**
 * Wanda's per-input-feature statistic, kept on the GPU: after batches of `b` sequences,
 * `s_j ← s_j·n/(n+b) + ‖X_j‖²/(n+b)` with `n` the sequences seen before, so that in the end
 * `s_j = Σ_tokens x_j² / n_seq` (the reference `scaler_row`). Pass it as `colSq` to
 * `wandaPrune`.
 */
export class ColumnNormAccumulator {
  /** Input features (columns of the activations and of the weights). */
  readonly cols: number;
  /** The statistic `s` (`cols` floats, starts at 0). Owned by the accumulator. */
  readonly colSq: GpuTensor;
  #gpu: Gpu;
  #partial: GpuTensor;
  #nsamples = 0;

  /** Allocates the statistic (zeroed) and its scratch on `gpu`. */
  constructor(gpu: Gpu, cols: number) {
    if (!Number.isInteger(cols) || cols < 1) {
      throw new RangeError(`Cannot create a column norm accumulator for ${cols} columns`);
    }
    this.cols = cols;
    this.#gpu = gpu;
    this.colSq = gpu.alloc([cols], "wanda/colSq");
    gpu.write(this.colSq, new Float32Array(cols));
    this.#partial = gpu.alloc([COLNORM_MAX_SLABS, cols], "wanda/colSq-partial");
  }

  /** Sequences accumulated so far (`n`). */
  get nsamples(): number {
    return this.#nsamples;
  }

  /**
   * Records the update for activations `x` (`[T, cols]` row-major, f32, all tokens of `nseq`
   * sequences) into `batch`. `rows` defaults to `x.size / cols`.
   */
  add(batch: Batch, x: GpuTensor, nseq: number, rows: number = x.size / this.cols): void {
    if (!Number.isInteger(nseq) || nseq < 1) {
      throw new RangeError(`Cannot add activations of ${nseq} sequences: need at least 1`);
    }
    if (!Number.isInteger(rows) || rows < 1) {
      throw new RangeError(
        `Cannot add activations: ${x.size} elements are not whole rows of ${this.cols} columns`,
      );
    }
    const n = this.#nsamples;
    colNormUpdate(batch, {
      x,
      rows,
      cols: this.cols,
      partial: this.#partial,
      s: this.colSq,
      scale: n / (n + nseq),
      denom: n + nseq,
    });
    this.#nsamples = n + nseq;
  }

  /** Returns the statistic and its scratch to the GPU pool. */
  free(): void {
    this.#gpu.free(this.colSq, this.#partial);
  }
}
