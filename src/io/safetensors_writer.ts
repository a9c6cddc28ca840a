/**
 * Writing a safetensors file tensor by tensor, in any order.
 *
 * @module
 */

import { CheckpointError } from "./errors.ts";
import { dtypeSize } from "./dtype.ts";
import type { TensorInfo } from "./safetensors.ts";
import { Serial, writeAt } from "./_fs.ts";

/**
 * A tensor to be written: its name, dtype and shape.
 *
 * @example Plan a BF16 file
 * ```ts
 * import { SafetensorsWriter, type TensorPlan } from "@sparsellm/sparsellm/io";
 *
 * const plan: TensorPlan[] = [
 *   { name: "fc1.weight", dtype: "BF16", shape: [256, 64] },
 *   { name: "fc1.bias", dtype: "BF16", shape: [256] },
 * ];
 * const writer = await SafetensorsWriter.create("out/fc1.safetensors", plan);
 * ```
 */
export interface TensorPlan {
  /** Tensor name. */
  name: string;
  /** Safetensors dtype, such as `"F32"`. */
  dtype: string;
  /** Dimensions, outermost first. */
  shape: readonly number[];
}

/**
 * Returns the number of bytes a planned tensor takes.
 *
 * @example Size of a planned tensor
 * ```ts
 * import { planBytes } from "@sparsellm/sparsellm/io";
 *
 * planBytes({ name: "fc1.weight", dtype: "BF16", shape: [3072, 768] }); // 4718592
 * ```
 *
 * @param plan The tensor.
 * @returns Element count times dtype size.
 * @throws {CheckpointError} When the dtype is unknown or the shape is not a
 * list of non-negative integers.
 */
export function planBytes(plan: TensorPlan): number {
  const size = dtypeSize(plan.dtype);
  if (!plan.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CheckpointError(
      `Tensor "${plan.name}" has invalid shape [${
        plan.shape.join(", ")
      }]: dimensions must be non-negative integers`,
    );
  }
  return plan.shape.reduce((a, b) => a * b, 1) * size;
}

/**
 * Lays out tensors contiguously in plan order and builds the header bytes,
 * padded with spaces to a multiple of 8.
 */
function layout(
  plan: readonly TensorPlan[],
  metadata: Record<string, string>,
): { header: Uint8Array; tensors: TensorInfo[]; size: number } {
  const json: Record<string, unknown> = { __metadata__: { ...metadata, format: "pt" } };
  const names = new Set<string>();
  const rel: [TensorPlan, number, number][] = [];
  let offset = 0;
  for (const p of plan) {
    if (p.name === "__metadata__" || p.name === "") {
      throw new CheckpointError(`Invalid tensor name "${p.name}"`);
    }
    if (names.has(p.name)) throw new CheckpointError(`Tensor "${p.name}" is planned twice`);
    names.add(p.name);
    const bytes = planBytes(p);
    json[p.name] = { dtype: p.dtype, shape: [...p.shape], data_offsets: [offset, offset + bytes] };
    rel.push([p, offset, offset + bytes]);
    offset += bytes;
  }
  let text = JSON.stringify(json);
  const raw = new TextEncoder().encode(text).length;
  text += " ".repeat((8 - (raw % 8)) % 8);
  const body = new TextEncoder().encode(text);
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  const tensors = rel.map(([p, b, e]) => ({
    name: p.name,
    dtype: p.dtype,
    shape: [...p.shape],
    begin: header.length + b,
    end: header.length + e,
  }));
  return { header, tensors, size: header.length + offset };
}

/**
 * Writes a safetensors file whose layout is fixed up front: the header is
 * written on {@linkcode SafetensorsWriter.create}, then each tensor is written
 * at its offset, in any order, and {@linkcode SafetensorsWriter.close} checks
 * that every tensor was written exactly once.
 *
 * @example Writing two tensors
 * ```ts ignore
 * import { SafetensorsWriter } from "./safetensors_writer.ts";
 *
 * const w = await SafetensorsWriter.create("out.safetensors", [
 *   { name: "a", dtype: "F32", shape: [2] },
 *   { name: "b", dtype: "U8", shape: [3] },
 * ]);
 * await w.write("b", new Uint8Array([1, 2, 3]));
 * await w.write("a", new Uint8Array(new Float32Array([1, 2]).buffer));
 * await w.close();
 * ```
 */
export class SafetensorsWriter {
  /** The path of the file being written. */
  readonly path: string;
  /** Final size of the file in bytes. */
  readonly size: number;
  #file: Deno.FsFile;
  #tensors: Map<string, TensorInfo>;
  #written = new Set<string>();
  #closed = false;
  #serial = new Serial();

  private constructor(path: string, file: Deno.FsFile, size: number, tensors: TensorInfo[]) {
    this.path = path;
    this.#file = file;
    this.size = size;
    this.#tensors = new Map(tensors.map((t) => [t.name, t]));
  }

  /**
   * Creates (or truncates) the file and writes its header.
   *
   * @param path Path of the file to write.
   * @param plan The tensors, laid out contiguously in this order.
   * @param metadata Extra `__metadata__` entries; `format` is always `"pt"`.
   * @returns The writer.
   * @throws {CheckpointError} When the plan has duplicate or invalid names,
   * unknown dtypes or invalid shapes.
   */
  static async create(
    path: string,
    plan: readonly TensorPlan[],
    metadata: Record<string, string> = {},
  ): Promise<SafetensorsWriter> {
    const { header, tensors, size } = layout(plan, metadata);
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    try {
      await writeAt(file, 0, header);
      await file.truncate(size);
    } catch (e) {
      file.close();
      throw e;
    }
    return new SafetensorsWriter(path, file, size, tensors);
  }

  /**
   * Lists the planned tensors with their absolute offsets in the file.
   *
   * @returns Copies of the tensor descriptions, in plan order.
   */
  tensors(): TensorInfo[] {
    return [...this.#tensors.values()].map((t) => ({ ...t, shape: [...t.shape] }));
  }

  /**
   * Writes the bytes of one tensor at its offset.
   *
   * @param name A planned tensor name.
   * @param bytes Exactly the tensor's bytes, little-endian.
   * @throws {CheckpointError} When the name is not planned, was already
   * written, the byte length is wrong, or the writer is closed.
   */
  async write(name: string, bytes: Uint8Array): Promise<void> {
    const t = this.#tensors.get(name);
    if (this.#closed) {
      throw new CheckpointError(`Cannot write tensor "${name}": "${this.path}" is closed`);
    }
    if (!t) {
      throw new CheckpointError(
        `Cannot write tensor "${name}": it is not planned for "${this.path}"`,
      );
    }
    if (this.#written.has(name)) {
      throw new CheckpointError(`Cannot write tensor "${name}" to "${this.path}" twice`);
    }
    if (bytes.length !== t.end - t.begin) {
      throw new CheckpointError(
        `Cannot write tensor "${name}" to "${this.path}": got ${bytes.length} bytes, shape [${
          t.shape.join(", ")
        }] of ${t.dtype} needs ${t.end - t.begin}`,
      );
    }
    this.#written.add(name);
    await this.#serial.run(() => writeAt(this.#file, t.begin, bytes));
  }

  /**
   * Waits for pending writes and closes the file.
   *
   * @throws {CheckpointError} When some tensor was not written.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#serial.run(() => Promise.resolve());
    } finally {
      this.#file.close();
    }
    const missing = [...this.#tensors.keys()].filter((n) => !this.#written.has(n));
    if (missing.length > 0) {
      const list = missing.slice(0, 5).map((n) => `"${n}"`).join(", ");
      throw new CheckpointError(
        `Cannot finish "${this.path}": ${missing.length} tensor(s) were not written: ${list}${
          missing.length > 5 ? ", ..." : ""
        }`,
      );
    }
  }
}
