/**
 * Errors raised by the WebGPU runtime.
 *
 * @module
 */

/**
 * Raised when `navigator.gpu` is missing or no adapter is offered. The CLI maps it to exit code 3.
 *
 * @example Explain a missing adapter
 * ```ts
 * import { NoGpuAdapterError } from "@sparsellm/sparsellm";
 * import { getGpu } from "./device.ts";
 *
 * try {
 *   await getGpu();
 * } catch (e) {
 *   if (!(e instanceof NoGpuAdapterError)) throw e;
 *   console.error(e.message); // says how to install a software Vulkan driver
 * }
 * ```
 */
export class NoGpuAdapterError extends Error {
  /** Creates the error with a message that says how to get an adapter. */
  constructor(detail: string) {
    super(
      `No WebGPU adapter is available (${detail}). On Linux without a GPU install the software ` +
        `Vulkan driver: "apt-get install mesa-vulkan-drivers"; choose a backend with ` +
        `DENO_WEBGPU_BACKEND=vulkan or DENO_WEBGPU_BACKEND=gl`,
    );
    this.name = "NoGpuAdapterError";
  }
}

/**
 * Raised when a kernel fails validation or the device reports an error while running it.
 *
 * @example Catch a failing kernel
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { GpuKernelError } from "./errors.ts";
 *
 * const gpu = await getGpu();
 * try {
 *   await gpu.sync();
 * } catch (e) {
 *   if (!(e instanceof GpuKernelError)) throw e;
 *   console.error(e.message); // Kernel "sync" failed: ...
 * }
 * ```
 */
export class GpuKernelError extends Error {
  /** Creates the error naming the kernel. */
  constructor(kernel: string, message: string) {
    super(`Kernel "${kernel}" failed: ${message}`);
    this.name = "GpuKernelError";
  }
}

/**
 * Raised when the GPU device is lost (driver reset, device removed, out of memory, or destroyed)
 * while work is pending or afterwards. The device cannot be used again; rerun the command (with
 * `--resume` to continue a pruning run from its last finished layer).
 *
 * @example Telling a lost device apart from other failures
 * ```ts ignore
 * try {
 *   await gpu.sync();
 * } catch (e) {
 *   if (e instanceof GpuDeviceLostError) console.error(e.message);
 * }
 * ```
 */
export class GpuDeviceLostError extends Error {
  /** Why the device was lost (`destroyed` or `unknown`, as WebGPU reports it). */
  readonly reason: string;
  /** Creates the error from the device's loss information. */
  constructor(where: string, reason: string, message: string) {
    super(
      `The GPU device was lost during ${where} (reason: ${reason}${
        message ? `; ${message}` : ""
      }); the work cannot continue on it — run it again (pruning with resume: true continues ` +
        `from the last finished layer)`,
    );
    this.name = "GpuDeviceLostError";
    this.reason = reason;
  }
}
