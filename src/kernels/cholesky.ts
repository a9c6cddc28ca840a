/**
 * Typed wrapper for the Cholesky panel kernel of `kernels/cholesky.wgsl`. The recursive
 * factorisation that drives it is `src/linalg/cholesky.ts`. It binds only the rows of the
 * matrix it touches (a window), so the matrix may exceed one binding.
 *
 * @module
 */

import type { Batch, BufferWindow, Gpu } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { CHOLESKY_WGSL } from "./cholesky.wgsl.ts";
import { recordCopyBlock } from "./linalg_util.ts";

/** Largest panel width the Cholesky kernels accept. */
export const CHOLESKY_MAX_PANEL: number = 64;

/** Elements of the diagonal-block inverse written by {@linkcode recordFactorDiag} (64×64). */
export const CHOLESKY_DKK_SIZE: number = 64 * 64;

const PARAMS = uniformStruct("Params", {
  ld: "u32",
  k: "u32",
  b: "u32",
  statusOff: "u32",
  aOff: "u32",
});

/** The uniform layouts of `kernels/cholesky.wgsl`. */
export const CHOLESKY_UNIFORMS: readonly UniformStruct[] = [PARAMS];

const FACTOR_DIAG: Kernel = {
  name: "cholesky",
  source: CHOLESKY_WGSL,
  entryPoint: "factor_diag",
  bindings: ["storage", "storage", "storage", "uniform"],
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

/** A 64×64 scratch bound whole when it fits the binding limit, else its b×b top-left corner. */
function scratch(gpu: Gpu, t: GpuTensor, b: number): GpuTensor | BufferWindow {
  return t.size * 4 <= gpu.bindingLimit ? t : gpu.window(t, 0, (b - 1) * CHOLESKY_MAX_PANEL + b);
}

/**
 * Records the factorisation of the diagonal block `a[k:k+b, k:k+b]` (one workgroup): L_kk goes
 * back into `a`, L_kk⁻¹ into `dkk` ({@linkcode CHOLESKY_DKK_SIZE} elements, leading dimension
 * 64). A pivot that is not a finite positive number is recorded in `status[statusIndex]` via
 * atomicMin; its column of L becomes the unit vector and its row of L_kk⁻¹ is zeroed. Only
 * rows k to k + b of `a` are bound; when even they exceed one binding (only under a lowered
 * limit), the block is copied into a pooled 64×64 scratch, factored there and copied back.
 */
export function recordFactorDiag(
  batch: Batch,
  a: GpuTensor,
  dkk: GpuTensor,
  status: GpuTensor,
  p: CholeskyPanel,
  statusIndex = 0,
): void {
  const gpu = batch.gpu;
  const d = scratch(gpu, dkk, p.b);
  const st = gpu.window(status, statusIndex, statusIndex + 1);
  // the kernel reads entry (r, c) of the block at aOff + (k + r)·ld + k + c of the binding
  const factor = (t: GpuTensor | BufferWindow, blockAt: number, ld: number) => {
    const aOff = blockAt - p.k * ld - p.k;
    const u = PARAMS.pack({ ld, k: p.k, b: p.b, statusOff: statusIndex - st.base, aOff });
    batch.dispatch(FACTOR_DIAG, [t, d, st], u, [1]);
  };
  const first = p.k * p.ld + p.k, span = (p.b - 1) * p.ld + p.b;
  if (span <= gpu.windowElements) {
    const w = gpu.window(a, first, first + span);
    factor(w, first - w.base, p.ld);
    return;
  }
  // the b rows exceed one binding (only under a lowered limit): factor a copy of the block
  const blk = gpu.alloc([CHOLESKY_DKK_SIZE], "cholesky/block");
  const ld = CHOLESKY_MAX_PANEL;
  recordCopyBlock(batch, a, { rows: p.b, cols: p.b, ld: p.ld, offset: first }, blk, { ld });
  factor(scratch(gpu, blk, p.b), 0, ld);
  recordCopyBlock(batch, blk, { rows: p.b, cols: p.b, ld }, a, { ld: p.ld, offset: first });
  gpu.free(blk);
}
