/**
 * Errors raised by the WebGPU runtime.
 *
 * @module
 */

/** Raised when `navigator.gpu` is missing or no adapter is offered. The CLI maps it to exit code 3. */
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

/** Raised when a kernel fails validation or the device reports an error while running it. */
export class GpuKernelError extends Error {
  /** Creates the error naming the kernel. */
  constructor(kernel: string, message: string) {
    super(`Kernel "${kernel}" failed: ${message}`);
    this.name = "GpuKernelError";
  }
}
