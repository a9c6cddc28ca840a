// Test-only helpers: a minimal safetensors reader (F32 / F16 / BF16) that satisfies
// WeightSource, the fixture models and the KJV test text.

import type { WeightInfo, WeightSource } from "../../src/models/weights.ts";
import { type ModelConfig, parseModelConfig } from "../../src/models/config.ts";

/** Root of the fixture models. */
export const MODELS_DIR: URL = new URL("../../testdata/models/", import.meta.url);

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A whole safetensors file read into memory. */
export class SafetensorsSource implements WeightSource {
  #bytes: Uint8Array;
  #dataStart: number;
  #header: Record<string, Entry>;

  constructor(bytes: Uint8Array) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = Number(view.getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    delete header.__metadata__;
    this.#bytes = bytes;
    this.#dataStart = 8 + n;
    this.#header = header;
  }

  static async open(path: string | URL): Promise<SafetensorsSource> {
    return new SafetensorsSource(await Deno.readFile(path));
  }

  names(): string[] {
    return Object.keys(this.#header);
  }

  has(name: string): boolean {
    return name in this.#header;
  }

  info(name: string): WeightInfo {
    const e = this.#header[name];
    if (!e) throw new Error(`no tensor ${name}`);
    return { dtype: e.dtype, shape: [...e.shape] };
  }

  readF32(name: string): Promise<Float32Array> {
    const e = this.#header[name];
    const [b, end] = e.data_offsets;
    const raw = this.#bytes.slice(this.#dataStart + b, this.#dataStart + end);
    if (e.dtype === "F32") return Promise.resolve(new Float32Array(raw.buffer));
    const u16 = new Uint16Array(raw.buffer);
    const out = new Float32Array(u16.length);
    if (e.dtype === "BF16") {
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < u16.length; i++) u32[i] = u16[i] << 16;
    } else if (e.dtype === "F16") {
      for (let i = 0; i < u16.length; i++) out[i] = f16ToF32(u16[i]);
    } else throw new Error(`dtype ${e.dtype}`);
    return Promise.resolve(out);
  }
}

/** A fixture model: config, weights, reference figures. */
export interface Fixture {
  name: string;
  config: ModelConfig;
  source: SafetensorsSource;
  reference: {
    test_ppl_seqlen256: number;
    test_windows: number;
    first_window_nll: number[];
    first_window_argmax: number[];
  };
}

/** Loads a fixture model folder under testdata/models. */
export async function loadFixture(name: string): Promise<Fixture> {
  const dir = new URL(`${name}/`, MODELS_DIR);
  const config = parseModelConfig(
    JSON.parse(await Deno.readTextFile(new URL("config.json", dir))),
    `testdata/models/${name}/config.json`,
  );
  const source = await SafetensorsSource.open(new URL("model.safetensors", dir));
  const reference = JSON.parse(await Deno.readTextFile(new URL("reference.json", dir)));
  return { name, config, source, reference };
}

/** Token ids (UTF-8 bytes) of testdata/kjv/test.txt. */
export async function testIds(): Promise<Int32Array> {
  const bytes = await Deno.readFile(new URL("../../testdata/kjv/test.txt", import.meta.url));
  return Int32Array.from(bytes);
}

/** Non-overlapping windows of `seqlen` tokens, tail dropped. */
export function windowsOf(ids: Int32Array, seqlen: number, max = Infinity): Int32Array[] {
  const out: Int32Array[] = [];
  for (let i = 0; (i + 1) * seqlen <= ids.length && out.length < max; i++) {
    out.push(ids.subarray(i * seqlen, (i + 1) * seqlen));
  }
  return out;
}
