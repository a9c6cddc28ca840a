/**
 * A GPU tensor: a storage buffer that knows its shape and element type.
 *
 * @module
 */

/** Element types held in GPU storage. */
export type GpuDType = "f32" | "u32" | "i32";

/** A dense row-major tensor in a GPU storage buffer. */
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

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A view of a tensor's buffer with another shape (at most as many elements). */
export function view(t: GpuTensor, shape: readonly number[]): GpuTensor {
  const size = numel(shape);
  if (size > t.buffer.size / 4) {
    throw new RangeError(
      `Cannot view a buffer of ${t.buffer.size / 4} elements as [${shape.join(", ")}]`,
    );
  }
  return { buffer: t.buffer, shape: [...shape], dtype: t.dtype, size };
}
