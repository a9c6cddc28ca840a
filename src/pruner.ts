/**
 * The library's front door: {@linkcode SparseLLMPruner} prunes a model held in any
 * {@linkcode WeightSource} (no file I/O, so it also runs in a browser with WebGPU).
 *
 * @module
 */

import { getGpu } from "./gpu/device.ts";
import { type GpuHandle, gpuOf } from "./gpu/handle.ts";
import { type ModelConfig, parseModelConfig } from "./models/config.ts";
import type { WeightInfo, WeightSource } from "./models/weights.ts";
import {
  type PruneOptions,
  type PruneOptionsInput,
  resolvePruneOptions,
  validateForModel,
} from "./prune/options.ts";
import { prunePipeline } from "./prune/pipeline.ts";
import type { LayerReport, ProgressEvent, PrunedTensors } from "./prune/report.ts";

/**
 * Input of {@linkcode SparseLLMPruner.prune}.
 *
 * @example Prune weights from any source with progress output
 * ```ts
 * import { SparseLLMPruner } from "@sparsellm/sparsellm";
 * import { getGpu } from "./gpu/device.ts";
 * import type { PruneInput, WeightSource } from "@sparsellm/sparsellm";
 *
 * declare const source: WeightSource;
 * declare const calibration: Int32Array[];
 * const input: PruneInput = {
 *   source,
 *   config: JSON.parse(await Deno.readTextFile("testdata/models/opt-tiny/config.json")),
 *   calibration,
 *   gpu: await getGpu(),
 *   onProgress: (e) => console.log(`${e.phase} ${e.done}/${e.total} ${e.detail ?? ""}`),
 * };
 * const pruned = await new SparseLLMPruner({ method: "sparsegpt", sparsity: 0.5 }).prune(input);
 * ```
 */
export interface PruneInput {
  /** The dense weights. */
  source: WeightSource;
  /** `config.json` contents (raw object) or an already parsed configuration. */
  config: object;
  /** Calibration windows of equal length (token ids). Empty is allowed for magnitude. */
  calibration: Int32Array[];
  /** Device (default: a shared device on the first adapter). */
  gpu?: GpuHandle;
  /** Progress: layer, matrix, phase, elapsed seconds. */
  onProgress?: (e: ProgressEvent) => void;
  /** Cancels the run between steps. */
  signal?: AbortSignal;
}

/**
 * A pruned model in memory.
 *
 * @example Read the result of a pruning run
 * ```ts
 * import { type PruneInput, type PrunedModel, SparseLLMPruner } from "@sparsellm/sparsellm";
 *
 * declare const input: PruneInput;
 * const pruned: PrunedModel = await new SparseLLMPruner({ method: "wanda", sparsity: 0.5 })
 *   .prune(input);
 * console.log(`sparsity ${pruned.sparsity.toFixed(3)} in ${pruned.seconds.toFixed(1)} s`);
 * for (const [name, values] of pruned.tensors) console.log(name, values.length);
 * ```
 */
export interface PrunedModel {
  /** The pruned matrices (float32), by tensor name. */
  tensors: PrunedTensors;
  /** Dense source with the pruned matrices laid over it (evaluate it like any source). */
  source: WeightSource;
  /** Per layer and matrix: sparsity, reconstruction error, time, SparseLLM iterates. */
  layers: LayerReport[];
  /** Achieved sparsity over the pruned matrices. */
  sparsity: number;
  /** Seconds. */
  seconds: number;
}

/**
 * A {@linkcode WeightSource} that serves some tensors from memory and the rest from a base.
 *
 * @example Replace one tensor of a source
 * ```ts
 * import { MemoryWeightSource } from "./models/weights.ts";
 * import { OverlayWeightSource } from "./pruner.ts";
 *
 * const base = new MemoryWeightSource({ w: { shape: [2], data: new Float32Array([1, 2]) } });
 * const overlay = new OverlayWeightSource(base, new Map([["w", new Float32Array([0, 2])]]));
 * console.log(await overlay.readF32("w")); // Float32Array(2) [0, 2]
 * ```
 */
export class OverlayWeightSource implements WeightSource {
  #base: WeightSource;
  #over: Map<string, Float32Array>;
  /** Lays `over` over `base`. */
  constructor(base: WeightSource, over: Map<string, Float32Array>) {
    this.#base = base;
    this.#over = over;
  }
  /** Whether a tensor exists. */
  has(name: string): boolean {
    return this.#over.has(name) || this.#base.has(name);
  }
  /** Dtype and shape (the base's; overlaid tensors keep their shape). */
  info(name: string): WeightInfo {
    const i = this.#base.info(name);
    return this.#over.has(name) ? { dtype: "F32", shape: i.shape } : i;
  }
  /** Values as float32. */
  readF32(name: string): Promise<Float32Array> {
    const t = this.#over.get(name);
    return t ? Promise.resolve(t) : this.#base.readF32(name);
  }
}

/**
 * Prunes OPT and LLaMA-family models with SparseLLM, SparseGPT, Wanda or magnitude pruning.
 *
 * @example Prune to 70 % with SparseLLM and evaluate in memory
 * ```ts ignore
 * import { SparseLLMPruner } from "@sparsellm/sparsellm";
 * import { MemoryWeightSource } from "./models/weights.ts";
 *
 * const pruner = new SparseLLMPruner({ method: "sparsellm", sparsity: 0.7, seqlen: 256 });
 * const pruned = await pruner.prune({ source, config, calibration });
 * console.log(pruned.sparsity, pruned.layers[0].ffn?.finalError);
 * ```
 */
export class SparseLLMPruner {
  /** Validated options with defaults filled in. */
  readonly options: PruneOptions;

  /** Validates the options (throws `RangeError` naming the option on bad values). */
  constructor(options: PruneOptionsInput) {
    this.options = resolvePruneOptions(options);
  }

  /** Prunes every selected decoder layer and returns the pruned matrices and the report. */
  async prune(input: PruneInput): Promise<PrunedModel> {
    const config = "modelType" in input.config
      ? input.config as ModelConfig
      : parseModelConfig(input.config as Record<string, unknown>, "config");
    const seqlen = this.options.seqlen ?? input.calibration[0]?.length ??
      Math.min(config.maxPositions, 2048);
    validateForModel(this.options, config, seqlen);
    for (const [i, w] of input.calibration.entries()) {
      if (w.length !== seqlen) {
        throw new RangeError(
          `Calibration window ${i} has ${w.length} tokens; all windows need ${seqlen}`,
        );
      }
    }
    const tensors: PrunedTensors = new Map();
    const gpu = input.gpu ? gpuOf(input.gpu) : await getGpu();
    const r = await prunePipeline({
      gpu,
      config,
      source: input.source,
      calibration: input.calibration,
      seqlen,
      options: this.options,
      onLayer: (_l, t) => {
        for (const [k, v] of t) tensors.set(k, v);
        return Promise.resolve();
      },
      ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      ...(input.signal ? { signal: input.signal } : {}),
    });
    return {
      tensors,
      source: new OverlayWeightSource(input.source, tensors),
      layers: r.layers,
      sparsity: r.sparsity,
      seconds: r.seconds,
    };
  }
}
