/**
 * Symmetric positive definite inverses through Cholesky (A⁻¹ = L⁻ᵀ·L⁻¹), diagonal damping
 * helpers, and SparseGPT's upper factor of the inverse Hessian, all recorded into a batch.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import {
  FAIL_NONE,
  recordAddDiag,
  recordCheckFinite,
  recordReverse,
  recordTriFix,
} from "../kernels/linalg_util.ts";
import { matmul } from "../kernels/matmul.ts";
import { recordCholesky } from "./cholesky.ts";
import { Temps, withTemps } from "../gpu/temps.ts";
import { squareOrder } from "./square.ts";
import { recordInvertLower } from "./triangular.ts";

/**
 * Records `A += c·I` for the n×n matrix `a`. `stats` (≥ 2 f32, optional) receives
 * `[mean(diag) before, c]` at `statsIndex`.
 */
export function recordAddIdentity(
  gpu: Gpu,
  batch: Batch,
  a: GpuTensor,
  c: number,
  stats?: GpuTensor,
  statsIndex = 0,
): void {
  const n = squareOrder(a, "the matrix to damp");
  withTemps(gpu, undefined, (temps) => {
    const s = stats ?? temps.alloc([2], "damp/stats");
    recordAddDiag(batch, a, n, s, { c, statsIndex: stats ? statsIndex : 0 });
  });
}

/**
 * Records `A += percent·mean(diag(A))·I` for the n×n matrix `a` (SparseGPT's damping with
 * percent = percdamp, e.g. 0.01). `stats` (≥ 2 f32, optional) receives `[mean(diag), added]`.
 */
export function recordAddMeanDiag(
  gpu: Gpu,
  batch: Batch,
  a: GpuTensor,
  percent: number,
  stats?: GpuTensor,
  statsIndex = 0,
): void {
  const n = squareOrder(a, "the matrix to damp");
  withTemps(gpu, undefined, (temps) => {
    const s = stats ?? temps.alloc([2], "damp/stats");
    recordAddDiag(batch, a, n, s, { percent, statsIndex: stats ? statsIndex : 0 });
  });
}

/** Options of {@linkcode recordSpdInverse}. */
export interface SpdInverseOptions {
  /** Element index of the status word (default 0). */
  statusIndex?: number;
  /** Rows per product strip (default 64). */
  strip?: number;
  /** Scratch owner; see {@linkcode Temps}. */
  temps?: Temps;
}

/**
 * Records `out = A⁻¹` for a symmetric positive definite n×n `a` (lower triangle read) via
 * L = chol(A), Li = L⁻¹ and A⁻¹ = Liᵀ·Li (lower triangle in row strips that skip the zeros of
 * Li, then mirrored). `out` may be `a`. `status[statusIndex]` reports the Cholesky as in
 * {@linkcode recordCholesky}. The caller adds any damping first.
 */
export function recordSpdInverse(
  gpu: Gpu,
  batch: Batch,
  a: GpuTensor,
  out: GpuTensor,
  status: GpuTensor,
  opts: SpdInverseOptions = {},
): void {
  const n = squareOrder(a, "the matrix to invert");
  if (squareOrder(out, "the inverse") !== n) {
    throw new TypeError(`Cannot write the inverse of order ${n} into order ${out.shape[0]}`);
  }
  const strip = opts.strip ?? 64;
  withTemps(gpu, opts.temps, (temps) => {
    const l = temps.alloc([n, n], "spdinv/L");
    const li = temps.alloc([n, n], "spdinv/Linv");
    recordCholesky(gpu, batch, a, status, { out: l, temps, statusIndex: opts.statusIndex });
    recordInvertLower(gpu, batch, l, li, { temps });
    for (let i0 = 0; i0 < n; i0 += strip) {
      const s = Math.min(strip, n - i0);
      matmul(batch, {
        a: li,
        b: li,
        c: out,
        M: s,
        N: i0 + s,
        K: n - i0,
        transA: true,
        lda: n,
        ldb: n,
        ldc: n,
        offA: i0 * n + i0,
        offB: i0 * n,
        offC: i0 * n,
      });
    }
    recordTriFix(batch, out, n, "mirror-lower");
  });
}

/** Result of {@linkcode spdInverse}. */
export interface SpdInverseResult {
  /** A⁻¹, row-major n×n. */
  inverse: Float32Array<ArrayBuffer>;
  /** First column of A whose Cholesky pivot failed, or −1. */
  failedColumn: number;
}

/** Inverts the SPD matrix `a` (GPU tensor, left unchanged), reading result and status at once. */
export async function spdInverse(gpu: Gpu, a: GpuTensor): Promise<SpdInverseResult> {
  const n = squareOrder(a, "the matrix to invert");
  const temps = new Temps(gpu);
  try {
    const res = temps.alloc([n * n + 1], "spdinv/result");
    const out = temps.alloc([n, n], "spdinv/out");
    const status = temps.alloc([1], "spdinv/status", "u32");
    const batch = gpu.batch("spd-inverse");
    recordSpdInverse(gpu, batch, a, out, status, { temps });
    batch.copy(out.buffer, 0, res.buffer, 0, n * n * 4);
    batch.copy(status.buffer, 0, res.buffer, n * n * 4, 4);
    batch.submit();
    const bytes = await gpu.readBytes(res.buffer, 0, (n * n + 1) * 4);
    const word = new Uint32Array(bytes, n * n * 4, 1)[0];
    return {
      inverse: new Float32Array(bytes, 0, n * n),
      failedColumn: word === FAIL_NONE ? -1 : word,
    };
  } finally {
    temps.free();
  }
}

/** Options of {@linkcode recordSparseGptFactor}. */
export interface SparseGptFactorOptions {
  /** Damping as a fraction of mean(diag(H)) added before factoring (default 0.01). */
  percdamp?: number;
  /** Receives `[mean(diag(H)), damping added]` (f32) at `statsIndex`. */
  stats?: GpuTensor;
  /** Element index into `stats` (default 0). */
  statsIndex?: number;
  /** Element index of the status word (default 0). */
  statusIndex?: number;
  /** Scratch owner; see {@linkcode Temps}. */
  temps?: Temps;
}

/**
 * Records SparseGPT's factor: the upper-triangular `u` with `(H + percdamp·mean(diag H)·I)⁻¹ =
 * UᵀU`, for a symmetric n×n `h` of which only the lower triangle is read (h is not modified).
 * Computed as U = J·chol(J·H·J)⁻¹·J (J the index reversal: one Cholesky and one triangular
 * inverse), the same matrix as chol(H⁻¹, upper). `status[statusIndex]` receives the first
 * failing pivot column of J·H·J (column n−1−j of H) or, if the factor has a non-finite entry,
 * that entry's column; it stays {@linkcode FAIL_NONE} on success.
 */
export function recordSparseGptFactor(
  gpu: Gpu,
  batch: Batch,
  h: GpuTensor,
  u: GpuTensor,
  status: GpuTensor,
  opts: SparseGptFactorOptions = {},
): void {
  const n = squareOrder(h, "the Hessian");
  if (squareOrder(u, "the factor") !== n || u.buffer === h.buffer) {
    throw new TypeError(
      `Cannot write the SparseGPT factor of order ${n} into [${u.shape.join(", ")}]: ` +
        `expected a separate [${n}, ${n}] tensor`,
    );
  }
  const statusIndex = opts.statusIndex ?? 0;
  withTemps(gpu, opts.temps, (temps) => {
    const stats = opts.stats ?? temps.alloc([2], "sgpt-factor/stats");
    recordReverse(batch, h, u, n, true);
    recordAddDiag(batch, u, n, stats, {
      percent: opts.percdamp ?? 0.01,
      statsIndex: opts.stats ? (opts.statsIndex ?? 0) : 0,
    });
    recordCholesky(gpu, batch, u, status, { statusIndex, temps });
    const x = temps.alloc([n, n], "sgpt-factor/Linv");
    recordInvertLower(gpu, batch, u, x, { temps });
    recordReverse(batch, x, u, n, false);
    recordCheckFinite(batch, u, { rows: n, cols: n }, status, statusIndex);
  });
}
