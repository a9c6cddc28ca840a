/**
 * sparsellm: prune pre-trained OPT and LLaMA-family language models with **SparseLLM**
 * (Bai et al., NeurIPS 2024), SparseGPT, Wanda and magnitude pruning. All heavy math runs as
 * WGSL compute kernels on WebGPU (`navigator.gpu`), so it prunes on any GPU and, through a
 * software Vulkan driver, on a plain CPU.
 *
 * This entry point does no file I/O (it runs in browsers too): weights come through a
 * {@linkcode WeightSource}. The `./io` entry point reads and writes Hugging Face checkpoint
 * folders and is what the CLI uses.
 *
 * @example Prune a model held in memory
 * ```ts ignore
 * import { getGpu, SparseLLMPruner, sampleCalibration, TextTokenizer } from "@sparsellm/sparsellm";
 *
 * const tokenizer = new TextTokenizer(tokenizerJson);
 * const calibration = sampleCalibration(tokenizer.encode(text), 64, 256, 0);
 * const pruner = new SparseLLMPruner({ method: "sparsellm", sparsity: 0.7 });
 * const pruned = await pruner.prune({ source, config, calibration, gpu: await getGpu() });
 * ```
 *
 * @module
 */

export * from "./src/pruner.ts";
export * from "./src/prune/options.ts";
export * from "./src/prune/types.ts";
export * from "./src/prune/pipeline.ts";
export * from "./src/prune/report.ts";
export * from "./src/prune/sparsellm/types.ts";
export * from "./src/prune/sparsellm/ffn.ts";
export * from "./src/quant/grid.ts";
export * from "./src/quant/gptq.ts";
export type { QuantHooks, QuantOutcome, QuantRecorder } from "./src/quant/recorder.ts";
export type { MatrixQuantReport } from "./src/quant/apply.ts";
export * from "./src/gpu/device.ts";
export * from "./src/gpu/errors.ts";
export * from "./src/gpu/kernel.ts";
export * from "./src/gpu/pool.ts";
export * from "./src/gpu/split.ts";
export * from "./src/gpu/tensor.ts";
export * from "./src/gpu/uniforms.ts";
export * from "./src/models/config.ts";
export * from "./src/models/arch.ts";
export * from "./src/models/weights.ts";
export * from "./src/models/layer.ts";
export * from "./src/models/model.ts";
export * from "./src/eval/perplexity.ts";
export { TextTokenizer, type TextTokenizerOptions } from "./src/data/tokenizer.ts";
export { sampleCalibration } from "./src/data/calibration.ts";
export { evalWindows } from "./src/data/windows.ts";
export type { AttentionMode } from "./src/kernels/attention.ts";
