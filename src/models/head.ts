/**
 * The embedding and output head in vocabulary blocks, and the token scores (NLL, argmax) the
 * head produces.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { checkTensor } from "./validate.ts";
import type { WeightSource } from "./weights.ts";

/**
 * A block of rows of the token embedding or output head.
 *
 * @example List the embedding's vocabulary blocks
 * ```ts
 * import type { CausalLM } from "./model.ts";
 * import type { VocabBlock } from "./head.ts";
 *
 * declare const model: CausalLM;
 * const blocks: readonly VocabBlock[] = model.embedBlocks;
 * console.log(blocks.map((b) => `${b.start}..${b.start + b.count - 1}`));
 * ```
 */
export interface VocabBlock {
  /** Rows `start .. start + count - 1`, `[count, hidden]`. */
  tensor: GpuTensor;
  /** First vocabulary id. */
  start: number;
  /** Number of ids. */
  count: number;
}

/**
 * NLL and argmax of every token row, on the GPU.
 *
 * @example Score two windows by hand
 * ```ts
 * import { runLayer } from "./layer.ts";
 * import { type CausalLM } from "./model.ts";
 * import { type TokenScores } from "./head.ts";
 *
 * declare const model: CausalLM; // a resident model (layers kept on the GPU)
 * declare const ids: Int32Array; // 2 windows of 128 tokens
 * const gpu = model.gpu, batch = gpu.batch("score");
 * const hidden = model.embed(batch, ids, 2, 128);
 * for (let i = 0; i < model.numLayers; i++) {
 *   runLayer(gpu, batch, model.arch, await model.layer(i), hidden, hidden, 128);
 * }
 * const scores: TokenScores = model.scoreTokens(batch, hidden, ids, 2, 128);
 * batch.submit();
 * const nll = await gpu.read(scores.nll);
 * gpu.free(hidden, scores.nll, scores.argmax);
 * model.releaseInputs();
 * ```
 */
export interface TokenScores {
  /** `[T]` f32: NLL of the next token; 0 at the last position of each sequence. */
  nll: GpuTensor;
  /** `[T]` u32: argmax of the logits at each position. */
  argmax: GpuTensor;
}

/**
 * Result of {@linkcode CausalLM.forward}, read back.
 *
 * @example Perplexity of one window
 * ```ts
 * import type { CausalLM } from "./model.ts";
 * import type { ForwardResult } from "./head.ts";
 *
 * declare const model: CausalLM;
 * declare const ids: Int32Array;
 * const r: ForwardResult = await model.forward(ids, 1, ids.length);
 * console.log(Math.exp(r.nll.reduce((a, b) => a + b, 0) / r.nll.length));
 * ```
 */
export interface ForwardResult {
  /** Per sequence, the `seqlen - 1` next-token NLLs (nats), concatenated. */
  nll: Float32Array<ArrayBuffer>;
  /** Per sequence, the `seqlen` argmax ids, concatenated. */
  argmax: Uint32Array<ArrayBuffer>;
}

/**
 * Reads a `[vocab, d]` tensor (the token embedding or the output head) and uploads it in blocks
 * of rows of at most `blockBytes` bytes each.
 *
 * @example Upload an embedding in 64 MiB blocks
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { loadVocab } from "./head.ts";
 * import type { WeightSource } from "./weights.ts";
 *
 * declare const source: WeightSource;
 * const blocks = await loadVocab(await getGpu(), source, "model.embed_tokens.weight", 32000, 64, 64 << 20);
 * console.log(blocks.length);
 * ```
 *
 * @param gpu The device.
 * @param source Where the tensor comes from.
 * @param name The tensor's name.
 * @param vocab Its rows (the vocabulary size).
 * @param d Its columns (the hidden size).
 * @param blockBytes Largest block in bytes.
 * @returns The blocks, in vocabulary order.
 * @throws {RangeError} When the tensor is missing or has the wrong shape or dtype.
 */
export async function loadVocab(
  gpu: Gpu,
  source: WeightSource,
  name: string,
  vocab: number,
  d: number,
  blockBytes: number,
): Promise<VocabBlock[]> {
  checkTensor(source, name, [vocab, d]);
  const data = await source.readF32(name);
  const per = Math.max(1, Math.floor(blockBytes / (4 * d)));
  const out: VocabBlock[] = [];
  for (let start = 0; start < vocab; start += per) {
    const count = Math.min(per, vocab - start);
    const tensor = gpu.upload(
      data.subarray(start * d, (start + count) * d),
      [count, d],
      `${name}[${start}:${start + count}]`,
    );
    out.push({ tensor, start, count });
  }
  return out;
}

/**
 * Checks token ids against the vocabulary and the shape.
 *
 * @example Refuse an id outside the vocabulary
 * ```ts
 * import { checkIds } from "./head.ts";
 *
 * checkIds(new Int32Array([1, 2, 3, 4]), 2, 2, 10); // passes
 * checkIds(new Int32Array([1, 2, 3, 40]), 2, 2, 10); // throws RangeError naming id 40
 * ```
 *
 * @param ids `nseq · seqlen` token ids.
 * @param nseq Number of sequences.
 * @param seqlen Tokens per sequence.
 * @param vocab Vocabulary size.
 * @throws {RangeError} When the shape is invalid or an id is outside `0..vocab - 1`.
 */
export function checkIds(ids: Int32Array, nseq: number, seqlen: number, vocab: number): void {
  if (!Number.isInteger(nseq) || !Number.isInteger(seqlen) || nseq < 1 || seqlen < 1) {
    throw new RangeError(`Invalid batch shape: ${nseq} sequences of ${seqlen} tokens`);
  }
  if (ids.length !== nseq * seqlen) {
    throw new RangeError(
      `Expected ${nseq} × ${seqlen} = ${nseq * seqlen} token ids, got ${ids.length}`,
    );
  }
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw new RangeError(
        `Token id ${ids[i]} at position ${i} is outside the vocabulary 0..${vocab - 1}`,
      );
    }
  }
}
