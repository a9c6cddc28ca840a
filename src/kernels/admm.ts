/**
 * Typed wrapper for the elementwise steps of the ADMM pruner (`kernels/admm.wgsl`).
 *
 * @module
 */

import type { Batch, BufferWindow } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { withTemps } from "../gpu/temps.ts";
import { ADMM_WGSL } from "./admm.wgsl.ts";

/**
 * The elementwise steps of `kernels/admm.wgsl`, by MODE value (d: a vector of `cols` floats;
 * Z: the mask holder, whose nonzero entries are the kept weights):
 * - `colScale`: out0 = in1·d[col]
 * - `normalize`: out0 = in1 / (d[row]·d[col]) + shift·[row = col] (a square matrix)
 * - `diagonal`: out0[j] = sqrt(in1[j, j]), or 1 where in1[j, j] ≤ 0 (`rows` is ignored)
 * - `sum`: out0 = in1 + in2
 * - `step`: V = in1 + out0, kept = in2 ≠ 0; out0 = kept ? 0 : V; out1 = kept ? V : −V
 * - `final`: out0 = in1 ≠ 0 ? (out0 + out1) / d[col] : 0 (in2 = d)
 * - `nmScore`: out0 = BIG (3e38) for the M − N largest |in1| of each group of M columns (of equal
 *   values the higher column), |in1| for the others
 * - `mask`: out0 = 0 where in1 = 0
 */
export const AdmmOp = {
  colScale: 0,
  normalize: 1,
  diagonal: 2,
  sum: 3,
  step: 4,
  final: 5,
  nmScore: 6,
  mask: 7,
} as const;

/** One of {@linkcode AdmmOp}'s names. */
export type AdmmOpName = keyof typeof AdmmOp;

/** Operands of {@linkcode admmOp}; which are read or written depends on the step. */
export interface AdmmOpArgs {
  /** Rows of the matrices (outputs). */
  rows: number;
  /** Columns of the matrices (inputs); also the length of d. */
  cols: number;
  /** First output (read too by `step` and `final`). */
  out0: GpuTensor;
  /** Second output (`step`), or U (`final`). */
  out1?: GpuTensor;
  /** First input. */
  in1: GpuTensor;
  /** Second input, or d (`colScale`, `normalize`, `final`). */
  in2?: GpuTensor;
  /** Added to the diagonal by `normalize` (default 0). */
  shift?: number;
  /** N of an N:M pattern (`nmScore`). */
  n?: number;
  /** M of an N:M pattern (`nmScore`); `cols` must be a multiple of it. */
  m?: number;
}

const PARAMS = uniformStruct("Params", {
  count: "u32",
  cols: "u32",
  start: "u32",
  shift: "f32",
  n: "u32",
  m: "u32",
  _p0: "u32",
  _p1: "u32",
  o0: "u32",
  o1: "u32",
  o2: "u32",
  o3: "u32",
});

/** The uniform layouts of `kernels/admm.wgsl`. */
export const ADMM_UNIFORMS: readonly UniformStruct[] = [PARAMS];

const KERNELS: Kernel[] = [];

function kernel(mode: number): Kernel {
  return KERNELS[mode] ??= {
    name: "admm",
    source: ADMM_WGSL,
    bindings: ["storage", "storage", "read", "read", "uniform"],
    constants: { MODE: mode },
  };
}

/**
 * Records one elementwise ADMM step over a `rows × cols` matrix, in row blocks whose tensors
 * fit one binding each (d is always bound whole).
 */
export function admmOp(batch: Batch, op: AdmmOpName, x: AdmmOpArgs): void {
  const gpu = batch.gpu;
  const mode = AdmmOp[op];
  const { rows, cols } = x;
  if (op === "nmScore" && !(x.m! >= 2 && x.n! >= 1 && x.n! < x.m! && cols % x.m! === 0)) {
    throw new RangeError(
      `Cannot score ${x.n}:${x.m} groups of a matrix of ${cols} columns: ` +
        `expected 0 < N < M with M dividing the columns`,
    );
  }
  const byCol = op === "colScale" || op === "normalize" || op === "final";
  withTemps(gpu, undefined, (temps) => {
    // steps with one output bind a scratch word as the second (writable bindings may not alias)
    const out1 = x.out1 ?? temps.alloc([1], "admm/unused");
    const send = (start: number, count: number, wins: BufferWindow[]) => {
      const u = PARAMS.pack({
        count,
        cols,
        start,
        shift: x.shift ?? 0,
        n: x.n ?? 0,
        m: x.m ?? 1,
        o0: -wins[0].base,
        o1: -wins[1].base,
        o2: -wins[2].base,
        o3: -wins[3].base,
      });
      batch.dispatch(kernel(mode), wins, u, [Math.ceil(count / 256)]);
    };
    if (op === "diagonal") {
      const span = (a: number, b: number) => (b - a - 1) * (cols + 1) + 1;
      forEachFitting(gpu, 0, cols, span, (a, b) => {
        const d = gpu.window(x.out0, a, b);
        const h = gpu.window(x.in1, a * (cols + 1), a * (cols + 1) + span(a, b));
        send(a, b - a, [d, gpu.window(out1, 0, 1), h, h]);
      });
      return;
    }
    forEachFitting(gpu, 0, rows, (a, b) => (b - a) * cols, (a, b) => {
      const lo = a * cols, hi = b * cols;
      const win = (t: GpuTensor) => t.size === 1 ? gpu.window(t, 0, 1) : gpu.window(t, lo, hi);
      const in2 = x.in2 ?? x.in1;
      send(lo, hi - lo, [
        win(x.out0),
        win(out1),
        win(x.in1),
        byCol ? gpu.window(in2, 0, cols) : win(in2),
      ]);
    });
  });
}
