// Deterministic mutation fuzzing of the checkpoint reader, shared by
// tests/io/fuzz_test.ts and bench/fuzz_bench.ts.
//
// Each case is built from a seed and its index alone (own PRNG, no
// Math.random), so a failing case can be replayed with `runFuzzCase`. Cases
// mutate (a) a fixture safetensors file, (b) the index of a sharded copy of
// opt-tiny, or (c) config.json, write the folder to disk, and open it with
// `CheckpointReader`. A case passes when it ends in a `CheckpointError`, or in
// a correct read: every tensor reads back exactly the bytes its header points
// at, inside its file, inside the model folder. Anything else fails the case:
// another error class, a read (or a buffer handed to a read) that exceeds the
// file, a leaked file handle, or a hang. Cases run in a worker so that even a
// synchronous infinite loop is caught: the driver terminates the worker after
// `timeoutMs` and carries on with a fresh one.

import { isAbsolute, join, relative, sep } from "node:path";
// Imported from the modules, not io.ts, so that the worker loads (and type-checks) only these.
import { CheckpointError } from "../../src/io/errors.ts";
import { decodeToF32 } from "../../src/io/dtype.ts";
import { MAX_HEADER_SIZE, parseSafetensorsHeader } from "../../src/io/safetensors.ts";
import { CheckpointReader, INDEX_FILE, SINGLE_FILE } from "../../src/io/checkpoint.ts";
import { CheckpointWriter } from "../../src/io/checkpoint_writer.ts";

// ---------------------------------------------------------------------------
// PRNG

/** Small seeded PRNG (mulberry32): deterministic across runs and platforms. */
export class Rng {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform float in [0, 1), 53 random bits. */
  float(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** A uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** `true` with probability `p`. */
  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  /** A uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A uniform 64-bit unsigned integer. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** Seed of case `index` of a run seeded with `seed` (splitmix32-style mix). */
export function caseSeed(seed: number, index: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b9) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

// ---------------------------------------------------------------------------
// Byte helpers

const enc = new TextEncoder();
const dec = new TextDecoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u64le(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, n), true);
  return out;
}

/** The parts of safetensors bytes, as far as they can be told apart. */
export interface SafetensorsParts {
  /** The header length field, `null` when the file is shorter than 8 bytes. */
  headerSize: bigint | null;
  /** The header bytes, `null` when the length field points past the file. */
  header: Uint8Array | null;
  /** The bytes after the header (everything after the length field when `header` is null). */
  data: Uint8Array;
}

/** Splits safetensors bytes into length field, header and data section (views, not copies). */
export function splitSafetensors(bytes: Uint8Array): SafetensorsParts {
  if (bytes.length < 8) return { headerSize: null, header: null, data: new Uint8Array(0) };
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (8n + n > BigInt(bytes.length)) {
    return { headerSize: n, header: null, data: bytes.subarray(8) };
  }
  const end = 8 + Number(n);
  return { headerSize: n, header: bytes.subarray(8, end), data: bytes.subarray(end) };
}

/** Builds safetensors bytes from header bytes and data, with the right (or a given) length field. */
export function joinSafetensors(header: Uint8Array, data: Uint8Array, size?: bigint): Uint8Array {
  return concat(u64le(size ?? BigInt(header.length)), header, data);
}

// ---------------------------------------------------------------------------
// Byte-level mutations

/** Mutations append a short description of what they did to `ops`. */
export type Ops = string[];

const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a];
const INTERESTING_TEXT = [
  '"',
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  "-",
  "9",
  "e",
  ".",
  "\\",
  " ",
  "\u00e9",
];

/** A position in `[0, len)`, biased towards the header region `[0, hot)`. */
function position(rng: Rng, len: number, hot: number): number {
  if (len === 0) return 0;
  return rng.bool(0.7) && hot > 0 ? rng.int(Math.min(hot, len)) : rng.int(len);
}

function headerEnd(bytes: Uint8Array): number {
  const p = splitSafetensors(bytes);
  return p.header ? 8 + p.header.length : Math.min(bytes.length, 4096);
}

/** Flips 1 to 8 random bits (mostly 1 or 2). */
export function flipBits(
  rng: Rng,
  bytes: Uint8Array,
  ops: Ops,
  hot = headerEnd(bytes),
): Uint8Array {
  const out = bytes.slice();
  if (out.length === 0) return out;
  const k = rng.pick([1, 1, 1, 2, 2, 4, 8]);
  for (let i = 0; i < k; i++) {
    const at = position(rng, out.length, hot);
    const bit = rng.int(8);
    out[at] ^= 1 << bit;
    ops.push(`flip@${at}.${bit}`);
  }
  return out;
}

/** Overwrites a run of 1 to 16 bytes with random or interesting values. */
export function overwriteBytes(
  rng: Rng,
  bytes: Uint8Array,
  ops: Ops,
  hot = headerEnd(bytes),
): Uint8Array {
  const out = bytes.slice();
  if (out.length === 0) return out;
  const at = position(rng, out.length, hot);
  const n = Math.min(rng.range(1, 16), out.length - at);
  const mode = rng.int(3);
  for (let i = 0; i < n; i++) {
    out[at + i] = mode === 0
      ? rng.u32() & 0xff
      : mode === 1
      ? rng.pick(INTERESTING_BYTES)
      : enc.encode(rng.pick(INTERESTING_TEXT))[0];
  }
  ops.push(`overwrite@${at}+${n}`);
  return out;
}

/** Inserts or deletes a short run of bytes (shifting the rest). */
export function spliceBytes(
  rng: Rng,
  bytes: Uint8Array,
  ops: Ops,
  hot = headerEnd(bytes),
): Uint8Array {
  const at = position(rng, bytes.length + 1, hot);
  if (rng.bool() && bytes.length > 0) {
    const n = Math.min(rng.range(1, 8), bytes.length - at);
    ops.push(`delete@${at}+${n}`);
    return concat(bytes.subarray(0, at), bytes.subarray(at + n));
  }
  const ins = rng.bool() ? rng.bytes(rng.range(1, 8)) : enc.encode(rng.pick(INTERESTING_TEXT));
  ops.push(`insert@${at}+${ins.length}`);
  return concat(bytes.subarray(0, at), ins, bytes.subarray(at));
}

/** Truncates at a random or interesting point. */
export function truncate(
  rng: Rng,
  bytes: Uint8Array,
  ops: Ops,
  points: readonly number[] = [],
): Uint8Array {
  const candidates = [0, 1, 7, 8, 9, 16, bytes.length - 1, ...points].filter((p) =>
    p >= 0 && p < bytes.length
  );
  const at = rng.bool(0.5) && candidates.length > 0
    ? rng.pick(candidates)
    : rng.int(Math.max(bytes.length, 1));
  ops.push(`truncate@${at}`);
  return bytes.slice(0, at);
}

/** Appends 1 byte to 4 KiB of garbage. */
export function appendGarbage(rng: Rng, bytes: Uint8Array, ops: Ops): Uint8Array {
  const n = rng.pick([1, 3, 8, 100, 4096]);
  const tail = rng.bool() ? rng.bytes(n) : enc.encode('{"x":1}'.repeat(Math.ceil(n / 7)));
  ops.push(`append+${tail.length}`);
  return concat(bytes, tail);
}

const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xc0, 0x80], // overlong NUL
  [0xc3], // truncated two-byte sequence
  [0xe2, 0x82], // truncated three-byte sequence
  [0xed, 0xa0, 0x80], // UTF-16 surrogate
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf8, 0x88, 0x80, 0x80, 0x80], // five-byte form
];

/** Inserts an invalid UTF-8 sequence, preferably inside a JSON string. */
export function insertInvalidUtf8(rng: Rng, text: Uint8Array, ops: Ops): Uint8Array {
  const quotes: number[] = [];
  for (let i = 0; i < text.length; i++) if (text[i] === 0x22) quotes.push(i + 1);
  const at = quotes.length > 0 && rng.bool(0.8) ? rng.pick(quotes) : rng.int(text.length + 1);
  const bad = new Uint8Array(rng.pick(INVALID_UTF8));
  ops.push(`utf8@${at}:${[...bad].map((b) => b.toString(16)).join("")}`);
  return concat(text.subarray(0, at), bad, text.subarray(at));
}

// ---------------------------------------------------------------------------
// Safetensors mutations

/** Values that `JSON.stringify` cannot produce, spliced in as raw text. */
class RawJson {
  #values: string[] = [];

  /** A placeholder for `text`, replaced by {@linkcode RawJson.stringify}. */
  add(text: string): string {
    this.#values.push(text);
    return `@@RAW_${this.#values.length - 1}@@`;
  }

  stringify(value: unknown): string {
    const text = JSON.stringify(value) ?? "null";
    return text.replace(/"@@RAW_(\d+)@@"/g, (_, i) => this.#values[Number(i)]);
  }
}

const RAW_NUMBERS = [
  "1e400",
  "-1e400",
  "-0",
  "1E2",
  "1.0",
  "2.5e1",
  "18446744073709551616",
  "9007199254740993",
  "1e-400",
  "0.1e1",
  "00", // invalid JSON
  "0x10", // invalid JSON
  "NaN", // invalid JSON
  "Infinity", // invalid JSON
  "+1", // invalid JSON
  ".5", // invalid JSON
];

const DTYPES = [
  "F64",
  "F32",
  "F16",
  "BF16",
  "F8_E4M3",
  "F8_E5M2",
  "I64",
  "I32",
  "I16",
  "I8",
  "U64",
  "U32",
  "U16",
  "U8",
  "BOOL",
];
const SIZES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};
const BAD_DTYPES = [
  "",
  "f32",
  "FP32",
  "float32",
  "F32 ",
  "F4",
  "C64",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "F\u0000",
  "\u00c9",
];

function deepArray(depth: number): string {
  return "[".repeat(depth) + "]".repeat(depth);
}

interface JsonContext {
  raw: RawJson;
  dataSize: number;
  offsets: number[];
}

function weirdNumber(rng: Rng, ctx: JsonContext): unknown {
  switch (rng.int(6)) {
    case 0:
      return ctx.raw.add(rng.pick(RAW_NUMBERS));
    case 1:
      return rng.pick([-1, -7, 0.5, 1.5, -0.5, 1e20, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53]);
    case 2:
      return rng.pick([Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 2 ** 70]);
    case 3:
      return rng.pick([ctx.dataSize, ctx.dataSize + 1, ctx.dataSize - 1, MAX_HEADER_SIZE]);
    case 4:
      return ctx.offsets.length > 0 ? rng.pick(ctx.offsets) + rng.range(-4, 4) : 0;
    default:
      return rng.int(ctx.dataSize + 2);
  }
}

function weirdValue(rng: Rng, ctx: JsonContext): unknown {
  switch (rng.int(12)) {
    case 0:
      return null;
    case 1:
      return rng.bool();
    case 2:
      return rng.pick(["", "F32", "12", "[1,2]", "x".repeat(1000)]);
    case 3:
      return [];
    case 4:
      return {};
    case 5:
      return [[1, 2]];
    case 6:
      return ctx.raw.add(deepArray(rng.pick([2, 100, 10_000, 100_000])));
    case 7:
      return { dtype: "F32", shape: [1], data_offsets: [0, 4] };
    case 8:
      return [weirdNumber(rng, ctx)];
    default:
      return weirdNumber(rng, ctx);
  }
}

function weirdArray(rng: Rng, ctx: JsonContext, like: unknown): unknown {
  const base = Array.isArray(like) ? [...like] : [];
  switch (rng.int(7)) {
    case 0: // replace one element
      if (base.length > 0) base[rng.int(base.length)] = weirdNumber(rng, ctx);
      else base.push(weirdNumber(rng, ctx));
      return base;
    case 1: // non-number element
      base.splice(rng.int(base.length + 1), rng.int(2), weirdValue(rng, ctx));
      return base;
    case 2: // drop an element
      base.splice(rng.int(Math.max(base.length, 1)), 1);
      return base;
    case 3: // add an element
      base.splice(rng.int(base.length + 1), 0, rng.pick([0, 1, 2, weirdNumber(rng, ctx)]));
      return base;
    case 4:
      return rng.pick([[], [0], [0, 0], [1, 0]]);
    case 5:
      return Array.from({ length: rng.pick([3, 8, 64]) }, () => rng.pick([1, 2, 0]));
    default:
      return weirdValue(rng, ctx);
  }
}

type Entry = Record<string, unknown>;

/** `obj[key] = value` as an own property, even for `"__proto__"` (as `JSON.parse` does). */
function setKey(obj: Entry, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function asEntry(value: unknown): Entry | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Entry
    : null;
}

function numelOf(shape: unknown): number | null {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return null;
  return shape.reduce((a: number, b: number) => a * b, 1);
}

/** A reshape of `n` elements: same element count, other dimensions. */
function reshape(rng: Rng, n: number): number[] {
  if (n === 0) return rng.pick([[0], [0, 5], [3, 0]]);
  if (n === 1) return rng.pick([[], [1], [1, 1]]);
  const divisors: number[] = [];
  for (let d = 2; d * d <= n; d++) if (n % d === 0) divisors.push(d);
  if (divisors.length === 0 || rng.bool(0.2)) return rng.bool() ? [n] : [1, n];
  const d = rng.pick(divisors);
  return rng.bool() ? [d, n / d] : [n / d, d, 1];
}

const HEADER_EDITS = [
  "dtype",
  "retype",
  "shape",
  "reshape",
  "offsets",
  "shift",
  "swap",
  "overlap",
  "deleteField",
  "deleteTensor",
  "addTensor",
  "renameTensor",
  "entryValue",
  "extraField",
  "metadata",
] as const;

function editHeader(rng: Rng, obj: Entry, ctx: JsonContext, ops: Ops): void {
  const names = Object.keys(obj).filter((k) => k !== "__metadata__");
  const edit = rng.pick(HEADER_EDITS);
  const name = names.length > 0 ? rng.pick(names) : "x";
  const entry = asEntry(obj[name]);
  ops.push(`${edit}:${name.length > 40 ? name.slice(-40) : name}`);
  if (!entry && !["deleteTensor", "addTensor", "renameTensor", "metadata"].includes(edit)) {
    setKey(obj, name, weirdValue(rng, ctx));
    return;
  }
  const e = entry ?? {};
  const offs = Array.isArray(e.data_offsets) ? e.data_offsets : [];
  switch (edit) {
    case "dtype":
      e.dtype = rng.bool(0.6)
        ? rng.pick(rng.bool() ? DTYPES : BAD_DTYPES)
        : rng.bool()
        ? String.fromCharCode(...rng.bytes(rng.range(0, 6)).map((b) => 32 + (b % 95)))
        : weirdValue(rng, ctx);
      break;
    case "retype": { // a dtype and shape that still fit the byte range (usually a valid file)
      const n = numelOf(e.shape);
      const size = SIZES[String(e.dtype)];
      const dtype = rng.pick(DTYPES);
      if (n !== null && size && (n * size) % SIZES[dtype] === 0) {
        e.dtype = dtype;
        e.shape = reshape(rng, (n * size) / SIZES[dtype]);
      }
      break;
    }
    case "shape":
      e.shape = weirdArray(rng, ctx, e.shape);
      break;
    case "reshape": {
      const n = numelOf(e.shape);
      if (n !== null) e.shape = reshape(rng, n);
      break;
    }
    case "offsets":
      e.data_offsets = weirdArray(rng, ctx, e.data_offsets);
      break;
    case "shift": { // keeps the length, may overlap or leave the data section
      const d = rng.pick([-8, -4, -1, 1, 4, 8, ctx.dataSize, -ctx.dataSize]);
      if (offs.length === 2 && offs.every((o) => typeof o === "number")) {
        e.data_offsets = offs.map((o) => (o as number) + d);
      }
      break;
    }
    case "swap":
      e.data_offsets = [...offs].reverse();
      break;
    case "overlap": { // point at (part of) another tensor's range
      const other = asEntry(obj[rng.pick(names)]);
      if (other && Array.isArray(other.data_offsets)) {
        const [b, en] = other.data_offsets as number[];
        e.data_offsets = rng.bool() ? [b, en] : [b + 4, en + 4];
        if (rng.bool()) {
          e.dtype = other.dtype;
          e.shape = other.shape;
        }
      }
      break;
    }
    case "deleteField":
      delete e[rng.pick(["dtype", "shape", "data_offsets"])];
      break;
    case "deleteTensor":
      delete obj[name];
      break;
    case "addTensor": {
      const at = rng.bool() ? ctx.dataSize : rng.pick([0, ...ctx.offsets]);
      const shape = rng.pick([[0], [0, 3], [], [1], [2]]);
      const dtype = rng.pick(DTYPES);
      const n = numelOf(shape)! * SIZES[dtype];
      setKey(
        obj,
        rng.pick(["extra", "", "__proto__", "a".repeat(300), "x\u0000y", "é", name + "."]),
        {
          dtype,
          shape,
          data_offsets: [at, at + n],
        },
      );
      break;
    }
    case "renameTensor": {
      const value = obj[name];
      delete obj[name];
      setKey(
        obj,
        rng.pick(["", " ", "__proto__", "constructor", "__metadata__", "\ud800", "\\", "."]),
        value,
      );
      break;
    }
    case "entryValue":
      setKey(obj, name, weirdValue(rng, ctx));
      break;
    case "extraField":
      setKey(e, rng.pick(["extra", "__proto__", "dtype ", "offsets"]), weirdValue(rng, ctx));
      break;
    case "metadata":
      obj.__metadata__ = rng.pick<unknown>([
        null,
        [],
        "pt",
        { format: 1 },
        { format: "pt", n: null },
        { format: { a: "b" } },
        JSON.parse('{"__proto__":"x"}'),
        JSON.parse('{"__proto__":{"a":"1"},"format":"pt"}'),
        {},
        weirdValue(rng, ctx),
      ]);
      break;
  }
  if (entry === null && !["deleteTensor", "addTensor", "renameTensor", "metadata"].includes(edit)) {
    setKey(obj, name, e);
  }
}

/** Text-level header edits that a parsed object cannot express. */
function editHeaderText(rng: Rng, text: string, obj: Entry, ops: Ops): string {
  const names = Object.keys(obj).filter((k) => k !== "__metadata__");
  const kind = rng.int(9);
  switch (kind) {
    case 0: { // duplicate a top-level key, same or different value
      const key = names.length > 0 && rng.bool(0.8) ? rng.pick(names) : "__metadata__";
      const value = rng.bool()
        ? JSON.stringify(obj[key] ?? {})
        : '{"dtype":"U8","shape":[0],"data_offsets":[0,0]}';
      const spelled = rng.bool(0.8)
        ? JSON.stringify(key)
        : JSON.stringify(key).replace(/[a-z]/, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
      ops.push(`dupKey:${key.slice(-40)}`);
      return rng.bool()
        ? `{${spelled}:${value},${text.slice(1)}`
        : `${text.slice(0, -1)},${spelled}:${value}}`;
    }
    case 1: { // duplicate a key inside one entry (allowed: last one wins)
      ops.push("dupInnerKey");
      return text.replace('"dtype":', '"dtype":"I8","dtype":');
    }
    case 2: { // not an object
      const alt = rng.pick([
        "[]",
        "null",
        "1",
        '"str"',
        "true",
        "{}",
        "[{}]",
        "",
        " ",
        '{"__metadata__":{}}',
        '{"a":1}',
        deepArray(50_000),
        '{"a":' + deepArray(50_000) + "}",
      ]);
      ops.push(`header=${alt.slice(0, 20)}`);
      return alt;
    }
    case 3:
      ops.push("bom");
      return "\ufeff" + text;
    case 4:
      ops.push("trailing");
      return text + rng.pick([" x", "}", ",", "\u0000", "{}", "  \n"]);
    case 5:
      ops.push("truncText");
      return text.slice(0, rng.int(text.length));
    case 6:
      ops.push("escapes");
      return text.replace(/"(model)/, rng.pick(['"\\u006d', '"\\ud800', '"\\', '"\\x']));
    case 7:
      ops.push("pad");
      return rng.bool() ? text + " ".repeat(rng.range(1, 16)) : " \n\t" + text;
    default:
      ops.push("textSplice");
      return dec.decode(spliceBytes(rng, enc.encode(text), [], Infinity));
  }
}

/** Rewrites the header JSON of a safetensors file (structured edits, text edits, bad UTF-8). */
export function rewriteHeaderJson(rng: Rng, bytes: Uint8Array, ops: Ops): Uint8Array {
  const parts = splitSafetensors(bytes);
  let obj: Entry | null = null;
  try {
    obj = parts.header ? asEntry(JSON.parse(dec.decode(parts.header))) : null;
  } catch {
    obj = null;
  }
  if (!parts.header || !obj) return overwriteBytes(rng, bytes, ops);
  const ctx: JsonContext = {
    raw: new RawJson(),
    dataSize: parts.data.length,
    offsets: Object.values(obj).flatMap((v) => {
      const e = asEntry(v);
      return e && Array.isArray(e.data_offsets) ? e.data_offsets as number[] : [];
    }),
  };
  const edits = rng.range(0, 3);
  for (let i = 0; i < edits; i++) editHeader(rng, obj, ctx, ops);
  let text = ctx.raw.stringify(obj);
  if (edits === 0 || rng.bool(0.3)) text = editHeaderText(rng, text, obj, ops);
  let header: Uint8Array = enc.encode(text);
  if (rng.bool(0.15)) header = insertInvalidUtf8(rng, header, ops);
  if (rng.bool(0.3)) header = concat(header, enc.encode(" ".repeat((8 - (header.length % 8)) % 8)));
  return joinSafetensors(header, parts.data);
}

/** Rewrites the 8-byte header length with a random or interesting value. */
export function rewriteHeaderLength(rng: Rng, bytes: Uint8Array, ops: Ops): Uint8Array {
  const parts = splitSafetensors(bytes);
  const n = parts.headerSize ?? 0n;
  const size = BigInt(bytes.length);
  const max = BigInt(MAX_HEADER_SIZE);
  const value = rng.bool(0.2) ? rng.u64() : rng.pick([
    0n,
    1n,
    2n,
    7n,
    8n,
    n - 1n,
    n + 1n,
    n - 8n,
    n + 8n,
    size - 8n,
    size - 7n,
    size,
    max,
    max + 1n,
    1n << 32n,
    (1n << 32n) + n,
    1n << 53n,
    (1n << 53n) + 1n,
    1n << 63n,
    (1n << 64n) - 1n,
    BigInt(rng.int(bytes.length)),
  ]);
  const out = bytes.length >= 8 ? bytes.slice() : concat(bytes, new Uint8Array(8 - bytes.length));
  out.set(u64le(value), 0);
  ops.push(`headerLen=${BigInt.asUintN(64, value)}`);
  return out;
}

/** Byte offsets worth truncating at: header end and tensor boundaries, each +-1. */
function boundaries(bytes: Uint8Array): number[] {
  const parts = splitSafetensors(bytes);
  if (!parts.header) return [];
  const start = 8 + parts.header.length;
  const points = [start];
  try {
    for (const v of Object.values(JSON.parse(dec.decode(parts.header)))) {
      const e = asEntry(v);
      if (e && Array.isArray(e.data_offsets)) {
        for (const o of e.data_offsets) if (typeof o === "number") points.push(start + o);
      }
    }
  } catch {
    // not JSON: header end only
  }
  return points.flatMap((p) => [p - 1, p, p + 1]);
}

const SAFETENSORS_MUTATIONS = [
  "flip",
  "overwrite",
  "splice",
  "truncate",
  "headerLength",
  "headerJson",
  "headerJson",
  "headerJson",
  "append",
] as const;

/** Applies 1 to 3 random mutations to safetensors bytes. */
export function mutateSafetensors(rng: Rng, bytes: Uint8Array, ops: Ops): Uint8Array {
  let out = bytes;
  const k = rng.bool(0.7) ? 1 : rng.range(2, 3);
  for (let i = 0; i < k; i++) {
    switch (rng.pick(SAFETENSORS_MUTATIONS)) {
      case "flip":
        out = flipBits(rng, out, ops);
        break;
      case "overwrite":
        out = overwriteBytes(rng, out, ops);
        break;
      case "splice":
        out = spliceBytes(rng, out, ops);
        break;
      case "truncate":
        out = truncate(rng, out, ops, boundaries(out));
        break;
      case "headerLength":
        out = rewriteHeaderLength(rng, out, ops);
        break;
      case "headerJson":
        out = rewriteHeaderJson(rng, out, ops);
        break;
      case "append":
        out = appendGarbage(rng, out, ops);
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON file mutations (config.json, index)

function mutateJsonText(rng: Rng, bytes: Uint8Array, ops: Ops): Uint8Array {
  switch (rng.int(7)) {
    case 0:
      return truncate(rng, bytes, ops);
    case 1:
      return flipBits(rng, bytes, ops, bytes.length);
    case 2:
      return overwriteBytes(rng, bytes, ops, bytes.length);
    case 3:
      return spliceBytes(rng, bytes, ops, bytes.length);
    case 4:
      return insertInvalidUtf8(rng, bytes, ops);
    case 5:
      ops.push("bom");
      return concat(new Uint8Array([0xef, 0xbb, 0xbf]), bytes);
    default:
      ops.push("empty");
      return new Uint8Array(0);
  }
}

const WRONG_TYPES: readonly unknown[] = [null, true, 0, -1, 1.5, "64", "", [], [64], {}, {
  a: null,
}];

/** Mutates config.json: text damage, or valid JSON of the wrong shape or field types. */
export function mutateConfig(rng: Rng, bytes: Uint8Array, ops: Ops): Uint8Array {
  if (rng.bool(0.4)) return mutateJsonText(rng, bytes, ops);
  const config = JSON.parse(dec.decode(bytes)) as Entry;
  if (rng.bool(0.3)) {
    const alt = rng.pick<unknown>([[], null, 1, "opt", true, [config], {}]);
    ops.push(`config=${JSON.stringify(alt).slice(0, 20)}`);
    return enc.encode(JSON.stringify(alt));
  }
  const k = rng.range(1, 4);
  const keys = Object.keys(config);
  for (let i = 0; i < k; i++) {
    const key = rng.pick(keys);
    if (rng.bool(0.2)) delete config[key];
    else config[key] = rng.pick(WRONG_TYPES);
    ops.push(`config.${key}`);
  }
  if (rng.bool(0.2)) {
    ops.push("config.__proto__");
    return enc.encode(JSON.stringify(config).replace("{", '{"__proto__":{"model_type":1},'));
  }
  return enc.encode(JSON.stringify(config));
}

// ---------------------------------------------------------------------------
// Cases

/** What a case writes at a path of the model folder. */
export type FileSpec = Uint8Array | { dir: true } | { symlink: string };

/** The three families of cases. */
export type Family = "safetensors" | "index" | "config";

/** One fuzz case: a model folder to write, and how it was made. */
export interface FuzzCase {
  /** Index of the case in its run. */
  index: number;
  /** Seed of the case, derived from the run seed and the index. */
  seed: number;
  /** What was mutated. */
  family: Family;
  /** The mutations applied, for the report of a failing case. */
  ops: string[];
  /** Files of the model folder, by path relative to it. */
  files: Map<string, FileSpec>;
  /** For single-file cases: the weight bytes, to check the reader against the in-memory parser. */
  single?: Uint8Array;
}

/** The unmutated inputs the cases start from. */
export interface FuzzFixtures {
  /** Single-file fixtures: opt-tiny and opt-tiny-bf16. */
  models: { name: string; config: Uint8Array; weights: Uint8Array }[];
  /** A sharded copy of opt-tiny written with `CheckpointWriter`. */
  sharded: { config: Uint8Array; index: Uint8Array; shards: Map<string, Uint8Array> };
}

/** Fixture models the single-file cases mutate. */
export const FUZZ_MODELS: readonly string[] = ["opt-tiny", "opt-tiny-bf16"];
/** Largest shard of the sharded copy of opt-tiny (about 540 KB): 4 shards or so. */
export const SHARD_BYTES = 150_000;

/**
 * Loads the fixtures and writes the sharded copy of opt-tiny in `workDir`.
 *
 * @param workDir An existing scratch folder.
 * @param modelsDir The fixture model folders.
 */
export async function loadFixtures(
  workDir: string,
  modelsDir = new URL("../../testdata/models/", import.meta.url).pathname,
): Promise<FuzzFixtures> {
  const models = [];
  for (const name of FUZZ_MODELS) {
    models.push({
      name,
      config: await Deno.readFile(join(modelsDir, name, "config.json")),
      weights: await Deno.readFile(join(modelsDir, name, SINGLE_FILE)),
    });
  }
  const src = await CheckpointReader.open(join(modelsDir, "opt-tiny"));
  const out = join(workDir, "sharded");
  try {
    const writer = await CheckpointWriter.create(out, src.names().map((n) => src.info(n)), {
      maxShardBytes: SHARD_BYTES,
    });
    for (const name of src.names()) await writer.write(name, await src.readRaw(name));
    await writer.close();
  } finally {
    src.close();
  }
  const shards = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(out)) {
    if (e.name.endsWith(".safetensors")) shards.set(e.name, await Deno.readFile(join(out, e.name)));
  }
  const index = await Deno.readFile(join(out, INDEX_FILE));
  await Deno.remove(out, { recursive: true });
  if (shards.size < 3) throw new Error(`Expected a few shards, got ${shards.size}`);
  return { models, sharded: { config: models[0].config, index, shards } };
}

/** Stands for the absolute path of the model folder in index text. */
const CASE_DIR = "@CASE@";

/** Shard names an index may list, relative to the model folder `caseDir`. */
function weirdShardName(rng: Rng, shard: string, caseDir: string, ops: Ops): string {
  // Paths that reach a real copy of the shard outside the folder: must be refused.
  const escaping = [
    `../${shard}`,
    `../outside.safetensors`,
    `sub/../../${shard}`,
    `link-up/${shard}`,
    `link-up/outside.safetensors`,
    "link-out.safetensors",
    join(caseDir, "..", shard),
    `${caseDir}/../outside.safetensors`,
  ];
  const names = [
    `..\\${shard}`,
    `sub/../${shard}`,
    `./${shard}`,
    `${shard}/`,
    `${shard}/.`,
    join(caseDir, shard),
    "/etc/passwd",
    "/",
    "C:\\model.safetensors",
    "c:model.safetensors",
    "\\\\server\\share\\model.safetensors",
    "..",
    ".",
    "",
    " ",
    "sub",
    "sub/",
    "config.json",
    INDEX_FILE,
    "config.json/x.safetensors",
    "missing.safetensors",
    "link-out.safetensors",
    "link-in.safetensors",
    "link-dir",
    "link-loop.safetensors",
    `${shard}\u0000`,
    "a\u0000b.safetensors",
    "x".repeat(300) + ".safetensors",
    ("d/".repeat(2100)) + shard,
    "%2e%2e/" + shard,
    "\u00e9.safetensors",
    shard.toUpperCase(),
  ];
  const name = rng.pick(rng.bool(0.4) ? escaping : names);
  ops.push(`shard=${JSON.stringify(name.length > 60 ? name.slice(0, 60) + "..." : name)}`);
  return name;
}

function mutateIndex(rng: Rng, fx: FuzzFixtures, files: Map<string, FileSpec>, ops: Ops): void {
  const shards = [...fx.sharded.shards.keys()].sort();
  const index = JSON.parse(dec.decode(fx.sharded.index)) as {
    metadata: Entry;
    weight_map: Record<string, string>;
  };
  const caseDir = CASE_DIR;
  const k = rng.bool(0.7) ? 1 : rng.range(2, 3);
  let text: Uint8Array | null = null;
  let gone = false;
  for (let i = 0; i < k; i++) {
    const kind = Math.max(0, rng.int(12) - 2); // shard paths (kind 0) three times as often
    if ([0, 1, 2, 7].includes(kind) && !asEntry(index.weight_map)) index.weight_map = {};
    const names = asEntry(index.weight_map) ? Object.keys(index.weight_map) : [];
    switch (kind) {
      case 0: { // every tensor of one shard, or one tensor, to a weird file name
        const shard = rng.pick(shards);
        const name = weirdShardName(rng, shard, caseDir, ops);
        if (rng.bool()) {
          for (const [t, f] of Object.entries(index.weight_map)) {
            if (f === shard) setKey(index.weight_map, t, name);
          }
        } else if (names.length > 0) setKey(index.weight_map, rng.pick(names), name);
        break;
      }
      case 1: { // a tensor moved to another shard, or an unknown tensor
        if (names.length > 0 && rng.bool()) {
          const t = rng.pick(names);
          setKey(index.weight_map, t, rng.pick(shards));
          ops.push(`move:${t}`);
        } else {
          const ghost = rng.pick(["ghost", "__proto__", "constructor", "", "toString"]);
          setKey(index.weight_map, ghost, rng.pick(shards));
          ops.push(`ghost:${ghost}`);
        }
        break;
      }
      case 2: { // entries removed
        const n = rng.range(1, Math.max(1, names.length));
        for (const t of names.slice(0, rng.bool() ? n : 1)) delete index.weight_map[t];
        ops.push(`drop:${n}`);
        break;
      }
      case 3: { // structure of the index
        const which = rng.int(4);
        const value = rng.pick<unknown>([null, [], "x", 1, {}, [["a", "b"]], { a: 1 }, {
          a: null,
        }]);
        if (which === 0) (index as Entry).weight_map = value;
        else if (which === 1) (index as Entry).metadata = value;
        else if (which === 2) delete (index as Entry).weight_map;
        else if (asEntry(index.metadata)) index.metadata.total_size = value;
        ops.push(`index.${["weight_map", "metadata", "-weight_map", "total_size"][which]}`);
        break;
      }
      case 4: { // a shard file deleted, replaced by a folder, or damaged
        const shard = rng.pick(shards);
        const how = rng.int(6);
        if (how === 0) files.delete(shard);
        else if (how === 1) files.set(shard, { dir: true });
        else if (how === 2) files.set(shard, { symlink: shard });
        else if (how === 3) files.set(shard, { symlink: "missing.safetensors" });
        else {
          files.set(shard, mutateSafetensors(rng, fx.sharded.shards.get(shard)!, ops));
        }
        ops.push(`${["rm", "dir", "loop", "dangling", "damage", "damage"][how]}:${shard}`);
        break;
      }
      case 5: // the index deleted, a folder or a symbolic link loop
        gone = true;
        ops.push(`index:${["rm", "dir", "loop"][rng.int(3)]}`);
        break;
      case 6: { // model.safetensors next to the index (it wins), maybe damaged
        const w = fx.models[0].weights;
        files.set(SINGLE_FILE, rng.bool() ? w : mutateSafetensors(rng, w, ops));
        ops.push("plus-single");
        break;
      }
      case 7: { // duplicate keys in the weight map (last one wins)
        text = enc.encode(
          JSON.stringify(index).replace(
            '"weight_map":{',
            `"weight_map":{${JSON.stringify(rng.pick(names.length > 0 ? names : ["a"]))}:${
              JSON.stringify(rng.pick([...shards, "missing.safetensors"]))
            },`,
          ),
        );
        ops.push("dupKey");
        break;
      }
      case 8: // top level not an object
        text = enc.encode(rng.pick(["[]", "null", '"x"', "1", deepArray(10_000)]));
        ops.push("index:notObject");
        break;
      default:
        text = mutateJsonText(rng, text ?? enc.encode(JSON.stringify(index)), ops);
    }
  }
  const last = ops.findLast((op) => op.startsWith("index:") && op !== "index:notObject");
  if (!gone) files.set(INDEX_FILE, text ?? enc.encode(JSON.stringify(index)));
  else if (last === "index:dir") files.set(INDEX_FILE, { dir: true });
  else if (last === "index:loop") files.set(INDEX_FILE, { symlink: INDEX_FILE });
}

/**
 * Builds case `index` of a run seeded with `seed`: the same inputs give the
 * same case.
 */
export function makeCase(fx: FuzzFixtures, seed: number, index: number): FuzzCase {
  const s = caseSeed(seed, index);
  const rng = new Rng(s);
  const ops: string[] = [];
  const files = new Map<string, FileSpec>();
  const r = rng.float();
  const family: Family = r < 0.55 ? "safetensors" : r < 0.85 ? "index" : "config";
  let single: Uint8Array | undefined;
  if (family === "safetensors") {
    const model = rng.pick(fx.models);
    ops.push(model.name);
    files.set("config.json", model.config);
    if (rng.bool(0.03)) {
      const special = rng.pick<{ dir: true } | { symlink: string }>([
        { dir: true },
        { symlink: SINGLE_FILE },
        { symlink: "missing.safetensors" },
        { symlink: "../outside.safetensors" },
      ]);
      ops.push(`weights:${"dir" in special ? "dir" : special.symlink}`);
      files.set(SINGLE_FILE, special);
    } else {
      single = mutateSafetensors(rng, model.weights, ops);
      files.set(SINGLE_FILE, single);
    }
  } else if (family === "index") {
    files.set("config.json", fx.sharded.config);
    for (const [name, bytes] of fx.sharded.shards) files.set(name, bytes);
    files.set("sub/.keep", new Uint8Array(0));
    files.set("link-out.safetensors", { symlink: "../outside.safetensors" });
    files.set("link-in.safetensors", { symlink: [...fx.sharded.shards.keys()].sort()[0] });
    files.set("link-dir", { symlink: "sub" });
    files.set("link-up", { symlink: ".." });
    files.set("link-loop.safetensors", { symlink: "link-loop.safetensors" });
    mutateIndex(rng, fx, files, ops);
  } else {
    const sharded = rng.bool(0.3);
    const model = rng.pick(fx.models);
    if (sharded) {
      for (const [name, bytes] of fx.sharded.shards) files.set(name, bytes);
      files.set(INDEX_FILE, fx.sharded.index);
    } else files.set(SINGLE_FILE, model.weights);
    const how = rng.int(14);
    if (how === 0) ops.push("config:gone");
    else if (how === 1) {
      files.set("config.json", { dir: true });
      ops.push("config:dir");
    } else if (how === 2) {
      files.set("config.json", { symlink: rng.bool() ? "config.json" : "missing.json" });
      ops.push("config:link");
    } else files.set("config.json", mutateConfig(rng, model.config, ops));
  }
  return { index, seed: s, family, ops, files, single };
}

// ---------------------------------------------------------------------------
// Read guard

let guardViolations: string[] | null = null;
let guardRestore: (() => void) | null = null;
const guardSizes = new WeakMap<Deno.FsFile, number>();
const guardPos = new WeakMap<Deno.FsFile, number>();

function guardCheck(file: Deno.FsFile, length: number): void {
  if (!guardViolations) return;
  let size = guardSizes.get(file);
  if (size === undefined) {
    size = file.statSync().size;
    guardSizes.set(file, size);
  }
  const at = guardPos.get(file) ?? 0;
  if (length > size) {
    guardViolations.push(`a read asked for a ${length}-byte buffer, file is ${size} bytes`);
  } else if (at + length > size) {
    guardViolations.push(`a read of ${length} bytes at ${at} runs past the end (${size} bytes)`);
  }
}

/**
 * Wraps `Deno.FsFile` reads and seeks so that, while a guard is active, a
 * read into a buffer larger than the file, or one that would run past its
 * end, is recorded as a violation. Idempotent.
 */
export function installReadGuard(): void {
  if (guardRestore) return;
  const proto = Deno.FsFile.prototype;
  const { read, seek, readSync, seekSync } = proto;
  proto.read = async function (this: Deno.FsFile, p: Uint8Array): Promise<number | null> {
    guardCheck(this, p.byteLength);
    const n = await read.call(this, p);
    if (n !== null) guardPos.set(this, (guardPos.get(this) ?? 0) + n);
    return n;
  };
  proto.readSync = function (this: Deno.FsFile, p: Uint8Array): number | null {
    guardCheck(this, p.byteLength);
    const n = readSync.call(this, p);
    if (n !== null) guardPos.set(this, (guardPos.get(this) ?? 0) + n);
    return n;
  };
  proto.seek = async function (
    this: Deno.FsFile,
    offset: number | bigint,
    whence: Deno.SeekMode,
  ): Promise<number> {
    const at = await seek.call(this, offset, whence);
    guardPos.set(this, Number(at));
    return at;
  };
  proto.seekSync = function (
    this: Deno.FsFile,
    offset: number | bigint,
    whence: Deno.SeekMode,
  ): number {
    const at = seekSync.call(this, offset, whence);
    guardPos.set(this, Number(at));
    return at;
  };
  guardRestore = () => Object.assign(proto, { read, seek, readSync, seekSync });
}

/** Undoes {@linkcode installReadGuard}. */
export function uninstallReadGuard(): void {
  guardRestore?.();
  guardRestore = null;
}

/** Runs `fn` with the read guard active and returns the violations it recorded. */
export async function guarded(fn: () => Promise<void>): Promise<string[]> {
  installReadGuard();
  const violations: string[] = [];
  guardViolations = violations;
  try {
    await fn();
  } finally {
    guardViolations = null;
  }
  return violations;
}

// ---------------------------------------------------------------------------
// Running a case

/** How a case ended. */
export type Outcome = "ok" | "error" | "failure";

/** The result of one case. */
export interface CaseResult {
  index: number;
  seed: number;
  family: Family;
  outcome: Outcome;
  /** The error message ("error"), or what went wrong ("failure"). */
  message?: string;
  /** The mutations applied. */
  ops: string[];
  /** Milliseconds the case took (writing the folder excluded). */
  ms: number;
}

/** A broken invariant of a read that the reader reported as successful. */
class Violation extends Error {
  override name = "Violation";
}

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Violation(message);
}

async function writeCase(caseDir: string, files: Map<string, FileSpec>): Promise<void> {
  await Deno.remove(caseDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(caseDir, { recursive: true });
  for (const [rel, spec] of files) {
    const path = join(caseDir, rel);
    const parent = join(path, "..");
    if (parent !== caseDir) await Deno.mkdir(parent, { recursive: true });
    if (spec instanceof Uint8Array) await Deno.writeFile(path, spec);
    else if ("dir" in spec) await Deno.mkdir(path, { recursive: true });
    else await Deno.symlink(spec.symlink, path);
  }
}

/** Files under `dir` that this process holds open (Linux only; `[]` elsewhere). */
export function openFilesUnder(dir: string): string[] {
  const open: string[] = [];
  try {
    for (const fd of Deno.readDirSync("/proc/self/fd")) {
      try {
        const target = Deno.readLinkSync(`/proc/self/fd/${fd.name}`);
        if (target.startsWith(dir + sep)) open.push(target);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return open;
}

const cached = new Map<string, Uint8Array>();

async function fileBytes(path: string): Promise<Uint8Array> {
  let b = cached.get(path);
  if (!b) cached.set(path, b = await Deno.readFile(path));
  return b;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Checks a reader that opened successfully: every tensor reads back right. */
async function verifyReader(r: CheckpointReader, caseDir: string, c: FuzzCase): Promise<void> {
  cached.clear();
  const realDir = await Deno.realPath(caseDir);
  const byFile = new Map<string, { begin: number; end: number; name: string }[]>();
  const realPaths = new Map<string, string>();
  const names = r.names();
  // readF32 re-reads the bytes: check it on a few tensors only, the first and last among them.
  const floatChecks = new Set([0, names.length - 1, c.seed % Math.max(names.length, 1)]);
  for (const [k, name] of names.entries()) {
    const info = r.info(name);
    check(info.name === name, `info("${name}").name is "${info.name}"`);
    check(!isAbsolute(info.file), `tensor "${name}" read from absolute path "${info.file}"`);
    let real = realPaths.get(info.file);
    if (real === undefined) {
      real = await Deno.realPath(join(caseDir, info.file));
      realPaths.set(info.file, real);
    }
    const rel = relative(realDir, real);
    // Shards must resolve inside the folder; model.safetensors may be a link
    // elsewhere (as in the Hugging Face cache, where it points to a blob).
    check(
      info.file === SINGLE_FILE ||
        (rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel)),
      `tensor "${name}" read from "${real}", outside the model folder`,
    );
    const file = await fileBytes(real);
    const parts = splitSafetensors(file);
    check(parts.header, `tensor "${name}" read from "${info.file}", which has no valid header`);
    const dataStart = 8 + parts.header.length;
    const size = SIZES[info.dtype];
    check(size !== undefined, `tensor "${name}" has unknown dtype "${info.dtype}"`);
    const numel = numelOf(info.shape);
    check(numel !== null, `tensor "${name}" has shape [${info.shape}]`);
    check(
      info.begin >= dataStart && info.begin <= info.end && info.end <= file.length,
      `tensor "${name}" [${info.begin}, ${info.end}) is outside the data section [${dataStart}, ${file.length})`,
    );
    check(
      info.end - info.begin === numel * size,
      `tensor "${name}" has ${
        info.end - info.begin
      } bytes for shape [${info.shape}] of ${info.dtype}`,
    );
    const list = byFile.get(real) ?? [];
    list.push(info);
    byFile.set(real, list);
    const raw = await r.readRaw(name);
    check(
      raw.length === info.end - info.begin,
      `readRaw("${name}") gave ${raw.length} bytes, header says ${info.end - info.begin}`,
    );
    const want = file.subarray(info.begin, info.end);
    check(sameBytes(raw, want), `readRaw("${name}") bytes differ from the file`);
    if (!["F32", "F16", "BF16"].includes(info.dtype)) {
      let threw: unknown = null;
      try {
        await r.readF32(name);
      } catch (e) {
        threw = e;
      }
      check(
        threw instanceof CheckpointError,
        `readF32("${name}") of ${info.dtype} did not throw CheckpointError`,
      );
    } else if (floatChecks.has(k)) {
      const f = await r.readF32(name);
      check(f.length === numel, `readF32("${name}") gave ${f.length} values, want ${numel}`);
      const ref = decodeToF32(want.slice(), info.dtype);
      check(
        sameBytes(
          new Uint8Array(f.buffer, f.byteOffset, f.byteLength),
          new Uint8Array(ref.buffer, ref.byteOffset, ref.byteLength),
        ),
        `readF32("${name}") values differ from the file`,
      );
    }
  }
  // Concurrent reads must not interleave their seeks and reads.
  const some = names.filter((_, k) => k % 7 === c.seed % 7).slice(0, 6);
  const together = await Promise.all(some.map((n) => r.readRaw(n)));
  for (const [k, name] of some.entries()) {
    const { begin, end, file } = r.info(name);
    const bytes = await fileBytes(realPaths.get(file)!);
    check(
      sameBytes(together[k], bytes.subarray(begin, end)),
      `concurrent readRaw("${name}") differs`,
    );
  }
  for (const [file, list] of byFile) {
    const sorted = list.toSorted((a, b) => a.begin - b.begin || a.end - b.end);
    for (let i = 1; i < sorted.length; i++) {
      check(
        sorted[i].begin >= sorted[i - 1].end,
        `tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap in "${file}"`,
      );
    }
  }
  const index = c.files.get(INDEX_FILE);
  if (c.family === "index" && !c.files.has(SINGLE_FILE) && index instanceof Uint8Array) {
    // Every tensor of the weight map, and only those, as Deno.readTextFile and JSON.parse see it.
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(index);
    const map = JSON.parse(text.replaceAll(CASE_DIR, caseDir)).weight_map;
    check(
      JSON.stringify(Object.keys(map).sort()) === JSON.stringify(r.names().sort()),
      `the reader lists tensors [${r.names().length}] other than the weight map's [${
        Object.keys(map).length
      }]`,
    );
    for (const [name, file] of Object.entries(map)) {
      check(r.info(name).file === file, `tensor "${name}" read from another file than "${file}"`);
    }
  }
  if (c.single) {
    // The reader must accept single-file weights exactly as the in-memory parser does.
    const expected = parseInMemory(c.single, join(caseDir, SINGLE_FILE));
    check(typeof expected !== "string", `reader accepted weights the parser rejects: ${expected}`);
    const got = r.names().map((n) => r.info(n));
    check(
      JSON.stringify(got.map((t) => [t.name, t.begin, t.end])) ===
        JSON.stringify(expected.map((t) => [t.name, t.begin, t.end])),
      "reader and in-memory parser disagree on the tensors",
    );
  }
  let missing: unknown = null;
  try {
    r.info("\u0000no such tensor");
  } catch (e) {
    missing = e;
  }
  check(missing instanceof CheckpointError, "info() of an absent tensor did not throw");
  if (c.family === "config") {
    const spec = c.files.get("config.json");
    check(spec instanceof Uint8Array, "config.json was read although it is not a file");
    const parsed = JSON.parse(dec.decode(spec));
    check(
      typeof parsed === "object" && parsed !== null && !Array.isArray(parsed),
      "a non-object config.json was accepted",
    );
    check(
      JSON.stringify(r.config) === JSON.stringify(parsed),
      "config differs from config.json",
    );
  }
}

/** What the in-memory header parser says about single-file weights. */
function parseInMemory(
  bytes: Uint8Array,
  path: string,
): string | { name: string; begin: number; end: number }[] {
  try {
    const header = parseSafetensorsHeader(bytes, bytes.length, path);
    // What was accepted is what the JSON says: every key a tensor, __metadata__ kept whole.
    const json = JSON.parse(dec.decode(splitSafetensors(bytes).header!));
    const { __metadata__: metadata = {}, ...tensors } = json;
    check(
      JSON.stringify(Object.keys(tensors)) === JSON.stringify(header.tensors.map((t) => t.name)),
      "the parsed tensors are not the keys of the header",
    );
    check(
      JSON.stringify(Object.entries(metadata)) === JSON.stringify(Object.entries(header.metadata)),
      `the parsed __metadata__ differs from the header's ${JSON.stringify(metadata)}`,
    );
    return header.tensors;
  } catch (e) {
    if (e instanceof Violation) throw e;
    if (e instanceof CheckpointError) return e.message;
    throw new Violation(
      `parseSafetensorsHeader threw ${e instanceof Error ? e.name : typeof e}: ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
  }
}

/** What config.json should make the reader do: `true` when it is a JSON object. */
function configIsObject(spec: FileSpec | undefined): boolean {
  if (!(spec instanceof Uint8Array)) return false;
  try {
    // As Deno.readTextFile: invalid UTF-8 replaced, a byte order mark kept.
    const v = JSON.parse(new TextDecoder("utf-8", { ignoreBOM: true }).decode(spec));
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/**
 * Writes the folder of a case under `workDir/model` and opens and reads it.
 *
 * @param c The case.
 * @param workDir A scratch folder owned by the caller; `workDir/outside.safetensors`
 * and friends are written there so that a path escape would find a file.
 */
export async function runFuzzCase(c: FuzzCase, workDir: string): Promise<CaseResult> {
  const caseDir = join(workDir, "model");
  const files = new Map(c.files);
  const index = files.get(INDEX_FILE);
  if (index instanceof Uint8Array) {
    // Absolute shard paths are spelled with a placeholder for the folder.
    const text = dec.decode(index);
    if (text.includes(CASE_DIR) && enc.encode(text).length === index.length) {
      files.set(INDEX_FILE, enc.encode(text.replaceAll(CASE_DIR, caseDir)));
    }
  }
  await writeCase(caseDir, files);
  const base = { index: c.index, seed: c.seed, family: c.family, ops: c.ops };
  const t0 = performance.now();
  let outcome = "ok" as Outcome;
  let message: string | undefined;
  let opened = false;
  try {
    const violations = await guarded(async () => {
      let r: CheckpointReader;
      try {
        r = await CheckpointReader.open(caseDir);
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        outcome = "error";
        message = e.message;
        return;
      }
      opened = true;
      try {
        await verifyReader(r, caseDir, c);
      } finally {
        r.close();
      }
    });
    if (violations.length > 0) {
      outcome = "failure";
      message = violations[0];
    }
  } catch (e) {
    outcome = "failure";
    const what = opened ? "after a successful open, " : "";
    message = e instanceof Violation
      ? e.message
      : `${what}${e instanceof Error ? e.name : typeof e} escaped: ${
        e instanceof Error ? e.message : String(e)
      }`;
  }
  if (outcome === "error" && c.single) {
    // The reader must reject single-file weights exactly as the in-memory parser does.
    const expected = parseInMemory(c.single, join(caseDir, SINGLE_FILE));
    if (typeof expected !== "string" || message !== expected) {
      message = `reader said: ${message}; in-memory parser said: ${
        typeof expected === "string" ? expected : "valid"
      }`;
      outcome = "failure";
    }
  }
  if (outcome !== "failure" && c.family === "config") {
    const want = configIsObject(c.files.get("config.json")) ? "ok" : "error";
    if (want !== outcome) {
      outcome = "failure";
      message = `config case ended in ${outcome} (${message}), expected ${want}`;
    }
  }
  const leaked = outcome === "failure" ? [] : openFilesUnder(await Deno.realPath(caseDir));
  if (leaked.length > 0) {
    outcome = "failure";
    message = `file handles leaked: ${leaked.join(", ")}`;
  }
  return { ...base, outcome, message, ms: performance.now() - t0 };
}

/** Files next to the model folder that an escaping shard path would reach. */
async function writeOutside(workDir: string, fx: FuzzFixtures): Promise<void> {
  await Deno.writeFile(join(workDir, "outside.safetensors"), fx.models[0].weights);
  await Deno.writeFile(join(workDir, SINGLE_FILE), fx.models[0].weights);
  for (const [name, bytes] of fx.sharded.shards) await Deno.writeFile(join(workDir, name), bytes);
}

/** Groups error messages into classes: quoted text, numbers and lists blanked. */
export function messageClass(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"/g, "_")
    .replace(/\s+/g, " ")
    .replace("UTF-8", "UTF_8")
    .replace(/\[[^\]]*\]/g, "[..]")
    .replace(/-?\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi, "N")
    .replace(/(is not valid JSON):.*/, "$1: ...")
    .replace(/(Invalid entry for tensor _ in _: at _:).*/, "$1 ...")
    .replace(/(at _:).*/, "$1 ...")
    .replace("UTF_8", "UTF-8")
    .slice(0, 110);
}

// ---------------------------------------------------------------------------
// Driver: cases run in a worker, watched for hangs.

/** Options of {@linkcode runFuzz}. */
export interface FuzzOptions {
  /** Number of cases. */
  cases: number;
  /** Run seed; default 20240521. */
  seed?: number;
  /** A case that takes longer than this is a hang, and fails; default 10 s. */
  timeoutMs?: number;
  /** Called after each case. */
  onResult?: (r: CaseResult) => void;
  /** For testing the driver: case `hangAt` loops forever instead of running. */
  hangAt?: number;
}

/** Totals of a run. */
export interface FuzzSummary {
  cases: number;
  seconds: number;
  ok: number;
  errors: number;
  failures: number;
  /** Outcome counts per family. */
  byFamily: Record<Family, Record<Outcome, number>>;
  /** Error counts by {@linkcode messageClass}. */
  errorClasses: Map<string, number>;
  /** The failing cases (the first 50). */
  failed: CaseResult[];
}

/** Default seed of fuzz runs. */
export const FUZZ_SEED = 20240521;

type ToWorker =
  | { type: "init"; seed: number; workDir: string; hangAt: number }
  | { type: "run"; index: number };
type FromWorker =
  | { type: "ready" }
  | { type: "result"; result: CaseResult }
  | { type: "fatal"; message: string };

/** Runs a fuzz campaign, each case in a worker, a hung case failing and the worker replaced. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const seed = options.seed ?? FUZZ_SEED;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const root = await Deno.makeTempDir({ prefix: "sparsellm_fuzz_" });
  const summary: FuzzSummary = {
    cases: 0,
    seconds: 0,
    ok: 0,
    errors: 0,
    failures: 0,
    byFamily: {
      safetensors: { ok: 0, error: 0, failure: 0 },
      index: { ok: 0, error: 0, failure: 0 },
      config: { ok: 0, error: 0, failure: 0 },
    },
    errorClasses: new Map(),
    failed: [],
  };
  let worker: Worker | null = null;
  let pending: ((m: FromWorker | null) => void) | null = null;
  let generation = 0;
  const receive = (ms: number) =>
    new Promise<FromWorker | null>((resolve) => {
      const timer = setTimeout(() => {
        pending = null;
        resolve(null);
      }, ms);
      pending = (m) => {
        clearTimeout(timer);
        pending = null;
        resolve(m);
      };
    });
  const start = async () => {
    const w = new Worker(import.meta.url, { type: "module" });
    w.onmessage = (e: MessageEvent<FromWorker>) => pending?.(e.data);
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      pending?.({ type: "fatal", message: e.message });
    };
    const workDir = join(root, `w${generation++}`);
    const ready = receive(120_000);
    w.postMessage({ type: "init", seed, workDir, hangAt: options.hangAt ?? -1 } satisfies ToWorker);
    const m = await ready;
    if (m?.type !== "ready") {
      w.terminate();
      throw new Error(`Fuzz worker did not start: ${m?.type === "fatal" ? m.message : "timeout"}`);
    }
    return w;
  };
  const t0 = performance.now();
  try {
    for (let index = 0; index < options.cases; index++) {
      worker ??= await start();
      const reply = receive(timeoutMs);
      worker.postMessage({ type: "run", index } satisfies ToWorker);
      const m = await reply;
      let result: CaseResult;
      if (m?.type === "result") result = m.result;
      else {
        worker.terminate();
        worker = null;
        result = {
          index,
          seed: caseSeed(seed, index),
          family: "safetensors",
          outcome: "failure",
          message: m?.type === "fatal"
            ? `worker crashed: ${m.message}`
            : `hang: no result after ${timeoutMs} ms`,
          ops: [],
          ms: timeoutMs,
        };
      }
      summary.cases++;
      summary.byFamily[result.family][result.outcome]++;
      if (result.outcome === "ok") summary.ok++;
      else if (result.outcome === "error") {
        summary.errors++;
        const cls = messageClass(result.message ?? "");
        summary.errorClasses.set(cls, (summary.errorClasses.get(cls) ?? 0) + 1);
      } else {
        summary.failures++;
        if (summary.failed.length < 50) summary.failed.push(result);
      }
      options.onResult?.(result);
    }
  } finally {
    worker?.terminate();
    summary.seconds = (performance.now() - t0) / 1000;
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return summary;
}

/** Formats a failing case for a test message or the bench output. */
export function describeFailure(r: CaseResult): string {
  return `case ${r.index} (seed ${r.seed}, ${r.family}; ${r.ops.join(" ")}): ${r.message}`;
}

// Worker side: the module is its own worker script.
interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(m: FromWorker): void;
}

if ("WorkerGlobalScope" in globalThis) {
  const scope = globalThis as unknown as WorkerScope;
  let fx: FuzzFixtures | null = null;
  let seed = FUZZ_SEED;
  let workDir = "";
  let hangAt = -1;
  let queue = Promise.resolve();
  scope.onmessage = (e) => {
    const m = e.data;
    queue = queue.then(async () => {
      try {
        if (m.type === "init") {
          seed = m.seed;
          workDir = m.workDir;
          hangAt = m.hangAt;
          await Deno.mkdir(workDir, { recursive: true });
          fx = await loadFixtures(workDir);
          await writeOutside(workDir, fx);
          installReadGuard();
          // Warm up: the runtime opens a few file handles on first use.
          const warm: FuzzCase = {
            index: -1,
            seed: 0,
            family: "safetensors",
            ops: [],
            files: new Map([["config.json", fx.models[0].config], [
              SINGLE_FILE,
              fx.models[0].weights,
            ]]),
            single: fx.models[0].weights,
          };
          await runFuzzCase(warm, workDir);
          const check = await runFuzzCase(warm, workDir);
          if (check.outcome !== "ok") {
            throw new Error(`The pristine fixture fails: ${check.message}`);
          }
          scope.postMessage({ type: "ready" });
        } else {
          while (m.index === hangAt) {
            // Simulated hang: a synchronous loop that only terminating the worker ends.
          }
          let c: FuzzCase;
          try {
            c = makeCase(fx!, seed, m.index);
          } catch (err) {
            const result: CaseResult = {
              index: m.index,
              seed: caseSeed(seed, m.index),
              family: "safetensors",
              outcome: "failure",
              message: `fuzzer bug, the case could not be built: ${err}`,
              ops: [],
              ms: 0,
            };
            scope.postMessage({ type: "result", result });
            return;
          }
          scope.postMessage({ type: "result", result: await runFuzzCase(c, workDir) });
        }
      } catch (err) {
        scope.postMessage({
          type: "fatal",
          message: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        });
      }
    });
  };
}
