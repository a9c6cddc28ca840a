/**
 * Where SparseLLM's per-chunk auxiliary variables live. They are FFN-width × tokens each (z, s,
 * p and the cached pre-activations), so for large calibration sets they may not fit the GPU
 * budget: then each chunk's variables are kept in host memory and moved through one set of GPU
 * slots, chunk by chunk, for every pass over the tokens. Resident or spilled, the same kernels
 * run in the same order on the same values, so the results are identical.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";

/** The auxiliary fields of a chunk that may be spilled to host memory. */
export type AuxField = "t" | "z" | "s" | "p" | "pre" | "preGate";

/** One chunk of calibration tokens and its auxiliary variables (GPU tensors while loaded). */
export interface AuxChunk {
  /** FFN input, [n, d] (caller-owned, always on the GPU). */
  x: GpuTensor;
  /** Tokens. */
  n: number;
  /** Sequences. */
  nseq: number;
  /** Target of the second linear, [n, d]. */
  t: GpuTensor;
  /** Auxiliary pre-activation (up branch), [n, f]. */
  z: GpuTensor;
  /** Auxiliary gate pre-activation (GLU only), [n, f]. */
  s?: GpuTensor;
  /** Auxiliary activation, [n, f]. */
  p: GpuTensor;
  /** Real pre-activation of the current first linear, [n, f]. */
  pre: GpuTensor;
  /** Real gate pre-activation (GLU only), [n, f]. */
  preGate?: GpuTensor;
}

/** Options of one pass, {@linkcode AuxStore.each}. */
export interface PassOptions {
  /** Fields the pass reads (loaded before the chunk's work when spilled). */
  reads: AuxField[];
  /** Fields the pass writes (saved after the chunk's work when spilled). */
  writes: AuxField[];
  /** Recorded after the last chunk, in the same batch. */
  finish?: (b: Batch) => void;
  /** Runs after each chunk's batch is submitted (e.g. to read a reduction back). */
  after?: (c: AuxChunk, i: number) => Promise<void>;
}

/**
 * Holds the chunks' auxiliary tensors on the GPU, or in host memory with shared GPU slots.
 *
 * @example A pass over all chunks
 * ```ts ignore
 * const store = AuxStore.create(gpu, shapes, { budgetBytes: 2 ** 30, ownedT: true });
 * await store.each("dense", { reads: [], writes: ["z", "p"] }, (b, c) => { ... });
 * store.free();
 * ```
 */
export class AuxStore {
  /** The chunks (their fields point at slots while loaded, when spilled). */
  readonly chunks: AuxChunk[];
  /** Whether the variables live in host memory. */
  readonly spilled: boolean;
  /** Bytes the variables take in all. */
  readonly bytes: number;
  #gpu: Gpu;
  #width: Record<AuxField, number>;
  #host: Map<AuxField, Float32Array>[] = [];
  #slots = new Map<AuxField, GpuTensor>();
  #owned: GpuTensor[] = [];

  private constructor(
    gpu: Gpu,
    chunks: AuxChunk[],
    spilled: boolean,
    bytes: number,
    width: Record<AuxField, number>,
  ) {
    this.#gpu = gpu;
    this.chunks = chunks;
    this.spilled = spilled;
    this.bytes = bytes;
    this.#width = width;
  }

  /**
   * Allocates the auxiliaries of every chunk, on the GPU when they fit `budgetBytes`, otherwise
   * in host memory with one GPU slot per field sized for the largest chunk.
   *
   * @param gpu The device.
   * @param inputs Per chunk: FFN input, tokens, sequences, and the target when the caller has it.
   * @param d Hidden size.
   * @param f FFN width.
   * @param glu Whether the gate variables exist.
   * @param budgetBytes Largest number of bytes the variables may take on the GPU.
   */
  static create(
    gpu: Gpu,
    inputs: { x: GpuTensor; tokens: number; nseq: number; target?: GpuTensor }[],
    d: number,
    f: number,
    glu: boolean,
    budgetBytes: number,
  ): AuxStore {
    const fields: AuxField[] = ["z", "p", "pre", ...(glu ? ["s", "preGate"] as AuxField[] : [])];
    const ownT = inputs.some((c) => !c.target);
    if (ownT) fields.push("t");
    const width = { t: d, z: f, s: f, p: f, pre: f, preGate: f };
    let bytes = 0;
    for (const c of inputs) for (const k of fields) bytes += 4 * c.tokens * width[k];
    const spilled = bytes > budgetBytes;
    const nmax = Math.max(...inputs.map((c) => c.tokens));
    const owned: GpuTensor[] = [];
    const slots = new Map<AuxField, GpuTensor>();
    if (spilled) {
      for (const k of fields) {
        const t = gpu.alloc([nmax, width[k]], `sparsellm/slot-${k}`);
        slots.set(k, t);
        owned.push(t);
      }
    }
    const tensor = (k: AuxField, n: number, i: number) => {
      if (spilled) return slots.get(k)!;
      const t = gpu.alloc([n, width[k]], `sparsellm/${k}${i}`);
      owned.push(t);
      return t;
    };
    const chunks: AuxChunk[] = inputs.map((c, i) => ({
      x: c.x,
      n: c.tokens,
      nseq: c.nseq,
      t: c.target ?? tensor("t", c.tokens, i),
      z: tensor("z", c.tokens, i),
      p: tensor("p", c.tokens, i),
      pre: tensor("pre", c.tokens, i),
      ...(glu ? { s: tensor("s", c.tokens, i), preGate: tensor("preGate", c.tokens, i) } : {}),
    }));
    const store = new AuxStore(gpu, chunks, spilled, bytes, width);
    store.#slots = slots;
    store.#owned = owned;
    if (spilled) {
      store.#host = inputs.map((c) => {
        const m = new Map<AuxField, Float32Array>();
        for (const k of fields) {
          if (k === "t" && c.target) continue;
          m.set(k, new Float32Array(c.tokens * width[k]));
        }
        return m;
      });
    }
    return store;
  }

  /**
   * Runs one pass over all chunks: `record` records each chunk's work. Resident, all chunks go
   * into one batch (one per chunk with `after`); spilled, each chunk's `reads` are uploaded into
   * the slots first and its `writes` read back after its batch.
   */
  async each(
    label: string,
    opts: PassOptions,
    record: (b: Batch, c: AuxChunk, i: number) => void,
  ): Promise<void> {
    const gpu = this.#gpu;
    const perChunk = this.spilled || opts.after !== undefined;
    let b = gpu.batch(label);
    for (const [i, c] of this.chunks.entries()) {
      const host = this.#host[i];
      if (this.spilled) {
        for (const k of opts.reads) {
          const h = host.get(k);
          if (h) gpu.write(this.#slots.get(k)!, h);
        }
      }
      record(b, c, i);
      if (i === this.chunks.length - 1) opts.finish?.(b);
      if (perChunk) {
        b.submit();
        if (this.spilled) {
          for (const k of opts.writes) {
            if (host.has(k)) {
              host.set(k, await gpu.read(this.#slots.get(k)!, 0, c.n * this.#width[k]));
            }
          }
        }
        await opts.after?.(c, i);
        b = gpu.batch(label);
      }
    }
    b.submit();
  }

  /** Returns the GPU tensors this store allocated to the pool. */
  free(): void {
    this.#gpu.free(...this.#owned);
    this.#owned = [];
    this.#host = [];
  }
}
