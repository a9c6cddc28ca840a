/**
 * The closed-form steps of SparseLLM's alternating minimisation, each recorded on the GPU:
 *
 * - the p-update `p = (βŴ2ᵀŴ2 + γI)⁻¹(βŴ2ᵀT + γq)` with `q = φ(z)`, computed through the
 *   Woodbury identity as `p = q + (T − q·Ŵ2ᵀ)·(γ/β·I + Ŵ2Ŵ2ᵀ)⁻¹·Ŵ2` (token-major rows; a d×d
 *   inverse instead of f×f);
 * - the damped least-squares refit of a linear layer towards its dense weights,
 *   `W = ((2/nseq)·Σ targetᵀX + λ·W_dense)·(H + λI)⁻¹` with `H = (2/nseq)·XᵀX` and
 *   λ = percdamp·mean(diag(H)), the right-hand side accumulated over token chunks.
 *
 * The z/s updates are elementwise kernels (`AuxMode.zRelu`, `zGlu`, `sGlu`).
 *
 * @module
 */

import type { Batch, Gpu } from "../../gpu/device.ts";
import type { GpuTensor } from "../../gpu/tensor.ts";
import { matmul } from "../../kernels/matmul.ts";
import { addScaled } from "../../kernels/add_scaled.ts";
import { FAIL_NONE } from "../../kernels/linalg_util.ts";
import { recordAddMeanDiag, recordSpdInverse } from "../../linalg/spd.ts";

/** `out = a⁻¹` for SPD `a` (left unchanged); returns the failing Cholesky column or −1. */
export async function spdInverseInto(
  gpu: Gpu,
  a: GpuTensor,
  out: GpuTensor,
  status: GpuTensor,
): Promise<number> {
  const b = gpu.batch("sparsellm/spd-inverse");
  recordSpdInverse(gpu, b, a, out, status);
  b.submit();
  const word = (await gpu.readU32(status))[0];
  return word === FAIL_NONE ? -1 : word;
}

/**
 * `out = (H + λI)⁻¹` with λ = percdamp·mean(diag(H)), retrying with ten times more damping
 * (up to six times) while the Cholesky factorisation fails. `h` is not modified.
 *
 * @returns λ as used.
 */
export async function dampedInverse(
  gpu: Gpu,
  h: GpuTensor,
  n: number,
  out: GpuTensor,
  work: GpuTensor,
  status: GpuTensor,
  percdamp: number,
): Promise<number> {
  // The damping is computed on the GPU; only [mean(diag), added] comes back, not the matrix.
  const stats = gpu.alloc([2], "sparsellm/damp-stats");
  try {
    let damp = Math.max(percdamp, 1e-6);
    for (let attempt = 0; attempt < 6; attempt++, damp *= 10) {
      const b = gpu.batch("sparsellm/damp");
      b.copy(h.buffer, 0, work.buffer, 0, n * n * 4);
      recordAddMeanDiag(gpu, b, work, damp, stats);
      b.submit();
      if ((await spdInverseInto(gpu, work, out, status)) < 0) return (await gpu.read(stats))[1];
    }
  } finally {
    gpu.free(stats);
  }
  throw new Error(`SparseLLM: the ${n}x${n} normal equations stay singular even with damping`);
}

/**
 * `aInv = (ridge·I + Ŵ2Ŵ2ᵀ)⁻¹` for the p-update, with `ridge = gammaOverBeta·mean(diag(Ŵ2Ŵ2ᵀ))`.
 * `a` is scratch of order d.
 *
 * @returns The absolute ridge.
 * @throws {Error} When the ridge matrix is not positive definite (only possible if it is 0).
 */
export async function woodburyInverse(
  gpu: Gpu,
  w2: GpuTensor,
  d: number,
  f: number,
  gammaOverBeta: number,
  a: GpuTensor,
  aInv: GpuTensor,
  status: GpuTensor,
): Promise<number> {
  const stats = gpu.alloc([2], "sparsellm/ridge-stats");
  try {
    const b = gpu.batch("sparsellm/ridge");
    matmul(b, { a: w2, b: w2, c: a, M: d, N: d, K: f, transB: true });
    recordAddMeanDiag(gpu, b, a, gammaOverBeta, stats);
    b.submit();
    const failed = await spdInverseInto(gpu, a, aInv, status);
    if (failed >= 0) {
      throw new Error(`SparseLLM p-update: ridge matrix not SPD at column ${failed}`);
    }
    return (await gpu.read(stats))[1];
  } finally {
    gpu.free(stats);
  }
}

/** Tensors of {@linkcode recordPUpdate} (all row-major f32). */
export interface PUpdateArgs {
  /** Target of the second linear, [n, d]. */
  t: GpuTensor;
  /** φ(z), [n, f]. */
  q: GpuTensor;
  /** Second linear Ŵ2, [d, f]. */
  w2: GpuTensor;
  /** `(ridge·I + Ŵ2Ŵ2ᵀ)⁻¹`, [d, d]. */
  aInv: GpuTensor;
  /** Output p, [n, f]. */
  p: GpuTensor;
  /** Scratch [n, d]: receives the residual T − q·Ŵ2ᵀ. */
  r: GpuTensor;
  /** Scratch [n, d]: receives (T − q·Ŵ2ᵀ)·A⁻¹. */
  r2: GpuTensor;
  /** Tokens. */
  n: number;
  /** Hidden size. */
  d: number;
  /** FFN width. */
  f: number;
}

/**
 * Records the p-update `p = q + (T − q·Ŵ2ᵀ)·A⁻¹·Ŵ2`. The output residual of the updated p is
 * `T − p·Ŵ2ᵀ = ridge·r2`, so `r2` also gives the relaxed objective's output term.
 */
export function recordPUpdate(b: Batch, a: PUpdateArgs): void {
  const { n, d, f } = a;
  b.copy(a.t.buffer, 0, a.r.buffer, 0, n * d * 4);
  matmul(b, { a: a.q, b: a.w2, c: a.r, M: n, N: d, K: f, transB: true, alpha: -1, beta: 1 });
  matmul(b, { a: a.r, b: a.aInv, c: a.r2, M: n, N: d, K: d });
  b.copy(a.q.buffer, 0, a.p.buffer, 0, n * f * 4);
  matmul(b, { a: a.r2, b: a.w2, c: a.p, M: n, N: f, K: d, beta: 1 });
}

/**
 * Records `c = (2/nseq)·targetᵀ·x` (or adds it to `c` with `accumulate`): one token chunk's
 * contribution to the right-hand side of the normal equations, `target` [n, rows], `x`
 * [n, cols], `c` [rows, cols].
 */
export function recordNormalRhs(
  b: Batch,
  target: GpuTensor,
  x: GpuTensor,
  c: GpuTensor,
  rows: number,
  cols: number,
  n: number,
  nseq: number,
  accumulate: boolean,
): void {
  matmul(b, {
    a: target,
    b: x,
    c,
    M: rows,
    N: cols,
    K: n,
    transA: true,
    alpha: 2 / nseq,
    beta: accumulate ? 1 : 0,
  });
}

/**
 * Records the ridge solve `out = (c + λ·anchor)·hInv` (`c` is overwritten with `c + λ·anchor`),
 * `c`, `anchor`, `out` [rows, cols], `hInv = (H + λI)⁻¹` [cols, cols].
 */
export function recordRidgeSolve(
  b: Batch,
  c: GpuTensor,
  anchor: GpuTensor,
  lambda: number,
  hInv: GpuTensor,
  out: GpuTensor,
  rows: number,
  cols: number,
): void {
  addScaled(b, { out: c, x: anchor, count: rows * cols, scale: lambda });
  matmul(b, { a: c, b: hInv, c: out, M: rows, N: cols, K: cols });
}
