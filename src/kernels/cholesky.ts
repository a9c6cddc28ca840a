/**
 * Typed wrappers for the Cholesky panel kernels of `kernels/cholesky.wgsl`. The blocked
 * factorisation that drives them is `src/linalg/cholesky.ts`.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { CHOLESKY_WGSL } from "./cholesky.wgsl.ts";

/** Largest panel width the Cholesky kernels accept. */
export const CHOLESKY_MAX_PANEL: number = 64;

/** Elements of the diagonal-block inverse written by {@linkcode recordFactorDiag} (64×64). */
export const CHOLESKY_DKK_SIZE: number = 64 * 64;

const FACTOR_DIAG: Kernel = {
  name: "cholesky",
  source: CHOLESKY_WGSL,
  entryPoint: "factor_diag",
  bindings: ["storage", "storage", "storage", "uniform"],
};

const PANEL_STORE: Kernel = {
  name: "cholesky",
  source: CHOLESKY_WGSL,
  entryPoint: "panel_store",
  bindings: ["storage", "read", "uniform"],
};

/** Where one panel step works: columns `[k, k + b)` of the n×n matrix `a` (leading dimension `ld`). */
export interface CholeskyPanel {
  /** Matrix order. */
  n: number;
  /** Leading dimension of `a`. */
  ld: number;
  /** First column of the panel. */
  k: number;
  /** Panel width, 1 ≤ b ≤ {@linkcode CHOLESKY_MAX_PANEL}. */
  b: number;
}

function params(p: CholeskyPanel, statusIndex: number): Uint32Array<ArrayBuffer> {
  return new Uniforms().u32(p.n, p.ld, p.k, p.b, statusIndex, 0, 0, 0).bytes();
}

/**
 * Records the factorisation of the diagonal block `a[k:k+b, k:k+b]` (one workgroup): L_kk goes
 * back into `a`, L_kk⁻¹ into `dkk` ({@linkcode CHOLESKY_DKK_SIZE} elements, leading dimension
 * 64). A pivot that is not a finite positive number goes to `status[statusIndex]` via atomicMin;
 * its column of L becomes the unit vector and its row of L_kk⁻¹ is zeroed.
 */
export function recordFactorDiag(
  batch: Batch,
  a: GpuTensor,
  dkk: GpuTensor,
  status: GpuTensor,
  p: CholeskyPanel,
  statusIndex = 0,
): void {
  batch.dispatch(FACTOR_DIAG, [a, dkk, status], params(p, statusIndex), [1]);
}

/** Records `a[k+b:n, k:k+b] = panel` for the dense (n−k−b) × b `panel`. */
export function recordPanelStore(
  batch: Batch,
  a: GpuTensor,
  panel: GpuTensor,
  p: CholeskyPanel,
): void {
  const below = p.n - p.k - p.b;
  if (below <= 0) return;
  batch.dispatch(PANEL_STORE, [a, panel], params(p, 0), [Math.ceil((below * p.b) / 64)]);
}
