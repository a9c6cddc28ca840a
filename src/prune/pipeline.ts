/**
 * The sequential pruning driver (as SparseGPT does it): embed the calibration windows; for each
 * decoder layer run the dense layer while accumulating, for every prunable linear, the
 * statistics its method needs; prune; then run the pruned layer to produce the next layer's
 * inputs. The methods own the math, this file owns the loop. No file I/O here: pruned weights
 * leave through a callback.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import { type GpuTensor, view } from "../gpu/tensor.ts";
import { AuxMode, auxOp } from "../kernels/auxiliary.ts";
import {
  type ActivationTap,
  type Architecture,
  architectureForSource,
  type LinearRole,
} from "../models/arch.ts";
import type { ModelConfig } from "../models/config.ts";
import { type LayerWeights, loadLayerWeights, runLayer } from "../models/layer.ts";
import { CausalLM } from "../models/model.ts";
import type { WeightSource } from "../models/weights.ts";
import type { PruneOptions } from "../options.ts";
import { magnitudePrune } from "./magnitude.ts";
import { HessianAccumulator } from "./hessian.ts";
import { sparsegpt } from "./sparsegpt.ts";
import {
  type FfnChunk,
  type FfnIterate,
  type FfnReport,
  SPARSELLM_DEFAULTS,
  sparsellmFfn,
} from "./sparsellm.ts";
import { ColumnNormAccumulator } from "./stats.ts";
import { wandaPrune } from "./wanda.ts";
import { relativeError } from "./rel_error.ts";
import type {
  LayerReport,
  MatrixReport,
  PipelineResult,
  ProgressEvent,
  PrunedTensors,
} from "./report.ts";
import { calibrationBytes, CalibStore } from "./calib_store.ts";

/**
 * Arguments of {@linkcode prunePipeline}.
 *
 * @example Arguments of a SparseGPT run
 * ```ts
 * import { getGpu, resolvePruneOptions } from "@sparsellm/sparsellm";
 * import type { ModelConfig, PipelineArgs, WeightSource } from "@sparsellm/sparsellm";
 *
 * declare const config: ModelConfig;
 * declare const source: WeightSource;
 * declare const calibration: Int32Array[];
 * const args: PipelineArgs = {
 *   gpu: await getGpu(),
 *   config,
 *   source,
 *   calibration,
 *   seqlen: 256,
 *   options: resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5 }),
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
 * import { lastPrunedLayer, resolvePruneOptions } from "@sparsellm/sparsellm";
 *
 * const o = resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5, layers: [0, 1] });
 * lastPrunedLayer(o, 4); // 1
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
 * import { architectureForSource, getGpu, sequencesPerChunk } from "@sparsellm/sparsellm";
 * import type { ModelConfig, WeightSource } from "@sparsellm/sparsellm";
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
 * import { prunePipeline, type PipelineArgs, type PrunedTensors } from "@sparsellm/sparsellm";
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
  const needCalib = o.method !== "magnitude";
  if (needCalib && nseq === 0) {
    throw new RangeError(`Method "${o.method}" needs calibration windows, none were given`);
  }
  const perChunk = sequencesPerChunk(
    arch,
    seqlen,
    gpu.bindingLimit,
    args.chunkTokens,
  );
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
  // Hidden states per chunk: on the GPU when both copies fit half the budget, else on the host.
  const budget = o.gpuMemory ?? gpu.device.limits.maxBufferSize;
  const spill = calibrationBytes(nseq * seqlen, arch.hiddenSize) > budget / 2;
  const calib = CalibStore.create(gpu, sizes, arch.hiddenSize, spill);
  const layers: LayerReport[] = [];
  let zeros = 0, total = 0;
  try {
    if (calibrate && args.startHidden) {
      args.startHidden.forEach((h, i) => calib.setHidden(i, h));
    } else if (calibrate) {
      const model = await CausalLM.load(gpu, source, args.config, {
        residentBytes: 0,
        withHead: false,
      });
      try {
        for (let i = 0; i < sizes.length; i++) {
          const wins = args.calibration.slice(i * perChunk, i * perChunk + sizes[i].nseq);
          const ids = new Int32Array(sizes[i].tokens);
          wins.forEach((w, j) => ids.set(w, j * seqlen));
          const b = gpu.batch("embed");
          const hidden = model.embed(b, ids, wins.length, seqlen);
          b.submit();
          model.releaseInputs();
          await calib.setHiddenFrom(i, hidden);
          gpu.free(hidden);
        }
      } finally {
        model.release();
      }
    }
    for (let layer = start; layer < arch.numLayers; layer++) {
      args.signal?.throwIfAborted();
      const lt = performance.now();
      if (layer > last) {
        const report: LayerReport = { layer, pruned: false, matrices: [], seconds: 0 };
        layers.push(report);
        if (args.onLayer) await args.onLayer(layer, new Map(), report);
        if (args.onCheckpoint) await args.onCheckpoint(layer + 1, []);
        progress(layer + 1 - start, `layer ${layer} done`, layer);
        continue;
      }
      progress(layer - start, `layer ${layer}: loading`, layer);
      gpu.pool.resetPeak();
      const w = await loadLayerWeights(gpu, arch, source, layer);
      try {
        let report: LayerReport;
        const pruned: PrunedTensors = new Map();
        if (layerSelected(o, layer)) {
          report = await pruneLayer(
            args,
            arch,
            w,
            layer,
            calib,
            nseq,
            (role) => progress(layer - start, `layer ${layer} ${role}`, layer, role),
          );
          for (const spec of arch.linears) {
            const data = await gpu.read(w.linear(spec.role).weight);
            let z = 0;
            for (let i = 0; i < data.length; i++) if (data[i] === 0) z++;
            zeros += z;
            total += data.length;
            report.matrices.find((m) => m.role === spec.role)!.sparsity = z / data.length;
            pruned.set(spec.weight.replace("{i}", String(layer)), data);
          }
        } else {
          report = { layer, pruned: false, matrices: [], seconds: 0 };
        }
        // Next layer's inputs from the (pruned) layer.
        if (nseq > 0 && layer < last) {
          await calib.each(`layer${layer}/rerun`, { writes: ["out"] }, (b, c) => {
            runLayer(gpu, b, arch, w, c.hidden, c.out, seqlen);
          });
          calib.swap();
        }
        report.seconds = (performance.now() - lt) / 1000;
        report.gpuPeakBytes = gpu.pool.peakBytesInUse;
        report.gpuPoolBytes = gpu.pool.bytesAllocated;
        layers.push(report);
        if (args.onLayer) await args.onLayer(layer, pruned, report);
        if (args.onCheckpoint) {
          await args.onCheckpoint(layer + 1, layer < last ? await calib.readHidden() : []);
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
    calibrationOnHost: spill,
  };
}

const TAPS: ActivationTap[] = ["attn_in", "attn_out", "ffn_in", "ffn_act"];

async function pruneLayer(
  args: PipelineArgs,
  arch: Architecture,
  w: LayerWeights,
  layer: number,
  calib: CalibStore,
  nseq: number,
  onMatrix: (role: string) => void,
): Promise<LayerReport> {
  const { gpu, options: o, seqlen } = args;
  const d = arch.hiddenSize;
  const tapWidth = (t: ActivationTap) =>
    t === "attn_out" ? arch.numHeads * arch.headDim : t === "ffn_act" ? arch.ffnSize : d;
  const report: LayerReport = { layer, pruned: true, matrices: [], seconds: 0 };
  const accs = new Map<ActivationTap, HessianAccumulator>();
  const extraH: HessianAccumulator[] = [];
  const hs = new Map<ActivationTap, GpuTensor>();
  const norms = new Map<ActivationTap, ColumnNormAccumulator>();
  const ffnX: GpuTensor[] = [];
  const dense = new Map<LinearRole, GpuTensor>();
  const useSparseLLM = o.method === "sparsellm";
  try {
    // 1. Statistics from the dense layer.
    if (nseq > 0) {
      for (const t of TAPS) {
        // SparseLLM builds the FFN activations' Hessian itself (on the inputs it calibrates on).
        if (useSparseLLM && t === "ffn_act") continue;
        const acc = new HessianAccumulator(gpu, tapWidth(t), { label: `H/${t}` });
        accs.set(t, acc);
        hs.set(t, acc.H);
      }
      if (o.method === "wanda") {
        for (const t of TAPS) norms.set(t, new ColumnNormAccumulator(gpu, tapWidth(t)));
      }
      // The dense layer's outputs are kept only as the pruned-input FFN target.
      const keepOut = useSparseLLM && o.ffnInput === "pruned";
      await calib.each(`layer${layer}/stats`, {
        writes: keepOut ? ["out"] : [],
        // SparseGPT reads the lower triangle only; the error report and SparseLLM need all of H.
        finish: (b) => {
          for (const acc of accs.values()) acc.finalize(b);
        },
      }, (b, c) => {
        runLayer(gpu, b, arch, w, c.hidden, c.out, seqlen, {
          onInput(tap, x, rows, cols, batch: Batch) {
            accs.get(tap)?.add(batch, view(x, [rows, cols]), c.nseq);
            norms.get(tap)?.add(batch, x, c.nseq, rows);
            if (useSparseLLM && tap === "ffn_in") {
              const keep = gpu.alloc([rows, cols], `ffn_in/${ffnX.length}`);
              batch.copy(x.buffer, 0, keep.buffer, 0, rows * cols * 4);
              ffnX.push(keep);
            }
          },
        });
      });
    }
    // Keep dense copies for the reconstruction errors.
    if (nseq > 0) {
      const b = gpu.batch(`layer${layer}/dense-copies`);
      for (const spec of arch.linears) {
        const lw = w.linear(spec.role);
        const copy = gpu.alloc([lw.rows, lw.cols], `dense/${spec.role}`);
        b.copy(lw.weight.buffer, 0, copy.buffer, 0, lw.rows * lw.cols * 4);
        dense.set(spec.role, copy);
      }
      b.submit();
    }
    // 2. Prune.
    const ffnRoles = new Set(arch.ffnRoles);
    const viaSparseGpt = o.method === "sparsegpt" || useSparseLLM
      ? arch.linears.filter((s) => !(useSparseLLM && ffnRoles.has(s.role)))
      : [];
    // SparseGPT factorises a copy of the Hessian: one working matrix for the widest input.
    const hWork = viaSparseGpt.length
      ? gpu.alloc([Math.max(...viaSparseGpt.map((s) => w.linear(s.role).cols)) ** 2], "H/work")
      : undefined;
    try {
      for (const spec of arch.linears) {
        if (useSparseLLM && ffnRoles.has(spec.role)) continue;
        args.signal?.throwIfAborted();
        onMatrix(spec.role);
        const mt = performance.now();
        const lw = w.linear(spec.role);
        const m: MatrixReport = {
          name: spec.weight.replace("{i}", String(layer)),
          role: spec.role,
          rows: lw.rows,
          cols: lw.cols,
          sparsity: 0,
          relError: NaN,
          seconds: 0,
        };
        if (o.method === "magnitude") {
          const b = gpu.batch("magnitude");
          magnitudePrune(b, lw.weight, lw.rows, lw.cols, o.pattern);
          b.submit();
        } else if (o.method === "wanda") {
          const b = gpu.batch("wanda");
          wandaPrune(b, lw.weight, lw.rows, lw.cols, norms.get(spec.input)!.colSq, o.pattern);
          b.submit();
        } else {
          const b = gpu.batch("H/copy");
          b.copy(hs.get(spec.input)!.buffer, 0, hWork!.buffer, 0, lw.cols * lw.cols * 4);
          b.submit();
          const r = await sparsegpt(
            gpu,
            undefined,
            lw.weight,
            view(hWork!, [lw.cols, lw.cols]),
            o.pattern,
            {
              blocksize: o.blocksize,
              percdamp: o.percdamp,
            },
          );
          m.damping = r.percdamp;
        }
        await gpu.sync();
        m.seconds = (performance.now() - mt) / 1000;
        report.matrices.push(m);
      }
      if (useSparseLLM) {
        onMatrix("ffn");
        const mt = performance.now();
        const [upRole, gateRole, downRole] = arch.activation === "relu"
          ? ["fc1", undefined, "fc2"] as const
          : ["up", "gate", "down"] as const;
        const lin = (r: LinearRole) => {
          const l = w.linear(r);
          return l.bias ? { weight: l.weight, bias: l.bias } : { weight: l.weight };
        };
        // The FFN sees the inputs the pruned attention produces, and is asked to reproduce the
        // dense layer's output: its target is (dense layer out) − (residual stream entering the
        // FFN after the pruned attention) − b2, i.e. it also compensates the attention's error.
        const ffnChunk = (x: GpuTensor, i: number, target?: GpuTensor): FfnChunk => ({
          x,
          tokens: calib.sizes[i].tokens,
          nseq: calib.sizes[i].nseq,
          ...(target ? { target } : {}),
        });
        let ffnChunks = ffnX.map((x, i) => ffnChunk(x, i));
        let hx = hs.get("ffn_in")!;
        const targets: GpuTensor[] = [];
        if (o.ffnInput === "pruned") {
          const acc = new HessianAccumulator(gpu, d, { label: "H/ffn_in_pruned" });
          const xs: GpuTensor[] = [];
          const downBias = w.linear(downRole).bias;
          const res = gpu.alloc([Math.max(...calib.sizes.map((c) => c.tokens)), d], "ffn/res");
          await calib.each(`layer${layer}/pruned-attn`, {
            reads: ["hidden", "out"],
            finish: (b) => acc.finalize(b),
          }, (b, c) => {
            const n = c.tokens;
            runLayer(gpu, b, arch, w, c.hidden, res, seqlen, {
              attentionOnly: true,
              onInput(tap, x, rows, cols, batch: Batch) {
                if (tap !== "ffn_in") return;
                acc.add(batch, view(x, [rows, cols]), c.nseq);
                const keep = gpu.alloc([rows, cols], "ffn_in/pruned");
                batch.copy(x.buffer, 0, keep.buffer, 0, rows * cols * 4);
                xs.push(keep);
              },
            });
            const target = gpu.alloc([n, d], "ffn/target");
            b.copy(c.out.buffer, 0, target.buffer, 0, n * d * 4);
            auxOp(b, AuxMode.rowBias, {
              out: target,
              inputs: [res],
              count: n * d,
              cols: n * d,
              scale: -1,
            });
            if (downBias) {
              auxOp(b, AuxMode.rowBias, {
                out: target,
                inputs: [downBias],
                count: n * d,
                cols: d,
                scale: -1,
              });
            }
            targets.push(target);
          });
          gpu.free(res, ...ffnX);
          ffnX.length = 0;
          ffnX.push(...xs);
          ffnChunks = xs.map((x, i) => ffnChunk(x, i, targets[i]));
          extraH.push(acc);
          hx = acc.H;
        }
        const ffn = await sparsellmFfn(gpu, {
          kind: arch.activation === "relu" ? "relu" : "glu",
          chunks: ffnChunks,
          nseq,
          d,
          f: arch.ffnSize,
          up: lin(upRole),
          ...(gateRole ? { gate: lin(gateRole) } : {}),
          down: lin(downRole),
          hx,
        }, {
          pattern: o.pattern,
          iters: o.iters,
          alpha: o.alpha,
          beta: o.beta,
          gamma: o.gamma,
          growth: o.growth,
          ...(o.refitDamp !== undefined ? { refitDamp: o.refitDamp } : {}),
          blocksize: o.blocksize,
          percdamp: o.percdamp,
          tolerance: SPARSELLM_DEFAULTS.tolerance,
          auxMemory: o.gpuMemory ?? gpu.device.limits.maxBufferSize,
          onIterate: (it: FfnIterate) => onMatrix(`ffn iterate ${it.iter}`),
        });
        report.ffn = ffn;
        gpu.free(...targets);
        const secs = (performance.now() - mt) / 1000;
        for (const role of arch.ffnRoles) {
          const lw = w.linear(role);
          report.matrices.push({
            name: arch.linears.find((s) => s.role === role)!.weight.replace("{i}", String(layer)),
            role,
            rows: lw.rows,
            cols: lw.cols,
            sparsity: 0,
            relError: NaN,
            seconds: secs / arch.ffnRoles.length,
            damping: ffn.maxDamping,
            ...(role === downRole ? { relError: ffn.downRelError } : {}),
          });
        }
      }
    } finally {
      gpu.free(hWork);
    }
    // 3. Reconstruction errors tr(ΔW H ΔWᵀ) / tr(W H Wᵀ).
    if (nseq > 0) {
      for (const m of report.matrices) {
        const spec = arch.linears.find((s) => s.role === m.role)!;
        if (!hs.has(spec.input)) continue; // SparseLLM's second FFN linear: reported by it
        m.relError = await relativeError(
          gpu,
          dense.get(m.role)!,
          w.linear(m.role).weight,
          hs.get(spec.input)!,
          m.rows,
          m.cols,
        );
      }
    }
    // Keep the report in forward order.
    const order = arch.linears.map((s) => s.role);
    report.matrices.sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role));
    return report;
  } finally {
    for (const acc of [...accs.values(), ...extraH]) acc.free();
    gpu.free(...ffnX, ...dense.values());
    for (const n of norms.values()) n.free();
  }
}
