/**
 * Kernel descriptors: a small record naming a WGSL compute entry point, its bindings and its
 * `override` constants. One pipeline is built per cache key and serves every shape, because
 * shapes travel in uniforms.
 *
 * @module
 */

/**
 * How a kernel binds one resource, in binding order (`@group(0) @binding(i)`): `read`
 * (read-only storage buffer), `storage` (read-write storage buffer), `uniform` (the dispatch's
 * uniform block), `texture` (a `texture_2d_array<f32>` of unfilterable floats, read with
 * `textureLoad`), `storage-texture` (a write-only `texture_storage_2d_array<rgba32float, write>`)
 * or `read-storage-texture` (a read-only `texture_storage_2d_array<rgba32float, read>`, which
 * needs the WGSL language feature `readonly_and_readwrite_storage_textures`).
 *
 * @example Bindings of a kernel that reads x and writes y
 * ```ts
 * import type { BindingKind } from "./kernel.ts";
 *
 * // @binding(0) x: read-only storage, @binding(1) y: storage, @binding(2) uniforms
 * const bindings: BindingKind[] = ["read", "storage", "uniform"];
 * ```
 */
export type BindingKind =
  | "read"
  | "storage"
  | "uniform"
  | "texture"
  | "storage-texture"
  | "read-storage-texture";

/**
 * A compute kernel: WGSL source plus the facts needed to build and cache its pipeline.
 *
 * @example Scale a vector in place
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { type Kernel, Uniforms } from "./kernel.ts";
 *
 * const scale: Kernel = {
 *   name: "scale",
 *   source: `struct U { n: u32, s: f32 }
 *     @group(0) @binding(0) var<storage, read_write> x: array<f32>;
 *     @group(0) @binding(1) var<uniform> u: U;
 *     @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
 *       if (g.x < u.n) { x[g.x] = x[g.x] * u.s; }
 *     }`,
 *   bindings: ["storage", "uniform"],
 * };
 * const gpu = await getGpu();
 * const x = gpu.upload(new Float32Array([1, 2, 3]), [3], "x");
 * gpu.batch("scale").dispatch(scale, [x], new Uniforms().u32(3).f32(2).bytes(), [1]).submit();
 * ```
 */
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

/**
 * The explicit pipeline cache key of a kernel: name, entry point and override values.
 *
 * @example The cache key of a kernel
 * ```ts
 * import { kernelKey } from "./kernel.ts";
 *
 * const key = kernelKey({
 *   name: "copy",
 *   source: "@compute @workgroup_size(256) fn main() {}",
 *   bindings: ["read", "storage", "uniform"],
 *   constants: { WG: 256 },
 * });
 * console.log(key); // copy:main:readstorageuniform:WG=256
 * ```
 */
export function kernelKey(k: Kernel): string {
  const consts = k.constants
    ? Object.keys(k.constants).sort().map((c) => `${c}=${k.constants![c]}`).join(",")
    : "";
  return `${k.name}:${k.entryPoint ?? "main"}:${k.bindings.join("")}:${consts}`;
}

/**
 * Builds uniform buffers field by field (`u32`, `i32`, `f32`, each 4 bytes).
 *
 * @example Pack a uniform block
 * ```ts
 * import { Uniforms } from "./kernel.ts";
 *
 * const bytes = new Uniforms().u32(128, 256).i32(-1).f32(0.5).bytes();
 * console.log(bytes.length); // 4 (16 bytes)
 * ```
 */
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
