/**
 * Reading text files (evaluation and calibration corpora) with clear errors.
 *
 * @module
 */

function pathName(path: string | URL): string {
  return path instanceof URL ? path.href : path;
}

/**
 * Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF included), or -1 when the bytes are valid.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min, cp] = [1, 0x80, b & 0x1f];
    else if (b >= 0xe0 && b <= 0xef) [need, min, cp] = [2, 0x800, b & 0x0f];
    else if (b >= 0xf0 && b <= 0xf4) [need, min, cp] = [3, 0x10000, b & 0x07];
    else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Largest text file read (bytes): the longest string V8 holds, 2^29 - 24 UTF-16 units. */
export const MAX_TEXT_BYTES = 2 ** 29 - 24;

/**
 * Reads a whole file as UTF-8 text. A leading byte order mark is removed.
 *
 * @example
 * ```ts ignore
 * import { readTextFile } from "./text.ts";
 *
 * const text = await readTextFile("testdata/kjv/test.txt");
 * ```
 *
 * @param path The file to read.
 * @returns The file's text.
 * @throws {Error} when the file does not exist, cannot be read, or is not
 * valid UTF-8; the message names the file (and the offending byte offset).
 */
export async function readTextFile(path: string | URL): Promise<string> {
  const name = pathName(path);
  const fail = (error: unknown): never => {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`The file "${name}" does not exist.`, { cause: error });
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new Error(`"${name}" is a directory, not a text file.`, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot read the file "${name}": ${reason}`, { cause: error });
  };
  // A device or pipe (/dev/zero) could be read forever, and a file beyond the longest string
  // JavaScript holds would fail only after being read whole: refuse both before reading.
  const info = await Deno.stat(path).catch(fail);
  if (info.isDirectory) fail(new Deno.errors.IsADirectory(name));
  if (!info.isFile) throw new Error(`"${name}" is not a regular file (a device, pipe or socket).`);
  if (info.size > MAX_TEXT_BYTES) {
    throw new Error(
      `The file "${name}" has ${info.size} bytes; text files are read whole and may have at ` +
        `most ${MAX_TEXT_BYTES} (about 512 MiB): use a part of it.`,
    );
  }
  const bytes: Uint8Array = await Deno.readFile(path).catch(fail);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    const at = firstInvalidUtf8(bytes);
    throw new Error(
      `The file "${name}" is not valid UTF-8 text${
        at >= 0
          ? ` (invalid byte 0x${bytes[at].toString(16).padStart(2, "0")} at offset ${at})`
          : ""
      }.`,
      { cause: error },
    );
  }
}

/**
 * Reads calibration documents.
 *
 * - A file whose name ends in `.jsonl` holds one JSON object per line with a
 *   string field `text` (the C4 / Hugging Face datasets export format); each
 *   line is one document, blank lines are skipped.
 * - Any other file is one document: its whole text.
 *
 * @example
 * ```ts ignore
 * import { readCalibrationDocs } from "./text.ts";
 *
 * const docs = await readCalibrationDocs("c4-train.00000-of-01024.jsonl");
 * ```
 *
 * @param path The calibration file.
 * @returns The documents' texts, at least one.
 * @throws {Error} when the file cannot be read (see {@linkcode readTextFile}),
 * is empty, or a JSONL line is not an object with a string `text` field; the
 * message names the file and line number.
 */
export async function readCalibrationDocs(path: string | URL): Promise<string[]> {
  const name = pathName(path);
  const text = await readTextFile(path);
  const isJsonl = (path instanceof URL ? path.pathname : path).toLowerCase().endsWith(".jsonl");
  if (!isJsonl) {
    if (text.length === 0) throw new Error(`The calibration file "${name}" is empty.`);
    return [text];
  }
  const docs: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`Line ${i + 1} of "${name}" is not valid JSON: ${reason}`, { cause: error });
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      throw new Error(`Line ${i + 1} of "${name}" is not a JSON object.`);
    }
    const value = (record as Record<string, unknown>).text;
    if (typeof value !== "string") {
      throw new Error(
        `Line ${i + 1} of "${name}" has no string field 'text' (found ${
          value === undefined ? "no such field" : typeof value
        }).`,
      );
    }
    docs.push(value);
  }
  if (docs.length === 0) throw new Error(`The calibration file "${name}" contains no documents.`);
  return docs;
}
