/**
 * Where the pruning pipeline keeps the calibration hidden states between decoder layers: the
 * inputs of the current layer and its outputs (the next layer's inputs), tokens × hidden each.
 * When both copies fit the GPU budget they stay on the GPU; otherwise they are kept in host
 * memory and moved through two GPU slots chunk by chunk, for every pass over the tokens.
 * Resident or spilled, the same kernels run on the same values, so the results are identical.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import { type GpuTensor, view } from "../gpu/tensor.ts";

/**
 * One chunk of calibration sequences, with its hidden states on the GPU while loaded.
 *
 * @example Run a decoder layer on a chunk
 * ```ts
 * import { type CalibChunk, getGpu } from "@sparsellm/sparsellm";
 *
 * const gpu = await getGpu();
 * const chunk: CalibChunk = {
 *   hidden: gpu.alloc([512, 64], "hidden"),
 *   out: gpu.alloc([512, 64], "out"),
 *   nseq: 2,
 *   tokens: 512,
 * };
 * ```
 */
export interface CalibChunk {
  /** The layer's input hidden states, [tokens, hidden]. */
  hidden: GpuTensor;
  /** The layer's output hidden states, [tokens, hidden]. */
  out: GpuTensor;
  /** Sequences in this chunk. */
  nseq: number;
  /** Tokens in this chunk. */
  tokens: number;
}

/**
 * The two per-chunk arrays a pass may move.
 *
 * @example A pass that reads both arrays
 * ```ts
 * import type { CalibField } from "@sparsellm/sparsellm";
 *
 * const reads: CalibField[] = ["hidden", "out"];
 * ```
 */
export type CalibField = "hidden" | "out";

/**
 * Options of one pass, {@linkcode CalibStore.each}.
 *
 * @example A pass that writes the layer outputs back to host memory
 * ```ts
 * import type { CalibPassOptions } from "@sparsellm/sparsellm";
 *
 * const opts: CalibPassOptions = { reads: ["hidden"], writes: ["out"] };
 * ```
 */
export interface CalibPassOptions {
  /** Arrays the pass reads (uploaded into the slots first when spilled). Default `hidden`. */
  reads?: CalibField[];
  /** Arrays the pass writes (read back after each chunk when spilled). Default none. */
  writes?: CalibField[];
  /** Recorded after the last chunk's work, in the same batch. */
  finish?: (b: Batch) => void;
}

/**
 * Bytes both copies of the calibration hidden states take: 2 · tokens · hidden · 4.
 *
 * @example 8 sequences of 512 tokens at hidden size 2048
 * ```ts
 * import { calibrationBytes } from "@sparsellm/sparsellm";
 *
 * calibrationBytes(8 * 512, 2048); // 67108864
 * ```
 */
export function calibrationBytes(tokens: number, hidden: number): number {
  return 2 * tokens * hidden * 4;
}

/**
 * Holds the calibration hidden states of every chunk on the GPU, or in host memory with two
 * shared GPU slots.
 *
 * @example Keep 4 sequences of 128 tokens in host memory and run a pass over them
 * ```ts
 * import { CalibStore, getGpu } from "@sparsellm/sparsellm";
 *
 * const gpu = await getGpu();
 * const store = CalibStore.create(gpu, [{ nseq: 2, tokens: 256 }, { nseq: 2, tokens: 256 }], 64, true);
 * store.setHidden(0, new Float32Array(256 * 64));
 * store.setHidden(1, new Float32Array(256 * 64));
 * await store.each("pass", { writes: ["out"] }, (b, c) => {
 *   b.copy(c.hidden.buffer, 0, c.out.buffer, 0, c.tokens * 64 * 4);
 * });
 * store.swap();
 * store.free();
 * ```
 */
export class CalibStore {
  /** Whether the hidden states live in host memory. */
  readonly spilled: boolean;
  #gpu: Gpu;
  #d: number;
  #chunks: CalibChunk[];
  #host: Record<CalibField, Float32Array[]> = { hidden: [], out: [] };
  #owned: GpuTensor[] = [];

  private constructor(gpu: Gpu, d: number, spilled: boolean, chunks: CalibChunk[]) {
    this.#gpu = gpu;
    this.#d = d;
    this.spilled = spilled;
    this.#chunks = chunks;
  }

  /**
   * Allocates the hidden states of every chunk (contents undefined until set).
   *
   * @param gpu The device.
   * @param sizes Per chunk: sequences and tokens.
   * @param d Hidden size.
   * @param spilled Keep them in host memory (otherwise on the GPU).
   */
  static create(
    gpu: Gpu,
    sizes: { nseq: number; tokens: number }[],
    d: number,
    spilled: boolean,
  ): CalibStore {
    const owned: GpuTensor[] = [];
    const alloc = (n: number, label: string) => {
      const t = gpu.alloc([n, d], label);
      owned.push(t);
      return t;
    };
    const nmax = Math.max(0, ...sizes.map((s) => s.tokens));
    const slots = spilled && nmax > 0
      ? { hidden: alloc(nmax, "calib/slot-hidden"), out: alloc(nmax, "calib/slot-out") }
      : undefined;
    const chunks = sizes.map((s, i) => ({
      nseq: s.nseq,
      tokens: s.tokens,
      hidden: slots ? view(slots.hidden, [s.tokens, d]) : alloc(s.tokens, `calib/hidden${i}`),
      out: slots ? view(slots.out, [s.tokens, d]) : alloc(s.tokens, `calib/out${i}`),
    }));
    const store = new CalibStore(gpu, d, spilled, chunks);
    store.#owned = owned;
    if (spilled) {
      for (const s of sizes) {
        store.#host.hidden.push(new Float32Array(s.tokens * d));
        store.#host.out.push(new Float32Array(s.tokens * d));
      }
    }
    return store;
  }

  /** Sequences and tokens of every chunk. */
  get sizes(): readonly { nseq: number; tokens: number }[] {
    return this.#chunks.map((c) => ({ nseq: c.nseq, tokens: c.tokens }));
  }

  /** Sets chunk `i`'s input hidden states from host memory. */
  setHidden(i: number, data: Float32Array): void {
    const c = this.#chunks[i];
    if (data.length !== c.tokens * this.#d) {
      throw new RangeError(
        `Calibration chunk ${i} needs ${c.tokens * this.#d} hidden values, got ${data.length}`,
      );
    }
    if (this.spilled) this.#host.hidden[i] = data;
    else this.#gpu.write(c.hidden, data);
  }

  /** Sets chunk `i`'s input hidden states from a GPU tensor (copied; the caller keeps `t`). */
  async setHiddenFrom(i: number, t: GpuTensor): Promise<void> {
    const c = this.#chunks[i];
    if (this.spilled) {
      this.#host.hidden[i] = await this.#gpu.read(t, 0, c.tokens * this.#d);
    } else {
      const b = this.#gpu.batch("calib/set");
      b.copy(t.buffer, 0, c.hidden.buffer, 0, c.tokens * this.#d * 4);
      b.submit();
    }
  }

  /**
   * Runs one pass over all chunks: `record` records each chunk's work. Resident, all chunks go
   * into one batch; spilled, each chunk's `reads` are uploaded into the slots first and its
   * `writes` read back after its batch.
   */
  async each(
    label: string,
    opts: CalibPassOptions,
    record: (b: Batch, c: CalibChunk, i: number) => void,
  ): Promise<void> {
    const gpu = this.#gpu;
    const reads = opts.reads ?? ["hidden"];
    let b = gpu.batch(label);
    for (const [i, c] of this.#chunks.entries()) {
      if (this.spilled) { for (const k of reads) gpu.write(c[k], this.#host[k][i]); }
      record(b, c, i);
      if (i === this.#chunks.length - 1) opts.finish?.(b);
      if (this.spilled) {
        b.submit();
        for (const k of opts.writes ?? []) {
          this.#host[k][i] = await gpu.read(c[k], 0, c.tokens * this.#d);
        }
        b = gpu.batch(label);
      }
    }
    b.submit();
  }

  /** Makes the outputs the next layer's inputs. */
  swap(): void {
    if (this.spilled) {
      [this.#host.hidden, this.#host.out] = [this.#host.out, this.#host.hidden];
    } else {
      for (const c of this.#chunks) [c.hidden, c.out] = [c.out, c.hidden];
    }
  }

  /** The input hidden states of every chunk, in host memory (for resumable runs). */
  async readHidden(): Promise<Float32Array[]> {
    if (this.spilled) return [...this.#host.hidden];
    const out: Float32Array[] = [];
    for (const c of this.#chunks) out.push(await this.#gpu.read(c.hidden, 0, c.tokens * this.#d));
    return out;
  }

  /** Returns the GPU tensors to the pool and drops the host copies. */
  free(): void {
    this.#gpu.free(...this.#owned);
    this.#owned = [];
    this.#host = { hidden: [], out: [] };
  }
}
