/**
 * `eval`: perplexity of a checkpoint folder on a text file (SparseGPT/Wanda protocol).
 *
 * @module
 */

import { evalWindows } from "../data/windows.ts";
import { join } from "node:path";
import { evaluatePerplexity } from "../eval/perplexity.ts";
import { assertFinite } from "../io/finite.ts";
import { OptionError } from "../prune/option_error.ts";
import { positiveInteger } from "./_args.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import { type GpuHandle, gpuOf } from "../gpu/handle.ts";
import type { ModelConfig } from "../models/config.ts";
import { CausalLM } from "../models/model.ts";
import type { WeightSource } from "../models/weights.ts";
import type { ProgressEvent } from "../prune/report.ts";
import { defaultSeqlen, loadTokenizer, openModel } from "../io/model_files.ts";
import { readTextFile } from "../io/text.ts";

/**
 * Arguments of {@linkcode evaluateCheckpoint}.
 *
 * @example Evaluate on 32 windows of 256 tokens
 * ```ts
 * import { type EvaluateArgs, evaluateCheckpoint } from "@sparsellm/sparsellm/io";
 *
 * const args: EvaluateArgs = {
 *   model: "testdata/models/opt-tiny",
 *   text: "testdata/kjv/test.txt",
 *   seqlen: 256,
 *   maxWindows: 32,
 * };
 * const { perplexity } = await evaluateCheckpoint(args);
 * ```
 */
export interface EvaluateArgs {
  /** Model folder. */
  model: string;
  /** Text file. */
  text: string;
  /** Window length (default: the model's max positions, at most 2048). */
  seqlen?: number | undefined;
  /** Evaluate only the first N windows. */
  maxWindows?: number | undefined;
  /** Progress callback. */
  onProgress?: (e: ProgressEvent) => void;
  /** Device (default: the shared one). */
  gpu?: GpuHandle;
}

/**
 * What `eval --json` prints.
 *
 * @example Print an evaluation
 * ```ts
 * import { type EvalResult, evaluateCheckpoint } from "@sparsellm/sparsellm/io";
 *
 * const r: EvalResult = await evaluateCheckpoint({
 *   model: "testdata/models/opt-tiny",
 *   text: "testdata/kjv/test.txt",
 * });
 * console.log(`ppl ${r.perplexity.toFixed(2)} on ${r.windows} x ${r.seqlen} tokens`);
 * ```
 */
export interface EvalResult {
  /** exp(mean next-token NLL). */
  perplexity: number;
  /** Windows evaluated. */
  windows: number;
  /** Window length. */
  seqlen: number;
  /** Tokens in those windows. */
  tokens: number;
  /** Wall time. */
  seconds: number;
}

/**
 * Tokenizes a text file into evaluation windows with the model's tokenizer.
 *
 * @example Tokenize the test text
 * ```ts
 * import { textWindows } from "@sparsellm/sparsellm/io";
 *
 * const windows = await textWindows("testdata/models/opt-tiny", "testdata/kjv/test.txt", 256, 32);
 * console.log(windows.length, windows[0].length); // 32 256
 * ```
 */
export async function textWindows(
  modelDir: string,
  textPath: string,
  seqlen: number,
  maxWindows?: number,
): Promise<Int32Array[]> {
  const tok = await loadTokenizer(modelDir);
  const ids = tok.encode(await readTextFile(textPath));
  if (ids.length < seqlen) {
    throw new RangeError(
      `The text "${textPath}" has ${ids.length} tokens, fewer than one window of ${seqlen}`,
    );
  }
  return evalWindows(ids, seqlen, maxWindows);
}

/**
 * Perplexity of weights from any source on prepared windows.
 *
 * @example Perplexity of weights pruned in memory
 * ```ts
 * import { SparseLLMPruner } from "@sparsellm/sparsellm";
 * import { getGpu } from "../gpu/device.ts";
 * import { openModel, perplexityOf, textWindows } from "@sparsellm/sparsellm/io";
 *
 * const dir = "testdata/models/opt-tiny";
 * const { reader, config } = await openModel(dir);
 * const pruner = new SparseLLMPruner({ method: "magnitude", sparsity: 0.5 });
 * const pruned = await pruner.prune({ source: reader, config, calibration: [] });
 * const windows = await textWindows(dir, "testdata/kjv/test.txt", 256, 32);
 * const { perplexity } = await perplexityOf(await getGpu(), pruned.source, config, windows);
 * reader.close();
 * ```
 */
export async function perplexityOf(
  handle: GpuHandle,
  source: WeightSource,
  config: ModelConfig,
  windows: Int32Array[],
  onProgress?: (e: ProgressEvent) => void,
  phase = "eval",
): Promise<EvalResult> {
  const t0 = performance.now();
  const gpu: Gpu = gpuOf(handle);
  const model = await CausalLM.load(gpu, source, config);
  try {
    const r = await evaluatePerplexity(gpu, model, windows, {
      onProgress: (p) =>
        onProgress?.({
          phase,
          done: p.windowsDone,
          total: p.windows,
          elapsed: p.seconds,
          ...(p.layer !== undefined ? { detail: `layer ${p.layer}` } : {}),
        }),
    });
    return {
      perplexity: r.perplexity,
      windows: r.windows,
      seqlen: r.seqlen,
      tokens: r.tokens,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    model.release();
  }
}

/**
 * Evaluates a checkpoint folder's perplexity on a text file.
 *
 * @example Perplexity of a checkpoint folder
 * ```ts
 * import { evaluateCheckpoint } from "@sparsellm/sparsellm/io";
 *
 * const r = await evaluateCheckpoint({
 *   model: "testdata/models/opt-tiny",
 *   text: "testdata/kjv/test.txt",
 *   maxWindows: 16,
 *   onProgress: (e) => console.log(`${e.done}/${e.total}`),
 * });
 * ```
 */
export async function evaluateCheckpoint(args: EvaluateArgs): Promise<EvalResult> {
  positiveInteger("seqlen", args.seqlen);
  positiveInteger("maxWindows", args.maxWindows);
  const { reader, config } = await openModel(args.model);
  try {
    const seqlen = args.seqlen ?? defaultSeqlen(config);
    if (seqlen > config.maxPositions) {
      throw new OptionError(
        "seqlen",
        `seqlen ${seqlen} exceeds the model's ${config.maxPositions} positions ` +
          `(max_position_embeddings in "${join(args.model, "config.json")}")`,
      );
    }
    const windows = await textWindows(args.model, args.text, seqlen, args.maxWindows);
    const gpu = args.gpu ? gpuOf(args.gpu) : await getGpu();
    // NaN or infinite weights are refused as prune refuses them, not averaged into a figure.
    const checked: WeightSource = {
      has: (n) => reader.has(n),
      info: (n) => reader.info(n),
      readF32: async (n) => {
        const data = await reader.readF32(n);
        assertFinite(n, data, reader.info(n).file);
        return data;
      },
    };
    return await perplexityOf(gpu, checked, config, windows, args.onProgress);
  } finally {
    reader.close();
  }
}
