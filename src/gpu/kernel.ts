/**
 * Kernel descriptors: a small record naming a WGSL compute entry point, its bindings and its
 * `override` constants. One pipeline is built per cache key and serves every shape, because
 * shapes travel in uniforms.
 *
 * @module
 */

/** How a kernel binds one resource, in binding order (`@group(0) @binding(i)`). */
export type BindingKind = "read" | "storage" | "uniform";

/** A compute kernel: WGSL source plus the facts needed to build and cache its pipeline. */
export interface Kernel {
  /** Short name used in labels and error messages, e.g. `matmul`. */
  readonly name: string;
  /** WGSL source text. */
  readonly source: string;
  /** Compute entry point (default `main`). */
  readonly entryPoint?: string;
  /** Binding kinds in binding order. */
  readonly bindings: readonly BindingKind[];
  /** Values for the shader's `override` constants. */
  readonly constants?: Readonly<Record<string, number>>;
}

/** The explicit pipeline cache key of a kernel: name, entry point and override values. */
export function kernelKey(k: Kernel): string {
  const consts = k.constants
    ? Object.keys(k.constants).sort().map((c) => `${c}=${k.constants![c]}`).join(",")
    : "";
  return `${k.name}:${k.entryPoint ?? "main"}:${k.bindings.join("")}:${consts}`;
}

/** Builds uniform buffers field by field (`u32`, `i32`, `f32`, each 4 bytes). */
export class Uniforms {
  #u32: number[] = [];
  #f32View = new Float32Array(1);
  #u32View = new Uint32Array(this.#f32View.buffer);
  /** Appends unsigned 32-bit values. */
  u32(...values: number[]): this {
    for (const v of values) this.#u32.push(v >>> 0);
    return this;
  }
  /** Appends signed 32-bit values. */
  i32(...values: number[]): this {
    for (const v of values) this.#u32.push(v | 0);
    return this;
  }
  /** Appends 32-bit float values. */
  f32(...values: number[]): this {
    for (const v of values) {
      this.#f32View[0] = v;
      this.#u32.push(this.#u32View[0]);
    }
    return this;
  }
  /** The packed bytes, padded to a multiple of 16. */
  bytes(): Uint32Array<ArrayBuffer> {
    const n = Math.max(4, Math.ceil(this.#u32.length / 4) * 4);
    const out = new Uint32Array(n);
    out.set(this.#u32);
    return out;
  }
}
