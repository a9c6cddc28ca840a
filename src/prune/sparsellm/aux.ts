/**
 * SparseLLM's per-token variables and the FFN forward pieces that fill them. Each calibration
 * chunk carries its FFN input `x`, the target `t` of the second linear, the auxiliaries `z`, `s`
 * (GLU gate) and `p`, and the current pruned first linears' real pre-activations `pre`/`preGate`.
 * They are FFN-width × tokens each, so they live in a {@linkcode ChunkStore} that spills them to
 * host memory past the budget.
 *
 * @module
 */

import type { Batch, Gpu } from "../../gpu/device.ts";
import { type Chunk, ChunkStore } from "../../gpu/chunk_store.ts";
import type { GpuTensor } from "../../gpu/tensor.ts";
import { AuxMode, auxOp } from "../../kernels/auxiliary.ts";
import { matmul } from "../../kernels/matmul.ts";
import type { FfnChunk, FfnProblem } from "./types.ts";

/** The per-chunk fields of the auxiliary store. */
export type AuxField = "x" | "t" | "z" | "s" | "p" | "pre" | "preGate";

/** One chunk of tokens with its variables on the GPU (`s`, `preGate` only for GLU blocks). */
export type AuxChunk = Chunk<"x" | "t" | "z" | "p" | "pre"> & {
  readonly s?: GpuTensor;
  readonly preGate?: GpuTensor;
};

/** The auxiliary store of one FFN. */
export type AuxStore = ChunkStore<AuxField>;

/**
 * Allocates the variables of every chunk: on the GPU within `budget` bytes, else in host memory.
 * `x` and given targets stay the caller's.
 */
export function createAuxStore(
  gpu: Gpu,
  chunks: readonly FfnChunk[],
  d: number,
  f: number,
  glu: boolean,
  budget: number,
): AuxStore {
  const widths: Partial<Record<AuxField, number>> = { x: d, z: f, p: f, pre: f };
  if (glu) Object.assign(widths, { s: f, preGate: f });
  if (chunks.some((c) => !c.target)) widths.t = d;
  const given = chunks.map((c) => ({ x: c.x, ...(c.target ? { t: c.target } : {}) }));
  return ChunkStore.create(
    gpu,
    "sparsellm",
    chunks.map((c) => ({ nseq: c.nseq, tokens: c.tokens })),
    widths as Record<AuxField, number>,
    budget,
    given,
  );
}

/** The store's chunks with their optional GLU fields. */
export function auxChunk(c: Chunk<AuxField>): AuxChunk {
  return c as unknown as AuxChunk;
}

/** Records `out = x·Wᵀ (+ bias)` for `n` rows. */
export function linear(
  b: Batch,
  x: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor | undefined,
  out: GpuTensor,
  n: number,
  inDim: number,
  outDim: number,
): void {
  matmul(b, { a: x, b: w, c: out, M: n, N: outDim, K: inDim, transB: true, bias });
}

/** Records a copy of the first `count` floats of `src` into `dst`. */
export function copy(b: Batch, src: GpuTensor, dst: GpuTensor, count = src.size): void {
  b.copy(src.buffer, 0, dst.buffer, 0, count * 4);
}

/** Records the pre-activations of the first linear(s): OPT z = W1·x + b1; GLU s = Wg·x, z = Wu·x. */
export function preActivations(
  b: Batch,
  pr: FfnProblem,
  x: GpuTensor,
  n: number,
  gateOut: GpuTensor,
  upOut: GpuTensor,
): void {
  if (pr.kind === "glu") linear(b, x, pr.gate!.weight, pr.gate!.bias, gateOut, n, pr.d, pr.f);
  linear(b, x, pr.up.weight, pr.up.bias, upOut, n, pr.d, pr.f);
}

/** Records φ: relu(z) or gate(s)·z. */
export function activation(
  b: Batch,
  pr: FfnProblem,
  n: number,
  z: GpuTensor,
  s: GpuTensor | undefined,
  out: GpuTensor,
): void {
  const count = n * pr.f;
  if (pr.kind === "glu") {
    auxOp(b, AuxMode.glu, { out, inputs: [s!, z], count, gate: pr.gateFn ?? "silu" });
  }
  else auxOp(b, AuxMode.relu, { out, inputs: [z], count });
}

/**
 * Records the chunk's pre-activations of the current (pruned) first linear(s) into `c.pre` /
 * `c.preGate` (the next iteration's z-update reads them) and their activations into `act`.
 */
export function realActivations(b: Batch, pr: FfnProblem, c: AuxChunk, act: GpuTensor): void {
  preActivations(b, pr, c.x, c.tokens, c.preGate ?? c.pre, c.pre);
  activation(b, pr, c.tokens, c.pre, c.preGate, act);
}
