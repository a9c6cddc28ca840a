/**
 * Where model weights come from. The checkpoint reader of the I/O layer satisfies
 * {@linkcode WeightSource}; {@linkcode MemoryWeightSource} holds tensors in memory (tests,
 * pruned weights).
 *
 * @module
 */

/**
 * Dtype and shape of one stored tensor.
 *
 * @example Bytes of a stored tensor
 * ```ts
 * import type { WeightInfo, WeightSource } from "@sparsellm/sparsellm";
 *
 * declare const source: WeightSource;
 * const info: WeightInfo = source.info("lm_head.weight");
 * const bytes = info.shape.reduce((a, b) => a * b, 1) * (info.dtype === "F32" ? 4 : 2);
 * ```
 */
export interface WeightInfo {
  /** Stored element type, e.g. `F32`, `F16`, `BF16`. */
  dtype: string;
  /** Dimensions, outermost first. */
  shape: number[];
}

/**
 * A read-only set of named tensors, decoded to float32 on request.
 *
 * @example A source that serves zeros
 * ```ts
 * import type { WeightSource } from "@sparsellm/sparsellm";
 *
 * const shapes = new Map([["lm_head.weight", [272, 64]]]);
 * const zeros: WeightSource = {
 *   has: (name) => shapes.has(name),
 *   info: (name) => ({ dtype: "F32", shape: shapes.get(name)! }),
 *   readF32: (name) => Promise.resolve(new Float32Array(272 * 64)),
 * };
 * ```
 */
export interface WeightSource {
  /** Whether a tensor exists. */
  has(name: string): boolean;
  /** Dtype and shape of a tensor (throws when absent). */
  info(name: string): WeightInfo;
  /** The tensor's values as float32, row-major. */
  readF32(name: string): Promise<Float32Array>;
}

/**
 * A tensor held in memory.
 *
 * @example A bias vector
 * ```ts
 * import { type MemoryTensor, MemoryWeightSource } from "./weights.ts";
 *
 * const bias: MemoryTensor = { shape: [4], data: new Float32Array([0.1, 0, -0.2, 0.3]) };
 * const source = new MemoryWeightSource({ "model.decoder.layers.0.fc2.bias": bias });
 * ```
 */
export interface MemoryTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array;
}

/**
 * A {@linkcode WeightSource} over float32 tensors held in memory (reported as `F32`).
 *
 * @example Hold tensors in memory
 * ```ts
 * import { MemoryWeightSource } from "./weights.ts";
 *
 * const source = new MemoryWeightSource({ w: { shape: [2, 2], data: new Float32Array(4) } });
 * source.set("b", { shape: [2], data: new Float32Array(2) });
 * console.log(source.names(), source.info("w")); // ["w", "b"] { dtype: "F32", shape: [2, 2] }
 * ```
 */
export class MemoryWeightSource implements WeightSource {
  #tensors: Map<string, MemoryTensor>;

  /** Wraps tensors; each `data` length must equal the product of its `shape`. */
  constructor(tensors: Record<string, MemoryTensor> | Map<string, MemoryTensor>) {
    this.#tensors = new Map(tensors instanceof Map ? tensors : Object.entries(tensors));
    for (const [name, t] of this.#tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (n !== t.data.length) {
        throw new RangeError(
          `Tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(", ")}]`,
        );
      }
    }
  }

  /** Tensor names, in insertion order. */
  names(): string[] {
    return [...this.#tensors.keys()];
  }

  /** Whether a tensor exists. */
  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  /** Dtype (`F32`) and shape of a tensor. */
  info(name: string): WeightInfo {
    const t = this.#tensors.get(name);
    if (!t) throw new RangeError(`Tensor "${name}" not found in the in-memory weights`);
    return { dtype: "F32", shape: [...t.shape] };
  }

  /** The tensor's values (the stored array itself, not a copy). */
  readF32(name: string): Promise<Float32Array> {
    const t = this.#tensors.get(name);
    if (!t) {
      return Promise.reject(new RangeError(`Tensor "${name}" not found in the in-memory weights`));
    }
    return Promise.resolve(t.data);
  }

  /** Adds or replaces a tensor. */
  set(name: string, tensor: MemoryTensor): void {
    this.#tensors.set(name, tensor);
  }
}
