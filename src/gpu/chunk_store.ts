/**
 * Per-token data split into chunks of calibration or evaluation sequences, kept on the GPU when it
 * fits a budget and otherwise in host memory, moved through one GPU slot per field chunk by chunk
 * for every pass over the tokens. The pruning pipeline keeps the hidden states between decoder
 * layers in one, SparseLLM its auxiliary variables, and the layer-by-layer evaluation its hidden
 * states. Resident or spilled, the same kernels run on the same values, so results are identical.
 *
 * @module
 */

import type { Batch, Gpu } from "./device.ts";
import { type GpuTensor, view } from "./tensor.ts";

/** Sequences and tokens of one chunk. */
export interface ChunkSize {
  /** Sequences in the chunk. */
  nseq: number;
  /** Tokens in the chunk (sequences × tokens per sequence). */
  tokens: number;
}

/** One chunk while a pass works on it: its size and one `[tokens, width]` tensor per field. */
export type Chunk<F extends string> = ChunkSize & { readonly [K in F]: GpuTensor };

/** What one pass over the chunks moves and records (see {@linkcode ChunkStore.each}). */
export interface ChunkPass<F extends string> {
  /** Fields the pass reads: uploaded into the slots before the chunk's work when spilled. */
  reads: readonly F[];
  /** Fields the pass writes: read back after the chunk's work when spilled. */
  writes: readonly F[];
  /** Recorded after the last chunk's work, in the same batch. */
  finish?: (b: Batch) => void;
  /** Runs after each chunk's batch was submitted (forces one batch per chunk). */
  after?: (i: number) => Promise<void>;
}

/**
 * Holds each chunk's fields on the GPU when their bytes fit the budget, or else in host memory
 * with one GPU slot per field sized for the largest chunk. Tensors the caller gives for a chunk's field (`given`) always stay on the
 * GPU and remain the caller's.
 *
 * @example Two chunks of an 8-wide field, kept in host memory
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { ChunkStore } from "./chunk_store.ts";
 *
 * const gpu = await getGpu();
 * const store = ChunkStore.create(gpu, "demo", [{ nseq: 1, tokens: 4 }, { nseq: 1, tokens: 4 }], {
 *   hidden: 8,
 * }, 0);
 * store.setHost("hidden", 0, new Float32Array(32));
 * store.setHost("hidden", 1, new Float32Array(32));
 * await store.each("pass", { reads: ["hidden"], writes: [] }, (_b, c) => console.log(c.tokens));
 * store.free();
 * ```
 */
export class ChunkStore<F extends string> {
  /** Whether the fields live in host memory. */
  readonly spilled: boolean;
  /** Bytes of the fields the store holds (given tensors excluded). */
  readonly bytes: number;
  /** The chunks; while spilled, their fields point at the shared slots. */
  readonly chunks: readonly Chunk<F>[];
  #gpu: Gpu;
  #widths: Record<F, number>;
  #host: Map<F, Float32Array>[];
  #owned: GpuTensor[];

  private constructor(
    gpu: Gpu,
    widths: Record<F, number>,
    spilled: boolean,
    bytes: number,
    chunks: Chunk<F>[],
    host: Map<F, Float32Array>[],
    owned: GpuTensor[],
  ) {
    this.#gpu = gpu;
    this.#widths = widths;
    this.spilled = spilled;
    this.bytes = bytes;
    this.chunks = chunks;
    this.#host = host;
    this.#owned = owned;
  }

  /**
   * Allocates every chunk's fields (contents undefined until written).
   *
   * @param gpu The device.
   * @param label Prefix of the GPU buffers' labels.
   * @param sizes Per chunk: sequences and tokens.
   * @param widths Values per token of each field.
   * @param budget Largest number of bytes the fields may take on the GPU (`Infinity`: always
   *   resident, `0`: always spilled).
   * @param given Per chunk, tensors to use for some fields instead of allocating them.
   */
  static create<F extends string, G extends string = never>(
    gpu: Gpu,
    label: string,
    sizes: readonly ChunkSize[],
    widths: Record<F, number>,
    budget: number,
    given: readonly Partial<Record<F | G, GpuTensor>>[] = [],
  ): ChunkStore<F | G> {
    const fields = Object.keys(widths) as F[];
    const owned: GpuTensor[] = [];
    const alloc = (shape: number[], name: string) => {
      const t = gpu.alloc(shape, `${label}/${name}`);
      owned.push(t);
      return t;
    };
    const nmax = Math.max(0, ...sizes.map((s) => s.tokens));
    const slots = new Map<F, GpuTensor>();
    let bytes = 0;
    for (const [i, s] of sizes.entries()) {
      for (const k of fields) if (!given[i]?.[k as F | G]) bytes += 4 * s.tokens * widths[k];
    }
    const spilled = bytes > budget;
    if (spilled && nmax > 0) {
      for (const k of fields) {
        if (sizes.some((_, i) => !given[i]?.[k])) {
          slots.set(k, alloc([nmax, widths[k]], `slot-${k}`));
        }
      }
    }
    const host: Map<F | G, Float32Array>[] = [];
    const chunks = sizes.map((s, i) => {
      const c: Record<string, unknown> = { nseq: s.nseq, tokens: s.tokens, ...given[i] };
      const h = new Map<F | G, Float32Array>();
      for (const k of fields) {
        const mine = given[i]?.[k as F | G];
        if (mine) c[k] = mine;
        else if (spilled) {
          c[k] = view(slots.get(k)!, [s.tokens, widths[k]]);
          h.set(k, new Float32Array(s.tokens * widths[k]));
        } else c[k] = alloc([s.tokens, widths[k]], `${k}${i}`);
      }
      host.push(h);
      return c as Chunk<F | G>;
    });
    return new ChunkStore<F | G>(
      gpu,
      widths as Record<F | G, number>,
      spilled,
      bytes,
      chunks,
      host as Map<F | G, Float32Array>[],
      owned,
    );
  }

  /** Sets field `k` of chunk `i` from host memory (kept by reference when spilled). */
  setHost(k: F, i: number, data: Float32Array): void {
    const c = this.chunks[i];
    const n = c.tokens * this.#widths[k];
    if (data.length !== n) {
      throw new RangeError(`Chunk ${i} needs ${n} values for "${k}", got ${data.length}`);
    }
    if (this.#host[i].has(k)) this.#host[i].set(k, data);
    else this.#gpu.write(c[k], data);
  }

  /** Sets field `k` of chunk `i` from a GPU tensor (copied; the caller keeps `t`). */
  async setFrom(k: F, i: number, t: GpuTensor): Promise<void> {
    const c = this.chunks[i];
    const n = c.tokens * this.#widths[k];
    if (this.#host[i].has(k)) this.#host[i].set(k, await this.#gpu.read(t, 0, n));
    else {
      const b = this.#gpu.batch("chunks/set");
      b.copy(t.buffer, 0, c[k].buffer, 0, n * 4);
      b.submit();
    }
  }

  /** Field `k` of every chunk, in host memory. */
  async readAll(k: F): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const [i, c] of this.chunks.entries()) {
      out.push(this.#host[i].get(k) ?? await this.#gpu.read(c[k], 0, c.tokens * this.#widths[k]));
    }
    return out;
  }

  /**
   * Runs one pass over all chunks: `record` records each chunk's work. Resident (and without
   * `after`), all chunks go into one batch; otherwise each chunk gets its own, with its `reads`
   * uploaded first and its `writes` read back after it when spilled.
   */
  async each(
    label: string,
    pass: ChunkPass<F>,
    record: (b: Batch, c: Chunk<F>, i: number) => void,
  ): Promise<void> {
    const gpu = this.#gpu;
    const perChunk = this.spilled || pass.after !== undefined;
    let b = gpu.batch(label);
    for (const [i, c] of this.chunks.entries()) {
      const host = this.#host[i];
      for (const k of pass.reads) {
        const h = host.get(k);
        if (h) gpu.write(c[k], h);
      }
      record(b, c, i);
      if (i === this.chunks.length - 1) pass.finish?.(b);
      if (perChunk) {
        b.submit();
        for (const k of pass.writes) {
          if (host.has(k)) host.set(k, await gpu.read(c[k], 0, c.tokens * this.#widths[k]));
        }
        await pass.after?.(i);
        b = gpu.batch(label);
      }
    }
    b.submit();
  }

  /** Exchanges the contents of two fields of equal width in every chunk. */
  swap(a: F, b: F): void {
    for (const [i, c] of this.chunks.entries()) {
      const h = this.#host[i];
      const ha = h.get(a), hb = h.get(b);
      if (ha && hb) {
        h.set(a, hb);
        h.set(b, ha);
      } else {
        const m = c as Record<string, GpuTensor>;
        [m[a], m[b]] = [m[b], m[a]];
      }
    }
  }

  /** Returns the GPU tensors the store allocated to the pool and drops the host copies. */
  free(): void {
    this.#gpu.free(...this.#owned);
    this.#owned = [];
    this.#host = this.#host.map(() => new Map());
  }
}
