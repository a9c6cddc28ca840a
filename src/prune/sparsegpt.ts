/**
 * SparseGPT (Frantar & Alistarh, 2023) on the GPU, following the reference implementation
 * (`IST-DASLab/sparsegpt`, `fasterprune`): dead inputs, damping percdamp·mean(diag H), the
 * upper factor U of the damped inverse Hessian, then per block of `blocksize` columns an
 * adaptive mask (unstructured: block-wide threshold; N:M: per group when the sweep reaches it),
 * the OBS column sweep with compensation inside the block, and the lazy update of the later
 * columns by one matmul. Everything for one matrix is recorded into one batch and read back
 * once; a failed Cholesky is retried with 10× the damping. W, H, U and the error scratch may be
 * larger than one storage binding: the kernels then work in row blocks of W and column pieces
 * of each block, with the same weights. With `fixedMask` the mask is not selected but given by
 * W's zeros (GPTQ with another method's mask, e.g. after ADMM).
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import {
  FAIL_NONE,
  recordAddDiag,
  recordFill,
  recordZeroIfFailed,
} from "../kernels/linalg_util.ts";
import { matmul } from "../kernels/matmul.ts";
import {
  recordBlockThreshold,
  recordDeadColumns,
  recordSweep,
  SPARSEGPT_MAX_BLOCK,
  SPARSEGPT_MAX_M,
  SPARSEGPT_SELECT_WORDS,
} from "../kernels/sparsegpt.ts";
import { recordQuantize } from "../kernels/quant.ts";
import { recordSparseGptFactor } from "../linalg/spd.ts";
import { Temps } from "../gpu/temps.ts";
import { checkQuantSpec, groupsPerRow, type QuantSpec } from "../quant/grid.ts";
import type { SparsityPattern } from "./types.ts";

/** Options of {@linkcode sparsegpt}. */
export interface SparseGptOptions {
  /** Columns per block (default 128, at most 256; a multiple of M for N:M patterns). */
  blocksize?: number;
  /** Damping as a fraction of mean(diag(H)) (default 0.01). */
  percdamp?: number;
  /** How many times to retry a failed factorisation with 10× the damping (default 3). */
  maxRetries?: number;
  /**
   * Quantize every kept weight as its column is swept (GPTQ-style; see src/quant/grid.ts):
   * with one grid per row it is found from W before the sweeps (as SparseGPT's `--wbits`),
   * with groups (whose size must divide the block size) from the row's current weights when
   * the sweep reaches each group (as GPTQ's `--groupsize`).
   */
  quant?: QuantSpec;
  /**
   * Keep the mask W already has instead of selecting one: the weights that are exactly 0 when
   * the call starts (and dead inputs) are the pruned ones, and no others; the pattern is not
   * applied. With `quant` this is GPTQ on the kept weights with the pruned ones held at 0 (the
   * error of both propagated, as in the sweep), e.g. after ADMM fixed the mask.
   */
  fixedMask?: boolean;
}

/** Diagnostics of one {@linkcode sparsegpt} call. */
export interface SparseGptResult {
  /** Σ over rows of the OBS loss Σ (w − q)²/U_jj²/2 (SparseGPT's reported error). */
  loss: number;
  /** The loss per output row. */
  rowLoss: Float32Array<ArrayBuffer>;
  /** The damping fraction used in the end (percdamp · 10^retries). */
  percdamp: number;
  /** The absolute damping added to the diagonal (percdamp · meanDiag). */
  damp: number;
  /** mean(diag(H)) after dead inputs were set to 1. */
  meanDiag: number;
  /** Retries needed because the factorisation failed. */
  retries: number;
  /** With `quant`: the grids, rows × groups × 2 f32 (scale, zero). */
  grid?: Float32Array<ArrayBuffer>;
  /**
   * With `quant`: kept weights that rounded to 0, Σ (w − q)² / Σ w² over the kept weights
   * (w the compensated weight just before rounding), and that Σ w².
   */
  quantStats?: { keptZeros: number; relError: number; keptNorm: number };
  /**
   * True when every attempt failed: W is then left as it was apart from zeroed dead inputs, and
   * the losses are zero.
   */
  choleskyFailed: boolean;
}

/** Scratch and outputs of one recorded SparseGPT pass (see {@linkcode recordSparseGpt}). */
export interface SparseGptRecording {
  /**
   * f32 words: [0] status (u32 bits: FAIL_NONE or the failing column of the reversed H),
   * [1] mean(diag H), [2] damping added, [3 ..] per-row loss.
   */
  info: GpuTensor;
  /**
   * With `quant`: the grids, rows × groups × 2 f32 (scale, zero), then 3 f32 per row (kept
   * weights rounded to 0, Σ (w − q)², Σ w² over kept weights).
   */
  grid?: GpuTensor;
}

interface Checked {
  rows: number;
  cols: number;
  blocksize: number;
}

function check(
  W: GpuTensor,
  H: GpuTensor,
  pattern: SparsityPattern,
  blocksize: number,
  quant?: QuantSpec,
): Checked {
  if (W.shape.length !== 2) {
    throw new TypeError(`Cannot prune W of shape [${W.shape.join(", ")}]: expected [rows, cols]`);
  }
  const [rows, cols] = W.shape;
  if (rows < 1 || cols < 1) {
    throw new TypeError(`Cannot prune W of shape [${rows}, ${cols}]: it has no weights`);
  }
  if (H.shape.length !== 2 || H.shape[0] !== cols || H.shape[1] !== cols) {
    throw new TypeError(
      `Cannot prune W [${rows}, ${cols}] with H of shape [${H.shape.join(", ")}]: ` +
        `expected [${cols}, ${cols}]`,
    );
  }
  if (W.buffer === H.buffer) throw new TypeError("Cannot prune W with an H in the same buffer");
  if (!Number.isInteger(blocksize) || blocksize < 1 || blocksize > SPARSEGPT_MAX_BLOCK) {
    throw new RangeError(
      `Invalid SparseGPT blocksize ${blocksize}: expected an integer 1 to ${SPARSEGPT_MAX_BLOCK}`,
    );
  }
  if (pattern.kind === "unstructured") {
    const s = pattern.sparsity;
    if (!(s >= 0 && s < 1)) {
      throw new RangeError(`Invalid sparsity ${s}: expected a fraction in [0, 1)`);
    }
  } else {
    const { n, m } = pattern;
    if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || n >= m || m > SPARSEGPT_MAX_M) {
      throw new RangeError(
        `Invalid N:M pattern ${n}:${m}: expected integers 0 < N < M ≤ ${SPARSEGPT_MAX_M}`,
      );
    }
    if (blocksize % m !== 0) {
      throw new RangeError(
        `Invalid SparseGPT blocksize ${blocksize} for N:M pattern ${n}:${m}: ` +
          `it must be a multiple of M`,
      );
    }
  }
  if (quant) {
    checkQuantSpec(quant);
    if (quant.groupSize > 0 && blocksize % quant.groupSize !== 0) {
      throw new RangeError(
        `Invalid quantization group size ${quant.groupSize}: it must divide the SparseGPT blocksize ` +
          `${blocksize}`,
      );
    }
  }
  return { rows, cols, blocksize };
}

/**
 * Records one SparseGPT pass over `W` (rows × cols, pruned in place) with Hessian `H`
 * (cols × cols; only its lower triangle is read; zero diagonal entries are set to 1) and damping
 * fraction `percdamp`. Nothing is awaited. When the factorisation fails (see `info`), W is not
 * changed apart from zeroed dead inputs, so the pass can be recorded again with more damping.
 * Free `temps` (which also holds `info`) after reading `info`.
 */
export function recordSparseGpt(
  gpu: Gpu,
  batch: Batch,
  W: GpuTensor,
  H: GpuTensor,
  pattern: SparsityPattern,
  opts: { blocksize?: number; percdamp: number; quant?: QuantSpec; fixedMask?: boolean },
  temps: Temps,
): SparseGptRecording {
  const { quant } = opts;
  const { rows, cols, blocksize } = check(W, H, pattern, opts.blocksize ?? 128, quant);
  const givenMask = opts.fixedMask ? temps.alloc([rows, cols], "sparsegpt/mask") : undefined;
  const info = temps.alloc([3 + rows], "sparsegpt/info");
  const status = temps.alloc([1], "sparsegpt/status", "u32");
  const scratch = temps.alloc([2], "sparsegpt/scratch");
  const U = temps.alloc([cols, cols], "sparsegpt/U");
  const err = temps.alloc([rows, 4 * blocksize], "sparsegpt/err");
  const loss = temps.alloc([rows], "sparsegpt/loss");
  const sel = temps.alloc([SPARSEGPT_SELECT_WORDS], "sparsegpt/select", "u32");

  const gridSize = quant ? rows * groupsPerRow(quant, cols) * 2 : 0;
  const grid = quant ? temps.alloc([gridSize + 3 * rows], "sparsegpt/grid") : undefined;
  if (grid) recordFill(batch, grid, { rows: 1, cols: 3 * rows, offset: gridSize }, 0);
  // One grid per row: from W as given, before dead inputs are zeroed (as the reference).
  if (quant && grid && quant.groupSize === 0) recordQuantize(batch, W, grid, quant, false);
  recordDeadColumns(batch, W, H, rows, cols);
  if (givenMask) batch.copy(W.buffer, 0, givenMask.buffer, 0, rows * cols * 4);
  recordAddDiag(batch, H, cols, scratch, { fixZero: true });
  recordSparseGptFactor(gpu, batch, H, U, status, {
    percdamp: opts.percdamp,
    stats: info,
    statsIndex: 1,
    temps,
  });
  recordZeroIfFailed(batch, U, cols * cols, status);
  recordFill(batch, loss, { rows: 1, cols: rows }, 0);
  recordFill(batch, sel, { rows: 1, cols: SPARSEGPT_SELECT_WORDS }, 0, 0, true);
  const q = quant && grid ? { spec: quant, grid } : undefined;
  recordColumnSweeps(batch, W, pattern, blocksize, {
    U,
    err,
    loss,
    sel,
    status,
    quant: q,
    ...(givenMask ? { givenMask } : {}),
  });
  batch.copy(status.buffer, 0, info.buffer, 0, 4);
  batch.copy(loss.buffer, 0, info.buffer, 12, rows * 4);
  return { info, grid };
}

/** The tensors of {@linkcode recordColumnSweeps}. */
export interface ColumnSweepTensors {
  /** The upper factor U of the damped inverse Hessian (cols × cols). */
  U: GpuTensor;
  /** Scratch for the errors of an outer block: rows × 4·blocksize. */
  err: GpuTensor;
  /** Per-row loss (rows f32), added to. */
  loss: GpuTensor;
  /** Radix-select state: {@linkcode SPARSEGPT_SELECT_WORDS} u32 words, histogram zeroed. */
  sel: GpuTensor;
  /** Factor status (u32 word 0): unless it is FAIL_NONE the sweeps leave W unchanged. */
  status: GpuTensor;
  /** Joint quantization: the spec and the grids (see `SweepBuffers` in src/kernels/sparsegpt.ts). */
  quant?: { spec: QuantSpec; grid: GpuTensor };
  /** A given mask (its exact zeros, rows × cols) in place of the pattern's selection. */
  givenMask?: GpuTensor;
}

/**
 * Records SparseGPT's column sweeps over `W` (rows × cols, pruned in place) given the factor
 * U: per block of `blocksize` columns the adaptive mask and the OBS sweep, with lazy updates of
 * the later columns. W, U and Err may be larger than one binding: the kernels split their work.
 */
export function recordColumnSweeps(
  batch: Batch,
  W: GpuTensor,
  pattern: SparsityPattern,
  blocksize: number,
  t: ColumnSweepTensors,
): void {
  const [rows, cols] = W.shape;
  const { U, err, loss, sel, status, quant, givenMask } = t;
  // Lazy updates on two levels: each block updates the rest of its outer block of 4 blocks,
  // and each outer block updates the columns after it once (rank 4·blocksize), which on CPU
  // adapters costs about a quarter of updating all later columns after every block.
  const outer = 4 * blocksize;
  const lazy = (i1: number, i2: number, o0: number, end: number) => {
    if (i2 >= end) return;
    // W[:, i2:end] -= Err[:, i1:i2] · U[i1:i2, i2:end]
    matmul(batch, {
      a: err,
      b: U,
      c: W,
      M: rows,
      N: end - i2,
      K: i2 - i1,
      lda: outer,
      ldb: cols,
      ldc: cols,
      offA: i1 - o0,
      offB: i1 * cols + i2,
      offC: i2,
      alpha: -1,
      beta: 1,
    });
  };
  for (let o0 = 0; o0 < cols; o0 += outer) {
    const o1 = Math.min(o0 + outer, cols);
    for (let i1 = o0; i1 < o1; i1 += blocksize) {
      const i2 = Math.min(i1 + blocksize, o1);
      const blk = { rows, cols, i1, count: i2 - i1 };
      const bufs = {
        sel,
        err,
        loss,
        status,
        statusIndex: 0,
        ldErr: outer,
        errOffset: i1 - o0,
        quant,
        ...(givenMask ? { givenMask } : {}),
      };
      if (givenMask) {
        recordSweep(batch, W, U, bufs, blk);
      } else if (pattern.kind === "unstructured") {
        const numel = rows * blk.count;
        const k = Math.min(Math.floor(numel * pattern.sparsity), numel - 1);
        recordBlockThreshold(batch, W, U, sel, blk, k);
        recordSweep(batch, W, U, bufs, blk);
      } else {
        recordSweep(batch, W, U, bufs, blk, { n: pattern.n, m: pattern.m });
      }
      lazy(i1, i2, o0, o1);
    }
    lazy(o0, o1, o0, cols);
  }
}

/**
 * Prunes `W` (rows × cols, f32, in place) with SparseGPT using the Hessian `H` (cols × cols,
 * `(2/nseq)·Σ x·xᵀ` as accumulated by `HessianAccumulator`; only its lower triangle is read,
 * and zero diagonal entries are set to 1 in place). The pattern is unstructured (an adaptive
 * threshold per block of `blocksize` columns: every score ≤ the sorted block score at index
 * floor(numel·sparsity) is pruned, as in the reference, so sparsity 0 still prunes each block's
 * smallest score) or N:M (N zeros in every group of M consecutive inputs per row).
 * Dispatches are recorded into `batch` (after whatever it already holds) or a new batch, which
 * is submitted; one readback per attempt. A failed factorisation is retried with 10× the
 * damping up to `maxRetries` times; W never receives NaN or Inf from the method.
 */
export async function sparsegpt(
  gpu: Gpu,
  batch: Batch | undefined,
  W: GpuTensor,
  H: GpuTensor,
  pattern: SparsityPattern,
  opts: SparseGptOptions = {},
): Promise<SparseGptResult> {
  const rows = check(W, H, pattern, opts.blocksize ?? 128, opts.quant).rows;
  const maxRetries = opts.maxRetries ?? 3;
  let percdamp = opts.percdamp ?? 0.01;
  if (!(percdamp >= 0) || !Number.isFinite(percdamp)) {
    throw new RangeError(`Invalid percdamp ${percdamp}: expected a finite number ≥ 0`);
  }
  let b = batch ?? gpu.batch("sparsegpt");
  for (let attempt = 0;; attempt++) {
    const temps = new Temps(gpu);
    try {
      const { info, grid } = recordSparseGpt(gpu, b, W, H, pattern, {
        blocksize: opts.blocksize,
        percdamp,
        quant: opts.quant,
        fixedMask: opts.fixedMask,
      }, temps);
      b.submit();
      const bytes = await gpu.readBytes(info.buffer, 0, (3 + rows) * 4);
      const gridAll = grid ? await gpu.read(grid) : undefined;
      const word = new Uint32Array(bytes, 0, 1)[0];
      const f = new Float32Array(bytes);
      const failed = word !== FAIL_NONE;
      if (!failed || attempt >= maxRetries) {
        const rowLoss = new Float32Array(bytes, 12, rows);
        let loss = 0;
        for (const v of rowLoss) loss += v;
        return {
          loss,
          rowLoss,
          percdamp,
          damp: f[2],
          meanDiag: f[1],
          retries: attempt,
          choleskyFailed: failed,
          ...(gridAll ? quantOutcome(gridAll, rows) : {}),
        };
      }
    } finally {
      temps.free();
    }
    percdamp = percdamp > 0 ? percdamp * 10 : 0.01;
    b = gpu.batch("sparsegpt-retry");
  }
}

/** The grids and rounding statistics of a read-back grid tensor (see `SparseGptRecording`). */
function quantOutcome(
  all: Float32Array<ArrayBuffer>,
  rows: number,
): Pick<SparseGptResult, "grid" | "quantStats"> {
  const n = all.length - 3 * rows;
  let keptZeros = 0, err = 0, norm = 0;
  for (let r = 0; r < rows; r++) {
    keptZeros += all[n + 3 * r];
    err += all[n + 3 * r + 1];
    norm += all[n + 3 * r + 2];
  }
  return {
    grid: all.slice(0, n),
    quantStats: { keptZeros, relError: norm > 0 ? err / norm : 0, keptNorm: norm },
  };
}
