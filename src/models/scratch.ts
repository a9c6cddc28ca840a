/**
 * Per-device scratch buffers of the layer runner and the output head. They are created once
 * per name and size and kept (not returned to the pool), so that buffers recorded into a batch
 * that is not yet submitted are never handed to anyone else.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { STORAGE_USAGE } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";

/** A `[rows, cols]` f32 view of the start of a buffer. */
export function tensorView(buffer: GPUBuffer, rows: number, cols: number): GpuTensor {
  return { buffer, shape: [rows, cols], dtype: "f32", size: rows * cols };
}

/** Named scratch buffers of one device. */
export class Scratch {
  #gpu: Gpu;
  #buffers = new Map<string, GPUBuffer>();
  #retired: GPUBuffer[] = [];

  /** Scratch space on a device. */
  constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }

  /**
   * A `[rows, cols]` f32 scratch tensor named `name`, grown when too small. Contents are
   * undefined; two calls with the same name return the same buffer.
   */
  get(name: string, rows: number, cols: number): GpuTensor {
    const bytes = Math.max(4, rows * cols * 4);
    const limit = this.#gpu.bindingLimit;
    if (bytes > limit) {
      throw new RangeError(
        `Cannot allocate scratch tensor "${name}" of shape [${rows}, ${cols}]: ${bytes} bytes ` +
          `exceed the binding limit ${limit}; use fewer rows per chunk`,
      );
    }
    let buf = this.#buffers.get(name);
    if (!buf || buf.size < bytes) {
      if (buf) this.#retired.push(buf);
      buf = this.#gpu.device.createBuffer({
        size: Math.ceil(bytes / 256) * 256,
        usage: STORAGE_USAGE,
        label: `scratch/${name}`,
      });
      this.#buffers.set(name, buf);
    }
    return tensorView(buf, rows, cols);
  }

  /** Bytes held. */
  get bytes(): number {
    let n = 0;
    for (const b of this.#buffers.values()) n += b.size;
    for (const b of this.#retired) n += b.size;
    return n;
  }

  /** Destroys every scratch buffer. Call only when no submitted or recorded work uses them. */
  destroy(): void {
    for (const b of this.#buffers.values()) b.destroy();
    for (const b of this.#retired) b.destroy();
    this.#buffers.clear();
    this.#retired = [];
  }
}

/** The scratch space of a device, created on first use (kept by {@linkcode Gpu.cached}). */
export function scratch(gpu: Gpu): Scratch {
  return gpu.cached("models/scratch", () => new Scratch(gpu), (s) => s.destroy());
}

/**
 * Destroys the scratch buffers of a device (the next layer run creates new ones). Call after
 * all work that used them has finished.
 */
export function releaseScratch(gpu: Gpu): void {
  gpu.uncache("models/scratch");
}
