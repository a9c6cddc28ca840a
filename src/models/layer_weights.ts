/**
 * A decoder layer's weights on the GPU: linear layers and norms, read from a weight source
 * (decoded to f32) and uploaded.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import type { Architecture, LinearRole, NormSpec } from "./arch.ts";
import { layerName } from "./tensor_names.ts";
import { checkTensor } from "./validate.ts";
import type { WeightSource } from "./weights.ts";

/**
 * A linear layer on the GPU: `weight` is `[rows, cols]` row-major, as in the checkpoint.
 *
 * @example Inspect the query projection on the GPU
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { loadLayerWeights } from "./layer_weights.ts";
 * import type { WeightSource } from "@sparsellm/sparsellm";
 * import type { Architecture } from "./arch.ts";
 * import type { LinearWeights } from "./layer_weights.ts";
 *
 * declare const arch: Architecture;
 * declare const source: WeightSource;
 * const weights = await loadLayerWeights(await getGpu(), arch, source, 0);
 * const q: LinearWeights = weights.linear("q");
 * console.log(q.rows, q.cols, q.bias !== undefined);
 * weights.release();
 * ```
 */
export interface LinearWeights {
  /** The weight, `[rows, cols]`; pruning may modify it in place. */
  weight: GpuTensor;
  /** The bias, `[rows]`, when the layer has one. */
  bias?: GpuTensor;
  /** Output features. */
  rows: number;
  /** Input features. */
  cols: number;
}

/**
 * A norm's tensors on the GPU.
 *
 * @example Tell LayerNorm from RMSNorm
 * ```ts
 * import type { LayerWeights, NormWeights } from "./layer_weights.ts";
 *
 * declare const weights: LayerWeights;
 * const norm: NormWeights = weights.norm("ffn");
 * console.log(norm.weight.shape, norm.bias ? "LayerNorm" : "RMSNorm");
 * ```
 */
export interface NormWeights {
  /** Scale, `[hidden]`. */
  weight: GpuTensor;
  /** Shift (LayerNorm), `[hidden]`. */
  bias?: GpuTensor;
}

/**
 * One decoder layer's weights on the GPU (f32).
 *
 * @example Size of one layer on the GPU
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { loadLayerWeights } from "./layer_weights.ts";
 * import type { WeightSource } from "@sparsellm/sparsellm";
 * import type { Architecture } from "./arch.ts";
 * import type { LayerWeights } from "./layer_weights.ts";
 *
 * declare const arch: Architecture;
 * declare const source: WeightSource;
 * const weights: LayerWeights = await loadLayerWeights(await getGpu(), arch, source, 1);
 * console.log(`layer ${weights.layer}: ${(weights.bytes / 2 ** 20).toFixed(2)} MiB`);
 * weights.release();
 * ```
 */
export interface LayerWeights {
  /** Layer index. */
  readonly layer: number;
  /** Total bytes of the GPU tensors. */
  readonly bytes: number;
  /** A linear layer by role (throws for a role the family lacks). */
  linear(role: LinearRole): LinearWeights;
  /**
   * The norm before attention (`attn`) or before the feed-forward block (`ffn`), or Qwen3's
   * per-head query / key norm (`q` / `k`; throws when the family has none).
   */
  norm(which: "attn" | "ffn" | "q" | "k"): NormWeights;
  /**
   * Returns the tensors to the GPU pool. Call it after the batches that use them were
   * submitted.
   */
  release(): void;
}

async function uploadTensor(
  gpu: Gpu,
  source: WeightSource,
  name: string,
  shape: number[],
): Promise<GpuTensor> {
  checkTensor(source, name, shape);
  const data = await source.readF32(name);
  return gpu.upload(data, shape, name);
}

async function loadNorm(
  gpu: Gpu,
  source: WeightSource,
  spec: NormSpec,
  layer: number,
  d: number,
): Promise<NormWeights> {
  const weight = await uploadTensor(gpu, source, layerName(spec.weight, layer), [d]);
  if (!spec.bias) return { weight };
  return { weight, bias: await uploadTensor(gpu, source, layerName(spec.bias, layer), [d]) };
}

/**
 * Reads one decoder layer's tensors from a source (decoded to f32) and uploads them.
 *
 * @example Load, use and release a layer
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { loadLayerWeights } from "./layer_weights.ts";
 * import type { WeightSource } from "@sparsellm/sparsellm";
 * import type { Architecture } from "./arch.ts";
 *
 * declare const arch: Architecture;
 * declare const source: WeightSource;
 * const weights = await loadLayerWeights(await getGpu(), arch, source, 0);
 * try {
 *   console.log(weights.linear(arch.ffnRoles[0]).weight.shape);
 * } finally {
 *   weights.release();
 * }
 * ```
 *
 * @param gpu The device.
 * @param arch The architecture.
 * @param source Where the weights come from.
 * @param layer Layer index.
 * @returns The layer's GPU weights; {@linkcode LayerWeights.release} frees them.
 * @throws {RangeError} When a tensor is missing or has the wrong shape or dtype.
 */
export async function loadLayerWeights(
  gpu: Gpu,
  arch: Architecture,
  source: WeightSource,
  layer: number,
): Promise<LayerWeights> {
  if (!Number.isInteger(layer) || layer < 0 || layer >= arch.numLayers) {
    throw new RangeError(`Layer ${layer} does not exist: the model has ${arch.numLayers} layers`);
  }
  const all: GpuTensor[] = [];
  try {
    const d = arch.hiddenSize;
    const attnNorm = await loadNorm(gpu, source, arch.attnNorm, layer, d);
    all.push(attnNorm.weight, ...(attnNorm.bias ? [attnNorm.bias] : []));
    const ffnNorm = await loadNorm(gpu, source, arch.ffnNorm, layer, d);
    all.push(ffnNorm.weight, ...(ffnNorm.bias ? [ffnNorm.bias] : []));
    let qNorm: NormWeights | undefined, kNorm: NormWeights | undefined;
    if (arch.qkNorm) {
      qNorm = await loadNorm(gpu, source, arch.qkNorm.q, layer, arch.headDim);
      kNorm = await loadNorm(gpu, source, arch.qkNorm.k, layer, arch.headDim);
      all.push(qNorm.weight, kNorm.weight);
    }
    const linears = new Map<LinearRole, LinearWeights>();
    for (const l of arch.linears) {
      const weight = await uploadTensor(gpu, source, layerName(l.weight, layer), [l.rows, l.cols]);
      all.push(weight);
      const lw: LinearWeights = { weight, rows: l.rows, cols: l.cols };
      if (l.bias) {
        lw.bias = await uploadTensor(gpu, source, layerName(l.bias, layer), [l.rows]);
        all.push(lw.bias);
      }
      linears.set(l.role, lw);
    }
    const bytes = all.reduce((s, t) => s + t.size * 4, 0);
    let released = false;
    return {
      layer,
      bytes,
      linear(role: LinearRole): LinearWeights {
        const lw = linears.get(role);
        const fused = lw
          ? undefined
          : arch.linears.find((l) => l.parts?.some((p) => p.role === role));
        if (fused) {
          const p = fused.parts!.find((x) => x.role === role)!;
          throw new RangeError(
            `The "${role}" projection of this ${arch.config.modelType} model is rows ` +
              `${p.start}..${p.start + p.rows - 1} of the fused "${fused.role}" matrix ` +
              `(${layerName(fused.weight, layer)}); this step needs it as a matrix of its own`,
          );
        }
        if (!lw) {
          throw new RangeError(
            `A ${arch.family} decoder layer has no "${role}" linear layer (it has ${
              [...linears.keys()].join(", ")
            })`,
          );
        }
        return lw;
      },
      norm(which: "attn" | "ffn" | "q" | "k"): NormWeights {
        if (which === "attn") return attnNorm;
        if (which === "ffn") return ffnNorm;
        const n = which === "q" ? qNorm : kNorm;
        if (!n) {
          throw new RangeError(`A ${arch.config.modelType} decoder layer has no ${which}_norm`);
        }
        return n;
      },
      release(): void {
        if (released) return;
        released = true;
        gpu.free(...all);
      },
    };
  } catch (e) {
    gpu.free(...all);
    throw e;
  }
}
