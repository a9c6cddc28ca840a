/**
 * Weight validation: checks a checkpoint's tensors (presence, shape, float dtype) against what
 * an {@linkcode Architecture} expects, before any work.
 *
 * @module
 */

import type { Architecture } from "./arch.ts";
import { expectedShapes } from "./tensor_names.ts";
import type { WeightInfo } from "./weights.ts";

const FLOAT = new Set(["F32", "F16", "BF16"]);

/**
 * Checks one tensor's presence, shape and dtype.
 *
 * @example Catch a transposed tensor
 * ```ts
 * import { checkTensor } from "./validate.ts";
 * import { MemoryWeightSource } from "./weights.ts";
 *
 * const source = new MemoryWeightSource({
 *   "lm_head.weight": { shape: [2, 3], data: new Float32Array(6) },
 * });
 * checkTensor(source, "lm_head.weight", [2, 3]); // passes
 * checkTensor(source, "lm_head.weight", [3, 2]); // throws RangeError naming both shapes
 * ```
 *
 * @throws {RangeError} Naming the tensor and both shapes when it is missing or misshapen.
 */
export function checkTensor(
  source: { has(name: string): boolean; info(name: string): WeightInfo },
  name: string,
  shape: readonly number[],
): void {
  if (!source.has(name)) {
    throw new RangeError(`Tensor "${name}" of shape [${shape.join(", ")}] is missing`);
  }
  const info = source.info(name);
  if (info.shape.length !== shape.length || info.shape.some((v, i) => v !== shape[i])) {
    throw new RangeError(
      `Tensor "${name}" has shape [${info.shape.join(", ")}] but the config implies [${
        shape.join(", ")
      }]`,
    );
  }
  if (!FLOAT.has(info.dtype)) {
    throw new RangeError(
      `Tensor "${name}" has dtype ${info.dtype}; expected one of F32, F16, BF16`,
    );
  }
}

/**
 * Checks that every tensor the forward pass needs exists with the right shape and a float
 * dtype.
 *
 * @example Validate a checkpoint before loading it
 * ```ts
 * import { architectureForSource } from "./families.ts";
 * import { validateWeights } from "./validate.ts";
 * import { parseModelConfig } from "./config.ts";
 * import { CheckpointReader } from "@sparsellm/sparsellm/io";
 *
 * const reader = await CheckpointReader.open("testdata/models/llama-small");
 * const arch = architectureForSource(parseModelConfig(reader.config, "config.json"), reader);
 * validateWeights(arch, reader); // throws RangeError naming the first bad tensor
 * reader.close();
 * ```
 *
 * @throws {RangeError} Naming the first missing or misshapen tensor and both shapes.
 */
export function validateWeights(
  arch: Architecture,
  source: { has(name: string): boolean; info(name: string): WeightInfo },
): void {
  for (const [name, shape] of expectedShapes(arch)) checkTensor(source, name, shape);
}
