// Internal file helpers shared by the safetensors reader and writer.

import { createHash } from "node:crypto";
import { isAbsolute, relative, sep } from "node:path";
import { CheckpointError } from "./errors.ts";

/** Reads exactly `length` bytes at absolute `offset` of `file`. */
export async function readAt(
  file: Deno.FsFile,
  offset: number,
  length: number,
  path: string,
): Promise<Uint8Array<ArrayBuffer>> {
  await file.seek(offset, Deno.SeekMode.Start);
  const out = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const n = await file.read(out.subarray(done));
    if (n === null) {
      throw new CheckpointError(
        `Unexpected end of file in "${path}": wanted ${length} bytes at offset ${offset}, got ${done}`,
      );
    }
    done += n;
  }
  return out;
}

/** Writes all of `bytes` at absolute `offset` of `file`. */
export async function writeAt(file: Deno.FsFile, offset: number, bytes: Uint8Array): Promise<void> {
  await file.seek(offset, Deno.SeekMode.Start);
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}

/** Runs async tasks one at a time, so seek+read/write pairs never interleave. */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => {});
    return result;
  }
}

/** Whether `e` means "no such file or folder". */
export function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/** Removes a file or folder (recursively); does nothing when it does not exist. */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/**
 * Says what is wrong with a path when a file system call failed because of
 * the path itself: missing, a folder where a file is expected, a file where a
 * folder is expected, a symbolic link loop, a name too long or holding a NUL
 * byte. Returns `null` for other failures (permissions, I/O), which are not
 * problems of the input.
 */
export function pathProblem(e: unknown): string | null {
  if (e instanceof Deno.errors.NotFound) return "not found";
  if (e instanceof Deno.errors.IsADirectory) return "is a folder, not a file";
  if (e instanceof Deno.errors.NotADirectory) return "has a file where a folder should be";
  if (e instanceof Deno.errors.FilesystemLoop) return "has too many levels of symbolic links";
  if (e instanceof Error && (e as { code?: unknown }).code === "ENAMETOOLONG") {
    return "is too long a file name";
  }
  if (e instanceof TypeError && e.message.includes("NUL byte")) return "contains a NUL byte";
  return null;
}

/** Whether `path` is `parent` or inside it (both absolute and normalized). */
export function isInsideDir(path: string, parent: string): boolean {
  const rel = relative(parent, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** Error codes of a lacking resource (space, quota, memory, file handles) or a failing device. */
const RESOURCE_CODES = new Set([
  "ENOSPC",
  "EDQUOT",
  "EFBIG",
  "EIO",
  "EROFS",
  "ENOMEM",
  "EMFILE",
  "ENFILE",
]);

/**
 * Whether `e` (or an error in its `cause` chain) is a lack of resources or a device failure
 * (disk full, quota, read-only file system, out of memory or file handles) rather than a problem
 * of the input: rerunning or resuming may get past it, so nothing already saved may be dropped
 * because of it.
 */
export function isResourceError(e: unknown): boolean {
  for (let x = e, depth = 0; x instanceof Error && depth < 8; x = x.cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === "string" && RESOURCE_CODES.has(code)) return true;
    if (x instanceof Deno.errors.WriteZero) return true;
  }
  return false;
}

/** SHA-256 of a file's contents, hex, read in chunks (files of any size). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(8 << 20);
  for (let n = await file.read(buf); n !== null; n = await file.read(buf)) {
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}
