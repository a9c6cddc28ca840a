/**
 * Pure parsing and validation of safetensors headers.
 *
 * A safetensors file is an 8-byte little-endian header length `N`, a UTF-8
 * JSON header of `N` bytes, then the data section. The header maps tensor
 * names to `{dtype, shape, data_offsets}` (offsets relative to the data
 * section) and may hold a `__metadata__` map of strings.
 *
 * @module
 */

import { z } from "zod";
import { CheckpointError } from "./errors.ts";
import { DTYPE_SIZES } from "./dtype.ts";

/**
 * Largest header accepted, as in the reference implementation: 100 MiB.
 *
 * @example Reject a huge header early
 * ```ts
 * import { MAX_HEADER_SIZE } from "@sparsellm/sparsellm/io";
 *
 * declare const headerSize: number;
 * if (headerSize > MAX_HEADER_SIZE) throw new RangeError(`Header of ${headerSize} bytes`);
 * ```
 */
export const MAX_HEADER_SIZE: number = 100 * 1024 * 1024;

/**
 * Where one tensor lives in a safetensors file.
 *
 * @example Slice a tensor out of a file
 * ```ts
 * import { parseSafetensorsHeader, type TensorInfo } from "@sparsellm/sparsellm/io";
 *
 * const file = await Deno.readFile("testdata/models/opt-tiny/model.safetensors");
 * const header = parseSafetensorsHeader(file, file.length, "model.safetensors");
 * const t: TensorInfo = header.tensors[0];
 * const bytes = file.subarray(t.begin, t.end); // t.dtype elements of shape t.shape
 * ```
 */
export interface TensorInfo {
  /** Tensor name, such as `"model.decoder.layers.0.fc1.weight"`. */
  name: string;
  /** Safetensors dtype, such as `"F32"`. */
  dtype: string;
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: number[];
  /** Absolute byte offset of the first byte in the file. */
  begin: number;
  /** Absolute byte offset one past the last byte in the file. */
  end: number;
}

/**
 * The validated header of a safetensors file.
 *
 * @example Read a header's metadata
 * ```ts
 * import { parseSafetensorsHeader, type SafetensorsHeader } from "@sparsellm/sparsellm/io";
 *
 * const file = await Deno.readFile("testdata/models/opt-tiny/model.safetensors");
 * const header: SafetensorsHeader = parseSafetensorsHeader(file, file.length, "model.safetensors");
 * console.log(header.metadata.format, header.tensors.length, header.dataStart + header.dataSize);
 * ```
 */
export interface SafetensorsHeader {
  /** Length `N` of the JSON header in bytes. */
  headerSize: number;
  /** Absolute offset of the data section: `8 + N`. */
  dataStart: number;
  /** Size of the data section in bytes. */
  dataSize: number;
  /** The `__metadata__` map, `{}` when absent. */
  metadata: Record<string, string>;
  /** The tensors in header order, with absolute offsets. */
  tensors: TensorInfo[];
}

const Entry = z.object({
  dtype: z.string(),
  shape: z.array(z.int().nonnegative()),
  data_offsets: z.tuple([z.int().nonnegative(), z.int().nonnegative()]),
});

const Metadata = z.record(z.string(), z.string());

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const at = issue.path.length > 0 ? `at "${issue.path.join(".")}": ` : "";
  return `${at}${issue.message}`;
}

/**
 * Reads and checks the header length `N` from the first 8 bytes of a file.
 *
 * @example Read the header length
 * ```ts
 * import { parseHeaderSize } from "@sparsellm/sparsellm/io";
 *
 * const prefix = new Uint8Array(8);
 * new DataView(prefix.buffer).setBigUint64(0, 96n, true);
 * parseHeaderSize(prefix, 1024, "x.safetensors"); // 96
 * ```
 *
 * @param prefix At least the first 8 bytes of the file.
 * @param fileSize Size of the whole file in bytes.
 * @param fileName File name to use in error messages.
 * @returns `N`, with `8 + N <= fileSize` and `N <= MAX_HEADER_SIZE`.
 * @throws {CheckpointError} When the file is too short or `N` is out of range.
 */
export function parseHeaderSize(prefix: Uint8Array, fileSize: number, fileName: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new CheckpointError(
      `"${fileName}" is ${
        Math.min(fileSize, prefix.length)
      } bytes, too short for a safetensors file (at least 8 needed)`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new CheckpointError(
      `Header length ${n} in "${fileName}" exceeds the limit of ${MAX_HEADER_SIZE} bytes (100 MiB)`,
    );
  }
  if (8n + n > BigInt(fileSize)) {
    throw new CheckpointError(
      `Header length ${n} in "${fileName}" exceeds the file size ${fileSize} (truncated file?)`,
    );
  }
  return Number(n);
}

/**
 * Returns the keys of the top-level object of valid JSON text, duplicates
 * included (which `JSON.parse` silently drops).
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (" \t\r\n".includes(text[k])) k++;
        if (text[k] === ":") keys.push(JSON.parse(text.slice(i, j + 1)));
      }
      i = j;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return keys;
}

/**
 * Parses and validates a safetensors header.
 *
 * Checks: header length within limits and the file; UTF-8 JSON object; string
 * `__metadata__`; for each tensor a known dtype, non-negative integer shape,
 * `begin <= end <= dataSize`, byte length equal to the element count times the
 * dtype size; no duplicate names; no overlapping ranges.
 *
 * @example Parsing an in-memory file
 * ```ts
 * import { parseSafetensorsHeader } from "./safetensors.ts";
 * import { strictEqual } from "node:assert/strict";
 *
 * const json = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
 * const header = new TextEncoder().encode(json);
 * const file = new Uint8Array(8 + header.length + 8);
 * new DataView(file.buffer).setBigUint64(0, BigInt(header.length), true);
 * file.set(header, 8);
 * const parsed = parseSafetensorsHeader(file, file.length, "x.safetensors");
 * strictEqual(parsed.tensors[0].begin, 8 + header.length);
 * ```
 *
 * @param prefix The first `8 + N` bytes of the file (or more).
 * @param fileSize Size of the whole file in bytes.
 * @param fileName File name to use in error messages.
 * @returns The header, tensors in header order with absolute offsets.
 * @throws {CheckpointError} When any check fails; the message names the file
 * and, where relevant, the tensor and offending value.
 */
export function parseSafetensorsHeader(
  prefix: Uint8Array,
  fileSize: number,
  fileName: string,
): SafetensorsHeader {
  const headerSize = parseHeaderSize(prefix, fileSize, fileName);
  const dataStart = 8 + headerSize;
  const dataSize = fileSize - dataStart;
  if (prefix.length < dataStart) {
    throw new RangeError(
      `Expected ${dataStart} header bytes of "${fileName}", got ${prefix.length}`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(prefix.subarray(8, dataStart));
  } catch (cause) {
    throw new CheckpointError(`Header of "${fileName}" is not valid UTF-8`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    throw new CheckpointError(`Header of "${fileName}" is not valid JSON: ${msg}`, { cause });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    const kind = json === null ? "null" : Array.isArray(json) ? "an array" : typeof json;
    throw new CheckpointError(`Header of "${fileName}" must be a JSON object, got ${kind}`);
  }
  const seen = new Set<string>();
  for (const key of topLevelKeys(text)) {
    if (seen.has(key)) {
      throw new CheckpointError(
        `Tensor "${key}" appears more than once in the header of "${fileName}"`,
      );
    }
    seen.add(key);
  }

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === "__metadata__") {
      const parsed = Metadata.safeParse(value);
      if (!parsed.success) {
        throw new CheckpointError(
          `Invalid __metadata__ in "${fileName}": it must map strings to strings (${
            firstIssue(parsed.error)
          })`,
        );
      }
      // zod's record output drops a "__proto__" key unchecked: use the JSON's own entries.
      const odd = Object.entries(value as object).find(([, v]) => typeof v !== "string");
      if (odd) {
        throw new CheckpointError(
          `Invalid __metadata__ in "${fileName}": it must map strings to strings (at "${
            odd[0]
          }": expected a string, got ${typeof odd[1]})`,
        );
      }
      metadata = Object.fromEntries(Object.entries(value as object));
      continue;
    }
    const parsed = Entry.safeParse(value);
    if (!parsed.success) {
      throw new CheckpointError(
        `Invalid entry for tensor "${name}" in "${fileName}": ${firstIssue(parsed.error)}`,
      );
    }
    const { dtype, shape, data_offsets: [begin, end] } = parsed.data;
    const size = Object.hasOwn(DTYPE_SIZES, dtype) ? DTYPE_SIZES[dtype] : undefined;
    if (size === undefined) {
      throw new CheckpointError(
        `Tensor "${name}" in "${fileName}" has unsupported dtype "${dtype}"`,
      );
    }
    if (begin > end) {
      throw new CheckpointError(
        `Tensor "${name}" in "${fileName}" has data_offsets [${begin}, ${end}] with begin > end`,
      );
    }
    if (end > dataSize) {
      throw new CheckpointError(
        `Cannot read tensor "${name}" in "${fileName}": offsets [${begin}, ${end}] exceed data size ${dataSize}`,
      );
    }
    const expected = shape.reduce((a, b) => a * b, 1) * size;
    if (end - begin !== expected) {
      throw new CheckpointError(
        `Tensor "${name}" in "${fileName}" has ${end - begin} bytes but shape [${
          shape.join(", ")
        }] of ${dtype} needs ${expected}`,
      );
    }
    tensors.push({ name, dtype, shape, begin: dataStart + begin, end: dataStart + end });
  }

  const sorted = tensors.toSorted((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (b.begin < a.end) {
      const rel = (t: TensorInfo) => `[${t.begin - dataStart}, ${t.end - dataStart}]`;
      throw new CheckpointError(
        `Tensors "${a.name}" ${rel(a)} and "${b.name}" ${rel(b)} in "${fileName}" overlap`,
      );
    }
  }
  return { headerSize, dataStart, dataSize, metadata, tensors };
}
