/**
 * `prune`: a checkpoint folder in, a pruned checkpoint folder out (same layout, names and
 * dtypes, exact zeros, untouched tensors byte-identical), plus `report.json` and `report.svg`.
 * The output is assembled in a temporary sibling folder and renamed into place at the end.
 *
 * @module
 */

import { join } from "node:path";
import { sampleCalibration } from "../data/calibration.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import { type PruneOptions, validateForModel } from "../options.ts";
import { type LayerReport, type ProgressEvent, prunePipeline } from "../prune/pipeline.ts";
import { targetSparsity } from "../prune/types.ts";
import type { FfnReport } from "../prune/sparsellm.ts";
import { layerChartSvg } from "../report/charts.ts";
import { AtomicOutputDir } from "./atomic_dir.ts";
import { CheckpointReader, CheckpointWriter } from "./checkpoint.ts";
import { encodeFromF32 } from "./dtype.ts";
import type { WeightSource } from "../models/weights.ts";
import { perplexityOf, textWindows } from "./evaluate.ts";
import { assertFinite } from "./finite.ts";
import { defaultSeqlen, loadTokenizer, openModel } from "./model_files.ts";
import { copyNonWeightFiles } from "./non_weight_files.ts";
import { readCalibrationDocs } from "./text.ts";

/** Arguments of {@linkcode pruneCheckpoint}. */
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
  /** Device (default: the shared one). */
  gpu?: Gpu;
  /** Skip the dense evaluation and use this figure instead (sweeps). */
  densePerplexity?: number;
}

/** The report summary (`prune --json` prints it). */
export interface PruneSummary {
  /** Method. */
  method: string;
  /** `unstructured` or `N:M`. */
  pattern: string;
  /** Requested fraction of zeros. */
  target_sparsity: number;
  /** Achieved fraction of zeros over the pruned matrices. */
  sparsity: number;
  /** Dense perplexity (with `--eval`). */
  dense_perplexity?: number;
  /** Pruned perplexity (with `--eval`). */
  pruned_perplexity?: number;
  /** Evaluation windows and length (with `--eval`). */
  eval_windows?: number;
  /** Window length used for evaluation. */
  eval_seqlen?: number;
  /** Calibration windows. */
  nsamples: number;
  /** Calibration window length. */
  seqlen: number;
  /** Pruned decoder layers. */
  layers_pruned: number[];
  /** Seconds spent in the pruning pipeline. */
  prune_seconds: number;
  /** Seconds for everything. */
  total_seconds: number;
  /** Output folder. */
  out: string;
}

/** `report.json`. */
export interface PruneReport {
  /** Summary. */
  summary: PruneSummary;
  /** Options as used. */
  options: PruneOptions & { seqlen: number };
  /** Input model folder. */
  model: string;
  /** Adapter description. */
  adapter: string;
  /** Per layer. */
  layers: LayerReport[];
}

/** Prunes a checkpoint folder into a new folder and returns the report. */
export async function pruneCheckpoint(args: PruneCheckpointArgs): Promise<PruneReport> {
  const t0 = performance.now();
  const o = args.options;
  const { reader, config } = await openModel(args.model);
  let outDir: AtomicOutputDir | undefined;
  try {
    const seqlen = o.seqlen ?? defaultSeqlen(config);
    validateForModel(o, config, seqlen);
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
      throw new RangeError(`--calib is required for --method ${o.method}`);
    }
    const evalWins = args.evalText
      ? await textWindows(args.model, args.evalText, seqlen, args.maxWindows)
      : undefined;
    outDir = await AtomicOutputDir.prepare(args.out, args.model, { force: args.force ?? false });
    const gpu = args.gpu ?? await getGpu();
    // Refuse NaN/Inf weights, naming the tensor and its file.
    const checked: WeightSource = {
      has: (n) => reader.has(n),
      info: (n) => reader.info(n),
      readF32: async (n) => {
        const data = await reader.readF32(n);
        assertFinite(n, data, reader.info(n).file);
        return data;
      },
    };
    let dense: number | undefined = args.densePerplexity;
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
      onLayer: async (_layer, tensors) => {
        for (const [name, data] of tensors) {
          assertFinite(name, data, "the pruned output");
          await writer.write(name, encodeFromF32(data, reader.info(name).dtype));
          written.add(name);
        }
      },
    });
    const pruneSeconds = (performance.now() - tp) / 1000;
    for (const name of names) {
      if (!written.has(name)) await writer.write(name, await reader.readRaw(name));
    }
    await writer.close();
    await copyNonWeightFiles(args.model, outDir.tmpPath);
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
      sparsity: result.sparsity,
      ...(dense !== undefined ? { dense_perplexity: dense } : {}),
      ...(pruned !== undefined ? { pruned_perplexity: pruned } : {}),
      ...(evalWins ? { eval_windows: evalWins.length, eval_seqlen: seqlen } : {}),
      nsamples: calibration.length,
      seqlen,
      layers_pruned: result.layers.filter((l) => l.pruned).map((l) => l.layer),
      prune_seconds: pruneSeconds,
      total_seconds: (performance.now() - t0) / 1000,
      out: args.out,
    };
    const report: PruneReport = {
      summary,
      options: { ...o, seqlen },
      model: args.model,
      adapter: gpu.info.description,
      layers: result.layers.map(jsonSafeLayer),
    };
    await Deno.writeTextFile(join(outDir.tmpPath, "report.json"), JSON.stringify(report, null, 2));
    await Deno.writeTextFile(join(outDir.tmpPath, "report.svg"), layerChartSvg(report.layers));
    await outDir.commit();
    outDir = undefined;
    return report;
  } finally {
    reader.close();
    await outDir?.abort();
  }
}

function jsonSafeLayer(l: LayerReport): LayerReport {
  const fix = (x: number) => (Number.isFinite(x) ? x : null) as number;
  const out: LayerReport = {
    ...l,
    matrices: l.matrices.map((m) => ({ ...m, relError: fix(m.relError) })),
  };
  if (l.ffn) out.ffn = l.ffn as FfnReport;
  return out;
}
