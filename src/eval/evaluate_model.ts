/**
 * Perplexity of a model held in any weight source, without touching the runtime's classes: the
 * library's evaluation entry point.
 *
 * @module
 */

import { type GpuHandle, gpuOf } from "../gpu/handle.ts";
import { getGpu } from "../gpu/device.ts";
import { type ModelConfig, parseModelConfig } from "../models/config.ts";
import { CausalLM } from "../models/model.ts";
import type { WeightSource } from "../models/weights.ts";
import {
  evaluatePerplexity,
  type PerplexityProgress,
  type PerplexityResult,
} from "./perplexity.ts";

/** Input of {@linkcode evaluateModel}. */
export interface EvaluateInput {
  /** The weights (e.g. a pruned model's `source`). */
  source: WeightSource;
  /** `config.json` contents (the parsed JSON object) or an already parsed configuration. */
  config: object;
  /** Windows of equal length (token ids), e.g. from `evalWindows`. */
  windows: Int32Array[];
  /** Device (default: the shared device on the first adapter). */
  gpu?: GpuHandle;
  /** Windows per GPU chunk (default: about 4096 tokens, within the binding limits). */
  chunkWindows?: number;
  /** Called after every chunk (and every layer when the model is streamed). */
  onProgress?: (p: PerplexityProgress) => void;
  /** Keep every window's per-token NLLs and argmax predictions in the result. */
  keepNlls?: boolean;
}

/**
 * Loads the model from `source` and measures its perplexity on `windows` (mean next-token NLL
 * over every window's predictions, as SparseGPT and Wanda evaluate).
 *
 * @example Perplexity of a pruned model on 32 windows of 256 tokens
 * ```ts
 * import { evaluateModel, evalWindows, type PrunedModel, TextTokenizer } from "../../mod.ts";
 *
 * declare const pruned: PrunedModel, config: Record<string, unknown>, tok: TextTokenizer;
 * declare const text: string;
 * const windows = evalWindows(tok.encode(text), 256, 32);
 * const { perplexity } = await evaluateModel({ source: pruned.source, config, windows });
 * console.log(perplexity.toFixed(3));
 * ```
 */
export async function evaluateModel(input: EvaluateInput): Promise<PerplexityResult> {
  const gpu = input.gpu ? gpuOf(input.gpu) : await getGpu();
  const config = "modelType" in input.config
    ? input.config as ModelConfig
    : parseModelConfig(input.config as Record<string, unknown>, "config");
  const model = await CausalLM.load(gpu, input.source, config);
  try {
    const { source: _s, config: _c, windows, gpu: _g, ...opts } = input;
    return await evaluatePerplexity(gpu, model, windows, opts);
  } finally {
    model.release();
  }
}
