/**
 * The WebGPU runtime: one adapter and device with the adapter's full limits, a pipeline cache
 * keyed by kernel descriptors, a buffer pool, and batches that encode many dispatches into one
 * submit with a single uniform upload.
 *
 * @module
 */

import { GpuDeviceLostError, GpuKernelError, NoGpuAdapterError } from "./errors.ts";
import { type BindingKind, type Kernel, kernelKey } from "./kernel.ts";
import { BufferPool } from "./pool.ts";
import { type GpuDType, type GpuTensor, numel } from "./tensor.ts";

/**
 * Options for {@linkcode Gpu.create}.
 *
 * @example Ask for the discrete GPU
 * ```ts
 * import { Gpu, type GpuOptions } from "@sparsellm/sparsellm";
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
 * import { getGpu, type BufferWindow } from "@sparsellm/sparsellm";
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
 * import { getGpu, type GpuInfo } from "@sparsellm/sparsellm";
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
 * import { getGpu, STORAGE_USAGE } from "@sparsellm/sparsellm";
 *
 * const gpu = await getGpu();
 * const buffer = gpu.pool.acquire(4096, STORAGE_USAGE, "scratch");
 * gpu.pool.release(buffer);
 * ```
 */
export const STORAGE_USAGE: GPUBufferUsageFlags = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC

interface Recorded {
  kernel: Kernel;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  buffers: (GPUBufferBinding | GPUTextureView)[];
  uniform?: Uint32Array<ArrayBuffer>;
  workgroups: [number, number, number];
}

type Step = { kind: "dispatch"; d: Recorded } | {
  kind: "copy";
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  size: number;
} | {
  kind: "texture-copy";
  src: GPUTexelCopyBufferInfo;
  dst: GPUTexelCopyTextureInfo;
  size: number[];
};

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
 * import { missingWgslFeatures } from "@sparsellm/sparsellm";
 *
 * console.log(missingWgslFeatures(new Set())); // ["readonly_and_readwrite_storage_textures"]
 * ```
 */
export function missingWgslFeatures(features: ReadonlySet<string> | undefined): string[] {
  return REQUIRED_WGSL_FEATURES.filter((f) => !features?.has(f));
}

/** Whether a binding kind takes a texture view (the others take buffers). */
function isTextureKind(kind: BindingKind): boolean {
  return kind === "texture" || kind === "storage-texture" || kind === "read-storage-texture";
}

/**
 * Records dispatches and copies, then encodes them into one command buffer.
 *
 * @example Copy a tensor on the GPU
 * ```ts
 * import { getGpu } from "@sparsellm/sparsellm";
 *
 * const gpu = await getGpu();
 * const a = gpu.upload(new Float32Array([1, 2, 3, 4]), [4], "a");
 * const b = gpu.alloc([4], "b");
 * gpu.batch("copy").copy(a.buffer, 0, b.buffer, 0, 16).submit();
 * console.log(await gpu.read(b)); // Float32Array(4) [1, 2, 3, 4]
 * gpu.free(a, b);
 * ```
 */
export class Batch {
  #gpu: Gpu;
  #label: string;
  #steps: Step[] = [];
  #uniformBytes = 0;

  /** Use {@linkcode Gpu.batch}. */
  constructor(gpu: Gpu, label: string) {
    this.#gpu = gpu;
    this.#label = label;
  }

  /** The device this batch records for. */
  get gpu(): Gpu {
    return this.#gpu;
  }

  /** Number of recorded steps. */
  get length(): number {
    return this.#steps.length;
  }

  /**
   * Records one dispatch. `buffers` follow the kernel's binding order (texture views for
   * `texture`, `storage-texture` and `read-storage-texture` bindings), skipping the uniform
   * binding, whose bytes are given in `uniforms`.
   */
  dispatch(
    kernel: Kernel,
    buffers: readonly (GPUBuffer | GpuTensor | BufferWindow | GPUTextureView)[],
    uniforms: Uint32Array<ArrayBuffer> | undefined,
    workgroups: readonly number[],
  ): this {
    const { pipeline, layout } = this.#gpu.pipeline(kernel);
    const kinds = kernel.bindings.filter((b) => b !== "uniform");
    if (buffers.length !== kinds.length) {
      throw new GpuKernelError(
        kernel.name,
        `expected ${kinds.length} buffers, got ${buffers.length}`,
      );
    }
    const limit = this.#gpu.bindingLimit;
    const bufs = buffers.map((b, i): GPUBufferBinding | GPUTextureView => {
      const kind = kinds[i];
      const wantsView = isTextureKind(kind);
      if (wantsView !== b instanceof GPUTextureView) {
        throw new GpuKernelError(
          kernel.name,
          `resource ${i} (a ${kind} binding) must be a ${wantsView ? "texture view" : "buffer"}`,
        );
      }
      if (b instanceof GPUTextureView) return b;
      if ("byteOffset" in b) {
        return { buffer: b.buffer, offset: b.byteOffset, size: b.byteLength };
      }
      const buffer = "buffer" in b ? b.buffer : b;
      const bytes = "buffer" in b ? b.size * 4 : b.size;
      if (bytes > limit) {
        throw new GpuKernelError(
          kernel.name,
          `resource ${i} holds ${bytes} bytes, more than the binding limit ${limit}; ` +
            `bind it in windows (Gpu.window) and split the work into row blocks`,
        );
      }
      return { buffer, size: Math.min(buffer.size, limit) };
    });
    const wg = this.#gpu.foldWorkgroups(kernel.name, workgroups);
    if (wg[0] * wg[1] * wg[2] === 0) return this;
    if (uniforms) this.#uniformBytes += this.#gpu.uniformAlign(uniforms.byteLength);
    this.#steps.push({
      kind: "dispatch",
      d: { kernel, pipeline, layout, buffers: bufs, uniform: uniforms, workgroups: wg },
    });
    if (this.#steps.length >= 8192) this.submit();
    return this;
  }

  /** Records a buffer-to-buffer copy. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): this {
    if (size > 0) this.#steps.push({ kind: "copy", src, srcOffset, dst, dstOffset, size });
    return this;
  }

  /**
   * Records a copy of `size[1]` rows of `size[0]` texels (16 bytes each) from `src.buffer` into
   * layer `layer` of an `rgba32float` texture, at its top-left corner: row r comes from
   * `src.offset + r·src.bytesPerRow` (16-byte aligned, a multiple of 256, as WebGPU requires).
   */
  copyToTexture(
    src: GPUTexelCopyBufferInfo,
    texture: GPUTexture,
    layer: number,
    size: number[],
  ): this {
    if (size[0] > 0 && size[1] > 0) {
      this.#steps.push({
        kind: "texture-copy",
        src,
        dst: { texture, origin: [0, 0, layer] },
        size: [size[0], size[1], 1],
      });
    }
    return this;
  }

  /** Encodes and submits everything recorded so far (without waiting). */
  submit(): void {
    if (this.#steps.length === 0) return;
    this.#gpu.throwIfLost(`batch "${this.#label}"`);
    const device = this.#gpu.device;
    const steps = this.#steps;
    this.#steps = [];
    let arena: GPUBuffer | undefined;
    const offsets: number[] = [];
    if (this.#uniformBytes > 0) {
      const bytes = new Uint8Array(this.#uniformBytes);
      let off = 0;
      for (const s of steps) {
        if (s.kind === "dispatch" && s.d.uniform) {
          offsets.push(off);
          bytes.set(new Uint8Array(s.d.uniform.buffer), off);
          off += this.#gpu.uniformAlign(s.d.uniform.byteLength);
        } else offsets.push(-1);
      }
      arena = device.createBuffer({
        size: bytes.byteLength,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: `${this.#label}/uniforms`,
      });
      device.queue.writeBuffer(arena, 0, bytes);
    }
    this.#uniformBytes = 0;
    const enc = device.createCommandEncoder({ label: this.#label });
    let pass: GPUComputePassEncoder | undefined;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      if (s.kind !== "dispatch") {
        pass?.end();
        pass = undefined;
        if (s.kind === "copy") {
          enc.copyBufferToBuffer(s.src, s.srcOffset, s.dst, s.dstOffset, s.size);
        } else enc.copyBufferToTexture(s.src, s.dst, s.size);
        continue;
      }
      const d = s.d;
      let bi = 0;
      const entries: GPUBindGroupEntry[] = d.kernel.bindings.map((kind, binding) =>
        kind === "uniform"
          ? {
            binding,
            resource: { buffer: arena!, offset: offsets[i], size: d.uniform!.byteLength },
          }
          : isTextureKind(kind)
          ? { binding, resource: d.buffers[bi++] as GPUTextureView }
          : { binding, resource: d.buffers[bi++] as GPUBufferBinding }
      );
      const group = device.createBindGroup({ layout: d.layout, entries, label: d.kernel.name });
      pass ??= enc.beginComputePass({ label: this.#label });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
    pass?.end();
    device.queue.submit([enc.finish()]);
    arena?.destroy();
  }
}

/**
 * One WebGPU device with its pipeline cache and buffer pool.
 *
 * @example Upload and read back a tensor
 * ```ts
 * import { Gpu } from "@sparsellm/sparsellm";
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
  #pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
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
        describe(undefined, opts.device),
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
    return new Gpu(device, describe(adapter, device), opts.maxBindingBytes, opts.cpuKernels);
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
    if (p) return p;
    const layout = this.device.createBindGroupLayout({
      label: kernel.name,
      entries: kernel.bindings.map((kind, binding): GPUBindGroupLayoutEntry =>
        kind === "texture"
          ? {
            binding,
            visibility: GPUShaderStage.COMPUTE,
            texture: { sampleType: "unfilterable-float", viewDimension: "2d-array" },
          }
          : kind === "storage-texture" || kind === "read-storage-texture"
          ? {
            binding,
            visibility: GPUShaderStage.COMPUTE,
            storageTexture: {
              access: kind === "storage-texture" ? "write-only" : "read-only",
              format: "rgba32float",
              viewDimension: "2d-array",
            },
          }
          : {
            binding,
            visibility: GPUShaderStage.COMPUTE,
            buffer: {
              type: kind === "uniform"
                ? "uniform"
                : kind === "read"
                ? "read-only-storage"
                : "storage",
            },
          }
      ),
    });
    const module = this.device.createShaderModule({ code: kernel.source, label: kernel.name });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: kernel.name }),
      compute: {
        module,
        entryPoint: kernel.entryPoint ?? "main",
        ...(kernel.constants ? { constants: { ...kernel.constants } } : {}),
      },
    });
    p = { pipeline, layout };
    this.#pipelines.set(key, p);
    return p;
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

  /** Releases pooled buffers and destroys the device. */
  destroy(): void {
    this.pool.trim();
    this.device.destroy();
  }
}

function describe(adapter: GPUAdapter | undefined, device: GPUDevice): GpuInfo {
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

let shared: Promise<Gpu> | undefined;

/**
 * A process-wide shared {@linkcode Gpu}, created on first call.
 *
 * @example One device per process
 * ```ts
 * import { getGpu } from "@sparsellm/sparsellm";
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
