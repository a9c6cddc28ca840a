/**
 * Exact k-th smallest score on the GPU by radix select on f32 bit patterns
 * (`kernels/select_region.wgsl`, `kernels/select_segment.wgsl`).
 *
 * Scores are non-negative and computed on the fly from a weight region (see
 * {@linkcode ScoreMode}); non-negative f32 values order like their u32 bit patterns, so four
 * passes over 8-bit digits find the k-th smallest exactly, ties included. Everything is recorded
 * into a {@linkcode Batch}: nothing waits on the GPU.
 *
 * Two ways to run it:
 * - {@linkcode selectKth} over a whole region (many workgroups: histogram passes with atomics
 *   and a one-invocation scan kernel) or over each row of it (one workgroup per row);
 * - {@linkcode segmentPrune}, the fused form used by the pruners: select per segment and zero
 *   the weights the selected value defines, in one dispatch, with no scratch memory.
 *
 * Regions larger than one storage binding ({@linkcode Gpu.bindingLimit}) are worked on in row
 * blocks bound as windows ({@linkcode forEachRowBlock}); a selection over the whole region then
 * adds up the histograms of all blocks.
 *
 * @module
 */

import type { Batch, BufferWindow, Gpu } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { withTemps } from "../gpu/temps.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { SELECT_REGION_WGSL } from "./select_region.wgsl.ts";
import { SELECT_SEGMENT_WGSL } from "./select_segment.wgsl.ts";

/**
 * How a score is computed from weight `w` in column `c` of a region:
 * - `magnitude`: `|w|`
 * - `wanda`: `|w|·sqrt(colVec[c])`, colVec = mean squared input-column norms (Wanda's `s_j`)
 *
 * Column `c` reads `colVec[colVecOffset + c]`.
 */
export type ScoreMode = "magnitude" | "wanda";

/** The `MODE` override value of each {@linkcode ScoreMode}. */
export const SCORE_MODE_ID: Readonly<Record<ScoreMode, number>> = {
  magnitude: 0,
  wanda: 1,
};

/** A `rows × cols` region of a row-major weight, and how to score its entries. */
export interface ScoredRegion {
  /** The weight tensor (f32). */
  w: GpuTensor;
  /** Rows of the region (outputs). */
  rows: number;
  /** Columns of the region (inputs). */
  cols: number;
  /** Row stride of `w` in elements (default `cols`). */
  ld?: number;
  /** Element offset of the region's first entry in `w` (default 0). */
  offset?: number;
  /** Score function (default `magnitude`). */
  mode?: ScoreMode;
  /** Per-column vector of `wanda` scores (required by that mode). */
  colVec?: GpuTensor;
  /** Element offset into `colVec` of the region's first column (default 0). */
  colVecOffset?: number;
}

/** A checked {@linkcode ScoredRegion} with its defaults filled in. */
export interface ResolvedRegion {
  /** The weight tensor. */
  w: GpuTensor;
  /** Rows. */
  rows: number;
  /** Columns. */
  cols: number;
  /** Row stride. */
  ld: number;
  /** Element offset. */
  offset: number;
  /** Score function. */
  mode: ScoreMode;
  /** The per-column vector, or `w` as an unused stand-in for `magnitude`. */
  colVec: GpuTensor;
  /** Offset into `colVec`. */
  colVecOffset: number;
}

function checkCount(what: string, name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new RangeError(`Cannot ${what}: ${name} must be an integer >= ${min}, got ${v}`);
  }
}

/**
 * Validates a region against its tensors and fills in the defaults. `what` names the action in
 * error messages (e.g. `"select the k-th smallest score"`).
 */
export function resolveRegion(what: string, r: ScoredRegion): ResolvedRegion {
  checkCount(what, "rows", r.rows, 1);
  checkCount(what, "cols", r.cols, 1);
  const ld = r.ld ?? r.cols;
  const offset = r.offset ?? 0;
  const colVecOffset = r.colVecOffset ?? 0;
  checkCount(what, "ld", ld, r.cols);
  checkCount(what, "offset", offset, 0);
  checkCount(what, "colVecOffset", colVecOffset, 0);
  const mode = r.mode ?? "magnitude";
  if (!Object.hasOwn(SCORE_MODE_ID, mode)) {
    throw new RangeError(
      `Cannot ${what}: unknown score mode "${mode}" (expected magnitude or wanda)`,
    );
  }
  if (r.w.dtype !== "f32") {
    throw new TypeError(`Cannot ${what}: the weight must be f32, got ${r.w.dtype}`);
  }
  const last = offset + (r.rows - 1) * ld + r.cols;
  if (last > r.w.size) {
    throw new RangeError(
      `Cannot ${what}: a ${r.rows}×${r.cols} region with ld ${ld} at offset ${offset} ends at ` +
        `element ${last}, beyond the weight's ${r.w.size} elements`,
    );
  }
  if (last > 2 ** 32 - 1) {
    throw new RangeError(`Cannot ${what}: element index ${last} does not fit in 32 bits`);
  }
  let colVec = r.w;
  if (mode !== "magnitude") {
    if (!r.colVec) {
      throw new TypeError(`Cannot ${what}: score mode "${mode}" needs a per-column vector colVec`);
    }
    if (r.colVec.dtype !== "f32") {
      throw new TypeError(`Cannot ${what}: colVec must be f32, got ${r.colVec.dtype}`);
    }
    if (colVecOffset + r.cols > r.colVec.size) {
      throw new RangeError(
        `Cannot ${what}: colVec has ${r.colVec.size} elements, but columns ${colVecOffset}..` +
          `${colVecOffset + r.cols - 1} are needed`,
      );
    }
    colVec = r.colVec;
  }
  return { w: r.w, rows: r.rows, cols: r.cols, ld, offset, mode, colVec, colVecOffset };
}

/**
 * Rows `[ra, rb)` of a region bound on their own: windows of the weight and of the column
 * vector, and the region's offsets relative to them.
 */
export interface RowBlock {
  /** First row of the block. */
  ra: number;
  /** Row after the block. */
  rb: number;
  /** Window of the weight holding the block. */
  w: BufferWindow;
  /** Element of the block's first entry, relative to `w`. */
  offset: number;
  /** Window of the column vector (`w` again for `magnitude` scores, which read none). */
  colVec: BufferWindow;
  /** Element of the region's first column in `colVec`, relative to its window. */
  colVecOffset: number;
}

/** Elements from the first to the last entry of the rows `[ra, rb)` of a region. */
export function rowSpan(g: ResolvedRegion, ra: number, rb: number): number {
  return (rb - ra - 1) * g.ld + g.cols;
}

/**
 * Calls `fn` on consecutive row blocks of a region, each of whose rows fit one window, as does
 * `extra(ra, rb)` (the elements a per-row output such as a mask needs, if any). A region that
 * fits is a single block of all rows, so its work is dispatched as before splitting existed.
 */
export function forEachRowBlock(
  gpu: Gpu,
  g: ResolvedRegion,
  fn: (b: RowBlock) => void,
  extra?: (ra: number, rb: number) => number,
): void {
  const colVec = g.mode === "magnitude"
    ? undefined
    : gpu.window(g.colVec, g.colVecOffset, g.colVecOffset + g.cols);
  const span = (ra: number, rb: number) => Math.max(rowSpan(g, ra, rb), extra?.(ra, rb) ?? 0);
  forEachFitting(gpu, 0, g.rows, span, (ra, rb) => {
    const lo = g.offset + ra * g.ld;
    const w = gpu.window(g.w, lo, lo + rowSpan(g, ra, rb));
    fn({
      ra,
      rb,
      w,
      offset: lo - w.base,
      colVec: colVec ?? w,
      colVecOffset: colVec ? g.colVecOffset - colVec.base : 0,
    });
  });
}

/** Arguments of {@linkcode selectKth}. */
export interface SelectArgs extends ScoredRegion {
  /** Which order statistic, 0-based: 0 selects the smallest score. */
  k: number;
  /**
   * Receives the result (u32 words), and in region mode also serves as scratch; size it with
   * {@linkcode selectOutSize}. For each selection `i` (0 in region mode, the row in per-row
   * mode): `out[2i]` = the f32 bit pattern of the k-th smallest score `v`, and
   * `out[2i+1]` = `k − #{score < v}`, the position of the k-th entry among those equal to `v`
   * (0 when `v` is unique), so `#{score < v} + out[2i+1] + 1 = k + 1`.
   */
  out: GpuTensor;
  /** Select in each row separately (`k` per row) instead of over the whole region. */
  perRow?: boolean;
}

/** Words of `out` that {@linkcode selectKth} needs: 258 for a region, 2 per row with `perRow`. */
export function selectOutSize(rows: number, perRow = false): number {
  return perRow ? 2 * rows : 2 + 256;
}

const REGION_WG = 256;
const REGION_CHUNK = 4096; // elements per histogram workgroup, at least
const REGION_MAX_GROUPS = 1024;

const REGION_PARAMS = uniformStruct("Params", {
  rows: "u32",
  cols: "u32",
  ld: "u32",
  offset: "u32",
  k: "u32",
  colOff: "u32",
  round: "u32",
  chunk: "u32",
  ngroups: "u32",
});
const SEGMENT_PARAMS = uniformStruct("Params", {
  rows: "u32",
  cols: "u32",
  ld: "u32",
  offset: "u32",
  segStride: "u32",
  nseg: "u32",
  k: "u32",
  colOff: "u32",
  outOff: "u32",
});

/** The uniform layouts of `kernels/select_region.wgsl`. */
export const SELECT_REGION_UNIFORMS: readonly UniformStruct[] = [REGION_PARAMS];
/** The uniform layouts of `kernels/select_segment.wgsl`. */
export const SELECT_SEGMENT_UNIFORMS: readonly UniformStruct[] = [SEGMENT_PARAMS];

function regionKernel(entryPoint: "init" | "histogram" | "scan", mode: ScoreMode): Kernel {
  return {
    name: `select-region-${entryPoint}`,
    source: SELECT_REGION_WGSL,
    entryPoint,
    bindings: ["read", "read", "storage", "uniform"],
    constants: entryPoint === "histogram"
      ? { MODE: SCORE_MODE_ID[mode], WG: REGION_WG }
      : { MODE: SCORE_MODE_ID[mode] },
  };
}

/** Fused-kernel outputs: 0 writes (value, rank), 1 zeroes score ≤ v, 2 zeroes exactly k + 1. */
type SegmentOutput = 0 | 1 | 2;

function segmentKernel(mode: ScoreMode, output: SegmentOutput, wg: number, load: boolean): Kernel {
  const constants: Record<string, number> = { MODE: SCORE_MODE_ID[mode], OUTPUT: output, WG: wg };
  if (load) constants.LOAD = 1;
  return {
    name: "select-segment",
    source: SELECT_SEGMENT_WGSL,
    bindings: ["storage", "storage", "storage", "uniform"],
    constants,
  };
}

/**
 * Records the fused kernel on one row block: one segment per row (`perRow`) or the block as one
 * segment. With `load` the block skips the selection and reads v and the rank from `out`.
 */
function segmentDispatch(
  batch: Batch,
  g: ResolvedRegion,
  b: RowBlock,
  perRow: boolean,
  k: number,
  output: SegmentOutput,
  out: GpuTensor | undefined,
  load = false,
): void {
  const rows = b.rb - b.ra;
  const segRows = perRow ? 1 : rows;
  const nseg = perRow ? rows : 1;
  const wg = segRows * g.cols <= 2048 ? 64 : 256;
  const u = SEGMENT_PARAMS.pack({
    rows: segRows,
    cols: g.cols,
    ld: g.ld,
    offset: b.offset,
    segStride: perRow ? g.ld : 0,
    nseg,
    k,
    colOff: b.colVecOffset,
    outOff: perRow ? 2 * b.ra : 0,
  });
  // `out` is untouched unless output is 0 or `load`; the weight may stand in for it
  const kernel = segmentKernel(g.mode, output, wg, load);
  batch.dispatch(kernel, [b.w, b.colVec, out ?? b.w], u, [nseg]);
}

/**
 * Records the region-mode selection of the k-th smallest score into `out` (258 words): an init,
 * then per 8-bit digit the histograms of every row block and a scan.
 */
function recordRegionSelect(batch: Batch, g: ResolvedRegion, k: number, out: GpuTensor): void {
  const blocks: RowBlock[] = [];
  forEachRowBlock(batch.gpu, g, (b) => blocks.push(b));
  const uni = (b: RowBlock, pass: number) => {
    const n = (b.rb - b.ra) * g.cols;
    const groups = Math.min(REGION_MAX_GROUPS, Math.ceil(n / REGION_CHUNK));
    const u = REGION_PARAMS.pack({
      rows: b.rb - b.ra,
      cols: g.cols,
      ld: g.ld,
      offset: b.offset,
      k,
      colOff: b.colVecOffset,
      round: pass,
      chunk: Math.ceil(n / groups),
      ngroups: groups,
    });
    return { u, groups };
  };
  // init and scan only use `out`; the first block's windows fill the other bindings
  const first = blocks[0];
  const firstBufs = [first.w, first.colVec, out];
  batch.dispatch(regionKernel("init", g.mode), firstBufs, uni(first, 0).u, [1]);
  for (let pass = 0; pass < 4; pass++) {
    for (const b of blocks) {
      const { u, groups } = uni(b, pass);
      batch.dispatch(regionKernel("histogram", g.mode), [b.w, b.colVec, out], u, [groups]);
    }
    batch.dispatch(regionKernel("scan", g.mode), firstBufs, uni(first, pass).u, [1]);
  }
}

/**
 * Records an exact selection of the `k`-th smallest score (0-based) of a weight region, or of
 * each of its rows (`perRow`), into `batch`. Read `out` back (or bind it in a later kernel) after
 * the batch is submitted; see {@linkcode SelectArgs.out} for the layout.
 *
 * Region mode records 9 dispatches (an init, then a histogram and a scan per 8-bit digit) that
 * spread the region over up to 1024 workgroups; per-row mode records one dispatch with one
 * workgroup per row. Scores equal as f32 bit patterns are ties (`-0` equals `+0`). A region
 * larger than one binding takes a histogram (region mode) or a dispatch (per row) per row block.
 *
 * For the magnitude threshold of a column block (`rows × B` from column `i1` of a
 * `rows × cols` weight), as a 0/1 mask:
 *
 * ```ts ignore
 * selectKth(batch, {
 *   w: W, rows, cols: B, ld: cols, offset: i1, k: Math.floor(rows * B * sparsity), out: sel, // 258 u32
 * });
 * thresholdMask(batch, { w: W, rows, cols: B, ld: cols, offset: i1, sel, mask }); // score <= thr
 * ```
 *
 * Throws a `RangeError` when `k` is not below the number of candidates, `out` is too small, or
 * the region does not fit its tensors.
 */
export function selectKth(batch: Batch, a: SelectArgs): void {
  const what = "select the k-th smallest score";
  const g = resolveRegion(what, a);
  const perRow = a.perRow ?? false;
  const n = perRow ? g.cols : g.rows * g.cols;
  if (!Number.isInteger(a.k) || a.k < 0 || a.k >= n) {
    throw new RangeError(
      `Cannot ${what}: k must be an integer in [0, ${n - 1}] for ${n} candidates, got ${a.k}`,
    );
  }
  const need = selectOutSize(g.rows, perRow);
  if (a.out.size < need) {
    throw new RangeError(
      `Cannot ${what}: out has ${a.out.size} words, ${need} are needed ` +
        `(selectOutSize(${g.rows}, ${perRow}))`,
    );
  }
  if (perRow) {
    forEachRowBlock(batch.gpu, g, (b) => segmentDispatch(batch, g, b, true, a.k, 0, a.out));
  } else {
    recordRegionSelect(batch, g, a.k, a.out);
  }
}

/** Arguments of {@linkcode segmentPrune}. */
export interface SegmentPruneArgs extends ScoredRegion {
  /** Which order statistic, 0-based, in every segment. */
  k: number;
  /** Segments are the rows of the region (true) or the whole region (false). */
  perRow: boolean;
  /**
   * `threshold`: zero every entry whose score ≤ the k-th smallest (ties may prune more than
   * k + 1, as in the reference magnitude pruners); `exact`: zero exactly the k + 1 smallest,
   * ties to the lower index in row-major order (a stable sort's order).
   */
  rule: "threshold" | "exact";
}

/**
 * Records, in one dispatch with one workgroup per segment, a radix select of the `k`-th smallest
 * score of each segment (a row, or the whole region) fused with zeroing the weights it selects
 * (see {@linkcode SegmentPruneArgs.rule}). Needs no scratch memory when the region fits one
 * binding. A single-segment region runs on one workgroup; for large regions
 * {@linkcode selectKth} plus a threshold mask spreads the work over many.
 *
 * Rows are pruned in row blocks when the region exceeds one binding. A single segment larger
 * than one binding is selected over all row blocks first, into 258 words of scratch lent by the
 * pool for the recording only (as `Temps` without a caller's set), then pruned block by block
 * in row order, so the `exact` rule still prunes the first ties.
 */
export function segmentPrune(batch: Batch, a: SegmentPruneArgs): void {
  const what = "prune by the k-th smallest score";
  const g = resolveRegion(what, a);
  const n = a.perRow ? g.cols : g.rows * g.cols;
  if (!Number.isInteger(a.k) || a.k < 0 || a.k >= n) {
    throw new RangeError(
      `Cannot ${what}: k must be an integer in [0, ${n - 1}] for ${n} candidates, got ${a.k}`,
    );
  }
  if (a.rule !== "threshold" && a.rule !== "exact") {
    throw new RangeError(`Cannot ${what}: unknown rule "${a.rule}" (expected threshold or exact)`);
  }
  const gpu = batch.gpu;
  const output = a.rule === "threshold" ? 1 : 2;
  if (a.perRow || rowSpan(g, 0, g.rows) <= gpu.windowElements) {
    forEachRowBlock(gpu, g, (b) => segmentDispatch(batch, g, b, a.perRow, a.k, output, undefined));
    return;
  }
  withTemps(gpu, undefined, (temps) => {
    const sel = temps.alloc([selectOutSize(1)], "segment-prune/select", "u32");
    recordRegionSelect(batch, g, a.k, sel);
    forEachRowBlock(gpu, g, (b) => segmentDispatch(batch, g, b, false, a.k, output, sel, true));
  });
}
