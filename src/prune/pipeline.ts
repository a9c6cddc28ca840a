/**
 * The sequential pruning driver (as SparseGPT does it): embed the calibration windows; for each
 * decoder layer run the dense layer while accumulating, for every prunable linear, the
 * statistics its method needs; prune; then run the pruned layer to produce the next layer's
 * inputs. The methods own the math (see `method.ts`), this file owns the loop. No file I/O here:
 * pruned weights leave through a callback.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { ChunkStore } from "../gpu/chunk_store.ts";
import type { Architecture } from "../models/arch.ts";
import { architectureForSource } from "../models/families.ts";
import type { ModelConfig } from "../models/config.ts";
import { type LayerWeights, loadLayerWeights } from "../models/layer_weights.ts";
import { runLayer } from "../models/layer.ts";
import { CausalLM } from "../models/model.ts";
import type { WeightSource } from "../models/weights.ts";
import type { PruneOptions } from "./options.ts";
import { collectLayerStats } from "./layer_stats.ts";
import type { CalibrationStore, LayerJob, LayerStats, PruneMethod } from "./method.ts";
import { methodFor, solverFor } from "./methods.ts";
import { relativeError } from "./rel_error.ts";
import { checkPrunedMatrix } from "./sparsity_check.ts";
import { layerTargetsFrom, owlOutlierRatios } from "./layer_targets.ts";
import type { LayerReport, PipelineResult, ProgressEvent, PrunedTensors } from "./report.ts";
import { quantizeAfterPruning, quantReport } from "../quant/apply.ts";
import { type QuantOutcome, QuantRecorder } from "../quant/recorder.ts";

/**
 * Arguments of {@linkcode prunePipeline}.
 *
 * @example Arguments of a run with validated options
 * ```ts
 * import type { PruneOptions } from "@sparsellm/sparsellm";
 * import { getGpu } from "../gpu/device.ts";
 * import type { WeightSource } from "@sparsellm/sparsellm";
 * import type { ModelConfig } from "../models/config.ts";
 * import type { PipelineArgs } from "./pipeline.ts";
 *
 * declare const config: ModelConfig;
 * declare const source: WeightSource;
 * declare const calibration: Int32Array[];
 * declare const options: PruneOptions;
 * const args: PipelineArgs = {
 *   gpu: await getGpu(),
 *   config,
 *   source,
 *   calibration,
 *   seqlen: 256,
 *   options,
 * };
 * ```
 */
export interface PipelineArgs {
  /** Device. */
  gpu: Gpu;
  /** Parsed model configuration. */
  config: ModelConfig;
  /** Dense weights. */
  source: WeightSource;
  /** Calibration windows of `seqlen` tokens (may be empty for magnitude pruning). */
  calibration: Int32Array[];
  /** Tokens per window. */
  seqlen: number;
  /** Validated options. */
  options: PruneOptions;
  /** Receives each pruned layer's tensors (awaited before the next layer starts). */
  onLayer?: (layer: number, tensors: PrunedTensors, report: LayerReport) => Promise<void>;
  /**
   * With `options.quant`: receives each pruned layer's grids by tensor name (before `onLayer`).
   */
  onQuantGrids?: (layer: number, grids: Map<string, QuantOutcome>) => Promise<void> | void;
  /** Progress callback. */
  onProgress?: (e: ProgressEvent) => void;
  /** Cancels between steps. */
  signal?: AbortSignal;
  /** Largest number of calibration tokens processed in one chunk (default from the GPU limits). */
  chunkTokens?: number;
  /** Layers already done (resume): their pruned tensors are taken from this source. */
  startLayer?: number;
  /** Hidden states to start from when resuming (chunks in order). */
  startHidden?: Float32Array[];
  /**
   * Called after each layer (after `onLayer`) with the next layer's calibration inputs, one
   * array per chunk (empty after the last layer or without calibration), for resumable runs.
   */
  onCheckpoint?: (nextLayer: number, hidden: Float32Array[]) => Promise<void>;
}

/**
 * The last decoder layer the options prune: layers after it need neither statistics nor inputs.
 *
 * @example The first half of a 4-layer model
 * ```ts
 * import type { PruneOptions } from "@sparsellm/sparsellm";
 * import { lastPrunedLayer } from "./pipeline.ts";
 *
 * declare const options: PruneOptions; // with layers: [0, 1]
 * lastPrunedLayer(options, 4); // 1
 * ```
 */
export function lastPrunedLayer(o: PruneOptions, numLayers: number): number {
  return o.layers ? Math.min(o.layers[1], numLayers - 1) : numLayers - 1;
}

function layerSelected(o: PruneOptions, layer: number): boolean {
  return !o.layers || (layer >= o.layers[0] && layer <= o.layers[1]);
}

/**
 * Chooses how many sequences go in one chunk so that the widest activation stays in budget.
 *
 * @example Chunk size for 256-token windows
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { architectureForSource } from "../models/families.ts";
 * import { sequencesPerChunk } from "./pipeline.ts";
 * import type { WeightSource } from "@sparsellm/sparsellm";
 * import type { ModelConfig } from "../models/config.ts";
 *
 * declare const config: ModelConfig;
 * declare const source: WeightSource;
 * const gpu = await getGpu();
 * const arch = architectureForSource(config, source);
 * const nseq = sequencesPerChunk(arch, 256, gpu.bindingLimit);
 * ```
 */
export function sequencesPerChunk(
  arch: Architecture,
  seqlen: number,
  maxBindingBytes: number,
  chunkTokens?: number,
): number {
  const width = Math.max(arch.ffnSize, 3 * arch.hiddenSize, arch.vocabSize);
  const budget = Math.min(maxBindingBytes, 64 * 2 ** 20);
  const tokens = chunkTokens ?? Math.floor(budget / (4 * width));
  return Math.max(1, Math.floor(tokens / seqlen));
}

/**
 * Runs the sequential pruning pipeline over all decoder layers.
 *
 * @example Collect every pruned layer
 * ```ts
 * import { type PrunedTensors } from "@sparsellm/sparsellm";
 * import { prunePipeline, type PipelineArgs } from "./pipeline.ts";
 *
 * declare const args: PipelineArgs;
 * const all: PrunedTensors = new Map();
 * const result = await prunePipeline({
 *   ...args,
 *   onLayer: (_layer, tensors) => Promise.resolve(tensors.forEach((v, k) => all.set(k, v))),
 *   onProgress: (e) => console.log(e.detail),
 * });
 * ```
 */
export async function prunePipeline(args: PipelineArgs): Promise<PipelineResult> {
  const { gpu, source, options: o, seqlen } = args;
  const arch = architectureForSource(args.config, source);
  const method = methodFor(o.method);
  const t0 = performance.now();
  const progress = (done: number, detail: string, layer?: number, matrix?: string) =>
    args.onProgress?.({
      phase: "prune",
      done,
      total: arch.numLayers,
      detail,
      ...(layer !== undefined ? { layer } : {}),
      ...(matrix !== undefined ? { matrix } : {}),
      elapsed: (performance.now() - t0) / 1000,
    });
  const nseq = args.calibration.length;
  if (method.needsCalibration && nseq === 0) {
    throw new RangeError(`Method "${o.method}" needs calibration windows, none were given`);
  }
  const perChunk = sequencesPerChunk(arch, seqlen, gpu.bindingLimit, args.chunkTokens);
  const start = args.startLayer ?? 0;
  // Layers after the last selected one need neither statistics nor inputs.
  const last = lastPrunedLayer(o, arch.numLayers);
  const calibrate = nseq > 0 && start <= last;
  const sizes: { nseq: number; tokens: number }[] = [];
  for (let i = 0; calibrate && i < nseq; i += perChunk) {
    const k = Math.min(perChunk, nseq - i);
    sizes.push({ nseq: k, tokens: k * seqlen });
  }
  if (calibrate && args.startHidden && args.startHidden.length !== sizes.length) {
    throw new RangeError(
      `startHidden has ${args.startHidden.length} chunks, expected ${sizes.length}`,
    );
  }
  // Both copies of the hidden states stay on the GPU when they fit half the budget.
  const budget = o.gpuMemory ?? gpu.device.limits.maxBufferSize;
  const d = arch.hiddenSize;
  const calib = ChunkStore.create(gpu, "calib", sizes, { hidden: d, out: d }, budget / 2);
  const layers: LayerReport[] = [];
  let zeros = 0, total = 0;
  try {
    // Non-uniform profiles: every pruned layer's target (OWL scores the dense model first).
    const selected = Array.from({ length: last + 1 }, (_, l) => l).filter((l) =>
      layerSelected(o, l)
    );
    let ratios: number[] | undefined;
    if (o.sparsityProfile === "owl" && start <= last) {
      if (calibrate) await embedCalibration(args, calib, perChunk);
      const t1 = performance.now();
      ratios = await owlOutlierRatios({
        gpu,
        arch,
        source,
        options: o,
        calib,
        seqlen,
        nseq,
        pruned: selected,
        progress: (layer) =>
          args.onProgress?.({
            phase: "owl",
            done: layer,
            total: last + 1,
            detail: `layer ${layer}: outlier ratio`,
            layer,
            elapsed: (performance.now() - t1) / 1000,
          }),
        ...(args.signal ? { signal: args.signal } : {}),
      });
    }
    const targets = layerTargetsFrom(o, arch.numLayers, selected, ratios);
    if (calibrate && args.startHidden) {
      args.startHidden.forEach((h, i) => calib.setHost("hidden", i, h));
    } else if (calibrate) {
      await embedCalibration(args, calib, perChunk);
    }
    for (let layer = start; layer < arch.numLayers; layer++) {
      args.signal?.throwIfAborted();
      const lt = performance.now();
      const report: LayerReport = { layer, pruned: false, matrices: [], seconds: 0 };
      const pruned: PrunedTensors = new Map();
      if (layer > last) {
        layers.push(report);
        if (args.onLayer) await args.onLayer(layer, pruned, report);
        if (args.onCheckpoint) await args.onCheckpoint(layer + 1, []);
        progress(layer + 1 - start, `layer ${layer} done`, layer);
        continue;
      }
      progress(layer - start, `layer ${layer}: loading`, layer);
      gpu.pool.resetPeak();
      const w = await loadLayerWeights(gpu, arch, source, layer);
      try {
        if (layerSelected(o, layer)) {
          const quant = o.quant ? new QuantRecorder() : undefined;
          // This layer's options: its own target under a non-uniform profile.
          const lo: PruneOptions = targets
            ? { ...o, pattern: { kind: "unstructured", sparsity: targets.sparsities[layer] } }
            : o;
          if (targets) report.targetSparsity = targets.sparsities[layer];
          if (ratios) report.outlierRatio = ratios[layer];
          const job = {
            gpu,
            arch,
            weights: w,
            layer,
            options: lo,
            seqlen,
            nseq,
            calib,
            solver: solverFor(o),
            progress: (role: string) =>
              progress(layer - start, `layer ${layer} ${role}`, layer, role),
            ...(args.signal ? { signal: args.signal } : {}),
            ...(quant ? { quant } : {}),
          };
          Object.assign(report, await pruneLayer(method, job));
          const grids = new Map<string, QuantOutcome>();
          for (const spec of arch.linears) {
            const lw = w.linear(spec.role);
            const data = await gpu.read(lw.weight);
            const name = spec.weight.replace("{i}", String(layer));
            const z = checkPrunedMatrix(name, data, lw.rows, lw.cols, lo.pattern);
            zeros += z;
            total += data.length;
            const m = report.matrices.find((m) => m.role === spec.role)!;
            m.sparsity = z / data.length;
            pruned.set(name, data);
            const q = quant?.get(lw.weight);
            if (q) {
              m.quant = quantReport(q, z, data.length);
              grids.set(name, q);
            }
          }
          if (quant && args.onQuantGrids) await args.onQuantGrids(layer, grids);
        }
        // Next layer's inputs from the (pruned) layer.
        if (nseq > 0 && layer < last) {
          await calib.each(
            `layer${layer}/rerun`,
            { reads: ["hidden"], writes: ["out"] },
            (b, c) => {
              runLayer(gpu, b, arch, w, c.hidden, c.out, seqlen);
            },
          );
          calib.swap("hidden", "out");
        }
        report.seconds = (performance.now() - lt) / 1000;
        report.gpuPeakBytes = gpu.pool.peakBytesInUse;
        report.gpuPoolBytes = gpu.pool.bytesAllocated;
        layers.push(report);
        if (args.onLayer) await args.onLayer(layer, pruned, report);
        if (args.onCheckpoint) {
          await args.onCheckpoint(layer + 1, layer < last ? await calib.readAll("hidden") : []);
        }
      } finally {
        w.release();
      }
      // Free buffers of this layer's shapes go back to the device once its work has finished, so
      // the pool never holds more than one layer's working set.
      await gpu.sync();
      gpu.pool.trim();
      progress(layer + 1 - start, `layer ${layer} done`, layer);
    }
  } finally {
    calib.free();
  }
  return {
    layers,
    seconds: (performance.now() - t0) / 1000,
    sparsity: total ? zeros / total : 0,
    calibrationOnHost: calib.spilled,
  };
}

/** Embeds the calibration windows into the store's `hidden` field, chunk by chunk. */
async function embedCalibration(
  args: PipelineArgs,
  calib: CalibrationStore,
  perChunk: number,
): Promise<void> {
  const { gpu, seqlen } = args;
  const model = await CausalLM.load(gpu, args.source, args.config, {
    residentBytes: 0,
    withHead: false,
  });
  try {
    for (const [i, c] of calib.chunks.entries()) {
      const wins = args.calibration.slice(i * perChunk, i * perChunk + c.nseq);
      const ids = new Int32Array(c.tokens);
      wins.forEach((w, j) => ids.set(w, j * seqlen));
      const b = gpu.batch("embed");
      const hidden = model.embed(b, ids, wins.length, seqlen);
      b.submit();
      model.releaseInputs();
      await calib.setFrom("hidden", i, hidden);
      gpu.free(hidden);
    }
  } finally {
    model.release();
  }
}

/**
 * One selected layer: statistics from the dense layer, the method, then the reconstruction
 * errors tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) of every matrix whose input has a Hessian.
 */
async function pruneLayer(
  method: PruneMethod,
  job: Omit<LayerJob, "stats">,
): Promise<Pick<LayerReport, "pruned" | "matrices" | "ffn">> {
  const { gpu, arch, weights: w } = job;
  const empty: LayerStats = { hessians: new Map(), columnNorms: new Map(), ffnInputs: [] };
  const stats = job.nseq > 0
    ? await collectLayerStats(
      gpu,
      arch,
      w,
      job.layer,
      job.calib,
      job.seqlen,
      method.stats(job.options),
    )
    : { ...empty, free() {} };
  const dense = job.nseq > 0 ? denseCopies(gpu, arch, w) : new Map<string, never>();
  try {
    const outcome = await method.pruneLayer({ ...job, stats });
    // Quantization the method left undone: round-to-nearest (magnitude, Wanda).
    if (job.quant && job.options.quant) {
      for (const spec of arch.linears) {
        const weight = w.linear(spec.role).weight;
        if (job.quant.get(weight)) continue;
        job.quant.hooks().onQuantized(
          weight,
          await quantizeAfterPruning(gpu, weight, job.options.quant),
        );
      }
    }
    for (const m of outcome.matrices) {
      const h = stats.hessians.get(arch.linears.find((s) => s.role === m.role)!.input);
      if (!h) continue; // measured by the method (e.g. SparseLLM's second FFN linear)
      const weight = w.linear(m.role).weight;
      m.relError = await relativeError(gpu, dense.get(m.role)!, weight, h, m.rows, m.cols);
    }
    // Keep the report in forward order.
    const order = arch.linears.map((s) => s.role);
    outcome.matrices.sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role));
    return { pruned: true, ...outcome };
  } finally {
    stats.free();
    gpu.free(...dense.values());
  }
}

/** Copies of the dense weights, for the reconstruction errors. */
function denseCopies(gpu: Gpu, arch: Architecture, w: LayerWeights) {
  const dense = new Map<string, ReturnType<Gpu["alloc"]>>();
  const b = gpu.batch("dense-copies");
  for (const spec of arch.linears) {
    const lw = w.linear(spec.role);
    const copy = gpu.alloc([lw.rows, lw.cols], `dense/${spec.role}`);
    b.copy(lw.weight.buffer, 0, copy.buffer, 0, lw.rows * lw.cols * 4);
    dense.set(spec.role, copy);
  }
  b.submit();
  return dense;
}
