/**
 * Writing a Hugging Face checkpoint folder: one `model.safetensors`, or shards and
 * `model.safetensors.index.json` above the shard size.
 *
 * @module
 */

import { join } from "node:path";
import { CheckpointError } from "./errors.ts";
import { planBytes, SafetensorsWriter, type TensorPlan } from "./safetensors_writer.ts";
import { DEFAULT_MAX_SHARD_BYTES, INDEX_FILE, SINGLE_FILE } from "./checkpoint.ts";

/**
 * Options of {@linkcode CheckpointWriter.create}.
 *
 * @example Shard at 2 GB and tag the files
 * ```ts
 * import { CheckpointWriter, type CheckpointWriterOptions } from "@sparsellm/sparsellm/io";
 * import type { TensorPlan } from "@sparsellm/sparsellm/io";
 *
 * declare const plan: TensorPlan[];
 * const options: CheckpointWriterOptions = {
 *   maxShardBytes: 2_000_000_000,
 *   metadata: { pruned_by: "sparsellm" },
 * };
 * const writer = await CheckpointWriter.create("out/model", plan, options);
 * ```
 */
export interface CheckpointWriterOptions {
  /**
   * Largest total tensor size of one shard in bytes; above it the checkpoint
   * is sharded. A tensor larger than this gets a shard of its own.
   * Default {@linkcode DEFAULT_MAX_SHARD_BYTES}.
   */
  maxShardBytes?: number;
  /** Extra `__metadata__` entries of every weight file. */
  metadata?: Record<string, string>;
}

/**
 * Writes the weights of a Hugging Face checkpoint into a folder:
 * `model.safetensors`, or `model-0000i-of-0000N.safetensors` shards and
 * `model.safetensors.index.json` when the total exceeds the shard size.
 *
 * @example Writing a one-tensor checkpoint
 * ```ts ignore
 * import { CheckpointWriter } from "./checkpoint_writer.ts";
 *
 * const w = await CheckpointWriter.create("out/model", [{ name: "w", dtype: "F32", shape: [2] }]);
 * await w.write("w", new Uint8Array(new Float32Array([1, 2]).buffer));
 * await w.close();
 * ```
 */
export class CheckpointWriter {
  /** The output folder. */
  readonly dir: string;
  #writers: Map<string, SafetensorsWriter>;
  #fileOf: Map<string, string>;
  #totalSize: number;

  private constructor(
    dir: string,
    writers: Map<string, SafetensorsWriter>,
    fileOf: Map<string, string>,
    totalSize: number,
  ) {
    this.dir = dir;
    this.#writers = writers;
    this.#fileOf = fileOf;
    this.#totalSize = totalSize;
  }

  /**
   * Creates the folder if needed and the weight files with their headers.
   *
   * @param outDir The output folder.
   * @param plan The tensors, in file order.
   * @param options Shard size and metadata.
   * @returns The writer.
   * @throws {CheckpointError} When the plan has duplicate names, unknown
   * dtypes or invalid shapes, or `maxShardBytes` is not a positive integer.
   */
  static async create(
    outDir: string,
    plan: readonly TensorPlan[],
    options: CheckpointWriterOptions = {},
  ): Promise<CheckpointWriter> {
    const max = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new CheckpointError(`maxShardBytes must be a positive integer, got ${max}`);
    }
    const groups: TensorPlan[][] = [[]];
    let shardBytes = 0;
    let total = 0;
    const seen = new Set<string>();
    for (const p of plan) {
      if (seen.has(p.name)) throw new CheckpointError(`Tensor "${p.name}" is planned twice`);
      seen.add(p.name);
      const bytes = planBytes(p);
      if (groups.at(-1)!.length > 0 && shardBytes + bytes > max) {
        groups.push([]);
        shardBytes = 0;
      }
      groups.at(-1)!.push(p);
      shardBytes += bytes;
      total += bytes;
    }
    const n = groups.length;
    const pad = (i: number) => String(i).padStart(5, "0");
    const names = n === 1
      ? [SINGLE_FILE]
      : groups.map((_, i) => `model-${pad(i + 1)}-of-${pad(n)}.safetensors`);

    await Deno.mkdir(outDir, { recursive: true });
    const writers = new Map<string, SafetensorsWriter>();
    const fileOf = new Map<string, string>();
    for (const [i, group] of groups.entries()) {
      writers.set(
        names[i],
        await SafetensorsWriter.create(join(outDir, names[i]), group, options.metadata),
      );
      for (const p of group) fileOf.set(p.name, names[i]);
    }
    return new CheckpointWriter(outDir, writers, fileOf, total);
  }

  /**
   * Lists the weight files being written.
   *
   * @returns File names relative to {@linkcode CheckpointWriter.dir}.
   */
  files(): string[] {
    return [...this.#writers.keys()];
  }

  /**
   * Writes the bytes of one tensor, in any order.
   *
   * @param name A planned tensor name.
   * @param bytes Exactly the tensor's bytes, little-endian.
   * @throws {CheckpointError} When the name is not planned, was already
   * written or the byte length is wrong.
   */
  async write(name: string, bytes: Uint8Array): Promise<void> {
    const file = this.#fileOf.get(name);
    if (!file) {
      throw new CheckpointError(
        `Cannot write tensor "${name}": it is not planned for "${this.dir}"`,
      );
    }
    await this.#writers.get(file)!.write(name, bytes);
  }

  /**
   * Closes all weight files and, when sharded, writes the index.
   *
   * @throws {CheckpointError} When some tensor was not written.
   */
  async close(): Promise<void> {
    const results = await Promise.allSettled([...this.#writers.values()].map((w) => w.close()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    if (this.#writers.size === 1) return;
    const weightMap = Object.fromEntries(
      [...this.#fileOf].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const index = { metadata: { total_size: this.#totalSize }, weight_map: weightMap };
    await Deno.writeTextFile(join(this.dir, INDEX_FILE), JSON.stringify(index, null, 2) + "\n");
  }
}
