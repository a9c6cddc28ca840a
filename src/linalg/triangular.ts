/**
 * Triangular solves and inverses on the GPU (f32), recorded into a batch. The diagonal 64×64
 * blocks of L are inverted by one kernel (`kernels/triinv.wgsl`); the blocked substitution is
 * then two matmuls per block row.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { recordFill, recordTriFix } from "../kernels/linalg_util.ts";
import { matmul } from "../kernels/matmul.ts";
import { recordInvertDiagBlocks, TRIINV_MAX_BLOCK } from "../kernels/triinv.ts";
import { squareOrder, type Temps, withTemps } from "./temps.ts";

/** Options of {@linkcode recordSolveLower}. */
export interface SolveOptions {
  /** Solve Lᵀ·X = B instead of L·X = B. */
  transpose?: boolean;
  /** Diagonal-block inverses of L from {@linkcode recordInvertDiagBlocks} with block 64 (computed when absent). */
  dinv?: GpuTensor;
  /** Scratch owner; see {@linkcode Temps}. */
  temps?: Temps;
}

const BS = TRIINV_MAX_BLOCK;

function checkDistinct(what: string, ...ts: GpuTensor[]): void {
  for (let i = 0; i < ts.length; i++) {
    for (let j = i + 1; j < ts.length; j++) {
      if (ts[i].buffer === ts[j].buffer) {
        throw new TypeError(`Cannot ${what}: operands ${i} and ${j} share one GPU buffer`);
      }
    }
  }
}

function solveCore(
  batch: Batch,
  l: GpuTensor,
  b: GpuTensor,
  x: GpuTensor,
  dinv: GpuTensor,
  n: number,
  m: number,
  transpose: boolean,
  identityRhs: boolean,
): void {
  const nblk = Math.ceil(n / BS);
  if (!transpose) {
    for (let i = 0; i < nblk; i++) {
      const r0 = i * BS, s = Math.min(BS, n - r0);
      const cols = identityRhs ? r0 + s : m;
      matmul(batch, {
        a: dinv,
        b,
        c: x,
        M: s,
        N: cols,
        K: s,
        lda: BS,
        ldb: m,
        ldc: m,
        offA: i * BS * BS,
        offB: r0 * m,
        offC: r0 * m,
      });
      const rest = n - r0 - s;
      if (rest > 0) {
        matmul(batch, {
          a: l,
          b: x,
          c: b,
          M: rest,
          N: cols,
          K: s,
          lda: n,
          ldb: m,
          ldc: m,
          offA: (r0 + s) * n + r0,
          offB: r0 * m,
          offC: (r0 + s) * m,
          alpha: -1,
          beta: 1,
        });
      }
    }
  } else {
    for (let i = nblk - 1; i >= 0; i--) {
      const r0 = i * BS, s = Math.min(BS, n - r0);
      matmul(batch, {
        a: dinv,
        b,
        c: x,
        M: s,
        N: m,
        K: s,
        transA: true,
        lda: BS,
        ldb: m,
        ldc: m,
        offA: i * BS * BS,
        offB: r0 * m,
        offC: r0 * m,
      });
      if (r0 > 0) {
        matmul(batch, {
          a: l,
          b: x,
          c: b,
          M: r0,
          N: m,
          K: s,
          transA: true,
          lda: n,
          ldb: m,
          ldc: m,
          offA: r0 * n,
          offB: r0 * m,
          offC: 0,
          alpha: -1,
          beta: 1,
        });
      }
    }
  }
}

/** Elements needed by the diagonal-block inverses of an n×n matrix. */
export function diagBlocksSize(n: number): number {
  return Math.ceil(n / BS) * BS * BS;
}

/**
 * Records the solve `L·X = B` (or `Lᵀ·X = B`) for a lower-triangular n×n `l` with non-zero
 * diagonal and an n×m right-hand side `b`. The solution goes to `x` (n×m). `b` is used as
 * workspace and overwritten; `l`, `b` and `x` must be three different buffers.
 */
export function recordSolveLower(
  gpu: Gpu,
  batch: Batch,
  l: GpuTensor,
  b: GpuTensor,
  x: GpuTensor,
  opts: SolveOptions = {},
): void {
  const n = squareOrder(l, "the triangular matrix");
  const m = b.shape[1];
  if (b.shape.length !== 2 || b.shape[0] !== n || x.shape[0] !== n || x.shape[1] !== m) {
    throw new TypeError(
      `Cannot solve with L of order ${n}, B [${b.shape.join(", ")}] and X [${
        x.shape.join(", ")
      }]: expected B and X of shape [${n}, m]`,
    );
  }
  checkDistinct("solve a triangular system", l, b, x);
  withTemps(gpu, opts.temps, (temps) => {
    let dinv = opts.dinv;
    if (!dinv) {
      dinv = temps.alloc([diagBlocksSize(n)], "trsm/dinv");
      recordInvertDiagBlocks(batch, l, dinv, n, BS);
    }
    solveCore(batch, l, b, x, dinv, n, m, opts.transpose ?? false, false);
  });
}

/**
 * Records `out = L⁻¹` for a lower-triangular n×n `l` with non-zero diagonal (blocked
 * substitution on the identity that skips the known zeros: ~n³/3 flops). `out` is lower
 * triangular with zeros above the diagonal, and must be a different buffer from `l`.
 */
export function recordInvertLower(
  gpu: Gpu,
  batch: Batch,
  l: GpuTensor,
  out: GpuTensor,
  opts: { temps?: Temps } = {},
): void {
  const n = squareOrder(l, "the triangular matrix");
  if (squareOrder(out, "the inverse") !== n) {
    throw new TypeError(`Cannot write the inverse of order ${n} into order ${out.shape[0]}`);
  }
  checkDistinct("invert a triangular matrix", l, out);
  withTemps(gpu, opts.temps, (temps) => {
    const dinv = temps.alloc([diagBlocksSize(n)], "triinv/dinv");
    const rhs = temps.alloc([n, n], "triinv/rhs");
    recordInvertDiagBlocks(batch, l, dinv, n, BS);
    recordFill(batch, rhs, { rows: n, cols: n }, 0, 1);
    solveCore(batch, l, rhs, out, dinv, n, n, false, true);
    recordTriFix(batch, out, n, "zero-upper");
  });
}
