/**
 * Triangular solves and inverses on the GPU (f32), recorded into a batch. The diagonal 64×64
 * blocks of L are inverted by one kernel (`kernels/triinv.wgsl`); the blocked substitution is
 * then two matmuls per block row, in outer blocks of 256 rows. Matrices larger than one binding
 * are bound in windows by every kernel.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { recordFill, recordTriFix } from "../kernels/linalg_util.ts";
import { matmul } from "../kernels/matmul.ts";
import { recordInvertDiagBlocks, TRIINV_MAX_BLOCK } from "../kernels/triinv.ts";
import { type Temps, withTemps } from "../gpu/temps.ts";
import { squareOrder } from "./square.ts";

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

/** Rows per outer block (a multiple of the 64-row diagonal blocks). */
const OUTER = 4 * BS;

/**
 * Blocked substitution in outer blocks of 256 rows: inside an outer block each 64-row block is
 * solved with its diagonal-block inverse and applied to the rest of the outer block only; the
 * rows beyond get one rank-256 update per outer block. On CPU adapters a rank-k update costs
 * mostly the reading and writing of its output, so this is about four times cheaper than
 * applying every 64-row block to all remaining rows.
 */
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
  // B[rows c0.., :cols] −= op(L block) · X[k0..k0+K, :cols]
  const update = (M: number, cols: number, K: number, offA: number, k0: number, c0: number) => {
    if (M <= 0) return;
    matmul(batch, {
      a: l,
      b: x,
      c: b,
      M,
      N: cols,
      K,
      transA: transpose,
      lda: n,
      ldb: m,
      ldc: m,
      offA,
      offB: k0 * m,
      offC: c0 * m,
      alpha: -1,
      beta: 1,
    });
  };
  // X[r0..r0+s, :cols] = D_i⁻¹ · B[r0..r0+s, :cols] (D_i⁻ᵀ when transposed)
  const solveBlock = (r0: number, s: number, cols: number) => {
    matmul(batch, {
      a: dinv,
      b,
      c: x,
      M: s,
      N: cols,
      K: s,
      transA: transpose,
      lda: BS,
      ldb: m,
      ldc: m,
      offA: (r0 / BS) * BS * BS,
      offB: r0 * m,
      offC: r0 * m,
    });
  };
  if (!transpose) {
    for (let o0 = 0; o0 < n; o0 += OUTER) {
      const o1 = Math.min(n, o0 + OUTER);
      for (let r0 = o0; r0 < o1; r0 += BS) {
        const s = Math.min(BS, n - r0);
        const cols = identityRhs ? r0 + s : m;
        solveBlock(r0, s, cols);
        update(o1 - r0 - s, cols, s, (r0 + s) * n + r0, r0, r0 + s);
      }
      update(n - o1, identityRhs ? o1 : m, o1 - o0, o1 * n + o0, o0, o1);
    }
  } else {
    for (let o0 = Math.floor((n - 1) / OUTER) * OUTER; o0 >= 0; o0 -= OUTER) {
      const o1 = Math.min(n, o0 + OUTER);
      for (let r0 = Math.floor((o1 - 1 - o0) / BS) * BS + o0; r0 >= o0; r0 -= BS) {
        const s = Math.min(BS, n - r0);
        solveBlock(r0, s, m);
        update(r0 - o0, m, s, r0 * n + o0, r0, o0);
      }
      update(o0, m, o1 - o0, o0 * n, o0, 0);
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
