/**
 * A buffer pool keyed by size and usage, for per-layer scratch buffers that are reallocated
 * at the same sizes many times (the tfjs-backend-webgpu pattern). It also pools the
 * `rgba32float` textures that hold packed matmul operands.
 *
 * @module
 */

/**
 * Usage of pooled operand textures: written by a compute pass or a buffer-to-texture copy, read
 * with `textureLoad` (as read-only storage textures by the matmul kernel).
 */
const TEXTURE_USAGE: GPUTextureUsageFlags = 0x02 | 0x04 | 0x08; // COPY_DST | TEXTURE_BINDING | STORAGE_BINDING

/** Bytes of an `rgba32float` array texture (16 bytes per texel). */
function textureBytes(t: GPUTexture): number {
  return t.width * t.height * t.depthOrArrayLayers * 16;
}

/**
 * Reuses GPU buffers of equal (rounded) size and usage.
 *
 * @example Reuse a scratch buffer
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { STORAGE_USAGE } from "./info.ts";
 * import { BufferPool } from "./pool.ts";
 *
 * const pool = new BufferPool((await getGpu()).device);
 * const a = pool.acquire(1000, STORAGE_USAGE, "scratch"); // 1024 bytes
 * pool.release(a);
 * const b = pool.acquire(1024, STORAGE_USAGE, "again");
 * console.log(a === b, pool.peakBytesInUse); // true 1024
 * ```
 */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<string, GPUBuffer[]>();
  #freeTextures: GPUTexture[] = [];
  #views = new WeakMap<GPUTexture, GPUTextureView>();
  #bytesAllocated = 0;
  #bytesInUse = 0;
  #peakInUse = 0;
  #largest = 0;

  /** Creates a pool on a device. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Bytes in all buffers the pool created and still owns or lent out. */
  get bytesAllocated(): number {
    return this.#bytesAllocated;
  }
  /** Bytes currently lent out. */
  get bytesInUse(): number {
    return this.#bytesInUse;
  }
  /** Largest `bytesInUse` seen. */
  get peakBytesInUse(): number {
    return this.#peakInUse;
  }
  /** Largest single buffer created. */
  get largestBuffer(): number {
    return this.#largest;
  }

  /** Starts a new peak measurement: the peak becomes the bytes in use now. */
  resetPeak(): void {
    this.#peakInUse = this.#bytesInUse;
  }

  /** Rounds a byte size to the pool's bucket size (multiples of 256 bytes). */
  static roundSize(size: number): number {
    return Math.max(256, Math.ceil(size / 256) * 256);
  }

  /**
   * Rounds a texture extent to the pool's classes: four per octave (17, 20, 24, 28, 33, 40, …),
   * so that shrinking shapes reuse a few textures and the padding stays under 25 %. A class is
   * never a power of two (those get one texel more): llvmpipe (lavapipe) compiles a kernel once
   * per combination of "is each bound texture's width and height a power of two", ~8 s for the
   * matmul kernel, so mixing both kinds of extent would compile each matmul variant up to 16 times.
   */
  static roundExtent(n: number): number {
    if (n <= 16) return 17;
    const step = 2 ** Math.floor(Math.log2(n)) / 4;
    const r = Math.ceil(n / step) * step;
    return (r & (r - 1)) === 0 ? r + 1 : r;
  }

  /**
   * Takes an `rgba32float` array texture (16 bytes per texel) of at least `width` × `height`
   * texels and `layers` layers: the smallest free one that fits with at most twice the rounded
   * size, else a new one of the rounded extents. Shrinking shapes thus reuse one texture until
   * they need less than half of it.
   */
  acquireTexture(width: number, height: number, layers: number, label: string): GPUTexture {
    // a power-of-two extent at the device's limit stays as it is
    const max = this.#device.limits.maxTextureDimension2D;
    const w = Math.min(BufferPool.roundExtent(width), Math.max(width, max));
    const h = Math.min(BufferPool.roundExtent(height), Math.max(height, max));
    let best = -1;
    for (let i = 0; i < this.#freeTextures.length; i++) {
      const t = this.#freeTextures[i];
      if (t.width < width || t.height < height || t.depthOrArrayLayers < layers) continue;
      if (textureBytes(t) > 2 * w * h * layers * 16) continue;
      if (best < 0 || textureBytes(t) < textureBytes(this.#freeTextures[best])) best = i;
    }
    let tex: GPUTexture;
    if (best >= 0) {
      tex = this.#freeTextures.splice(best, 1)[0];
      tex.label = label;
    } else {
      tex = this.#device.createTexture({
        size: [w, h, layers],
        format: "rgba32float",
        usage: TEXTURE_USAGE,
        label,
      });
      this.#bytesAllocated += textureBytes(tex);
      this.#largest = Math.max(this.#largest, textureBytes(tex));
    }
    this.#bytesInUse += textureBytes(tex);
    this.#peakInUse = Math.max(this.#peakInUse, this.#bytesInUse);
    return tex;
  }

  /**
   * The `2d-array` view of a pooled texture, created once per texture (kernels bind every layer).
   */
  arrayView(tex: GPUTexture): GPUTextureView {
    let view = this.#views.get(tex);
    if (!view) {
      view = tex.createView({ label: "pooled operand texture", dimension: "2d-array" });
      this.#views.set(tex, view);
    }
    return view;
  }

  /** Returns a texture to the pool. Work already submitted that uses it still completes. */
  releaseTexture(tex: GPUTexture): void {
    this.#freeTextures.push(tex);
    this.#bytesInUse -= textureBytes(tex);
  }

  /** Takes a buffer of at least `size` bytes with exactly `usage`, creating one when none is free. */
  acquire(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const rounded = BufferPool.roundSize(size);
    const key = `${rounded}:${usage}`;
    const list = this.#free.get(key);
    let buf = list?.pop();
    if (!buf) {
      buf = this.#device.createBuffer({ size: rounded, usage, label });
      this.#bytesAllocated += rounded;
      this.#largest = Math.max(this.#largest, rounded);
    } else {
      buf.label = label;
    }
    this.#bytesInUse += rounded;
    this.#peakInUse = Math.max(this.#peakInUse, this.#bytesInUse);
    return buf;
  }

  /** Returns a buffer to the pool. Work already submitted that uses it still completes. */
  release(buf: GPUBuffer): void {
    const key = `${buf.size}:${buf.usage}`;
    let list = this.#free.get(key);
    if (!list) this.#free.set(key, list = []);
    list.push(buf);
    this.#bytesInUse -= buf.size;
  }

  /** Destroys every free buffer and texture. */
  trim(): void {
    for (const t of this.#freeTextures) {
      this.#bytesAllocated -= textureBytes(t);
      t.destroy();
    }
    this.#freeTextures = [];
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#bytesAllocated -= b.size;
        b.destroy();
      }
    }
    this.#free.clear();
  }
}
