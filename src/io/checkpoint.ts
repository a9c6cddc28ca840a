/**
 * Reading Hugging Face checkpoint folders: `config.json` plus `model.safetensors`, or shards
 * listed in `model.safetensors.index.json` (writing them: `checkpoint_writer.ts`).
 *
 * @module
 */

import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { CheckpointError } from "./errors.ts";
import { decodeToF32, FLOAT_DTYPES, isFloatDtype } from "./dtype.ts";
import type { TensorInfo } from "./safetensors.ts";
import { SafetensorsFile } from "./safetensors_file.ts";
import { listNonWeightFiles } from "./non_weight_files.ts";
import { isInsideDir, isNotFound, pathProblem } from "./_fs.ts";

/**
 * Name of the single-file weights of a checkpoint.
 *
 * @example Size of a single-file checkpoint
 * ```ts
 * import { SINGLE_FILE } from "@sparsellm/sparsellm/io";
 *
 * const { size } = await Deno.stat(`testdata/models/opt-tiny/${SINGLE_FILE}`);
 * ```
 */
export const SINGLE_FILE: string = "model.safetensors";
/**
 * Name of the index of a sharded checkpoint.
 *
 * @example Tell a sharded checkpoint apart
 * ```ts
 * import { INDEX_FILE } from "@sparsellm/sparsellm/io";
 *
 * const dir = "testdata/models/opt-tiny";
 * const sharded = await Deno.stat(`${dir}/${INDEX_FILE}`).then(() => true, () => false);
 * ```
 */
export const INDEX_FILE: string = "model.safetensors.index.json";
/**
 * Default largest shard size, as in Hugging Face transformers: 5 GB.
 *
 * @example Write 1 GB shards
 * ```ts
 * import { CheckpointWriter, DEFAULT_MAX_SHARD_BYTES } from "@sparsellm/sparsellm/io";
 * import type { TensorPlan } from "@sparsellm/sparsellm/io";
 *
 * declare const plan: TensorPlan[];
 * const maxShardBytes = DEFAULT_MAX_SHARD_BYTES / 5;
 * const writer = await CheckpointWriter.create("out/model", plan, { maxShardBytes });
 * ```
 */
export const DEFAULT_MAX_SHARD_BYTES: number = 5_000_000_000;

/**
 * A tensor of a checkpoint and the weight file that holds it.
 *
 * @example Where a tensor is stored
 * ```ts
 * import { CheckpointReader, type CheckpointTensorInfo } from "@sparsellm/sparsellm/io";
 *
 * const reader = await CheckpointReader.open("testdata/models/opt-tiny");
 * const info: CheckpointTensorInfo = reader.info("model.decoder.embed_tokens.weight");
 * console.log(info.file, info.dtype, info.shape); // model.safetensors F32 [272, 64]
 * reader.close();
 * ```
 */
export interface CheckpointTensorInfo extends TensorInfo {
  /** The weight file holding the tensor, relative to the model folder. */
  file: string;
}

const Index = z.object({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string()),
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/**
 * The first key that appears twice in one object of a JSON text (which `JSON.parse` hides by
 * keeping the last), or `null`. The text must be valid JSON.
 */
function duplicateKey(text: string): string | null {
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") stack.push(new Set());
    else if (c === "[") stack.push(null);
    else if (c === "}" || c === "]") stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const keys = stack[stack.length - 1];
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k])) k++;
      if (keys && text[k] === ":") {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
      i = j;
    }
  }
  return null;
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    const problem = pathProblem(cause);
    if (problem === null) throw cause;
    throw new CheckpointError(`Cannot read ${what}: "${path}" ${problem}`, { cause });
  }
  try {
    const json = JSON.parse(text);
    const dup = duplicateKey(text);
    if (dup !== null) {
      throw new CheckpointError(
        `Cannot read ${what}: "${path}" names ${JSON.stringify(dup)} twice in one object ` +
          `(JSON keeps only the last, so the file contradicts itself)`,
      );
    }
    return json;
  } catch (cause) {
    if (cause instanceof CheckpointError) throw cause;
    const msg = cause instanceof Error ? cause.message : String(cause);
    throw new CheckpointError(`Cannot read ${what}: "${path}" is not valid JSON: ${msg}`, {
      cause,
    });
  }
}

/** Checks a shard path from an index and returns its real path. */
async function resolveShard(
  dir: string,
  realDir: string,
  shard: string,
  indexPath: string,
): Promise<string> {
  if (shard === "" || isAbsolute(shard) || /^([A-Za-z]:|[\\/])/.test(shard)) {
    throw new CheckpointError(
      `Shard path "${shard}" in "${indexPath}" must be a file name relative to the model folder`,
    );
  }
  if (shard.split(/[\\/]/).includes("..")) {
    throw new CheckpointError(`Shard path "${shard}" in "${indexPath}" must not contain ".."`);
  }
  let real: string;
  try {
    real = await Deno.realPath(join(dir, shard));
  } catch (cause) {
    const problem = pathProblem(cause);
    if (problem === null) throw cause;
    throw new CheckpointError(
      isNotFound(cause)
        ? `Shard "${shard}" listed in "${indexPath}" is missing: "${join(dir, shard)}" not found`
        : `Shard "${shard}" listed in "${indexPath}" cannot be opened: "${
          join(dir, shard)
        }" ${problem}`,
      { cause },
    );
  }
  if (!isInsideDir(real, realDir)) {
    throw new CheckpointError(
      `Shard "${shard}" listed in "${indexPath}" resolves to "${real}", outside the model folder "${realDir}"`,
    );
  }
  return real;
}

/**
 * A Hugging Face checkpoint folder opened for reading. Only headers are read
 * on open; tensors are read one at a time.
 *
 * @example Reading a tensor
 * ```ts ignore
 * import { CheckpointReader } from "./checkpoint.ts";
 *
 * const ckpt = await CheckpointReader.open("testdata/models/opt-tiny");
 * try {
 *   console.log(ckpt.config.model_type, ckpt.names().length);
 *   const w = await ckpt.readF32("model.decoder.layers.0.fc1.weight");
 *   console.log(w.length);
 * } finally {
 *   ckpt.close();
 * }
 * ```
 */
export class CheckpointReader {
  /** The model folder, as given to {@linkcode CheckpointReader.open}. */
  readonly dir: string;
  /** The parsed `config.json`, unvalidated beyond being a JSON object. */
  readonly config: Record<string, unknown>;
  #shards: Map<string, SafetensorsFile>;
  #tensors: Map<string, CheckpointTensorInfo>;
  #files: string[];

  private constructor(
    dir: string,
    config: Record<string, unknown>,
    shards: Map<string, SafetensorsFile>,
    tensors: Map<string, CheckpointTensorInfo>,
    files: string[],
  ) {
    this.dir = dir;
    this.config = config;
    this.#shards = shards;
    this.#tensors = tensors;
    this.#files = files;
  }

  /**
   * Opens a model folder: reads `config.json` and the safetensors headers of
   * `model.safetensors` or, when absent, of the shards listed in
   * `model.safetensors.index.json` (shard paths must be plain relative paths
   * that resolve, symbolic links followed, inside the folder).
   *
   * @param dir The model folder.
   * @returns The reader; call {@linkcode CheckpointReader.close} when done.
   * @throws {CheckpointError} When the folder, `config.json`, the index or a
   * weight file is missing or malformed, a shard path is unsafe, or the
   * folder only has PyTorch `.bin` weights.
   */
  static async open(dir: string): Promise<CheckpointReader> {
    let realDir: string;
    try {
      realDir = await Deno.realPath(dir);
      if (!(await Deno.stat(realDir)).isDirectory) {
        throw new CheckpointError(`Model folder "${dir}" is not a folder`);
      }
    } catch (cause) {
      if (!isNotFound(cause)) throw cause;
      throw new CheckpointError(`Model folder "${dir}" not found`, { cause });
    }
    const configPath = join(dir, "config.json");
    const config = await readJson(configPath, "the model config");
    if (typeof config !== "object" || config === null || Array.isArray(config)) {
      throw new CheckpointError(`Model config "${configPath}" must be a JSON object`);
    }

    // Weight file of each tensor name, from the index; undefined for a single file.
    let weightMap: [string, string][] | undefined;
    const indexPath = join(dir, INDEX_FILE);
    if (await exists(join(dir, SINGLE_FILE))) {
      weightMap = undefined;
    } else if (await exists(indexPath)) {
      const json = await readJson(indexPath, "the weight index");
      const parsed = Index.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new CheckpointError(
          `Invalid weight index "${indexPath}" at "${issue.path.join(".")}": ${issue.message}`,
        );
      }
      // zod's record output drops a "__proto__" key: take the entries of the JSON itself.
      weightMap = Object.entries((json as { weight_map: Record<string, unknown> }).weight_map)
        .map(([name, file]) => {
          if (typeof file !== "string") {
            throw new CheckpointError(
              `Invalid weight index "${indexPath}" at "weight_map.${name}": expected a string, got ${
                file === null ? "null" : Array.isArray(file) ? "an array" : typeof file
              }`,
            );
          }
          return [name, file];
        });
    } else if (
      (await exists(join(dir, "pytorch_model.bin"))) ||
      (await exists(join(dir, "pytorch_model.bin.index.json")))
    ) {
      throw new CheckpointError(
        `Model folder "${dir}" has only PyTorch .bin weights; only safetensors is supported (convert it to model.safetensors first)`,
      );
    } else {
      throw new CheckpointError(`Model folder "${dir}" has no ${SINGLE_FILE} or ${INDEX_FILE}`);
    }

    const shards = new Map<string, SafetensorsFile>();
    try {
      const tensors = new Map<string, CheckpointTensorInfo>();
      if (!weightMap) {
        const file = await SafetensorsFile.open(join(dir, SINGLE_FILE));
        shards.set(SINGLE_FILE, file);
        for (const t of file.tensors()) tensors.set(t.name, { ...t, file: SINGLE_FILE });
      } else {
        for (const shard of new Set(weightMap.map(([, f]) => f))) {
          await resolveShard(dir, realDir, shard, indexPath);
          shards.set(shard, await SafetensorsFile.open(join(dir, shard)));
        }
        for (const [name, file] of weightMap) {
          const shard = shards.get(file)!;
          if (!shard.has(name)) {
            throw new CheckpointError(
              `Tensor "${name}" is listed in "${indexPath}" but absent from its shard "${file}"`,
            );
          }
          tensors.set(name, { ...shard.info(name), file });
        }
        // A tensor stored in two shards is named twice: the index would silently pick one.
        for (const [file, shard] of shards) {
          for (const t of shard.tensors()) {
            const listed = tensors.get(t.name)?.file;
            if (listed !== undefined && listed !== file) {
              throw new CheckpointError(
                `Tensor "${t.name}" is stored in both "${listed}" and "${file}" (the index ` +
                  `"${indexPath}" lists "${listed}"); the shards contradict each other`,
              );
            }
          }
        }
      }
      return new CheckpointReader(
        dir,
        config as Record<string, unknown>,
        shards,
        tensors,
        await listNonWeightFiles(dir),
      );
    } catch (e) {
      for (const f of shards.values()) f.close();
      throw e;
    }
  }

  /**
   * Lists the tensor names, in file order (index order when sharded).
   *
   * @returns The names.
   */
  names(): string[] {
    return [...this.#tensors.keys()];
  }

  /**
   * Tells whether the checkpoint has a tensor.
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
   * @returns A copy of its description, including the file that holds it.
   * @throws {CheckpointError} When the checkpoint has no such tensor.
   */
  info(name: string): CheckpointTensorInfo {
    const t = this.#tensors.get(name);
    if (!t) throw new CheckpointError(`Tensor "${name}" not found in checkpoint "${this.dir}"`);
    return { ...t, shape: [...t.shape] };
  }

  /**
   * Reads the raw little-endian bytes of one tensor.
   *
   * @param name Tensor name.
   * @returns A new array of exactly the tensor's bytes.
   * @throws {CheckpointError} When the tensor is absent or its file truncated.
   */
  async readRaw(name: string): Promise<Uint8Array> {
    const { file } = this.info(name);
    return await this.#shards.get(file)!.readRaw(name);
  }

  /**
   * Reads one F32, F16 or BF16 tensor as float32.
   *
   * @param name Tensor name.
   * @returns The values, row-major.
   * @throws {CheckpointError} When the tensor is absent or not a float dtype.
   */
  async readF32(name: string): Promise<Float32Array> {
    const { dtype, file } = this.info(name);
    if (!isFloatDtype(dtype)) {
      throw new CheckpointError(
        `Cannot read tensor "${name}" in "${
          join(this.dir, file)
        }" as float32: dtype ${dtype} is not one of ${FLOAT_DTYPES.join(", ")}`,
      );
    }
    return decodeToF32(await this.readRaw(name), dtype);
  }

  /**
   * Lists the non-weight files of the folder (config, tokenizer, generation
   * settings, ...) to copy next to pruned weights.
   *
   * @returns File names relative to {@linkcode CheckpointReader.dir}, sorted.
   */
  files(): string[] {
    return [...this.#files];
  }

  /** Closes all weight files. */
  close(): void {
    for (const f of this.#shards.values()) f.close();
  }
}
