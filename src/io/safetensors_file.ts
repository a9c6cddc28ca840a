/**
 * Reading tensors from a safetensors file on disk, one tensor at a time.
 *
 * @module
 */

import { CheckpointError } from "./errors.ts";
import { decodeToF32, FLOAT_DTYPES, isFloatDtype } from "./dtype.ts";
import { parseHeaderSize, parseSafetensorsHeader, type TensorInfo } from "./safetensors.ts";
import { isNotFound, pathProblem, readAt, Serial } from "./_fs.ts";

/**
 * A safetensors file opened for reading. Only the header is read on open;
 * each tensor is read with a seek and a read of exactly its byte range.
 *
 * @example Reading one tensor
 * ```ts ignore
 * import { SafetensorsFile } from "./safetensors_file.ts";
 *
 * const file = await SafetensorsFile.open("testdata/models/opt-tiny/model.safetensors");
 * try {
 *   const bias = await file.readF32("model.decoder.final_layer_norm.bias");
 *   console.log(bias.length);
 * } finally {
 *   file.close();
 * }
 * ```
 */
export class SafetensorsFile {
  /** The path the file was opened with. */
  readonly path: string;
  /** The `__metadata__` map of the header, `{}` when absent. */
  readonly metadata: Record<string, string>;
  /** Size of the file in bytes. */
  readonly size: number;
  #file: Deno.FsFile;
  #tensors: Map<string, TensorInfo>;
  #serial = new Serial();

  private constructor(
    path: string,
    file: Deno.FsFile,
    size: number,
    metadata: Record<string, string>,
    tensors: TensorInfo[],
  ) {
    this.path = path;
    this.#file = file;
    this.size = size;
    this.metadata = metadata;
    this.#tensors = new Map(tensors.map((t) => [t.name, t]));
  }

  /**
   * Opens a file and reads and validates its header.
   *
   * @param path Path of the `.safetensors` file.
   * @returns The opened file; call {@linkcode SafetensorsFile.close} when done.
   * @throws {CheckpointError} When the file is missing or malformed.
   */
  static async open(path: string): Promise<SafetensorsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (cause) {
      if (isNotFound(cause)) {
        throw new CheckpointError(`Cannot open "${path}": file not found`, { cause });
      }
      const problem = pathProblem(cause);
      if (problem !== null) {
        throw new CheckpointError(`Cannot open "${path}": it ${problem}`, { cause });
      }
      throw cause;
    }
    try {
      const { size, isFile, isDirectory } = await file.stat();
      if (!isFile) {
        throw new CheckpointError(
          `Cannot open "${path}": it is ${isDirectory ? "a folder" : "not a regular file"}`,
        );
      }
      const head = await readAt(file, 0, Math.min(8, size), path);
      const headerSize = parseHeaderSize(head, size, path);
      const prefix = new Uint8Array(8 + headerSize);
      prefix.set(head);
      prefix.set(await readAt(file, 8, headerSize, path), 8);
      const header = parseSafetensorsHeader(prefix, size, path);
      return new SafetensorsFile(path, file, size, header.metadata, header.tensors);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * Lists the tensors in header order.
   *
   * @returns Copies of the tensor descriptions, offsets absolute in the file.
   */
  tensors(): TensorInfo[] {
    return [...this.#tensors.values()].map((t) => ({ ...t, shape: [...t.shape] }));
  }

  /**
   * Tells whether the file holds a tensor.
   *
   * @param name Tensor name.
   * @returns `true` when present.
   */
  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  /**
   * Describes one tensor.
   *
   * @param name Tensor name.
   * @returns A copy of its description.
   * @throws {CheckpointError} When the tensor is absent.
   */
  info(name: string): TensorInfo {
    const t = this.#tensors.get(name);
    if (!t) throw new CheckpointError(`Tensor "${name}" not found in "${this.path}"`);
    return { ...t, shape: [...t.shape] };
  }

  /**
   * Reads the raw little-endian bytes of one tensor.
   *
   * @param name Tensor name.
   * @returns A new array of exactly the tensor's bytes.
   * @throws {CheckpointError} When the tensor is absent or the file was truncated.
   */
  async readRaw(name: string): Promise<Uint8Array> {
    const { begin, end } = this.info(name);
    return await this.#serial.run(() => readAt(this.#file, begin, end - begin, this.path));
  }

  /**
   * Reads one F32, F16 or BF16 tensor as float32.
   *
   * @param name Tensor name.
   * @returns The values, row-major.
   * @throws {CheckpointError} When the tensor is absent or not a float dtype.
   */
  async readF32(name: string): Promise<Float32Array> {
    const { dtype } = this.info(name);
    if (!isFloatDtype(dtype)) {
      throw new CheckpointError(
        `Cannot read tensor "${name}" in "${this.path}" as float32: dtype ${dtype} is not one of ${
          FLOAT_DTYPES.join(", ")
        }`,
      );
    }
    return decodeToF32(await this.readRaw(name), dtype);
  }

  /** Closes the file. Further reads fail. */
  close(): void {
    this.#file.close();
  }
}
