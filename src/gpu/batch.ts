/**
 * Batches: many dispatches and copies recorded, then encoded into one command buffer with a
 * single uniform upload.
 *
 * @module
 */

import type { Gpu } from "./device.ts";
import { GpuKernelError } from "./errors.ts";
import type { BufferWindow } from "./info.ts";
import type { BindingKind, Kernel } from "./kernel.ts";
import type { GpuTensor } from "./tensor.ts";

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

/** Whether a binding kind takes a texture view (the others take buffers). */
export function isTextureKind(kind: BindingKind): boolean {
  return kind === "texture" || kind === "storage-texture" || kind === "read-storage-texture";
}

/**
 * Records dispatches and copies, then encodes them into one command buffer.
 *
 * @example Copy a tensor on the GPU
 * ```ts
 * import { getGpu } from "./device.ts";
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
