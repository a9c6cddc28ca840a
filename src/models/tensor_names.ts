/**
 * Tensor-name helpers of an {@linkcode Architecture}: the names of a layer's linear layers and
 * norms, the shapes the forward pass expects, and where each projection's rows live.
 *
 * @module
 */

import type { Architecture, LinearRole, LinearSpec } from "./arch.ts";

function spec(arch: Architecture, role: LinearRole): LinearSpec {
  const s = arch.linears.find((l) => l.role === role);
  if (!s) {
    throw new RangeError(
      `A ${arch.family} decoder layer has no "${role}" linear layer (it has ${
        arch.linears.map((l) => l.role).join(", ")
      })`,
    );
  }
  return s;
}

function checkLayer(arch: Architecture, layer: number): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= arch.numLayers) {
    throw new RangeError(`Layer ${layer} does not exist: the model has ${arch.numLayers} layers`);
  }
}

/**
 * Substitutes the layer index into a tensor-name pattern.
 *
 * @example Fill in the layer index
 * ```ts
 * import { layerName } from "./tensor_names.ts";
 *
 * layerName("model.layers.{i}.mlp.up_proj.weight", 3); // "model.layers.3.mlp.up_proj.weight"
 * ```
 */
export function layerName(pattern: string, layer: number): string {
  return pattern.replace("{i}", String(layer));
}

/**
 * The linear layer spec of a role (throws when the family has no such role).
 *
 * @example The down projection reads the FFN activation
 * ```ts
 * import { type Architecture } from "./arch.ts";
 * import { linearSpec } from "./tensor_names.ts";
 *
 * declare const arch: Architecture; // a LLaMA checkpoint
 * const down = linearSpec(arch, "down");
 * console.log(down.cols === arch.ffnSize, down.input); // true ffn_act
 * ```
 */
export function linearSpec(arch: Architecture, role: LinearRole): LinearSpec {
  return spec(arch, role);
}

/**
 * The tensor names of one linear layer of one decoder layer.
 *
 * @example Read the query projection of layer 5
 * ```ts
 * import { type WeightSource } from "@sparsellm/sparsellm";
 * import { type Architecture } from "./arch.ts";
 * import { linearTensorName } from "./tensor_names.ts";
 *
 * declare const arch: Architecture;
 * declare const source: WeightSource;
 * const { weight, bias } = linearTensorName(arch, 5, "q");
 * const w = await source.readF32(weight);
 * ```
 *
 * @returns `weight` and, when the layer has one, `bias`.
 */
export function linearTensorName(
  arch: Architecture,
  layer: number,
  role: LinearRole,
): { weight: string; bias?: string } {
  checkLayer(arch, layer);
  const s = spec(arch, role);
  return {
    weight: layerName(s.weight, layer),
    ...(s.bias ? { bias: layerName(s.bias, layer) } : {}),
  };
}

/**
 * Every tensor name of one decoder layer (norms, then linear weights and biases).
 *
 * @example Find the tensors a layer lacks
 * ```ts
 * import { type WeightSource } from "@sparsellm/sparsellm";
 * import { type Architecture } from "./arch.ts";
 * import { layerTensorNames } from "./tensor_names.ts";
 *
 * declare const arch: Architecture;
 * declare const source: WeightSource;
 * const missing = layerTensorNames(arch, 0).filter((name) => !source.has(name));
 * ```
 */
export function layerTensorNames(arch: Architecture, layer: number): string[] {
  checkLayer(arch, layer);
  const out: string[] = [];
  for (const nrm of [arch.attnNorm, arch.ffnNorm]) {
    out.push(layerName(nrm.weight, layer));
    if (nrm.bias) out.push(layerName(nrm.bias, layer));
  }
  if (arch.qkNorm) {
    out.push(layerName(arch.qkNorm.q.weight, layer), layerName(arch.qkNorm.k.weight, layer));
  }
  for (const l of arch.linears) {
    out.push(layerName(l.weight, layer));
    if (l.bias) out.push(layerName(l.bias, layer));
  }
  return out;
}

/**
 * The prunable linear layers of a decoder layer, in forward order.
 *
 * @example The matrices pruning touches
 * ```ts
 * import { type Architecture } from "./arch.ts";
 * import { prunableLinears } from "./tensor_names.ts";
 *
 * declare const arch: Architecture; // an OPT checkpoint
 * prunableLinears(arch); // ["q", "k", "v", "o", "fc1", "fc2"]
 * ```
 */
export function prunableLinears(arch: Architecture): LinearRole[] {
  return arch.linears.map((l) => l.role);
}

/**
 * Every tensor the forward pass needs, with its expected shape.
 *
 * @example List every tensor with its shape
 * ```ts
 * import { type Architecture } from "./arch.ts";
 * import { expectedShapes } from "./tensor_names.ts";
 *
 * declare const arch: Architecture;
 * for (const [name, shape] of expectedShapes(arch)) console.log(name, shape.join("x"));
 * ```
 */
export function expectedShapes(arch: Architecture): Map<string, number[]> {
  const d = arch.hiddenSize;
  const m = new Map<string, number[]>();
  m.set(arch.embedTokens, [arch.vocabSize, d]);
  if (!arch.tiedHead) m.set(arch.lmHead, [arch.vocabSize, d]);
  if (arch.positions.kind === "learned") m.set(arch.positions.tensor, [arch.positions.rows, d]);
  m.set(arch.finalNorm.weight, [d]);
  if (arch.finalNorm.bias) m.set(arch.finalNorm.bias, [d]);
  for (let i = 0; i < arch.numLayers; i++) {
    for (const nrm of [arch.attnNorm, arch.ffnNorm]) {
      m.set(layerName(nrm.weight, i), [d]);
      if (nrm.bias) m.set(layerName(nrm.bias, i), [d]);
    }
    if (arch.qkNorm) {
      m.set(layerName(arch.qkNorm.q.weight, i), [arch.headDim]);
      m.set(layerName(arch.qkNorm.k.weight, i), [arch.headDim]);
    }
    for (const l of arch.linears) {
      m.set(layerName(l.weight, i), [l.rows, l.cols]);
      if (l.bias) m.set(layerName(l.bias, i), [l.rows]);
    }
  }
  return m;
}

/**
 * Where the rows of one projection live: its own linear (`start` 0, all rows) or a block of a
 * fused linear (Phi-3's q, k, v in `qkv`, gate and up in `gate_up`).
 *
 * @example Locate the key projection in a fused qkv_proj
 * ```ts
 * import { type Architecture } from "./arch.ts";
 * import { projectionRows } from "./tensor_names.ts";
 *
 * declare const arch: Architecture; // a Phi-3 checkpoint
 * const k = projectionRows(arch, "k");
 * console.log(k.linear.role, k.start, k.rows); // qkv numHeads·headDim numKvHeads·headDim
 * ```
 *
 * @throws {RangeError} When no linear of the family plays the role.
 */
export function projectionRows(
  arch: Architecture,
  role: LinearRole,
): { linear: LinearSpec; start: number; rows: number } {
  for (const l of arch.linears) {
    if (l.role === role) return { linear: l, start: 0, rows: l.rows };
    const p = l.parts?.find((x) => x.role === role);
    if (p) return { linear: l, start: p.start, rows: p.rows };
  }
  return { linear: spec(arch, role), start: 0, rows: 0 };
}
