/**
 * A buffer pool keyed by size and usage, for per-layer scratch buffers that are reallocated
 * at the same sizes many times (the tfjs-backend-webgpu pattern).
 *
 * @module
 */

/**
 * Reuses GPU buffers of equal (rounded) size and usage.
 *
 * @example Reuse a scratch buffer
 * ```ts
 * import { BufferPool, getGpu, STORAGE_USAGE } from "@sparsellm/sparsellm";
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

  /** Destroys every free buffer. */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#bytesAllocated -= b.size;
        b.destroy();
      }
    }
    this.#free.clear();
  }
}
