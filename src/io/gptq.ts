/**
 * Quantized outputs on disk. A pruned checkpoint written with `--wbits` holds the fake-quantized
 * weights in the input dtype (as the reference tools save them) plus `quant_grids.safetensors`,
 * every quantized matrix's grids ([rows, groups, 2] F32: scale, zero; named like the weight).
 * {@linkcode saveGptqCheckpoint} turns such a folder into the GPTQ checkpoint layout that
 * serving stacks load (`--save-quantized`); README.md "Quantized checkpoints" describes it.
 *
 * @module
 */

import { join } from "node:path";
import { CheckpointReader } from "./checkpoint.ts";
import { CheckpointError } from "./errors.ts";
import { copyNonWeightFiles } from "./non_weight_files.ts";
import { SafetensorsFile } from "./safetensors_file.ts";
import { SafetensorsWriter, type TensorPlan } from "./safetensors_writer.ts";
import type { QuantSpec } from "../quant/grid.ts";
import { checkGptqLayer, gptqShapes, packGptq } from "../quant/gptq.ts";
import type { QuantOutcome } from "../quant/recorder.ts";

/** File name of the grids beside a fake-quantized checkpoint. */
export const GRIDS_FILE: string = "quant_grids.safetensors";

/** How a folder is quantized, as `inspect` reports it. */
export interface QuantizationInfo {
  /** `gptq` (packed GPTQ layout) or `fake` (weights on their grids, grids in GRIDS_FILE). */
  format: "gptq" | "fake";
  /** Bits per weight. */
  bits: number;
  /** Inputs per group (0: one grid per row; GPTQ's -1). */
  groupSize: number;
  /** Symmetric grids. */
  sym: boolean;
  /** Quantized matrices. */
  matrices: number;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes the grids of the quantized matrices to `dir`/GRIDS_FILE. */
export async function writeQuantGrids(
  dir: string,
  grids: ReadonlyMap<string, QuantOutcome>,
  spec: QuantSpec,
): Promise<void> {
  const names = [...grids.keys()];
  const plan: TensorPlan[] = names.map((name) => {
    // rows·groups × 2: (scale, zero) of row r, group g at index r·groups + g
    return { name, dtype: "F32", shape: [grids.get(name)!.grid.length / 2, 2] };
  });
  const w = await SafetensorsWriter.create(join(dir, GRIDS_FILE), plan, {
    bits: String(spec.bits),
    group_size: String(spec.groupSize),
    sym: String(spec.sym),
  });
  try {
    for (const name of names) await w.write(name, bytesOf(grids.get(name)!.grid));
  } finally {
    await w.close();
  }
}

/** The grids and spec of a folder written with `--wbits`, or undefined without GRIDS_FILE. */
export async function readQuantGrids(
  dir: string,
): Promise<{ spec: QuantSpec; grids: Map<string, Float32Array> } | undefined> {
  const path = join(dir, GRIDS_FILE);
  try {
    await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const f = await SafetensorsFile.open(path);
  try {
    const meta = f.metadata;
    const spec: QuantSpec = {
      bits: Number(meta.bits),
      groupSize: Number(meta.group_size),
      sym: meta.sym === "true",
    };
    if (!Number.isInteger(spec.bits) || !Number.isInteger(spec.groupSize)) {
      throw new CheckpointError(`"${path}" lacks the bits and group_size metadata of its grids`);
    }
    const grids = new Map<string, Float32Array>();
    for (const { name } of f.tensors()) {
      const raw = await f.readRaw(name);
      grids.set(name, new Float32Array(raw.slice().buffer));
    }
    return { spec, grids };
  } finally {
    f.close();
  }
}

/** The `quantization_config` of config.json for a spec. */
export function gptqQuantizationConfig(spec: QuantSpec): Record<string, unknown> {
  return {
    quant_method: "gptq",
    bits: spec.bits,
    group_size: spec.groupSize > 0 ? spec.groupSize : -1,
    desc_act: false,
    sym: spec.sym,
    true_sequential: true,
    static_groups: false,
    checkpoint_format: "gptq",
  };
}

/**
 * Writes the GPTQ checkpoint of a folder pruned with `--wbits` (`src`, holding GRIDS_FILE) into
 * `out` (created; must not exist unless `force`): every quantized `<prefix>.weight` becomes
 * `<prefix>.qweight`, `.qzeros`, `.scales`, `.g_idx` (its bias is stored as F16); every other
 * tensor is copied as it is; config.json gains `quantization_config` and quantize_config.json
 * is written for AutoGPTQ. Returns the spec.
 */
export async function saveGptqCheckpoint(
  src: string,
  out: string,
  opts: { force?: boolean } = {},
): Promise<QuantSpec> {
  const q = await readQuantGrids(src);
  if (!q) {
    throw new CheckpointError(
      `"${src}" has no ${GRIDS_FILE}: saving the GPTQ layout needs a run with quantization (wbits)`,
    );
  }
  const reader = await CheckpointReader.open(src);
  try {
    const quantized = new Map<string, { rows: number; cols: number }>();
    for (const name of q.grids.keys()) {
      const i = reader.info(name);
      const [rows, cols] = i.shape;
      checkGptqLayer(name, rows, cols, q.spec);
      quantized.set(name, { rows, cols });
    }
    const biases = new Set(
      [...quantized.keys()].map((n) => n.replace(/\.weight$/, ".bias")).filter((n) =>
        reader.has(n)
      ),
    );
    const plan: TensorPlan[] = [];
    for (const name of reader.names()) {
      const info = reader.info(name);
      const dims = quantized.get(name);
      if (dims) {
        const p = name.replace(/\.weight$/, "");
        const s = gptqShapes(dims.rows, dims.cols, q.spec);
        plan.push({ name: `${p}.qweight`, dtype: "I32", shape: s.qweight });
        plan.push({ name: `${p}.qzeros`, dtype: "I32", shape: s.qzeros });
        plan.push({ name: `${p}.scales`, dtype: "F16", shape: s.scales });
        plan.push({ name: `${p}.g_idx`, dtype: "I32", shape: s.gIdx });
      } else if (biases.has(name)) {
        plan.push({ name, dtype: "F16", shape: [...info.shape] });
      } else {
        plan.push({ name, dtype: info.dtype, shape: [...info.shape] });
      }
    }
    if (opts.force) await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.mkdir(out, { recursive: false });
    const w = await SafetensorsWriter.create(join(out, "model.safetensors"), plan, {
      quantized_by: "sparsellm",
    });
    try {
      for (const name of reader.names()) {
        const dims = quantized.get(name);
        if (dims) {
          const p = name.replace(/\.weight$/, "");
          const t = packGptq(
            name,
            await reader.readF32(name),
            q.grids.get(name)!,
            dims.rows,
            dims.cols,
            q.spec,
          );
          await w.write(`${p}.qweight`, bytesOf(t.qweight));
          await w.write(`${p}.qzeros`, bytesOf(t.qzeros));
          await w.write(`${p}.scales`, bytesOf(t.scales));
          await w.write(`${p}.g_idx`, bytesOf(t.gIdx));
        } else if (biases.has(name)) {
          await w.write(name, bytesOf(Float16Array.from(await reader.readF32(name))));
        } else {
          await w.write(name, await reader.readRaw(name));
        }
      }
    } catch (e) {
      // the first error is the one to report, not the unfinished file's
      await w.close().catch(() => {});
      throw e;
    }
    await w.close();
    await copyNonWeightFiles(src, out);
    await Deno.remove(join(out, GRIDS_FILE)).catch(() => {});
    for (const extra of ["report.json", "report.svg"]) {
      await Deno.remove(join(out, extra)).catch(() => {});
    }
    const config: Record<string, unknown> = {
      ...reader.config,
      torch_dtype: "float16",
      quantization_config: gptqQuantizationConfig(q.spec),
    };
    await Deno.writeTextFile(join(out, "config.json"), JSON.stringify(config, null, 2) + "\n");
    const { quant_method: _, ...autoGptq } = gptqQuantizationConfig(q.spec);
    await Deno.writeTextFile(
      join(out, "quantize_config.json"),
      JSON.stringify({ ...autoGptq, model_file_base_name: "model" }, null, 2) + "\n",
    );
    return q.spec;
  } finally {
    reader.close();
  }
}

/**
 * How the folder `dir` is quantized: from config.json's `quantization_config` (GPTQ layout) or
 * from GRIDS_FILE (fake-quantized weights); undefined when it is not.
 */
export async function quantizationOf(dir: string): Promise<QuantizationInfo | undefined> {
  let config;
  try {
    config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
  } catch {
    return undefined; // no or bad config.json: opening the model reports it
  }
  const qc = config?.quantization_config;
  if (qc && qc.quant_method === "gptq") {
    const reader = await CheckpointReader.open(dir);
    try {
      const matrices = reader.names().filter((n) => n.endsWith(".qweight")).length;
      const gs = Number(qc.group_size);
      return {
        format: "gptq",
        bits: Number(qc.bits),
        groupSize: gs > 0 ? gs : 0,
        sym: Boolean(qc.sym),
        matrices,
      };
    } finally {
      reader.close();
    }
  }
  const q = await readQuantGrids(dir);
  if (!q) return undefined;
  return { format: "fake", ...q.spec, matrices: q.grids.size };
}
