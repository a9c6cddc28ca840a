/**
 * A GPU tensor: a storage buffer that knows its shape and element type.
 *
 * @module
 */

/**
 * Element types held in GPU storage.
 *
 * @example Allocate a u32 tensor
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { type GpuDType } from "./tensor.ts";
 *
 * const dtype: GpuDType = "u32";
 * const counts = (await getGpu()).alloc([16], "counts", dtype);
 * ```
 */
export type GpuDType = "f32" | "u32" | "i32";

/**
 * A dense row-major tensor in a GPU storage buffer.
 *
 * @example Upload a 2×3 matrix
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { type GpuTensor } from "./tensor.ts";
 *
 * const gpu = await getGpu();
 * const t: GpuTensor = gpu.upload(new Float32Array(6), [2, 3], "t");
 * console.log(t.shape, t.dtype, t.size); // [2, 3] f32 6
 * ```
 */
export interface GpuTensor {
  /** The storage buffer (may be larger than the tensor). */
  readonly buffer: GPUBuffer;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type (4 bytes each). */
  readonly dtype: GpuDType;
  /** Number of elements. */
  readonly size: number;
}

/**
 * Number of elements of a shape.
 *
 * @example Count the elements of a shape
 * ```ts
 * import { numel } from "./tensor.ts";
 *
 * numel([4, 128, 64]); // 32768
 * ```
 */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A view of a tensor's buffer with another shape (at most as many elements).
 *
 * @example Reshape a flat buffer
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { view } from "./tensor.ts";
 *
 * const gpu = await getGpu();
 * const flat = gpu.alloc([4096], "flat");
 * const matrix = view(flat, [64, 64]); // same buffer, shape [64, 64]
 * ```
 */
export function view(t: GpuTensor, shape: readonly number[]): GpuTensor {
  const size = numel(shape);
  if (size > t.buffer.size / 4) {
    throw new RangeError(
      `Cannot view a buffer of ${t.buffer.size / 4} elements as [${shape.join(", ")}]`,
    );
  }
  return { buffer: t.buffer, shape: [...shape], dtype: t.dtype, size };
}
