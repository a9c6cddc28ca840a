/**
 * Typed wrappers for the SparseGPT kernels of `kernels/sparsegpt.wgsl`: dead-input zeroing,
 * a three-pass radix select of the block threshold, and the per-row OBS column sweep. The
 * driver is `src/prune/sparsegpt.ts`.
 *
 * W, H, U and Err may be larger than one storage binding ({@linkcode Gpu.bindingLimit}): each
 * wrapper then splits its work into row blocks of W (and Err) and column pieces of the block,
 * and binds the windows of the tensors that each part touches. When everything fits, each
 * records the same dispatches as without splitting.
 *
 * @module
 */

import type { Batch, BufferWindow, Gpu } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { fittingRanges, forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { SPARSEGPT_SELECT_BINS } from "./constants.ts";
import type { QuantSpec } from "../quant/grid.ts";
import { SPARSEGPT_WGSL } from "./sparsegpt.wgsl.ts";

export { SPARSEGPT_MAX_BLOCK, SPARSEGPT_MAX_M } from "./constants.ts";

/** u32 words of the radix-select state tensor: prefix, remaining k, 2048 histogram bins. */
export const SPARSEGPT_SELECT_WORDS: number = 2 + SPARSEGPT_SELECT_BINS;

const DEAD_PARAMS = uniformStruct("DeadParams", {
  rows: "u32",
  cols: "u32",
  ldw: "u32",
  wOff: "u32",
  ldh: "u32",
  hOff: "u32",
});
const HIST_PARAMS = uniformStruct("HistParams", {
  rows: "u32",
  count: "u32",
  ldw: "u32",
  ldu: "u32",
  wOff: "u32",
  uOff: "u32",
  shift: "u32",
  width: "u32",
  usePrefix: "u32",
  perWg: "u32",
});
const SEL_PARAMS = uniformStruct("SelParams", {
  shift: "u32",
  width: "u32",
  first: "u32",
  k0: "u32",
});
const SWEEP_PARAMS = uniformStruct("SweepParams", {
  rows: "u32",
  count: "u32",
  ldw: "u32",
  ldu: "u32",
  ldErr: "u32",
  n: "u32",
  m: "u32",
  statusOff: "u32",
  wOff: "u32",
  uOff: "u32",
  errOff: "u32",
  lossOff: "u32",
  ja: "u32",
  jb: "u32",
  marked: "u32",
  qOff: "u32",
  qLd: "u32",
  qCol: "u32",
  qStat: "u32",
});

/** The uniform layouts of `kernels/sparsegpt.wgsl`. */
export const SPARSEGPT_UNIFORMS: readonly UniformStruct[] = [
  DEAD_PARAMS,
  HIST_PARAMS,
  SEL_PARAMS,
  SWEEP_PARAMS,
];

const DEAD: Kernel = {
  name: "sparsegpt",
  source: SPARSEGPT_WGSL,
  entryPoint: "dead_cols",
  bindings: ["storage", "read", "uniform"],
};
const HIST: Kernel = {
  name: "sparsegpt",
  source: SPARSEGPT_WGSL,
  entryPoint: "radix_hist",
  bindings: ["read", "read", "storage", "uniform"],
};
const SELECT: Kernel = {
  name: "sparsegpt",
  source: SPARSEGPT_WGSL,
  entryPoint: "radix_select",
  bindings: ["storage", "uniform"],
};

function sweepKernel(nm: boolean, wg: number, quant?: QuantSpec): Kernel {
  const q: Record<string, number> = quant
    ? { WBITS: quant.bits, QGROUP: quant.groupSize, QSYM: +quant.sym }
    : {};
  return {
    name: "sparsegpt",
    source: SPARSEGPT_WGSL,
    entryPoint: "sweep",
    bindings: ["storage", "read", "read", "storage", "storage", "read", "uniform", "storage"],
    constants: { NM: nm ? 1 : 0, WG: wg, ...q },
  };
}

/** A 16-byte storage buffer per device, bound as the grid of sweeps without quantization. */
function noGrid(gpu: Gpu): GPUBuffer {
  return gpu.cached(
    "sparsegpt/no-grid",
    () => gpu.device.createBuffer({ label: "sparsegpt/no-grid", size: 16, usage: 0x80 }),
    (b) => b.destroy(),
  );
}

const MARK: Kernel = {
  name: "sparsegpt",
  source: SPARSEGPT_WGSL,
  entryPoint: "mark",
  bindings: ["storage", "read", "read", "storage", "storage", "read", "uniform"],
  constants: { WG: 64 },
};

/**
 * Records `W[:, j] = 0` for every column j with `H[j, j] == 0` (W rows×cols, H cols×cols), in
 * column blocks whose diagonal of H fits one binding and row blocks of W.
 */
export function recordDeadColumns(
  batch: Batch,
  w: GpuTensor,
  h: GpuTensor,
  rows: number,
  cols: number,
): void {
  const gpu = batch.gpu;
  const diagSpan = (ca: number, cb: number) => (cb - ca - 1) * (cols + 1) + 1;
  forEachFitting(gpu, 0, cols, diagSpan, (ca, cb) => {
    const hWin = gpu.window(h, ca * (cols + 1), ca * (cols + 1) + diagSpan(ca, cb));
    const wSpan = (ra: number, rb: number) => (rb - ra - 1) * cols + cb - ca;
    forEachFitting(gpu, 0, rows, wSpan, (ra, rb) => {
      const lo = ra * cols + ca;
      const wWin = gpu.window(w, lo, lo + wSpan(ra, rb));
      const u = DEAD_PARAMS.pack({
        rows: rb - ra,
        cols: cb - ca,
        ldw: cols,
        wOff: lo - wWin.base,
        ldh: cols,
        hOff: ca * (cols + 1) - hWin.base,
      });
      batch.dispatch(DEAD, [wWin, hWin], u, [Math.ceil(((rb - ra) * (cb - ca)) / 256)]);
    });
  });
}

/** The block of columns a SparseGPT step works on. */
export interface SparseGptBlock {
  /** Rows of W. */
  rows: number;
  /** Columns of W (= order and leading dimension of U). */
  cols: number;
  /** First column of the block. */
  i1: number;
  /** Columns in the block. */
  count: number;
}

/** How one block's work is split so that every binding fits: see {@linkcode splitBlock}. */
interface BlockSplit {
  /** Row blocks `[ra, rb)` of W (and Err). */
  rowBlocks: [number, number][];
  /** Column pieces `[ja, jb)` of the block (relative to i1), each a multiple of `unit` wide. */
  pieces: [number, number][];
}

/**
 * Splits a block into row blocks, whose rows of W and Err (leading dimension `ldErr`) fit one
 * window, and column pieces `[ja, jb)` (whole groups of `unit` columns), whose rows
 * `i1 + ja .. i1 + jb` of U from column `i1 + ja` to the block end fit one window.
 */
function splitBlock(gpu: Gpu, blk: SparseGptBlock, ldErr: number, unit: number): BlockSplit {
  const { cols, count } = blk;
  const rowSpan = (ra: number, rb: number) => (rb - ra - 1) * Math.max(cols, ldErr) + count;
  const uSpan = (ja: number, jb: number) => (jb - ja - 1) * cols + count - ja;
  const units = fittingRanges(
    gpu,
    0,
    Math.ceil(count / unit),
    (a, b) => uSpan(a * unit, Math.min(count, b * unit)),
  );
  return {
    rowBlocks: fittingRanges(gpu, 0, blk.rows, rowSpan),
    pieces: units.map(([a, b]) => [a * unit, Math.min(count, b * unit)]),
  };
}

/** The window of U rows `i1 + ja .. i1 + jb` from column `i1 + ja` to the end of the block. */
function uPiece(
  gpu: Gpu,
  u: GpuTensor,
  blk: SparseGptBlock,
  ja: number,
  jb: number,
): BufferWindow {
  const { cols, i1 } = blk;
  return gpu.window(u, (i1 + ja) * (cols + 1), (i1 + jb - 1) * cols + i1 + blk.count);
}

/** The window of W rows `[ra, rb)`, block columns only. */
function wRows(
  gpu: Gpu,
  w: GpuTensor,
  blk: SparseGptBlock,
  ra: number,
  rb: number,
): BufferWindow {
  const lo = ra * blk.cols + blk.i1;
  return gpu.window(w, lo, (rb - 1) * blk.cols + blk.i1 + blk.count);
}

const PASSES: readonly { shift: number; width: number }[] = [
  { shift: 21, width: 11 },
  { shift: 10, width: 11 },
  { shift: 0, width: 10 },
];

/**
 * Records the radix select of the `k`-th smallest (0-based) block score `W[r, c]²/U[c, c]²`
 * over the rows × count block: afterwards `sel[0]` holds its f32 bit pattern. `sel` is a u32
 * tensor of {@linkcode SPARSEGPT_SELECT_WORDS} words whose histogram part must be zero before
 * the first select (each select leaves it zeroed). When W or U exceed one binding, every pass
 * adds up the histograms of the parts (row block × column piece) before it selects.
 */
export function recordBlockThreshold(
  batch: Batch,
  w: GpuTensor,
  u: GpuTensor,
  sel: GpuTensor,
  blk: SparseGptBlock,
  k: number,
): void {
  const gpu = batch.gpu;
  const { rowBlocks, pieces } = splitBlock(gpu, blk, 0, 1);
  PASSES.forEach(({ shift, width }, pass) => {
    for (const [ja, jb] of pieces) {
      const uWin = uPiece(gpu, u, blk, ja, jb);
      const uOff = (blk.i1 + ja) * (blk.cols + 1) - uWin.base;
      for (const [ra, rb] of rowBlocks) {
        const wWin = wRows(gpu, w, blk, ra, rb);
        const numel = (rb - ra) * (jb - ja);
        const perWg = Math.max(4096, Math.ceil(numel / 64));
        const hu = HIST_PARAMS.pack({
          rows: rb - ra,
          count: jb - ja,
          ldw: blk.cols,
          ldu: blk.cols,
          wOff: ra * blk.cols + blk.i1 + ja - wWin.base,
          uOff,
          shift,
          width,
          usePrefix: pass > 0 ? 1 : 0,
          perWg,
        });
        batch.dispatch(HIST, [wWin, uWin, sel], hu, [Math.ceil(numel / perWg)]);
      }
    }
    const su = SEL_PARAMS.pack({ shift, width, first: pass === 0 ? 1 : 0, k0: k });
    batch.dispatch(SELECT, [sel], su, [1]);
  });
}

/** What the sweep needs besides W and U. */
export interface SweepBuffers {
  /** Radix-select state (threshold bits in word 0), unstructured mode only. */
  sel: GpuTensor;
  /** Err1 output, rows × ldErr. */
  err: GpuTensor;
  /** Per-row loss accumulator (rows f32). */
  loss: GpuTensor;
  /** Factor status (u32); the sweep does nothing but zero Err when it is not FAIL_NONE. */
  status: GpuTensor;
  /** Element index of the status word. */
  statusIndex: number;
  /** Leading dimension of `err`. */
  ldErr: number;
  /** Column of `err` that receives the block's first column (default 0). */
  errOffset?: number;
  /**
   * Joint quantization (GPTQ-style): the spec and the grids, rows × groups × 2 f32 (scale,
   * zero), followed by 3 f32 per row that the sweep adds to (kept weights rounded to 0,
   * Σ (w − q)² and Σ w² over kept weights; zero them first). With `spec.groupSize` 0 the grids
   * must hold each row's grid before the sweep; with a group size (a divisor of the block
   * size) the sweep finds and writes each group's grid when it reaches the group.
   */
  quant?: { spec: QuantSpec; grid: GpuTensor };
  /**
   * A given mask instead of a selected one (unstructured sweeps only): a rows × cols tensor
   * whose exact zeros are the pruned weights (e.g. a copy of W as ADMM pruned it). The sweep
   * then only compensates (and quantizes) with that mask fixed.
   */
  givenMask?: GpuTensor;
}

/**
 * Records the OBS column sweep of one block: per row, prune (unstructured: score ≤ threshold
 * from `sel`; N:M when `nm` is given: the `nm.n` smallest scores of each group of `nm.m`),
 * compensate the later columns of the block, write Err1 and add the row's loss. When W, Err or
 * the block's rows of U exceed one binding, the sweep runs per row block and per column piece
 * (whole N:M groups), which gives the same weights; the unstructured mask is then marked from
 * the block-start weights before the first piece. A given mask (`bufs.givenMask`) is always
 * marked first, from the zeros of that tensor.
 */
export function recordSweep(
  batch: Batch,
  w: GpuTensor,
  u: GpuTensor,
  bufs: SweepBuffers,
  blk: SparseGptBlock,
  nm?: { n: number; m: number },
): void {
  const gpu = batch.gpu;
  const wg = blk.rows >= 512 ? 64 : 16;
  const errOffset = bufs.errOffset ?? 0;
  const { rowBlocks, pieces } = splitBlock(gpu, blk, bufs.ldErr, nm?.m ?? 1);
  const given = bufs.givenMask;
  if (given && (nm !== undefined || given.shape[0] !== blk.rows || given.shape[1] !== blk.cols)) {
    throw new TypeError(
      `Cannot sweep with a given mask of shape [${given.shape.join(", ")}]: expected an ` +
        `unstructured sweep over W [${blk.rows}, ${blk.cols}]`,
    );
  }
  const marked = nm === undefined && (pieces.length > 1 || given !== undefined);
  const quant = bufs.quant?.spec;
  const qLd = quant ? 2 * (quant.groupSize > 0 ? Math.ceil(blk.cols / quant.groupSize) : 1) : 0;
  if (quant && quant.groupSize > 0 && blk.i1 % quant.groupSize !== 0) {
    throw new RangeError(
      `Cannot quantize in the SparseGPT sweep: block start ${blk.i1} is not a multiple of ` +
        `the quantization group size ${quant.groupSize}`,
    );
  }
  const record = (kernel: Kernel, groupSize: number) => {
    for (const [ja, jb] of pieces) {
      const uWin = uPiece(gpu, u, blk, ja, jb);
      for (const [ra, rb] of rowBlocks) {
        // the mark pass of a given mask reads the mask tensor in place of W
        const wSrc = kernel === MARK && given ? given : w;
        const wWin = wRows(gpu, wSrc, blk, ra, rb);
        const errLo = ra * bufs.ldErr + errOffset;
        const errWin = gpu.window(bufs.err, errLo, (rb - 1) * bufs.ldErr + errOffset + blk.count);
        const uni = SWEEP_PARAMS.pack({
          rows: rb - ra,
          count: blk.count,
          ldw: blk.cols,
          ldu: blk.cols,
          ldErr: bufs.ldErr,
          n: nm?.n ?? 0,
          m: nm?.m ?? 1,
          statusOff: bufs.statusIndex,
          wOff: ra * blk.cols + blk.i1 - wWin.base,
          uOff: blk.i1 * (blk.cols + 1) - uWin.base,
          errOff: errLo - errWin.base,
          lossOff: ra,
          ja,
          jb,
          marked: !marked ? 0 : kernel === MARK && given ? 2 : 1,
          qOff: ra * qLd,
          qLd,
          qCol: blk.i1,
          qStat: blk.rows * qLd + 3 * ra,
        });
        const buffers = [wWin, uWin, bufs.sel, errWin, bufs.loss, bufs.status];
        batch.dispatch(
          kernel,
          kernel === MARK ? buffers : [...buffers, bufs.quant?.grid ?? noGrid(gpu)],
          uni,
          [Math.ceil((rb - ra) / groupSize)],
        );
      }
    }
  };
  if (marked) record(MARK, 64);
  record(sweepKernel(nm !== undefined, wg, quant), wg);
}
