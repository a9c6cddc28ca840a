/**
 * `prune`: a checkpoint folder in, a pruned checkpoint folder out (same layout, names and
 * dtypes, exact zeros, untouched tensors byte-identical), plus `report.json` and `report.svg`.
 * The output is assembled in a temporary sibling folder and renamed into place at the end.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { saveGptqCheckpoint, writeQuantGrids } from "../io/gptq.ts";
import type { QuantOutcome } from "../quant/recorder.ts";
import { sampleCalibration } from "../data/calibration.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import { type GpuHandle, gpuOf } from "../gpu/handle.ts";
import { OptionError, type PruneOptions, validateForModel } from "../prune/options.ts";
import { lastPrunedLayer, prunePipeline } from "../prune/pipeline.ts";
import type { LayerReport, ProgressEvent } from "../prune/report.ts";
import { targetSparsity } from "../prune/types.ts";
import { layerChartSvg } from "./report/charts.ts";
import { AtomicOutputDir } from "../io/atomic_dir.ts";
import { OutputLock } from "../io/output_lock.ts";
import { CheckpointReader } from "../io/checkpoint.ts";
import { CheckpointWriter } from "../io/checkpoint_writer.ts";
import { encodeFromF32 } from "../io/dtype.ts";
import type { WeightSource } from "../models/weights.ts";
import { perplexityOf, textWindows } from "./evaluate.ts";
import { positiveInteger } from "./_args.ts";
import { assertFinite } from "../io/finite.ts";
import { defaultSeqlen, loadTokenizer, openModel } from "../io/model_files.ts";
import { assertNonWeightFilesInside, copyNonWeightFiles } from "../io/non_weight_files.ts";
import { readCalibrationDocs } from "../io/text.ts";
import { CheckpointError } from "../io/errors.ts";
import { isResourceError, sha256File } from "../io/_fs.ts";
import { assertCalibrationFits } from "./memory_check.ts";
import {
  gridsFromState,
  gridsToState,
  ResumeState,
  type ResumeStateData,
  type StateGrids,
  type StateTensor,
} from "./resume_state.ts";
import {
  jsonSafeLayer,
  overallSparsity,
  type PruneReport,
  type PruneSummary,
} from "./prune_report.ts";

/**
 * Arguments of {@linkcode pruneCheckpoint}.
 *
 * @example SparseGPT at 50 % with evaluation
 * ```ts
 * import { resolvePruneOptions } from "@sparsellm/sparsellm";
 * import { pruneCheckpoint, type PruneCheckpointArgs } from "@sparsellm/sparsellm/io";
 *
 * const args: PruneCheckpointArgs = {
 *   model: "testdata/models/opt-tiny",
 *   out: "out/opt-tiny-sparsegpt-50",
 *   calib: "testdata/kjv/train.txt",
 *   evalText: "testdata/kjv/test.txt",
 *   options: resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5, nsamples: 32 }),
 * };
 * const report = await pruneCheckpoint(args);
 * ```
 */
export interface PruneCheckpointArgs {
  /** Input model folder. */
  model: string;
  /** Output folder. */
  out: string;
  /** Calibration text or JSONL file (optional for magnitude pruning). */
  calib?: string | undefined;
  /** Text to evaluate dense and pruned perplexity on. */
  evalText?: string | undefined;
  /** Evaluate only the first N windows. */
  maxWindows?: number | undefined;
  /** Replace a non-empty `out`. */
  force?: boolean;
  /** Validated options. */
  options: PruneOptions;
  /** Progress callback. */
  onProgress?: (e: ProgressEvent) => void;
  /** Cancellation. */
  signal?: AbortSignal;
  /** Messages for the user that are not progress (such as leftovers cleared). */
  onNotice?: (message: string) => void;
  /** Device (default: the shared one). */
  gpu?: GpuHandle;
  /** Skip the dense evaluation and use this figure instead (sweeps). */
  densePerplexity?: number;
  /**
   * Continue an interrupted run from the state it saved beside `out` (`.<out>.resume`), or start
   * afresh when there is none. Without it, an existing state is an error (or, with `force`,
   * discarded).
   */
  resume?: boolean;
  /**
   * With `options.quant`: also write the GPTQ checkpoint layout of the output to this folder
   * (see `saveGptqCheckpoint`).
   */
  saveQuantized?: string;
}

/**
 * Prunes a checkpoint folder into a new folder and returns the report.
 *
 * @example Prune a checkpoint folder
 * ```ts
 * import { resolvePruneOptions } from "@sparsellm/sparsellm";
 * import { pruneCheckpoint } from "@sparsellm/sparsellm/io";
 *
 * const report = await pruneCheckpoint({
 *   model: "testdata/models/opt-tiny",
 *   out: "out/demo",
 *   calib: "testdata/kjv/train.txt",
 *   evalText: "testdata/kjv/test.txt",
 *   force: true,
 *   options: resolvePruneOptions({ method: "sparsellm", sparsity: 0.7, nsamples: 32 }),
 * });
 * console.log(report.summary.dense_perplexity, report.summary.pruned_perplexity);
 * ```
 */
export async function pruneCheckpoint(args: PruneCheckpointArgs): Promise<PruneReport> {
  const t0 = performance.now();
  const o = args.options;
  positiveInteger("maxWindows", args.maxWindows);
  const { reader, config } = await openModel(args.model);
  let outDir: AtomicOutputDir | undefined;
  let lock: OutputLock | undefined;
  const state = new ResumeState(args.out);
  let stateLayers = 0;
  let resumed = false;
  // Whether the resume folder is this run's to remove (no earlier run's state is in it).
  let ownState = false;
  // Errors caused by the input itself (a NaN weight, a pruned matrix that is not finite): a
  // resumed run would fail the same way, so the saved state is dropped for them, and only them.
  const inputFaults = new WeakSet<object>();
  const markInputFault = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof CheckpointError) inputFaults.add(e);
      throw e;
    }
  };
  try {
    // Everything about the output location is decided before any work.
    await AtomicOutputDir.check(args.out, args.model, {
      force: args.force ?? false,
      inputs: inputPaths(args),
    });
    // One run per output folder at a time (a killed run's lock is taken over).
    lock = await OutputLock.acquire(args.out, args.onNotice);
    // Temporary folders of killed runs (never those of a run still going) are cleared.
    for (const stale of await AtomicOutputDir.removeStale(args.out)) {
      args.onNotice?.(`removed "${stale}", the temporary folder of an interrupted earlier run`);
    }
    // The files to copy beside the weights (refused here when one links out of the folder).
    await assertNonWeightFilesInside(args.model);
    const seqlen = o.seqlen ?? defaultSeqlen(config);
    validateForModel(o, config, seqlen);
    if (args.calib) {
      assertCalibrationFits(
        o,
        config,
        seqlen,
        Deno.systemMemoryInfo().total + (o.gpuMemory ?? 0),
      );
    }
    // Calibration windows.
    let calibration: Int32Array[] = [];
    if (args.calib) {
      const tok = await loadTokenizer(args.model);
      const docs = (await readCalibrationDocs(args.calib)).map((d) => tok.encode(d));
      try {
        calibration = sampleCalibration(
          docs.length === 1 ? docs[0] : docs,
          o.nsamples,
          seqlen,
          o.seed,
        );
      } catch (e) {
        throw new RangeError(`Calibration file "${args.calib}": ${(e as Error).message}`);
      }
    } else if (o.method !== "magnitude") {
      throw new OptionError("calib", `calib is required for method ${o.method}`, ["method"]);
    } else if (o.sparsityProfile === "owl") {
      throw new OptionError("calib", "calib is required for sparsityProfile owl", [
        "sparsityProfile",
      ]);
    }
    const evalWins = args.evalText
      ? await textWindows(args.model, args.evalText, seqlen, args.maxWindows)
      : undefined;
    const gpu = args.gpu ? gpuOf(args.gpu) : await getGpu();
    // An interrupted run's state: continue it (resume), discard it (force) or refuse.
    const fingerprint = await runFingerprint(args, reader, calibration, seqlen, gpu);
    let saved: ResumeStateData | undefined;
    if (await state.exists()) {
      if (args.resume) {
        saved = await state.load(fingerprint);
        resumed = true;
        stateLayers = saved.nextLayer;
      } else if (args.force) await state.remove();
      else {
        throw new CheckpointError(
          `An interrupted run left its state in "${state.path}": prune again with resume: true ` +
            `to continue it, or with force: true to start over`,
        );
      }
    }
    ownState = !resumed;
    outDir = await AtomicOutputDir.prepare(args.out, args.model, {
      force: args.force ?? false,
      inputs: inputPaths(args),
    });
    // Refuse NaN/Inf weights, naming the tensor and its file.
    const checked: WeightSource = {
      has: (n) => reader.has(n),
      info: (n) => reader.info(n),
      readF32: async (n) => {
        let data: Float32Array;
        try {
          data = await reader.readF32(n);
        } catch (e) {
          if (e instanceof CheckpointError && !isResourceError(e)) inputFaults.add(e);
          throw e;
        }
        markInputFault(() => assertFinite(n, data, reader.info(n).file));
        return data;
      },
    };
    const evalKey = JSON.stringify([args.evalText && resolve(args.evalText), args.maxWindows]);
    let dense: number | undefined = args.densePerplexity ??
      (saved?.denseEvalKey === evalKey ? saved.densePerplexity : undefined);
    if (evalWins && dense === undefined) {
      dense = (await perplexityOf(gpu, checked, config, evalWins, args.onProgress, "eval dense"))
        .perplexity;
    }
    // Output checkpoint: same tensors, dtypes and order; sharded like the input.
    const names = reader.names();
    const plan = names.map((name) => {
      const i = reader.info(name);
      return { name, dtype: i.dtype, shape: i.shape };
    });
    const inputFiles = new Set(names.map((n) => reader.info(n).file));
    let maxShardBytes: number | undefined;
    if (inputFiles.size > 1) {
      maxShardBytes = 0;
      const sizes = new Map<string, number>();
      for (const n of names) {
        const i = reader.info(n);
        sizes.set(i.file, (sizes.get(i.file) ?? 0) + (i.end - i.begin));
      }
      for (const s of sizes.values()) maxShardBytes = Math.max(maxShardBytes, s);
    }
    const writer = await CheckpointWriter.create(
      outDir.tmpPath,
      plan,
      maxShardBytes ? { maxShardBytes } : {},
    );
    const written = new Set<string>();
    // Layers an earlier attempt finished come from its state.
    const start = saved?.nextLayer ?? 0;
    const quantGrids = new Map<string, QuantOutcome>();
    for (let layer = 0; layer < start; layer++) {
      for (const t of await state.readLayer(layer)) {
        await writer.write(t.name, t.bytes);
        written.add(t.name);
      }
      if (o.quant) {
        for (const [name, g] of gridsFromState(await state.readGrids(layer), o.quant)) {
          quantGrids.set(name, g);
        }
      }
    }
    const lastLayer = lastPrunedLayer(o, config.numLayers);
    const startHidden = saved && calibration.length > 0 && start <= lastLayer
      ? await state.readHidden(start)
      : undefined;
    const doneLayers: LayerReport[] = [...(saved?.layers ?? [])];
    let pending: StateTensor[] = [];
    let pendingGrids: StateGrids | undefined;
    const tp = performance.now();
    const result = await prunePipeline({
      gpu,
      config,
      source: checked,
      calibration,
      seqlen,
      options: o,
      ...(args.onProgress ? { onProgress: args.onProgress } : {}),
      ...(args.signal ? { signal: args.signal } : {}),
      ...(saved ? { startLayer: start } : {}),
      ...(startHidden ? { startHidden } : {}),
      onQuantGrids: (_layer, grids) => {
        for (const [name, g] of grids) quantGrids.set(name, g);
        pendingGrids = gridsToState(grids);
      },
      onLayer: async (_layer, tensors, report) => {
        pending = [];
        for (const [name, data] of tensors) {
          markInputFault(() => assertFinite(name, data, "the pruned output"));
          const info = reader.info(name);
          const bytes = encodeFromF32(data, info.dtype);
          await writer.write(name, bytes);
          written.add(name);
          pending.push({ name, dtype: info.dtype, shape: [...info.shape], bytes });
        }
        doneLayers.push(jsonSafeLayer(report));
      },
      onCheckpoint: async (nextLayer, hidden) => {
        await state.saveLayer(nextLayer - 1, pending, hidden, config.hiddenSize, {
          version: 1,
          fingerprint,
          nextLayer,
          layers: doneLayers,
          ...(dense !== undefined ? { densePerplexity: dense, denseEvalKey: evalKey } : {}),
          pruneSeconds: (saved?.pruneSeconds ?? 0) + (performance.now() - tp) / 1000,
        }, pendingGrids);
        stateLayers = nextLayer;
        pending = [];
        pendingGrids = undefined;
      },
    });
    const pruneSeconds = (saved?.pruneSeconds ?? 0) + (performance.now() - tp) / 1000;
    for (const name of names) {
      if (!written.has(name)) await writer.write(name, await reader.readRaw(name));
    }
    await writer.close();
    await copyNonWeightFiles(args.model, outDir.tmpPath);
    if (o.quant) await writeQuantGrids(outDir.tmpPath, quantGrids, o.quant);
    let pruned: number | undefined;
    if (evalWins) {
      const out = await CheckpointReader.open(outDir.tmpPath);
      try {
        pruned = (await perplexityOf(gpu, out, config, evalWins, args.onProgress, "eval pruned"))
          .perplexity;
      } finally {
        out.close();
      }
    }
    const summary: PruneSummary = {
      method: o.method,
      pattern: o.pattern.kind === "nm" ? `${o.pattern.n}:${o.pattern.m}` : "unstructured",
      target_sparsity: targetSparsity(o.pattern),
      sparsity: saved ? overallSparsity(doneLayers) : result.sparsity,
      ...(o.layerSparsities || o.sparsityProfile === "owl"
        ? {
          sparsity_profile: o.layerSparsities ? "list" as const : "owl" as const,
          layer_sparsities: doneLayers.filter((l) => l.pruned).map((l) => l.targetSparsity!),
        }
        : {}),
      ...(dense !== undefined ? { dense_perplexity: dense } : {}),
      ...(pruned !== undefined ? { pruned_perplexity: pruned } : {}),
      ...(evalWins ? { eval_windows: evalWins.length, eval_seqlen: seqlen } : {}),
      nsamples: calibration.length,
      seqlen,
      layers_pruned: doneLayers.filter((l) => l.pruned).map((l) => l.layer),
      prune_seconds: pruneSeconds,
      total_seconds: (performance.now() - t0) / 1000,
      largest_gpu_buffer_bytes: gpu.pool.largestBuffer,
      peak_gpu_layer_bytes: Math.max(0, ...doneLayers.map((l) => l.gpuPeakBytes ?? 0)),
      calibration_on_host: result.calibrationOnHost,
      out: args.out,
    };
    const report: PruneReport = {
      summary,
      options: { ...o, seqlen },
      model: args.model,
      adapter: gpu.info.description,
      layers: doneLayers,
    };
    await Deno.writeTextFile(join(outDir.tmpPath, "report.json"), JSON.stringify(report, null, 2));
    await Deno.writeTextFile(join(outDir.tmpPath, "report.svg"), layerChartSvg(report.layers));
    await outDir.commit();
    outDir = undefined;
    await state.remove();
    if (args.saveQuantized) {
      await saveGptqCheckpoint(args.out, args.saveQuantized, { force: args.force ?? false });
    }
    return report;
  } catch (e) {
    if (
      ownState &&
      (stateLayers === 0 || (e instanceof Error && inputFaults.has(e) && !isResourceError(e)))
    ) {
      // Nothing finished yet (a half-written first layer is no state), or bad input such as a
      // NaN weight in a later layer, which a resumed run would meet again: leave nothing behind.
      // Any other failure (disk full, an interruption, an output folder that became busy) keeps
      // the finished layers for --resume.
      await state.remove().catch(() => {});
      stateLayers = 0;
    }
    if (stateLayers > 0 && e instanceof Error) {
      e.message += ` (layers 0-${stateLayers - 1} are saved in "${state.path}": prune again ` +
        `with resume: true to continue)`;
    }
    throw e;
  } finally {
    reader.close();
    await outDir?.abort();
    await lock?.release();
  }
}

/** The run's inputs besides the model folder, which the output folder must not hold. */
function inputPaths(args: PruneCheckpointArgs): { path: string; what: string }[] {
  return [
    ...(args.calib ? [{ path: args.calib, what: "calibration file" }] : []),
    ...(args.evalText ? [{ path: args.evalText, what: "evaluation text" }] : []),
  ];
}

/** What must not change between an interrupted run and its resumption. */
async function runFingerprint(
  args: PruneCheckpointArgs,
  reader: CheckpointReader,
  calibration: Int32Array[],
  seqlen: number,
  gpu: Gpu,
): Promise<Record<string, unknown>> {
  // Contents, not just sizes: a weight changed in place between a kill and --resume would
  // otherwise mix two models in one output.
  const files: Record<string, string> = {};
  for (const n of reader.names()) {
    const f = reader.info(n).file;
    files[f] ??= `sha256 ${await sha256File(join(args.model, f))}`;
  }
  // FNV-1a over the calibration tokens.
  let h = 0x811c9dc5;
  for (const w of calibration) {
    for (const t of w) h = Math.imul(h ^ t, 0x01000193) >>> 0;
  }
  return JSON.parse(JSON.stringify({
    model: resolve(args.model),
    weight_files: files,
    // The GPU budget moves data, it does not change results.
    options: { ...args.options, gpuMemory: undefined, seqlen },
    calibration: `${calibration.length} windows, fnv1a ${h.toString(16)}`,
    adapter: gpu.info.description,
    max_binding_bytes: gpu.info.maxStorageBufferBindingSize,
  }));
}
