/**
 * Typed wrapper for the embedding gather kernel (`kernels/embed.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { EMBED_WGSL } from "./embed.wgsl.ts";

const WG = 64;

/** Arguments of {@linkcode embed}. */
export interface EmbedArgs {
  /** Token ids (i32), one per row. */
  ids: GpuTensor;
  /** A block of the token table: rows for ids `idStart .. idStart + idCount - 1`. */
  table: GpuTensor;
  /** First id of the block (default 0). */
  idStart?: number;
  /** Ids in the block (default: all rows of `table`). */
  idCount?: number;
  /** Optional learned positions table (row `t % seqlen + posOffset` is added). */
  positions?: GpuTensor;
  /** Offset into the positions table (2 for OPT). */
  posOffset?: number;
  /** Output `[rows, cols]`. */
  out: GpuTensor;
  /** Number of tokens. */
  rows: number;
  /** Embedding width. */
  cols: number;
  /** Tokens per sequence (positions restart at each sequence). */
  seqlen: number;
  /** Factor on the token rows (Gemma: f32 `sqrt(hidden)`; default 1). */
  scale?: number;
}

/** The embedding kernel descriptor. */
export function embedKernel(hasPositions: boolean): Kernel {
  return {
    name: "embed",
    source: EMBED_WGSL,
    bindings: ["read", "read", "read", "storage", "uniform"],
    constants: { HAS_POS: +hasPositions, WG },
  };
}

/** Records the gather of the rows whose id lies in the table block (plus positions). */
export function embed(batch: Batch, a: EmbedArgs): void {
  const idCount = a.idCount ?? a.table.size / a.cols;
  const posOffset = a.posOffset ?? 0;
  // only the positions of one sequence are read: bind just those rows
  const pos = a.positions
    ? batch.gpu.window(a.positions, posOffset * a.cols, (posOffset + a.seqlen) * a.cols)
    : undefined;
  const u = new Uniforms()
    .u32(a.rows, a.cols, a.seqlen, posOffset)
    .u32(a.idStart ?? 0, idCount, pos?.base ?? 0).f32(a.scale ?? 1);
  batch.dispatch(
    embedKernel(a.positions !== undefined),
    [a.ids, a.table, pos ?? a.table, a.out],
    u.bytes(),
    [Math.ceil((a.rows * a.cols) / WG)],
  );
}
