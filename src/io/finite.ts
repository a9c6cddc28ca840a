/**
 * Checking decoded tensors for NaN and infinities.
 *
 * @module
 */

import { CheckpointError } from "./errors.ts";

/**
 * Throws when a tensor holds a non-finite value (NaN, `Infinity` or
 * `-Infinity`), naming the tensor, its file, the first such value and its
 * index, and how many more there are.
 *
 * @example Rejecting a tensor with a NaN
 * ```ts
 * import { assertFinite } from "./finite.ts";
 * import { throws } from "node:assert/strict";
 *
 * assertFinite("w", new Float32Array([1, -2, 0]));
 * throws(() => assertFinite("w", new Float32Array([1, NaN, Infinity]), "model.safetensors"), {
 *   name: "CheckpointError",
 *   message: 'Tensor "w" in "model.safetensors" contains NaN at index 1 (and 1 more non-finite value)',
 * });
 * ```
 *
 * @param name Tensor name, such as `"model.decoder.layers.0.fc1.weight"`.
 * @param data The decoded values.
 * @param file The file that holds the tensor, named in the message when given.
 * @throws {CheckpointError} When some value is not finite.
 */
export function assertFinite(name: string, data: Float32Array, file?: string): void {
  const n = data.length;
  let first = 0;
  // x - x is 0 for finite x, NaN for NaN and the infinities.
  while (first < n && data[first] - data[first] === 0) first++;
  if (first === n) return;
  let more = 0;
  for (let i = first + 1; i < n; i++) if (data[i] - data[i] !== 0) more++;
  const v = data[first];
  const value = Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  const where = file === undefined ? "" : ` in "${file}"`;
  const rest = more === 0 ? "" : ` (and ${more} more non-finite value${more === 1 ? "" : "s"})`;
  throw new CheckpointError(`Tensor "${name}"${where} contains ${value} at index ${first}${rest}`);
}
