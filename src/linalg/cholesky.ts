/**
 * Recursive Cholesky factorisation A = L·Lᵀ on the GPU (f32), recorded into a batch. The
 * columns are split in halves down to panels of 64: a panel of 64 columns is factored by one
 * workgroup (its diagonal block, with the block's inverse) and one matmul that forms the rows
 * below in place (A_panel·L_kk⁻ᵀ); between the two halves of a wider panel, one matmul applies
 * the left half to the right half, all rows below included (alpha = −1, beta = 1, skipping the
 * tiles above the diagonal). So almost all flops run in a few large products, which on CPU
 * adapters cost mostly their passes over C and over the packed operands: an n×n factorisation
 * takes 2·n/64 − 1 matmuls.
 *
 * Matrices larger than one binding ({@linkcode Gpu.bindingLimit}) need nothing special: every
 * kernel binds windows of the rows it touches, and a diagonal block whose rows exceed one
 * binding (only under a lowered limit) is factored in a scratch copy.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { CHOLESKY_DKK_SIZE, CHOLESKY_MAX_PANEL, recordFactorDiag } from "../kernels/cholesky.ts";
import { matmul } from "../kernels/matmul.ts";
import { FAIL_NONE, recordResetStatus, recordTriFix } from "../kernels/linalg_util.ts";
import { Temps, withTemps } from "../gpu/temps.ts";
import { squareOrder } from "./square.ts";

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
    const dkk = temps.alloc([CHOLESKY_DKK_SIZE], "cholesky/dkk");
    // factors columns [k, k + w) (all rows k .. n), whose updates from columns < k are applied
    const factor = (k: number, w: number): void => {
      if (w <= nb) {
        recordFactorDiag(batch, out, dkk, status, { n, ld: n, k, b: w }, statusIndex);
        // the rows below, in place: A[k+w:n, k:k+w] · L_kk⁻ᵀ (A is packed before C is written)
        const at = (k + w) * n + k;
        matmul(batch, {
          a: out,
          b: dkk,
          c: out,
          M: n - k - w,
          N: w,
          K: w,
          transB: true,
          lda: n,
          ldb: CHOLESKY_MAX_PANEL,
          ldc: n,
          offA: at,
          offC: at,
        });
        return;
      }
      const h = nb * Math.ceil(Math.ceil(w / nb) / 2);
      factor(k, h);
      // A[k+h:n, k+h:k+w] −= L[k+h:n, k:k+h] · L[k+h:k+w, k:k+h]ᵀ, lower triangle on top
      const at = (k + h) * n + k;
      matmul(batch, {
        a: out,
        b: out,
        c: out,
        M: n - k - h,
        N: w - h,
        K: h,
        transB: true,
        lda: n,
        ldb: n,
        ldc: n,
        offA: at,
        offB: at,
        offC: at + h,
        alpha: -1,
        beta: 1,
        lower: 0,
      });
      factor(k + h, w - h);
    };
    recordResetStatus(batch, status, statusIndex);
    factor(0, n);
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
