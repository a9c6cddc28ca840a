/**
 * Safetensors element types: their sizes, and conversion of the floating-point
 * ones (F32, F16, BF16) to and from `Float32Array`.
 *
 * Only little-endian hosts are supported, as in the safetensors format itself.
 *
 * @module
 */

import { CheckpointError } from "./errors.ts";

/**
 * Size in bytes of one element of each safetensors dtype this library knows.
 *
 * @example Bytes of an F16 matrix
 * ```ts
 * import { DTYPE_SIZES } from "@sparsellm/sparsellm/io";
 *
 * const bytes = 3072 * 768 * DTYPE_SIZES.F16; // 4718592
 * ```
 */
export const DTYPE_SIZES: Readonly<Record<string, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
});

/**
 * The dtypes that {@linkcode decodeToF32} and {@linkcode encodeFromF32} convert.
 *
 * @example List the convertible dtypes
 * ```ts
 * import { FLOAT_DTYPES } from "@sparsellm/sparsellm/io";
 *
 * console.log(`supported: ${FLOAT_DTYPES.join(", ")}`); // supported: F32, F16, BF16
 * ```
 */
export const FLOAT_DTYPES: readonly string[] = Object.freeze(["F32", "F16", "BF16"]);

/**
 * Returns the size in bytes of one element of `dtype`.
 *
 * @example Element sizes
 * ```ts
 * import { dtypeSize } from "@sparsellm/sparsellm/io";
 *
 * dtypeSize("BF16"); // 2
 * dtypeSize("I64"); // 8
 * dtypeSize("F4"); // throws CheckpointError
 * ```
 *
 * @param dtype A safetensors dtype such as `"F32"`.
 * @returns The element size in bytes.
 * @throws {CheckpointError} When the dtype is unknown.
 */
export function dtypeSize(dtype: string): number {
  const size = Object.hasOwn(DTYPE_SIZES, dtype) ? DTYPE_SIZES[dtype] : undefined;
  if (size === undefined) {
    throw new CheckpointError(
      `Unsupported dtype "${dtype}": expected one of ${Object.keys(DTYPE_SIZES).join(", ")}`,
    );
  }
  return size;
}

/**
 * Tells whether `dtype` is one that can be converted to and from float32.
 *
 * @example Which tensors can be pruned
 * ```ts
 * import { isFloatDtype } from "@sparsellm/sparsellm/io";
 *
 * isFloatDtype("BF16"); // true
 * isFloatDtype("I64"); // false
 * ```
 *
 * @param dtype A safetensors dtype.
 * @returns `true` for F32, F16 and BF16.
 */
export function isFloatDtype(dtype: string): boolean {
  return FLOAT_DTYPES.includes(dtype);
}

function checkFloat(dtype: string, action: string): number {
  if (!isFloatDtype(dtype)) {
    throw new CheckpointError(
      `Cannot ${action} dtype "${dtype}": only ${FLOAT_DTYPES.join(", ")} are supported`,
    );
  }
  return DTYPE_SIZES[dtype];
}

/** A copy of `bytes` in a fresh buffer when it is not aligned to `align` bytes. */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

/**
 * Decodes little-endian F32, F16 or BF16 elements to float32.
 *
 * For F32 input at a 4-byte aligned offset the result is a view that shares
 * memory with `bytes`; otherwise it is a new array.
 *
 * @example Decoding BF16
 * ```ts
 * import { decodeToF32 } from "./dtype.ts";
 * import { strictEqual } from "node:assert/strict";
 *
 * // 0x3F80 is 1.0 in bfloat16.
 * strictEqual(decodeToF32(new Uint8Array([0x80, 0x3f]), "BF16")[0], 1);
 * ```
 *
 * @param bytes The raw tensor bytes.
 * @param dtype `"F32"`, `"F16"` or `"BF16"`.
 * @returns The values as float32.
 * @throws {CheckpointError} When the dtype is not a float type or the byte
 * length is not a multiple of the element size.
 */
export function decodeToF32(bytes: Uint8Array, dtype: string): Float32Array {
  const size = checkFloat(dtype, "decode");
  if (bytes.length % size !== 0) {
    throw new CheckpointError(
      `Cannot decode ${bytes.length} bytes as ${dtype}: not a multiple of ${size}`,
    );
  }
  const src = aligned(bytes, size);
  const n = bytes.length / size;
  if (dtype === "F32") return new Float32Array(src.buffer, src.byteOffset, n);
  if (dtype === "F16") return Float32Array.from(new Float16Array(src.buffer, src.byteOffset, n));
  const half = new Uint16Array(src.buffer, src.byteOffset, n);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = half[i] << 16;
  return new Float32Array(out.buffer);
}

/**
 * Encodes float32 values as little-endian F32, F16 or BF16 bytes in a new
 * buffer. F16 and BF16 round to nearest, ties to even; values beyond the F16
 * range become infinities, and NaN stays NaN.
 *
 * @example Rounding to BF16
 * ```ts
 * import { encodeFromF32 } from "./dtype.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(encodeFromF32(new Float32Array([1]), "BF16"), new Uint8Array([0x80, 0x3f]));
 * ```
 *
 * @param data The float32 values.
 * @param dtype `"F32"`, `"F16"` or `"BF16"`.
 * @returns The encoded bytes.
 * @throws {CheckpointError} When the dtype is not a float type.
 */
export function encodeFromF32(data: Float32Array, dtype: string): Uint8Array {
  checkFloat(dtype, "encode to");
  if (dtype === "F32") return new Uint8Array(data.slice().buffer);
  if (dtype === "F16") return new Uint8Array(Float16Array.from(data).buffer);
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    out[i] = (b & 0x7fffffff) > 0x7f800000
      ? (b >>> 16) | 0x0040 // NaN: keep sign and payload top, force quiet so it stays NaN
      : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}
