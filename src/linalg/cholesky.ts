/**
 * Blocked right-looking Cholesky factorisation A = L·Lᵀ on the GPU (f32), recorded into a
 * batch, on two levels. Within an outer panel of 256 columns, per inner panel of up to 64
 * columns: one matmul applies the panel's earlier columns to it (left-looking), one workgroup
 * factors the diagonal block and inverts it, and a matmul forms the rows below
 * (A_panel·L_kk⁻ᵀ) that a copy stores. Then the trailing lower triangle gets one rank-256 update
 * from a few batched matmuls (alpha = −1, beta = 1): on CPU adapters a rank-k update costs
 * mostly the reading and writing of C, so one rank-256 update is about four times cheaper than
 * four rank-64 updates.
 *
 * Matrices larger than one binding ({@linkcode Gpu.bindingLimit}) need nothing special: every
 * kernel binds windows of the rows it touches, and a diagonal block whose rows exceed one
 * binding (only under a lowered limit) is factored in a scratch copy.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import {
  CHOLESKY_DKK_SIZE,
  CHOLESKY_MAX_PANEL,
  recordFactorDiag,
  recordPanelStore,
} from "../kernels/cholesky.ts";
import { matmul } from "../kernels/matmul.ts";
import { FAIL_NONE, recordResetStatus, recordTriFix } from "../kernels/linalg_util.ts";
import { recordLowerProduct } from "./lower_product.ts";
import { squareOrder, Temps, withTemps } from "./temps.ts";

/** Columns per outer panel (a multiple of the inner panel width). */
const OUTER_PANEL = 256;

/** Options of {@linkcode recordCholesky}. */
export interface CholeskyOptions {
  /** Write L here (n×n) instead of factoring `a` in place; `a` is then only read. */
  out?: GpuTensor;
  /** Element index of the status word in `status` (default 0). */
  statusIndex?: number;
  /** Panel width, 1 to 64 (default 64). */
  panel?: number;
  /** Scratch owner; see {@linkcode Temps}. */
  temps?: Temps;
}

/**
 * Records the Cholesky factorisation of the symmetric positive definite n×n matrix `a` (only
 * its lower triangle is read). The factor L (lower, zeros above the diagonal) goes into
 * `opts.out` or replaces `a`. `status[statusIndex]` (u32) is reset to {@linkcode FAIL_NONE} and
 * receives the first column whose pivot is not a finite positive number; such a column of L is
 * replaced by the unit vector (the column is decoupled) so that the factorisation continues
 * without producing NaN or overflow. A matrix larger than one binding is factored in windows.
 * Returns the tensor that holds L.
 */
export function recordCholesky(
  gpu: Gpu,
  batch: Batch,
  a: GpuTensor,
  status: GpuTensor,
  opts: CholeskyOptions = {},
): GpuTensor {
  const n = squareOrder(a, "the matrix to factor");
  const nb = opts.panel ?? CHOLESKY_MAX_PANEL;
  if (!Number.isInteger(nb) || nb < 1 || nb > CHOLESKY_MAX_PANEL) {
    throw new RangeError(`Cannot use Cholesky panel width ${nb}: expected an integer 1 to 64`);
  }
  const out = opts.out ?? a;
  if (out.buffer !== a.buffer) {
    squareOrder(out, "the Cholesky output");
    if (out.shape[0] !== n) {
      throw new TypeError(
        `Cannot write the Cholesky factor of order ${n} into order ${out.shape[0]}`,
      );
    }
    batch.copy(a.buffer, 0, out.buffer, 0, n * n * 4);
  }
  const statusIndex = opts.statusIndex ?? 0;
  withTemps(gpu, opts.temps, (temps) => {
    const panel = temps.alloc([Math.max(1, n - 1) * nb], "cholesky/panel");
    const dkk = temps.alloc([CHOLESKY_DKK_SIZE], "cholesky/dkk");
    recordResetStatus(batch, status, statusIndex);
    for (let k0 = 0; k0 < n; k0 += OUTER_PANEL) {
      const end = Math.min(n, k0 + OUTER_PANEL); // this outer panel holds columns [k0, end)
      for (let k = k0; k < end; k += nb) {
        const b = Math.min(nb, end - k);
        const p = { n, ld: n, k, b };
        // left-looking inside the outer panel: A[k:n, k:k+b] −= L[k:n, k0:k] · L[k:k+b, k0:k]ᵀ
        matmul(batch, {
          a: out,
          b: out,
          c: out,
          M: n - k,
          N: b,
          K: k - k0,
          transB: true,
          lda: n,
          ldb: n,
          ldc: n,
          offA: k * n + k0,
          offB: k * n + k0,
          offC: k * n + k,
          alpha: -1,
          beta: 1,
        });
        recordFactorDiag(batch, out, dkk, status, p, statusIndex);
        const m = n - k - b;
        if (m <= 0) continue;
        // panel = A[k+b:n, k:k+b] · L_kk⁻ᵀ, then back into A
        matmul(batch, {
          a: out,
          b: dkk,
          c: panel,
          M: m,
          N: b,
          K: b,
          transB: true,
          lda: n,
          ldb: CHOLESKY_MAX_PANEL,
          ldc: b,
          offA: (k + b) * n + k,
        });
        recordPanelStore(batch, out, panel, p);
      }
      // the trailing matrix, one rank-(end − k0) update read from the finished columns of L
      recordLowerProduct(batch, {
        a: out,
        b: out,
        c: out,
        m: n - end,
        K: end - k0,
        transB: true,
        lda: n,
        ldb: n,
        ldc: n,
        offA: end * n + k0,
        offB: end * n + k0,
        offC: end * n + end,
        alpha: -1,
        beta: 1,
      });
    }
    recordTriFix(batch, out, n, "zero-upper");
  });
  return out;
}

/** Result of {@linkcode choleskyFactor}. */
export interface CholeskyResult {
  /** The lower-triangular factor, row-major n×n. */
  L: Float32Array<ArrayBuffer>;
  /** First column with a non-positive or non-finite pivot, or −1 when the factorisation succeeded. */
  failedColumn: number;
}

/**
 * Factors the SPD matrix `a` (GPU tensor, n×n, left unchanged) and reads L and the status back
 * in one readback.
 */
export async function choleskyFactor(gpu: Gpu, a: GpuTensor): Promise<CholeskyResult> {
  const n = squareOrder(a, "the matrix to factor");
  const temps = new Temps(gpu);
  try {
    const res = temps.alloc([n * n + 1], "cholesky/result");
    const status = temps.alloc([1], "cholesky/status", "u32");
    const batch = gpu.batch("cholesky");
    const l = temps.alloc([n, n], "cholesky/L");
    recordCholesky(gpu, batch, a, status, { out: l, temps });
    batch.copy(l.buffer, 0, res.buffer, 0, n * n * 4);
    batch.copy(status.buffer, 0, res.buffer, n * n * 4, 4);
    batch.submit();
    const bytes = await gpu.readBytes(res.buffer, 0, (n * n + 1) * 4);
    const word = new Uint32Array(bytes, n * n * 4, 1)[0];
    return {
      L: new Float32Array(bytes, 0, n * n),
      failedColumn: word === FAIL_NONE ? -1 : word,
    };
  } finally {
    temps.free();
  }
}
