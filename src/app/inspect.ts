/**
 * `inspect`: what a checkpoint folder holds.
 *
 * @module
 */

import { type ArchitectureDescription, describeArchitecture } from "../models/describe.ts";
import { architectureForSource } from "../models/families.ts";
import { prunableLinears } from "../models/tensor_names.ts";
import { validateWeights } from "../models/validate.ts";
import { openModel } from "../io/model_files.ts";
import { join } from "node:path";
import { type ModelConfig, parseModelConfig } from "../models/config.ts";
import { CheckpointReader } from "../io/checkpoint.ts";
import { type QuantizationInfo, quantizationOf } from "../io/gptq.ts";

/**
 * What {@linkcode inspectCheckpoint} reports.
 *
 * @example Summarise a checkpoint
 * ```ts
 * import { type InspectResult, inspectCheckpoint } from "@sparsellm/sparsellm/io";
 *
 * const r: InspectResult = await inspectCheckpoint("testdata/models/opt-tiny");
 * console.log(`${r.architecture}: ${r.layers} layers, ${r.parameters} parameters`);
 * console.log(`${r.prunable.length} prunable matrices, ${r.prunableParameters} weights`);
 * ```
 */
export interface InspectResult {
  /** The folder. */
  dir: string;
  /** `architectures[0]` of the config, or the family. */
  architecture: string;
  /** `model_type`. */
  modelType: string;
  /** Decoder layers. */
  layers: number;
  /** Hidden size. */
  hiddenSize: number;
  /** Attention heads. */
  heads: number;
  /** Key/value heads. */
  kvHeads: number;
  /** FFN width. */
  ffnSize: number;
  /** Vocabulary. */
  vocabSize: number;
  /** Max positions. */
  maxPositions: number;
  /** Stored parameters (tied heads counted once). */
  parameters: number;
  /** Tensor count per dtype. */
  dtypes: Record<string, number>;
  /** Weight files. */
  files: string[];
  /** Names of the prunable matrices. */
  prunable: string[];
  /** Roles of the prunable matrices in each layer. */
  prunableRoles: string[];
  /** Weights in prunable matrices. */
  prunableParameters: number;
  /**
   * Family, features in use (GQA / MQA, window, rope, fused, tied...) and prunable matrices
   * (absent for a GPTQ-layout folder, whose matrices are packed).
   */
  description?: ArchitectureDescription;
  /** How the folder is quantized (`--wbits` output or GPTQ layout), when it is. */
  quantization?: QuantizationInfo;
}

/**
 * Reads a checkpoint folder's header information (no weights are loaded).
 *
 * @example Dtypes and files of a checkpoint
 * ```ts
 * import { inspectCheckpoint } from "@sparsellm/sparsellm/io";
 *
 * const info = await inspectCheckpoint("testdata/models/llama-small-bf16");
 * console.log(info.dtypes, info.files, info.prunableRoles);
 * ```
 */
export async function inspectCheckpoint(dir: string): Promise<InspectResult> {
  const quantization = await quantizationOf(dir);
  if (quantization?.format === "gptq") return await inspectGptq(dir, quantization);
  const { reader, config } = await openModel(dir);
  try {
    const arch = architectureForSource(config, reader);
    validateWeights(arch, reader);
    const roles = prunableLinears(arch);
    const prunable: string[] = [];
    let prunableParameters = 0;
    for (let i = 0; i < arch.numLayers; i++) {
      for (const spec of arch.linears) {
        if (!roles.includes(spec.role)) continue;
        prunable.push(spec.weight.replace("{i}", String(i)));
        prunableParameters += spec.rows * spec.cols;
      }
    }
    return {
      ...folderSummary(dir, reader, config, arch.family),
      prunable,
      prunableRoles: roles,
      prunableParameters,
      description: describeArchitecture(arch),
      ...(quantization ? { quantization } : {}),
    };
  } finally {
    reader.close();
  }
}

/** What both kinds of folder report: the configuration and the tensors' counts, dtypes and files. */
function folderSummary(
  dir: string,
  reader: CheckpointReader,
  config: ModelConfig,
  fallbackArchitecture: string,
): Omit<InspectResult, "prunable" | "prunableRoles" | "prunableParameters"> {
  let parameters = 0;
  const dtypes: Record<string, number> = {};
  const files = new Set<string>();
  for (const name of reader.names()) {
    const info = reader.info(name);
    parameters += info.shape.reduce((a, b) => a * b, 1);
    dtypes[info.dtype] = (dtypes[info.dtype] ?? 0) + 1;
    files.add(info.file);
  }
  return {
    dir,
    architecture: Array.isArray(reader.config.architectures)
      ? String(reader.config.architectures[0])
      : fallbackArchitecture,
    modelType: config.modelType,
    layers: config.numLayers,
    hiddenSize: config.hiddenSize,
    heads: config.numHeads,
    kvHeads: config.numKvHeads,
    ffnSize: config.ffnSize,
    vocabSize: config.vocabSize,
    maxPositions: config.maxPositions,
    parameters,
    dtypes,
    files: [...files],
  };
}

/** A GPTQ-layout folder: what config.json and the tensor headers say (no prunable matrices). */
async function inspectGptq(dir: string, quantization: QuantizationInfo): Promise<InspectResult> {
  const reader = await CheckpointReader.open(dir);
  try {
    const config = parseModelConfig(reader.config, join(dir, "config.json"));
    return {
      ...folderSummary(dir, reader, config, config.modelType),
      prunable: [],
      prunableRoles: [],
      prunableParameters: 0,
      quantization,
    };
  } finally {
    reader.close();
  }
}
