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
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { SELECT_REGION_WGSL } from "./select_region.wgsl.ts";
import { SELECT_SEGMENT_WGSL } from "./select_segment.wgsl.ts";

/**
 * How a score is computed from weight `w` in column `c` of a region:
 * - `magnitude`: `|w|`
 * - `wanda`: `|w|·sqrt(colVec[c])`, colVec = mean squared input-column norms (Wanda's `s_j`)
 * - `sparsegpt`: `w² / colVec[c]²`, colVec = the diagonal of SparseGPT's inverse-Hessian factor
 *   for the region's columns
 *
 * Column `c` reads `colVec[colVecOffset + c]`.
 */
export type ScoreMode = "magnitude" | "wanda" | "sparsegpt";

/** The `MODE` override value of each {@linkcode ScoreMode}. */
export const SCORE_MODE_ID: Readonly<Record<ScoreMode, number>> = {
  magnitude: 0,
  wanda: 1,
  sparsegpt: 2,
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
  /** Per-column vector for `wanda` and `sparsegpt` scores (required by those modes). */
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
      `Cannot ${what}: unknown score mode "${mode}" (expected magnitude, wanda or sparsegpt)`,
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

function segmentKernel(mode: ScoreMode, output: SegmentOutput, wg: number): Kernel {
  return {
    name: "select-segment",
    source: SELECT_SEGMENT_WGSL,
    bindings: ["storage", "storage", "storage", "uniform"],
    constants: { MODE: SCORE_MODE_ID[mode], OUTPUT: output, WG: wg },
  };
}

function segmentDispatch(
  batch: Batch,
  g: ResolvedRegion,
  perRow: boolean,
  k: number,
  output: SegmentOutput,
  out: GpuTensor,
): void {
  const segRows = perRow ? 1 : g.rows;
  const nseg = perRow ? g.rows : 1;
  const n = segRows * g.cols;
  const wg = n <= 2048 ? 64 : 256;
  const u = new Uniforms()
    .u32(segRows, g.cols, g.ld, g.offset)
    .u32(perRow ? g.ld : 0, nseg, k, g.colVecOffset);
  // `out` is untouched unless output is 0; `w` may stand in for it and for colVec
  batch.dispatch(segmentKernel(g.mode, output, wg), [g.w, g.colVec, out], u.bytes(), [nseg]);
}

/**
 * Records an exact selection of the `k`-th smallest score (0-based) of a weight region, or of
 * each of its rows (`perRow`), into `batch`. Read `out` back (or bind it in a later kernel) after
 * the batch is submitted; see {@linkcode SelectArgs.out} for the layout.
 *
 * Region mode records 9 dispatches (an init, then a histogram and a scan per 8-bit digit) that
 * spread the region over up to 1024 workgroups; per-row mode records one dispatch with one
 * workgroup per row. Scores equal as f32 bit patterns are ties (`-0` equals `+0`).
 *
 * For SparseGPT's adaptive block mask (score `W1²/diag(U1)²` over the `rows × B` block starting
 * at column `i1` of a `rows × cols` weight whose `diag(U)` is in `d`):
 *
 * ```ts ignore
 * selectKth(batch, {
 *   w: W, rows, cols: B, ld: cols, offset: i1, mode: "sparsegpt",
 *   colVec: d, colVecOffset: i1, k: Math.floor(rows * B * sparsity), out: sel, // sel: 258 u32
 * });
 * thresholdMask(batch, { w: W, rows, cols: B, ld: cols, offset: i1, mode: "sparsegpt",
 *   colVec: d, colVecOffset: i1, sel, mask }); // mask[r*B + c] = score <= thr
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
    segmentDispatch(batch, g, true, a.k, 0, a.out);
    return;
  }
  const groups = Math.min(REGION_MAX_GROUPS, Math.ceil(n / REGION_CHUNK));
  const chunk = Math.ceil(n / groups);
  const uni = (pass: number): Uint32Array<ArrayBuffer> =>
    new Uniforms()
      .u32(g.rows, g.cols, g.ld, g.offset)
      .u32(a.k, g.colVecOffset, pass, chunk)
      .u32(groups, 0, 0, 0)
      .bytes();
  const bufs = [g.w, g.colVec, a.out];
  batch.dispatch(regionKernel("init", g.mode), bufs, uni(0), [1]);
  for (let pass = 0; pass < 4; pass++) {
    const u = uni(pass);
    batch.dispatch(regionKernel("histogram", g.mode), bufs, u, [groups]);
    batch.dispatch(regionKernel("scan", g.mode), bufs, u, [1]);
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
 * (see {@linkcode SegmentPruneArgs.rule}). Needs no scratch memory. A single-segment region runs
 * on one workgroup; for large regions {@linkcode selectKth} plus a threshold mask spreads the
 * work over many.
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
  segmentDispatch(batch, g, a.perRow, a.k, a.rule === "threshold" ? 1 : 2, g.w);
}
