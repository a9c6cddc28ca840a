/**
 * Facts and options of a WebGPU device: what {@linkcode Gpu.create} takes and reports, the
 * storage usage of tensors, the WGSL features the kernels need, and buffer windows.
 *
 * @module
 */

/**
 * Options for {@linkcode Gpu.create}.
 *
 * @example Ask for the discrete GPU
 * ```ts
 * import { type GpuOptions } from "@sparsellm/sparsellm";
 * import { Gpu } from "./device.ts";
 *
 * const options: GpuOptions = { powerPreference: "high-performance" };
 * const gpu = await Gpu.create(options);
 * ```
 */
export interface GpuOptions {
  /** Use this device instead of requesting one (the caller keeps ownership). */
  device?: GPUDevice;
  /** Adapter power preference. */
  powerPreference?: GPUPowerPreference;
  /**
   * Largest binding in bytes the kernels may use (default and upper bound: the device's
   * `maxStorageBufferBindingSize`). Larger tensors are bound in windows; a small value makes
   * every kernel split its work as it would for a model whose matrices exceed the limit.
   */
  maxBindingBytes?: number;
  /**
   * Use the kernel variants tuned for CPU adapters such as lavapipe, whose workgroup runs as one
   * SIMD group (default: when the adapter is a fallback adapter). Real GPUs get variants with more,
   * lighter invocations; results are the same either way.
   */
  cpuKernels?: boolean;
}

/**
 * A byte range of a buffer bound on its own: what {@linkcode Gpu.window} returns, for tensors
 * larger than one binding.
 *
 * @example Bind the rows 1000 to 2000 of a 4096-column matrix
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { type BufferWindow } from "./info.ts";
 *
 * const gpu = await getGpu();
 * const w = gpu.alloc([4096, 4096], "w");
 * const win: BufferWindow = gpu.window(w, 1000 * 4096, 2000 * 4096);
 * console.log(win.base <= 1000 * 4096); // true: the kernel indexes element e as e − base
 * ```
 */
export interface BufferWindow {
  /** The buffer. */
  readonly buffer: GPUBuffer;
  /** First byte bound (a multiple of `minStorageBufferOffsetAlignment`). */
  readonly byteOffset: number;
  /** Bytes bound. */
  readonly byteLength: number;
  /** Element index of the first bound element: a kernel reads element e at e − base. */
  readonly base: number;
}

/**
 * Facts about the adapter, for reports and benchmarks.
 *
 * @example Describe the adapter
 * ```ts
 * import { type GpuInfo } from "@sparsellm/sparsellm";
 * import { getGpu } from "./device.ts";
 *
 * const info: GpuInfo = (await getGpu()).info;
 * console.log(info.description, info.isFallbackAdapter ? "(software)" : "", info.shaderF16);
 * ```
 */
export interface GpuInfo {
  /** Adapter description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  description: string;
  /** Vendor string or id. */
  vendor: string;
  /** True for software adapters such as lavapipe. */
  isFallbackAdapter: boolean;
  /** Whether `shader-f16` was enabled. */
  shaderF16: boolean;
  /** `maxStorageBufferBindingSize` of the device. */
  maxStorageBufferBindingSize: number;
  /** `maxBufferSize` of the device. */
  maxBufferSize: number;
}

/**
 * Usage flags of storage tensors.
 *
 * @example Borrow a storage buffer from the pool
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { STORAGE_USAGE } from "./info.ts";
 *
 * const gpu = await getGpu();
 * const buffer = gpu.pool.acquire(4096, STORAGE_USAGE, "scratch");
 * gpu.pool.release(buffer);
 * ```
 */
export const STORAGE_USAGE: GPUBufferUsageFlags = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC

/** WGSL language features the kernels need: matmul reads its operands from read-only storage textures. */
export const REQUIRED_WGSL_FEATURES: readonly string[] = [
  "readonly_and_readwrite_storage_textures",
];

/**
 * The entries of {@linkcode REQUIRED_WGSL_FEATURES} that `features` (a runtime's
 * `navigator.gpu.wgslLanguageFeatures`) lacks; all of them when it is undefined.
 *
 * @example What a runtime without language features lacks
 * ```ts
 * import { missingWgslFeatures } from "./info.ts";
 *
 * console.log(missingWgslFeatures(new Set())); // ["readonly_and_readwrite_storage_textures"]
 * ```
 */
export function missingWgslFeatures(features: ReadonlySet<string> | undefined): string[] {
  return REQUIRED_WGSL_FEATURES.filter((f) => !features?.has(f));
}

/** The {@linkcode GpuInfo} of a device (and of its adapter, when known). */
export function describeDevice(adapter: GPUAdapter | undefined, device: GPUDevice): GpuInfo {
  // a device passed in brings its adapter's info where the runtime offers GPUDevice.adapterInfo
  const info = adapter?.info ?? (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return {
    description: info?.description || "unknown",
    vendor: info?.vendor || "unknown",
    isFallbackAdapter: info?.isFallbackAdapter ?? false,
    shaderF16: device.features.has("shader-f16"),
    maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
    maxBufferSize: device.limits.maxBufferSize,
  };
}
