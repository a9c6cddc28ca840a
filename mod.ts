/**
 * sparsellm: prune pre-trained language models (OPT, LLaMA 1–3, Mistral, Qwen2/3, Gemma, Phi-3)
 * with **SparseLLM** (Bai et al., NeurIPS 2024), ADMM, SparseGPT, Wanda and magnitude pruning,
 * optionally quantizing the kept weights. All heavy math runs as WGSL compute kernels on WebGPU
 * (`navigator.gpu`), so it prunes on any GPU and, through a software Vulkan driver, on a plain CPU.
 *
 * This entry point does no file I/O (it runs in browsers too): weights come through a
 * {@linkcode WeightSource}. The `./io` entry point reads and writes Hugging Face checkpoint
 * folders and is what the CLI uses.
 *
 * @example Prune a model held in memory, then measure it
 * ```ts ignore
 * import { evaluateModel, evalWindows, SparseLLMPruner, sampleCalibration, TextTokenizer } from "@sparsellm/sparsellm";
 *
 * const tokenizer = new TextTokenizer(tokenizerJson);
 * const calibration = sampleCalibration(tokenizer.encode(text), 64, 256, 0);
 * const pruner = new SparseLLMPruner({ method: "sparsellm", sparsity: 0.7 });
 * const pruned = await pruner.prune({ source, config, calibration });
 * const windows = evalWindows(tokenizer.encode(testText), 256);
 * const { perplexity } = await evaluateModel({ source: pruned.source, config, windows });
 * ```
 *
 * @module
 */

export { type PrunedModel, type PruneInput, SparseLLMPruner } from "./src/pruner.ts";
export {
  OptionError,
  type OptionInputValue,
  type OptionSpec,
  type OptionValue,
  PRUNE_OPTIONS,
  type PruneOptions,
  type PruneOptionsInput,
  resolvePruneOptions,
} from "./src/prune/options.ts";
export { METHOD_NAMES, type MethodName, type SparsityPattern } from "./src/prune/types.ts";
export type { QuantSpec } from "./src/quant/grid.ts";
export type { MatrixQuantReport } from "./src/quant/apply.ts";
export type {
  LayerReport,
  MatrixReport,
  ProgressEvent,
  PrunedTensors,
} from "./src/prune/report.ts";
export type { FfnIterate, FfnReport } from "./src/prune/sparsellm/types.ts";
export type { LinearRole } from "./src/models/arch.ts";
export type { WeightInfo, WeightSource } from "./src/models/weights.ts";
export { TextTokenizer, type TextTokenizerOptions } from "./src/data/tokenizer.ts";
export { sampleCalibration } from "./src/data/calibration.ts";
export { evalWindows } from "./src/data/windows.ts";
export { type EvaluateInput, evaluateModel } from "./src/eval/evaluate_model.ts";
export type { PerplexityProgress, PerplexityResult } from "./src/eval/perplexity.ts";
export { getGpu, type GpuHandle } from "./src/gpu/handle.ts";
export type { GpuInfo, GpuOptions } from "./src/gpu/info.ts";
export { NoGpuAdapterError } from "./src/gpu/errors.ts";
