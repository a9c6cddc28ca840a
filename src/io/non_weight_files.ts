/**
 * The files of a model folder that are not weights (config, tokenizer,
 * generation settings, ...), which a pruned copy keeps unchanged.
 *
 * @module
 */

import { join } from "node:path";
import { isInsideDir } from "./_fs.ts";
import { CheckpointError } from "./errors.ts";

const WEIGHT_SUFFIXES = [
  ".safetensors",
  ".safetensors.index.json",
  ".bin",
  ".bin.index.json",
  ".pt",
  ".pth",
  ".ckpt",
  ".h5",
  ".msgpack",
  ".onnx",
  ".gguf",
];

/**
 * Tells whether a file name is a weight file (any format) or a weight index.
 *
 * @example Weight files and the rest
 * ```ts
 * import { isWeightFile } from "@sparsellm/sparsellm/io";
 *
 * isWeightFile("model-00001-of-00002.safetensors"); // true
 * isWeightFile("pytorch_model.bin.index.json"); // true
 * isWeightFile("tokenizer.json"); // false
 * ```
 *
 * @param name A file name, without folder.
 * @returns `true` for `*.safetensors`, `*.bin`, their `.index.json` files and
 * other weight formats (`.pt`, `.pth`, `.ckpt`, `.h5`, `.msgpack`, `.onnx`, `.gguf`).
 */
export function isWeightFile(name: string): boolean {
  return WEIGHT_SUFFIXES.some((s) => name.endsWith(s));
}

/**
 * Lists the regular files directly in `dir` that are not weight files.
 * Symbolic links to files count as files; sub-folders and dangling links
 * are skipped.
 *
 * @example The files a pruned copy keeps
 * ```ts
 * import { listNonWeightFiles } from "@sparsellm/sparsellm/io";
 *
 * const names = await listNonWeightFiles("testdata/models/opt-tiny");
 * console.log(names); // ["config.json", "generation_config.json", ..., "vocab.json"]
 * ```
 *
 * @param dir The model folder.
 * @returns File names, sorted.
 */
export async function listNonWeightFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (isWeightFile(entry.name)) continue;
    const target = entry.isSymlink
      ? await Deno.stat(join(dir, entry.name)).catch(() => null)
      : entry;
    if (target?.isFile) names.push(entry.name);
  }
  return names.sort();
}

/**
 * Refuses a model folder whose files to copy (see {@linkcode listNonWeightFiles}) include a
 * symbolic link that resolves outside the folder: the rule shards follow, so that an output never
 * carries a copy of a file from elsewhere (`notes.txt -> /etc/hostname`).
 *
 * @example
 * ```ts
 * import { assertNonWeightFilesInside } from "./non_weight_files.ts";
 *
 * await assertNonWeightFilesInside("testdata/models/opt-tiny");
 * ```
 *
 * @param dir The model folder.
 * @throws {CheckpointError} Naming the link and where it leads.
 */
export async function assertNonWeightFilesInside(dir: string): Promise<void> {
  const realDir = await Deno.realPath(dir);
  for (const name of await listNonWeightFiles(dir)) {
    const real = await Deno.realPath(join(dir, name));
    if (!isInsideDir(real, realDir)) {
      throw new CheckpointError(
        `"${name}" in the model folder "${dir}" is a symbolic link to "${real}", outside ` +
          `the model folder, and would be copied into the output; remove the link or put the ` +
          `file itself in the folder`,
      );
    }
  }
}

/**
 * Copies the non-weight files of `srcDir` (see {@linkcode listNonWeightFiles})
 * into `dstDir`, following symbolic links.
 *
 * @example Copy config and tokenizer next to new weights
 * ```ts
 * import { copyNonWeightFiles } from "@sparsellm/sparsellm/io";
 *
 * await Deno.mkdir("out/opt-tiny-pruned", { recursive: true });
 * const copied = await copyNonWeightFiles("testdata/models/opt-tiny", "out/opt-tiny-pruned");
 * ```
 *
 * @param srcDir The model folder.
 * @param dstDir An existing destination folder.
 * @returns The names of the copied files, sorted.
 * @throws {CheckpointError} When a symbolic link among them resolves outside `srcDir`.
 */
export async function copyNonWeightFiles(srcDir: string, dstDir: string): Promise<string[]> {
  await assertNonWeightFilesInside(srcDir);
  const names = await listNonWeightFiles(srcDir);
  for (const name of names) await Deno.copyFile(join(srcDir, name), join(dstDir, name));
  return names;
}
