/**
 * Perplexity of a causal LM on token windows (the SparseGPT / Wanda protocol): every window
 * runs independently from position 0, the NLLs of all next-token predictions (`seqlen - 1`
 * per window) are averaged, and the perplexity is `exp(mean)`.
 *
 * Small models keep every layer on the GPU and run chunk by chunk (one batch and one read-back
 * per chunk). Large models run layer by layer: one layer's weights are loaded, every chunk's
 * hidden states pass through it, the weights are released; hidden states stay on the GPU when
 * they fit `gpuHiddenBytes`, else in host memory.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { ChunkStore } from "../gpu/chunk_store.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { runLayer } from "../models/layer.ts";
import type { CausalLM } from "../models/model.ts";

/**
 * Progress of {@linkcode evaluatePerplexity}.
 *
 * @example Print evaluation progress
 * ```ts
 * import type { PerplexityProgress } from "@sparsellm/sparsellm";
 *
 * const onProgress = (p: PerplexityProgress) =>
 *   console.log(`${p.windowsDone}/${p.windows} windows, layer ${p.layer ?? "-"}, ${p.seconds} s`);
 * ```
 */
export interface PerplexityProgress {
  /** Windows scored so far. */
  windowsDone: number;
  /** Windows in total. */
  windows: number;
  /** In layer-by-layer mode, the layer just finished (else `undefined`). */
  layer?: number;
  /** Seconds since the start. */
  seconds: number;
}

/**
 * Options of {@linkcode evaluatePerplexity}.
 *
 * @example Keep the per-window NLLs
 * ```ts
 * import { evaluatePerplexity } from "./perplexity.ts";
 * import { type Gpu } from "../gpu/device.ts";
 * import { type CausalLM } from "../models/model.ts";
 * import type { PerplexityOptions } from "./perplexity.ts";
 *
 * declare const gpu: Gpu, model: CausalLM, windows: Int32Array[];
 * const options: PerplexityOptions = { chunkWindows: 8, keepNlls: true };
 * const { nlls } = await evaluatePerplexity(gpu, model, windows, options);
 * ```
 */
export interface PerplexityOptions {
  /** Windows per GPU chunk (default: about 4096 tokens, within the binding limits). */
  chunkWindows?: number;
  /** Called after every chunk (and every layer when streaming). */
  onProgress?: (p: PerplexityProgress) => void;
  /** Return the per-window NLLs and argmax ids (default false). */
  keepNlls?: boolean;
  /** Streaming mode: keep hidden states on the GPU up to this many bytes (default 1 GiB). */
  gpuHiddenBytes?: number;
}

/**
 * Result of {@linkcode evaluatePerplexity}.
 *
 * @example Report perplexity and throughput
 * ```ts
 * import { evaluatePerplexity } from "./perplexity.ts";
 * import { type Gpu } from "../gpu/device.ts";
 * import { type CausalLM } from "../models/model.ts";
 * import type { PerplexityResult } from "@sparsellm/sparsellm";
 *
 * declare const gpu: Gpu, model: CausalLM, windows: Int32Array[];
 * const r: PerplexityResult = await evaluatePerplexity(gpu, model, windows);
 * console.log(`ppl ${r.perplexity.toFixed(2)}, ${r.tokensPerSecond.toFixed(0)} tokens/s`);
 * ```
 */
export interface PerplexityResult {
  /** `exp(meanNll)`. */
  perplexity: number;
  /** Mean next-token NLL in nats over all predicted tokens. */
  meanNll: number;
  /** Windows evaluated. */
  windows: number;
  /** Tokens predicted (`windows · (seqlen - 1)`). */
  tokens: number;
  /** Tokens per window. */
  seqlen: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** Input tokens processed per second (`windows · seqlen / seconds`). */
  tokensPerSecond: number;
  /** Per window, the `seqlen - 1` next-token NLLs (with `keepNlls`). */
  nlls?: Float32Array[];
  /** Per window, the `seqlen` argmax ids (with `keepNlls`). */
  argmax?: Uint32Array[];
}

/**
 * The default number of windows per chunk for a model and window length.
 *
 * @example Halve the default chunk
 * ```ts
 * import { defaultChunkWindows, evaluatePerplexity } from "./perplexity.ts";
 * import type { Gpu } from "../gpu/device.ts";
 * import type { CausalLM } from "../models/model.ts";
 *
 * declare const gpu: Gpu, model: CausalLM, windows: Int32Array[];
 * const per = defaultChunkWindows(gpu, model, windows[0].length);
 * const r = await evaluatePerplexity(gpu, model, windows, { chunkWindows: Math.ceil(per / 2) });
 * ```
 */
export function defaultChunkWindows(gpu: Gpu, model: CausalLM, seqlen: number): number {
  const a = model.arch;
  const widest = Math.max(a.ffnSize, a.numHeads * a.headDim, a.hiddenSize, 3);
  const maxRows = Math.floor(gpu.bindingLimit / (4 * widest));
  const rows = Math.min(4096, maxRows);
  return Math.max(1, Math.floor(rows / seqlen));
}

/**
 * Evaluates the perplexity of `model` on `windows` (equal-length token windows).
 *
 * @example Perplexity of a checkpoint on a text
 * ```ts
 * import { evalWindows } from "@sparsellm/sparsellm";
 * import { getGpu } from "../gpu/device.ts";
 * import { evaluatePerplexity } from "./perplexity.ts";
 * import { CausalLM } from "../models/model.ts";
 * import { parseModelConfig } from "../models/config.ts";
 * import { CheckpointReader, loadTokenizer } from "@sparsellm/sparsellm/io";
 *
 * const dir = "testdata/models/opt-tiny";
 * const reader = await CheckpointReader.open(dir);
 * const gpu = await getGpu();
 * const model = await CausalLM.load(gpu, reader, parseModelConfig(reader.config, dir));
 * const ids = (await loadTokenizer(dir)).encode(await Deno.readTextFile("testdata/kjv/test.txt"));
 * const { perplexity } = await evaluatePerplexity(gpu, model, evalWindows(ids, 256, 32));
 * model.release();
 * reader.close();
 * ```
 *
 * @param gpu The device.
 * @param model The model.
 * @param windows Token windows, all of the same length ≥ 2.
 * @param opts Chunking, progress and output options.
 * @returns Perplexity, mean NLL, counts and throughput.
 * @throws {RangeError} When there are no windows or their lengths differ.
 */
export async function evaluatePerplexity(
  gpu: Gpu,
  model: CausalLM,
  windows: Int32Array[],
  opts: PerplexityOptions = {},
): Promise<PerplexityResult> {
  if (windows.length === 0) throw new RangeError("Cannot evaluate perplexity on zero windows");
  const seqlen = windows[0].length;
  if (seqlen < 2) {
    throw new RangeError(
      `Cannot evaluate perplexity on windows of ${seqlen} token(s): at least 2 needed`,
    );
  }
  windows.forEach((w, i) => {
    if (w.length !== seqlen) {
      throw new RangeError(
        `All windows must have the same length: window 0 has ${seqlen} tokens, window ${i} has ${w.length}`,
      );
    }
  });
  const per = opts.chunkWindows ?? defaultChunkWindows(gpu, model, seqlen);
  if (!Number.isInteger(per) || per < 1) {
    throw new RangeError(`chunkWindows must be a positive integer, got ${per}`);
  }
  const t0 = performance.now();
  const chunks: { ids: Int32Array; nseq: number; first: number }[] = [];
  for (let first = 0; first < windows.length; first += per) {
    const nseq = Math.min(per, windows.length - first);
    const ids = new Int32Array(nseq * seqlen);
    for (let s = 0; s < nseq; s++) ids.set(windows[first + s], s * seqlen);
    chunks.push({ ids, nseq, first });
  }
  let sum = 0;
  const nlls: Float32Array[] = [];
  const argmax: Uint32Array[] = [];
  let done = 0;
  const progress = (layer?: number) =>
    opts.onProgress?.({
      windowsDone: done,
      windows: windows.length,
      ...(layer !== undefined ? { layer } : {}),
      seconds: (performance.now() - t0) / 1000,
    });
  const collect = async (nllT: GpuTensor, amT: GpuTensor, nseq: number) => {
    const all = await gpu.read(nllT);
    const am = opts.keepNlls ? await gpu.readU32(amT) : undefined;
    for (let s = 0; s < nseq; s++) {
      const w = all.subarray(s * seqlen, s * seqlen + seqlen - 1);
      let ws = 0;
      for (let i = 0; i < w.length; i++) {
        if (!Number.isFinite(w[i])) {
          throw new RangeError(
            `The NLL of window ${done + s}, position ${i} is ${
              w[i]
            }: the model produced non-finite logits`,
          );
        }
        ws += w[i];
      }
      sum += ws;
      if (opts.keepNlls) {
        nlls.push(w.slice());
        argmax.push(am!.slice(s * seqlen, (s + 1) * seqlen));
      }
    }
    done += nseq;
  };

  const scores: { nll: GpuTensor; argmax: GpuTensor }[] = [];
  if (model.resident) {
    for (const c of chunks) {
      const b = gpu.batch("eval");
      const h = model.embed(b, c.ids, c.nseq, seqlen);
      for (let l = 0; l < model.numLayers; l++) {
        runLayer(gpu, b, model.arch, await model.layer(l), h, h, seqlen);
      }
      const sc = model.scoreTokens(b, h, c.ids, c.nseq, seqlen);
      b.submit();
      try {
        await collect(sc.nll, sc.argmax, c.nseq);
      } finally {
        gpu.free(h, sc.nll, sc.argmax);
        model.releaseInputs();
      }
      progress();
    }
  } else {
    // Layer by layer: every chunk's hidden states in one store, on the GPU within the budget.
    const d = model.arch.hiddenSize;
    const sizes = chunks.map((c) => ({ nseq: c.nseq, tokens: c.nseq * seqlen }));
    const budget = opts.gpuHiddenBytes ?? 1024 * 1024 * 1024;
    const states = ChunkStore.create(gpu, "eval", sizes, { hidden: d }, budget);
    try {
      for (const [i, c] of chunks.entries()) {
        const b = gpu.batch("eval/embed");
        const h = model.embed(b, c.ids, c.nseq, seqlen);
        b.submit();
        model.releaseInputs();
        await states.setFrom("hidden", i, h);
        gpu.free(h);
      }
      let next = model.layer(0);
      for (let l = 0; l < model.numLayers; l++) {
        const w = await next;
        if (l + 1 < model.numLayers) next = model.layer(l + 1);
        await states.each(`eval/layer${l}`, { reads: ["hidden"], writes: ["hidden"] }, (b, c) => {
          runLayer(gpu, b, model.arch, w, c.hidden, c.hidden, seqlen);
        });
        if (!states.spilled) await gpu.sync();
        model.releaseLayer(w);
        progress(l);
      }
      await states.each("eval/head", {
        reads: ["hidden"],
        writes: [],
        after: async (i) => {
          const sc = scores[i];
          try {
            await collect(sc.nll, sc.argmax, chunks[i].nseq);
          } finally {
            gpu.free(sc.nll, sc.argmax);
            model.releaseInputs();
          }
          progress();
        },
      }, (b, c, i) => {
        scores[i] = model.scoreTokens(b, c.hidden, chunks[i].ids, c.nseq, seqlen);
      });
    } finally {
      states.free();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const tokens = windows.length * (seqlen - 1);
  const meanNll = sum / tokens;
  return {
    perplexity: Math.exp(meanNll),
    meanNll,
    windows: windows.length,
    tokens,
    seqlen,
    seconds,
    tokensPerSecond: (windows.length * seqlen) / seconds,
    ...(opts.keepNlls ? { nlls, argmax } : {}),
  };
}
