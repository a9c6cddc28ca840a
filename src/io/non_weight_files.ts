/**
 * The files of a model folder that are not weights (config, tokenizer,
 * generation settings, ...), which a pruned copy keeps unchanged.
 *
 * @module
 */

import { join } from "node:path";

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
 * Copies the non-weight files of `srcDir` (see {@linkcode listNonWeightFiles})
 * into `dstDir`, following symbolic links.
 *
 * @param srcDir The model folder.
 * @param dstDir An existing destination folder.
 * @returns The names of the copied files, sorted.
 */
export async function copyNonWeightFiles(srcDir: string, dstDir: string): Promise<string[]> {
  const names = await listNonWeightFiles(srcDir);
  for (const name of names) await Deno.copyFile(join(srcDir, name), join(dstDir, name));
  return names;
}
