/**
 * The device as the public API shows it: an opaque handle that `getGpu` returns and the pruner
 * and evaluator accept. Everything else about the runtime (batches, the buffer pool, kernels)
 * stays internal.
 *
 * @module
 */

import { getGpu as openGpu, Gpu } from "./device.ts";
import type { GpuInfo, GpuOptions } from "./info.ts";

/** A WebGPU device prepared for sparsellm's kernels (see {@linkcode getGpu}). */
export interface GpuHandle {
  /** The underlying WebGPU device. */
  readonly device: GPUDevice;
  /** The adapter and the limits in use. */
  readonly info: GpuInfo;
  /** Releases the device's buffers (and the device, unless it was given in the options). */
  destroy(): void;
}

/**
 * Opens (once) the shared device on the first adapter, or a new one when options are given.
 *
 * @example Print the adapter in use
 * ```ts
 * import { getGpu } from "./handle.ts";
 *
 * const gpu = await getGpu();
 * console.log(gpu.info.description, gpu.info.isFallbackAdapter ? "(software)" : "");
 * ```
 */
export function getGpu(options?: GpuOptions): Promise<GpuHandle> {
  return options ? Gpu.create(options) : openGpu();
}

/** The runtime behind a handle from {@linkcode getGpu}. */
export function gpuOf(handle: GpuHandle): Gpu {
  if (!(handle instanceof Gpu)) {
    throw new TypeError("The gpu given is not a device from getGpu()");
  }
  return handle;
}
