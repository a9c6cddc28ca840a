/**
 * The WebGPU runtime: one adapter and device with the adapter's full limits, a pipeline cache
 * keyed by kernel descriptors, a buffer pool, per-device cached objects, and batches
 * (`batch.ts`) that encode many dispatches into one submit with a single uniform upload. The
 * device is the one owner of GPU memory: pooled tensors, scratch `Temps` (`temps.ts`) lent by
 * the pool, and the objects kept with {@linkcode Gpu.cached}, all released by {@linkcode Gpu.destroy}.
 *
 * @module
 */

import { Batch } from "./batch.ts";
import { GpuDeviceLostError, GpuKernelError, NoGpuAdapterError } from "./errors.ts";
import {
  type BufferWindow,
  describeDevice,
  type GpuInfo,
  type GpuOptions,
  missingWgslFeatures,
  STORAGE_USAGE,
} from "./info.ts";
import { type Kernel, kernelKey } from "./kernel.ts";
import { buildPipeline, type CachedPipeline } from "./pipeline.ts";
import { BufferPool } from "./pool.ts";
import { type GpuDType, type GpuTensor, numel } from "./tensor.ts";

export { Batch } from "./batch.ts";
export {
  type BufferWindow,
  type GpuInfo,
  type GpuOptions,
  missingWgslFeatures,
  REQUIRED_WGSL_FEATURES,
  STORAGE_USAGE,
} from "./info.ts";

/** An object kept by {@linkcode Gpu.cached}, with what releases it. */
interface CacheEntry {
  value: unknown;
  release?: (value: never) => void;
}

/**
 * One WebGPU device with its pipeline cache and buffer pool.
 *
 * @example Upload and read back a tensor
 * ```ts
 * import { Gpu } from "./device.ts";
 *
 * const gpu = await Gpu.create();
 * const t = gpu.upload(new Float32Array([1, 2, 3]), [3], "t");
 * console.log(gpu.info.description, await gpu.read(t));
 * gpu.free(t);
 * gpu.destroy();
 * ```
 */
export class Gpu {
  /** The device. */
  readonly device: GPUDevice;
  /** Adapter facts. */
  readonly info: GpuInfo;
  /** Whether kernels use their variants for CPU adapters ({@linkcode GpuOptions.cpuKernels}). */
  readonly cpuKernels: boolean;
  /** Scratch-buffer pool. */
  readonly pool: BufferPool;
  #pipelines = new Map<string, CachedPipeline>();
  #cache = new Map<string, CacheEntry>();
  #error: string | undefined;
  #lost: { reason: string; message: string } | undefined;
  #uniformAlign: number;
  #bindingLimit: number;

  private constructor(
    device: GPUDevice,
    info: GpuInfo,
    maxBindingBytes?: number,
    cpuKernels?: boolean,
  ) {
    this.device = device;
    this.info = info;
    this.cpuKernels = cpuKernels ?? info.isFallbackAdapter;
    this.pool = new BufferPool(device);
    this.#uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.#bindingLimit = device.limits.maxStorageBufferBindingSize;
    if (maxBindingBytes !== undefined) this.bindingLimit = maxBindingBytes;
    device.addEventListener("uncapturederror", (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.#error ??= err.message;
    });
    device.lost.then((info) => {
      this.#lost = { reason: info.reason ?? "unknown", message: info.message ?? "" };
    });
  }

  /** Whether the device has been lost (it cannot be used again). */
  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** Throws {@linkcode GpuDeviceLostError} when the device has been lost. */
  throwIfLost(where: string): void {
    if (this.#lost) throw new GpuDeviceLostError(where, this.#lost.reason, this.#lost.message);
  }

  /**
   * Requests an adapter and a device with the adapter's maximum buffer sizes, texture extents
   * (matmul operands), workgroup storage and invocations, enabling `shader-f16` and
   * `timestamp-query` when offered.
   * Throws {@linkcode NoGpuAdapterError} when there is no adapter, and {@linkcode GpuKernelError}
   * when the runtime lacks a WGSL language feature the kernels need ({@linkcode REQUIRED_WGSL_FEATURES}).
   */
  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    // Deno's GPU type does not declare wgslLanguageFeatures, which its runtime has
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu as
      | (GPU & { readonly wgslLanguageFeatures?: ReadonlySet<string> })
      | undefined;
    const missing = missingWgslFeatures(gpu?.wgslLanguageFeatures);
    if (gpu && missing.length > 0) {
      throw new GpuKernelError(
        "matmul",
        `it needs the WGSL language feature ${missing.join(", ")}, which this WebGPU ` +
          `implementation does not offer (navigator.gpu.wgslLanguageFeatures)`,
      );
    }
    if (opts.device) {
      return new Gpu(
        opts.device,
        describeDevice(undefined, opts.device),
        opts.maxBindingBytes,
        opts.cpuKernels,
      );
    }
    if (!gpu) throw new NoGpuAdapterError("navigator.gpu is undefined in this runtime");
    const adapter = await gpu.requestAdapter(
      opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined,
    );
    if (!adapter) throw new NoGpuAdapterError("requestAdapter() returned null");
    const l = adapter.limits;
    const requiredFeatures: GPUFeatureName[] = [];
    for (const f of ["shader-f16", "timestamp-query"] as GPUFeatureName[]) {
      if (adapter.features.has(f)) requiredFeatures.push(f);
    }
    const device = await adapter.requestDevice({
      label: "sparsellm",
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
        maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
        maxTextureDimension2D: l.maxTextureDimension2D,
        maxTextureArrayLayers: l.maxTextureArrayLayers,
      },
    });
    return new Gpu(device, describeDevice(adapter, device), opts.maxBindingBytes, opts.cpuKernels);
  }

  /**
   * Largest storage binding in bytes the kernels use: the device's
   * `maxStorageBufferBindingSize` unless lowered (tests lower it to make every kernel split its
   * work into row blocks on small models). Tensors up to `maxBufferSize` may be allocated; the
   * kernels bind larger ones in windows ({@linkcode Gpu.window}).
   */
  get bindingLimit(): number {
    return this.#bindingLimit;
  }

  /** Sets the binding limit: a multiple of 4 bytes, at least 8 KiB (one matmul stage block) and at most the device's. */
  set bindingLimit(bytes: number) {
    const max = this.device.limits.maxStorageBufferBindingSize;
    if (!Number.isInteger(bytes) || bytes % 4 !== 0 || bytes < 8192 || bytes > max) {
      throw new RangeError(
        `Cannot set the binding limit to ${bytes} bytes: expected a multiple of 4 from 8192 to ${max}`,
      );
    }
    this.#bindingLimit = bytes;
  }

  /**
   * Elements that always fit one window: any element range at most this long can be bound with
   * {@linkcode Gpu.window} whatever its start (the binding limit less the offset alignment).
   */
  get windowElements(): number {
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    return Math.floor((this.#bindingLimit - align) / 4);
  }

  /**
   * Binds the elements `[lo, hi)` of a tensor on their own: the window starts at the aligned
   * byte offset at or below element `lo`, and a kernel given the window reads element e at
   * e − `base`. Throws when the range is longer than {@linkcode Gpu.windowElements}.
   */
  window(t: GpuTensor, lo: number, hi: number): BufferWindow {
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    if (!(lo >= 0 && hi >= lo && hi * 4 <= t.buffer.size)) {
      throw new RangeError(
        `Cannot bind elements [${lo}, ${hi}) of a buffer of ${t.buffer.size / 4} elements`,
      );
    }
    if (hi - lo > this.windowElements) {
      throw new RangeError(
        `Cannot bind elements [${lo}, ${hi}) in one window: ${hi - lo} elements exceed ` +
          `${this.windowElements} (binding limit ${this.#bindingLimit} bytes)`,
      );
    }
    const byteOffset = Math.floor((lo * 4) / align) * align;
    const byteLength = Math.max(4, hi * 4 - byteOffset);
    return { buffer: t.buffer, byteOffset, byteLength, base: byteOffset / 4 };
  }

  /** Uniform slot size rounded to the device's offset alignment. */
  uniformAlign(bytes: number): number {
    const a = Math.max(this.#uniformAlign, 16);
    return Math.ceil(bytes / a) * a;
  }

  /** The cached pipeline of a kernel, built on first use. */
  pipeline(kernel: Kernel): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const key = kernelKey(kernel);
    let p = this.#pipelines.get(key);
    if (!p) this.#pipelines.set(key, p = buildPipeline(this.device, kernel, key));
    return p;
  }

  /**
   * The object kept for this device under `key`, made by `create` on first use: per-device
   * tables and scratch that live as long as the device (or until {@linkcode Gpu.uncache}).
   * `release`, given with the call that creates it, frees it (e.g. destroys its buffers) when
   * it is dropped or the device is destroyed.
   *
   * @example A per-device table
   * ```ts
   * import { getGpu } from "./device.ts";
   *
   * const gpu = await getGpu();
   * const names = gpu.cached("example/names", () => new Map<string, number>());
   * console.log(names === gpu.cached("example/names", () => new Map())); // true
   * gpu.uncache("example/names");
   * ```
   */
  cached<T>(key: string, create: () => T, release?: (value: T) => void): T {
    const have = this.#cache.get(key);
    if (have) return have.value as T;
    const value = create();
    this.#cache.set(key, { value, release: release as ((value: never) => void) | undefined });
    return value;
  }

  /** Drops the object cached under `key`, releasing it; nothing happens when there is none. */
  uncache(key: string): void {
    const e = this.#cache.get(key);
    if (!e) return;
    this.#cache.delete(key);
    e.release?.(e.value as never);
  }

  /** Number of pipelines built so far. */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /**
   * Folds a dispatch larger than `maxComputeWorkgroupsPerDimension` in x into (x, y).
   * Kernels compute their linear workgroup index as `wid.x + wid.y * nwg.x`.
   */
  foldWorkgroups(name: string, wg: readonly number[]): [number, number, number] {
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    let x = Math.ceil(wg[0] ?? 1), y = Math.ceil(wg[1] ?? 1);
    const z = Math.ceil(wg[2] ?? 1);
    if (x > max && y === 1) {
      y = Math.ceil(x / max);
      x = Math.ceil(x / y);
    }
    if (x > max || y > max || z > max) {
      throw new GpuKernelError(name, `dispatch [${wg.join(", ")}] exceeds ${max} workgroups`);
    }
    return [x, y, z];
  }

  /** Starts a batch of dispatches. */
  batch(label: string): Batch {
    return new Batch(this, label);
  }

  /** Allocates a tensor from the pool (contents undefined). */
  alloc(shape: readonly number[], label: string, dtype: GpuDType = "f32"): GpuTensor {
    const size = numel(shape);
    const bytes = Math.max(4, size * 4);
    if (bytes > this.device.limits.maxBufferSize) {
      throw new RangeError(
        `Cannot allocate tensor "${label}" of shape [${shape.join(", ")}]: ${bytes} bytes exceed ` +
          `the device's maxBufferSize ${this.device.limits.maxBufferSize}`,
      );
    }
    const buffer = this.pool.acquire(bytes, STORAGE_USAGE, label);
    return { buffer, shape: [...shape], dtype, size };
  }

  /** Returns a tensor's buffer to the pool. */
  free(...tensors: (GpuTensor | undefined)[]): void {
    for (const t of tensors) if (t) this.pool.release(t.buffer);
  }

  /** Allocates a tensor and uploads data into it. */
  upload(
    data: Float32Array | Uint32Array | Int32Array,
    shape: readonly number[],
    label: string,
  ): GpuTensor {
    const dtype: GpuDType = data instanceof Float32Array
      ? "f32"
      : data instanceof Uint32Array
      ? "u32"
      : "i32";
    const t = this.alloc(shape, label, dtype);
    if (data.length !== t.size) {
      throw new RangeError(
        `Cannot upload "${label}": ${data.length} values for shape [${shape.join(", ")}]`,
      );
    }
    this.write(t, data);
    return t;
  }

  /** Writes data into a tensor at an element offset. */
  write(t: GpuTensor, data: Float32Array | Uint32Array | Int32Array, elementOffset = 0): void {
    if (data.length === 0) return;
    this.device.queue.writeBuffer(
      t.buffer,
      elementOffset * 4,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Reads bytes back from a buffer (one map; call once per matrix or layer, not per block). */
  async readBytes(buffer: GPUBuffer, byteOffset: number, byteLength: number): Promise<ArrayBuffer> {
    this.throwIfLost("readback");
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.device.createBuffer({
      size: Math.max(4, size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "readback",
    });
    const enc = this.device.createCommandEncoder({ label: "readback" });
    enc.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      await Promise.resolve();
      this.throwIfLost("readback");
      throw e;
    }
    this.throwIfLost("readback");
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.unmap();
    staging.destroy();
    this.throwIfError("readback");
    return out;
  }

  /** Reads a f32 tensor (or `count` elements from `elementOffset`). */
  async read(t: GpuTensor, elementOffset = 0, count: number = t.size - elementOffset): Promise<
    Float32Array<ArrayBuffer>
  > {
    return new Float32Array(await this.readBytes(t.buffer, elementOffset * 4, count * 4));
  }

  /** Reads a u32 tensor. */
  async readU32(t: GpuTensor): Promise<Uint32Array<ArrayBuffer>> {
    return new Uint32Array(await this.readBytes(t.buffer, 0, t.size * 4));
  }

  /** Waits until all submitted work has finished. */
  async sync(): Promise<void> {
    this.throwIfLost("sync");
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfLost("sync");
    this.throwIfError("sync");
  }

  /** Throws the first uncaptured device error seen since the last check. */
  throwIfError(where: string): void {
    if (this.#error !== undefined) {
      const msg = this.#error;
      this.#error = undefined;
      throw new GpuKernelError(where, msg);
    }
  }

  /** Releases the cached objects and the pooled buffers, and destroys the device. */
  destroy(): void {
    for (const key of [...this.#cache.keys()]) this.uncache(key);
    this.pool.trim();
    this.device.destroy();
  }
}

let shared: Promise<Gpu> | undefined;

/**
 * A process-wide shared {@linkcode Gpu}, created on first call.
 *
 * @example One device per process
 * ```ts
 * import { getGpu } from "./device.ts";
 *
 * const gpu = await getGpu();
 * console.log(gpu === await getGpu()); // true
 * ```
 */
export function getGpu(): Promise<Gpu> {
  shared ??= Gpu.create().catch((e) => {
    shared = undefined;
    throw e;
  });
  return shared;
}
