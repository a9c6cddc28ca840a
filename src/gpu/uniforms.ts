/**
 * Uniform block layouts declared once, in TS: a {@linkcode UniformStruct} lists a kernel's
 * uniform fields in WGSL declaration order, packs a named object into the bytes the WGSL struct
 * expects (padding included), and prints the struct's WGSL text. `tests/kernels/uniform_layout_test.ts`
 * checks every declared layout against the struct of its `kernels/*.wgsl` file.
 *
 * @module
 */

/** A scalar uniform field type (4 bytes each). */
export type UniformType = "u32" | "i32" | "f32";

/**
 * The values {@linkcode UniformStruct.pack} takes: one number per field that is not padding
 * (padding fields start with `_` and are written as 0).
 */
export type UniformValues<F extends string> = Readonly<Record<Exclude<F, `_${string}`>, number>>;

/** One field of a {@linkcode UniformStruct}, in declaration order. */
export interface UniformField {
  /** Field name (`_…` for padding). */
  readonly name: string;
  /** Field type. */
  readonly type: UniformType;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * The layout of one WGSL uniform struct of scalar fields: see {@linkcode uniformStruct}.
 *
 * @example Pack a layout
 * ```ts
 * import { uniformStruct } from "./uniforms.ts";
 *
 * const params = uniformStruct("Params", { n: "u32", alpha: "f32" });
 * console.log(params.pack({ n: 3, alpha: 0.5 })); // Uint32Array(4) [3, 1056964608, 0, 0]
 * ```
 */
export class UniformStruct<F extends string = string> {
  /** The WGSL struct name. */
  readonly name: string;
  /** Every field in order, the padding that rounds the size to 16 bytes included. */
  readonly fields: readonly UniformField[];

  /** Use {@linkcode uniformStruct}. */
  constructor(name: string, fields: readonly UniformField[]) {
    this.name = name;
    const all = [...fields];
    const words = Math.max(4, Math.ceil(all.length / 4) * 4);
    for (let i = 0; all.length < words; i++) {
      const pad = `_p${i}`;
      if (!all.some((f) => f.name === pad)) all.push({ name: pad, type: "u32" });
    }
    this.fields = all;
  }

  /** Size in 32-bit words (a multiple of 4). */
  get words(): number {
    return this.fields.length;
  }

  /**
   * The uniform bytes of `values`, each field at its declared position (u32 and i32 values
   * wrap to 32 bits, f32 values round to f32), padding 0. Throws a `TypeError` naming the field
   * when a value is missing or not a finite number (f32 fields may be ±Infinity or NaN).
   */
  pack(values: UniformValues<F>): Uint32Array<ArrayBuffer> {
    const out = new Uint32Array(this.fields.length);
    const v = values as Readonly<Record<string, number>>;
    for (let i = 0; i < this.fields.length; i++) {
      const f = this.fields[i];
      if (f.name.startsWith("_")) continue;
      const x = v[f.name];
      if (typeof x !== "number" || (f.type !== "f32" && !Number.isFinite(x))) {
        throw new TypeError(
          `Cannot pack uniform struct ${this.name}: field "${f.name}" is ${x}, expected a number`,
        );
      }
      if (f.type === "f32") {
        f32Scratch[0] = x;
        out[i] = u32Scratch[0];
      } else out[i] = f.type === "u32" ? x >>> 0 : x | 0;
    }
    return out;
  }

  /** The WGSL declaration of the struct, one field per line. */
  wgsl(): string {
    return `struct ${this.name} {\n${
      this.fields.map((f) => `  ${f.name}: ${f.type},\n`).join("")
    }}`;
  }
}

/**
 * Declares a uniform struct: fields in WGSL declaration order (object key order), padded at
 * the end to a multiple of 16 bytes with `_p0`, `_p1`, … (numbers not taken yet). Fields named `_…` are padding inside
 * the struct (written as 0, not passed to {@linkcode UniformStruct.pack}).
 *
 * @example The layout of `struct Params { rows: u32, scale: f32, _p0: u32, lower: i32 }`
 * ```ts
 * import { uniformStruct } from "./uniforms.ts";
 *
 * const params = uniformStruct("Params", { rows: "u32", scale: "f32", _p0: "u32", lower: "i32" });
 * const bytes = params.pack({ rows: 8, scale: 2, lower: -1 });
 * console.log(bytes.length, params.wgsl().split("\n").length); // 4 6
 * ```
 */
export function uniformStruct<const T extends Record<string, UniformType>>(
  name: string,
  fields: T,
): UniformStruct<keyof T & string> {
  return new UniformStruct(
    name,
    Object.entries(fields).map(([n, type]) => ({ name: n, type })),
  );
}
