/**
 * Typed wrapper for the next-token NLL / argmax kernel (`kernels/nll.wgsl`), which consumes
 * logits one vocabulary block at a time with a running log-sum-exp.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { NLL_WGSL } from "./nll.wgsl.ts";

const WG = 64;

const PARAMS = uniformStruct("Params", {
  rows: "u32",
  rowStart: "u32",
  seqlen: "u32",
  ldl: "u32",
  offL: "u32",
  vocStart: "u32",
  vocCount: "u32",
  first: "u32",
});

/** The uniform layouts of `kernels/nll.wgsl`. */
export const NLL_UNIFORMS: readonly UniformStruct[] = [PARAMS];

/** Arguments of {@linkcode nllUpdate}. */
export interface NllArgs {
  /** Logits of `rows` token rows for vocabulary ids `vocStart .. vocStart + vocCount - 1`. */
  logits: GpuTensor;
  /** Row stride of `logits` (default `vocCount`). */
  ldl?: number;
  /** Element offset of the first logits row. */
  offL?: number;
  /** Token ids of all rows (i32): the target of row `g` is `ids[g + 1]`. */
  ids: GpuTensor;
  /** Running state, 3 floats per token row (all rows of `ids`). */
  state: GpuTensor;
  /** Output NLL per token row (0 at the last position of each sequence). */
  nll: GpuTensor;
  /** Output argmax id per token row (u32). */
  argmax: GpuTensor;
  /** Logits rows in this dispatch. */
  rows: number;
  /** Global token row of the first logits row. */
  rowStart: number;
  /** Tokens per sequence. */
  seqlen: number;
  /** First vocabulary id of the block. */
  vocStart: number;
  /** Vocabulary ids in the block. */
  vocCount: number;
}

/** The NLL kernel descriptor. */
export function nllKernel(): Kernel {
  return {
    name: "nll",
    source: NLL_WGSL,
    bindings: ["read", "read", "storage", "storage", "storage", "uniform"],
    constants: { WG },
  };
}

/**
 * Records one vocabulary block of the NLL computation into a batch. Dispatch the blocks of a
 * row range in increasing `vocStart` order, starting at 0; after the last one `nll` and
 * `argmax` hold the final values.
 */
export function nllUpdate(batch: Batch, a: NllArgs): void {
  const u = PARAMS.pack({
    rows: a.rows,
    rowStart: a.rowStart,
    seqlen: a.seqlen,
    ldl: a.ldl ?? a.vocCount,
    offL: a.offL ?? 0,
    vocStart: a.vocStart,
    vocCount: a.vocCount,
    first: a.vocStart === 0 ? 1 : 0,
  });
  batch.dispatch(
    nllKernel(),
    [a.logits, a.ids, a.state, a.nll, a.argmax],
    u,
    [Math.ceil(a.rows / WG)],
  );
}
