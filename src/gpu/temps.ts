/**
 * Scratch tensors of batch-recording functions, lent by the device's pool.
 *
 * @module
 */

import type { Gpu } from "./device.ts";
import type { GpuTensor } from "./tensor.ts";

/**
 * Scratch tensors taken from the GPU's pool by recording functions. Call {@linkcode Temps.free}
 * once the batch that uses them has been submitted.
 *
 * Functions that take an optional `temps` and get none free their scratch right after
 * recording. That is safe for later dispatches of the same batch (they run in order), but not if
 * the caller writes into a newly allocated tensor with `queue.writeBuffer` (e.g. `gpu.upload`)
 * before submitting the batch: the write lands before the batch runs, in a buffer the batch
 * may still use as scratch. Pass a `Temps` and free it after `batch.submit()` in that case.
 */
export class Temps {
  /** The GPU whose pool lends the tensors. */
  readonly gpu: Gpu;
  #list: GpuTensor[] = [];

  /** Creates an empty set of scratch tensors. */
  constructor(gpu: Gpu) {
    this.gpu = gpu;
  }

  /** Number of tensors held. */
  get size(): number {
    return this.#list.length;
  }

  /** Allocates a scratch tensor (contents undefined). */
  alloc(shape: readonly number[], label: string, dtype: "f32" | "u32" = "f32"): GpuTensor {
    const t = this.gpu.alloc(shape, label, dtype);
    this.#list.push(t);
    return t;
  }

  /** Returns every tensor to the pool. */
  free(): void {
    this.gpu.free(...this.#list);
    this.#list = [];
  }
}

/** Runs `body` with the caller's temps, or with fresh ones freed right after recording. */
export function withTemps<T>(gpu: Gpu, temps: Temps | undefined, body: (t: Temps) => T): T {
  if (temps) return body(temps);
  const own = new Temps(gpu);
  try {
    return body(own);
  } finally {
    own.free();
  }
}
