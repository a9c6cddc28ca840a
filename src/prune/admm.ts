/**
 * ADMM pruning of one linear layer (Boža, 2024, "Fast and effective weight update for pruned
 * large language models"), on the GPU. With W₀ the dense weights (rows × cols, row = output)
 * and H = c·Σ x·xᵀ the layer-input Hessian (any positive scale c), it looks for Ŵ with the
 * pattern's zeros that minimises tr((Ŵ − W₀)·H·(Ŵ − W₀)ᵀ), i.e. the layer's output error.
 *
 * Inputs are first normalised: d_j = sqrt(H_jj) (1 for dead inputs, whose weights are zeroed),
 * A = D⁻¹HD⁻¹ + δI (unit diagonal plus the damping δ = percdamp), W' = W₀·D, so that magnitudes
 * |W'_ij| are Wanda's scores and ρ is relative to a unit diagonal. ADMM then splits the problem
 * into a quadratic in W and a projection of Z onto the pattern, with the scaled dual U (U = 0,
 * W = W' at the start); iteration t is
 *
 *     V = W + U
 *     mask = the pattern's kept entries of |V| at sparsity s_t   (only while t < maskSteps)
 *     Z = mask ⊙ V,   U ← V − Z
 *     W ← argmin tr((W − W')A(W − W')ᵀ) + ρ‖W − Z + U‖²
 *       = (W'A + ρ(Z − U))·(A + ρI)⁻¹ = C₀ + ρ·(Z − U)·K
 *
 * with K = (A + ρI)⁻¹ and C₀ = W'A·K = W' − ρ·W'·K computed once (A·K = I − ρK), so each
 * iteration costs one rows × cols × cols product. Z − U = ±V (+ where kept, − where pruned), so
 * one elementwise step gives both U and Z − U. The schedule s_t = s·(1 − (1 − (t+1)/maskSteps)³)
 * (cubic, as in gradual pruning) or s_t = s (`constant`) reaches the target at the last mask
 * step; the mask then stays fixed and the remaining iterations refit the kept weights. The
 * result is Ŵ = mask ⊙ (W + U) · D⁻¹, which has exactly the pattern's zeros by construction:
 * the mask is selected with the same rules as the other methods (see {@linkcode AdmmOptions}).
 * For a fixed mask the iteration converges to the masked least-squares solution of each row.
 *
 * Everything for one matrix is recorded into one batch and read back once (the inverse's status
 * and ‖W − Z‖² for the residual); a failed inverse restores W and retries with 10× the damping.
 * With quantization (`--wbits`) the solver then runs GPTQ with ADMM's mask fixed
 * ({@linkcode quantizeWithMask}: SparseGPT's column sweep given the mask instead of selecting it).
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { admmOp } from "../kernels/admm.ts";
import { FAIL_NONE, recordCheckFinite, recordFill, recordTriFix } from "../kernels/linalg_util.ts";
import { matmul } from "../kernels/matmul.ts";
import { finishSumSq, recordSumSq, SUMSQ_PARTIALS } from "../kernels/reduce.ts";
import { thresholdMask } from "../kernels/mask.ts";
import { selectKth, selectOutSize } from "../kernels/select.ts";
import { recordDeadColumns } from "../kernels/sparsegpt.ts";
import { recordSpdInverse } from "../linalg/spd.ts";
import { Temps } from "../gpu/temps.ts";
import { pruneNM, prunePerRow } from "./mask.ts";
import type { SparsityPattern } from "./types.ts";
import { MAX_NM_M } from "../kernels/mask.ts";
import { pruneEach, type PruneMethod } from "./method.ts";
import { type MatrixSolver, solveOnCopy } from "./solver.ts";
import { quantizeWithMask } from "./sparsegpt_solver.ts";

/** Options of {@linkcode admm}. */
export interface AdmmOptions {
  /** ADMM iterations (default 20). */
  iterations?: number;
  /** Iterations that reselect the mask, the last at full sparsity (default 15, ≤ iterations). */
  maskSteps?: number;
  /**
   * Penalty ρ on W − Z, relative to the unit diagonal of the normalised Hessian (default 0.3;
   * the authors use 1, which measured worse here: see BENCHMARKS.md, "ADMM").
   */
  rho?: number;
  /** Damping δ added to the normalised Hessian's unit diagonal (default 0.01; the authors' 0.1). */
  percdamp?: number;
  /** Sparsity of the intermediate masks: `cubic` (default) or `constant` (the target). */
  schedule?: "cubic" | "constant";
  /**
   * Unstructured selection: `matrix` (default; the floor(rows·cols·s) smallest |V| of the
   * matrix, as the authors' top-k) or `row` (exactly floor(cols·s) per row, as Wanda). N:M patterns always prune N in every group of M (ties to the lower column).
   */
  scope?: "matrix" | "row";
  /** Retries with 10× the damping when the inverse fails (default 3). */
  maxRetries?: number;
}

/** Diagnostics of one {@linkcode admm} call. */
export interface AdmmResult {
  /** ‖W − Z‖ / ‖Z‖ after the last iteration (normalised coordinates): how far ADMM converged. */
  residual: number;
  /** The damping δ used in the end (percdamp · 10^retries). */
  percdamp: number;
  /** Retries needed because the inverse failed. */
  retries: number;
  /** True when every attempt failed: W is then left as it was, apart from zeroed dead inputs. */
  inverseFailed: boolean;
}

function check(W: GpuTensor, H: GpuTensor, pattern: SparsityPattern, o: Required<AdmmOptions>) {
  const [rows, cols] = W.shape;
  if (W.shape.length !== 2 || !(rows >= 1 && cols >= 1)) {
    throw new TypeError(`Cannot prune W of shape [${W.shape.join(", ")}]: expected [rows, cols]`);
  }
  if (H.shape.length !== 2 || H.shape[0] !== cols || H.shape[1] !== cols) {
    throw new TypeError(
      `Cannot prune W [${rows}, ${cols}] with H of shape [${H.shape.join(", ")}]: ` +
        `expected [${cols}, ${cols}]`,
    );
  }
  if (pattern.kind === "unstructured" && !(pattern.sparsity >= 0 && pattern.sparsity < 1)) {
    throw new RangeError(`Invalid sparsity ${pattern.sparsity}: expected a fraction in [0, 1)`);
  }
  if (
    pattern.kind === "nm" && !(pattern.n >= 1 && pattern.n < pattern.m && cols % pattern.m === 0)
  ) {
    throw new RangeError(
      `Invalid N:M pattern ${pattern.n}:${pattern.m} for ${cols} columns: ` +
        `expected 0 < N < M with M dividing the columns`,
    );
  }
  const { iterations: T, maskSteps: P } = o;
  if (!Number.isInteger(T) || !Number.isInteger(P) || P < 1 || P > T) {
    throw new RangeError(
      `Invalid ADMM iterations ${T} and mask steps ${P}: expected integers 1 ≤ maskSteps ≤ iterations`,
    );
  }
  if (!(o.rho > 0 && Number.isFinite(o.rho)) || !(o.percdamp >= 0 && Number.isFinite(o.percdamp))) {
    throw new RangeError(
      `Invalid ADMM rho ${o.rho} or percdamp ${o.percdamp}: expected rho > 0 and percdamp ≥ 0`,
    );
  }
  return { rows, cols };
}

/**
 * Records zeroing the floor(rows·cols·s) entries of smallest |t| (more only where the last of
 * them ties with others), as the authors' top-k selection does.
 */
function pruneSmallest(
  batch: Batch,
  t: GpuTensor,
  rows: number,
  cols: number,
  s: number,
  sel: GpuTensor,
): void {
  const k = Math.floor(rows * cols * s);
  if (k < 1) return;
  selectKth(batch, { w: t, rows, cols, k: k - 1, out: sel });
  thresholdMask(batch, { w: t, rows, cols, sel });
}

/** The sparsity of the mask selected at iteration t (t < maskSteps). */
export function admmSchedule(s: number, t: number, maskSteps: number, cubic: boolean): number {
  return cubic ? s - s * (1 - (t + 1) / maskSteps) ** 3 : s;
}

/**
 * Records one ADMM pass (see the module doc) over `W` (pruned in place) with the full symmetric
 * `H` (not modified). Returns `info`: [0 .. SUMSQ_PARTIALS) the partial sums of ‖W − Z‖² and
 * ‖Z‖², then the inverse's status word. Free `temps` after reading it.
 */
export function recordAdmm(
  gpu: Gpu,
  batch: Batch,
  W: GpuTensor,
  H: GpuTensor,
  pattern: SparsityPattern,
  o: Required<AdmmOptions>,
  temps: Temps,
): GpuTensor {
  const { rows, cols } = check(W, H, pattern, o);
  const mat = (label: string) => temps.alloc([rows, cols], `admm/${label}`);
  const d = temps.alloc([cols], "admm/d");
  const K = temps.alloc([cols, cols], "admm/K");
  const status = temps.alloc([1], "admm/status", "u32");
  const info = temps.alloc([SUMSQ_PARTIALS + 1], "admm/info");
  const sel = temps.alloc([selectOutSize(1)], "admm/select", "u32");
  const [Wp, C0, U, Z, D] = ["Wp", "C0", "U", "Z", "D"].map(mat);
  const bytes = rows * cols * 4;
  const { rho } = o;

  recordDeadColumns(batch, W, H, rows, cols);
  admmOp(batch, "diagonal", { rows, cols, out0: d, in1: H });
  admmOp(batch, "colScale", { rows, cols, out0: Wp, in1: W, in2: d });
  // K = (D⁻¹HD⁻¹ + (δ + ρ)I)⁻¹ from the lower triangle of H
  admmOp(batch, "normalize", {
    rows: cols,
    cols,
    out0: K,
    in1: H,
    in2: d,
    shift: o.percdamp + rho,
  });
  recordTriFix(batch, K, cols, "mirror-lower");
  recordSpdInverse(gpu, batch, K, K, status, { temps });
  recordCheckFinite(batch, K, { rows: cols, cols }, status);
  // C₀ = W' − ρ·W'·K; the ADMM variables start at W = W', U = 0
  batch.copy(Wp.buffer, 0, C0.buffer, 0, bytes);
  matmul(batch, { a: Wp, b: K, c: C0, M: rows, N: cols, K: cols, alpha: -rho, beta: 1 });
  batch.copy(Wp.buffer, 0, W.buffer, 0, bytes);
  recordFill(batch, U, { rows, cols }, 0);

  const cubic = o.schedule === "cubic";
  for (let t = 0; t < o.iterations; t++) {
    if (t < o.maskSteps) {
      admmOp(batch, "sum", { rows, cols, out0: Z, in1: W, in2: U });
      if (pattern.kind === "unstructured") {
        const s = admmSchedule(pattern.sparsity, t, o.maskSteps, cubic);
        if (o.scope === "row") prunePerRow(batch, Z, rows, cols, s);
        else pruneSmallest(batch, Z, rows, cols, s, sel);
      } else if (t === o.maskSteps - 1) {
        pruneNM(batch, Z, rows, cols, pattern.n, pattern.m);
      } else {
        // s_t of all weights, never one of the M − N largest of a group
        const s = admmSchedule(pattern.n / pattern.m, t, o.maskSteps, cubic);
        const S = Wp; // W' is not needed once C₀ and W exist
        admmOp(batch, "nmScore", { rows, cols, out0: S, in1: Z, n: pattern.n, m: pattern.m });
        pruneSmallest(batch, S, rows, cols, s, sel);
        admmOp(batch, "mask", { rows, cols, out0: Z, in1: S });
      }
    }
    // U ← V − Z and D = Z − U, then W ← C₀ + ρ·D·K
    admmOp(batch, "step", { rows, cols, out0: U, out1: D, in1: W, in2: Z });
    batch.copy(C0.buffer, 0, W.buffer, 0, bytes);
    matmul(batch, { a: D, b: K, c: W, M: rows, N: cols, K: cols, alpha: rho, beta: 1 });
  }
  // the residual ‖W − mask ⊙ (W + U)‖, then W ← mask ⊙ (W + U) · D⁻¹
  admmOp(batch, "sum", { rows, cols, out0: D, in1: W, in2: U });
  admmOp(batch, "mask", { rows, cols, out0: D, in1: Z });
  recordSumSq(batch, rows, cols, { t: W }, { t: D }, info);
  admmOp(batch, "final", { rows, cols, out0: W, out1: U, in1: Z, in2: d });
  batch.copy(status.buffer, 0, info.buffer, SUMSQ_PARTIALS * 4, 4);
  return info;
}

/**
 * Prunes `W` (rows × cols, f32, in place) with ADMM given `H` (cols × cols, `(2/nseq)·Σ x·xᵀ`
 * as `HessianAccumulator` leaves it after `finalize`; only its lower triangle is read and it is
 * not modified; its scale does not matter). Dispatches are recorded into `batch` (after what it
 * holds) or a new batch, which is submitted; one readback per attempt. A failed inverse (not
 * expected: the normalised matrix has eigenvalues ≥ δ + ρ) is retried from the original W with
 * 10× the damping; W never receives NaN or Inf from the method.
 */
export async function admm(
  gpu: Gpu,
  batch: Batch | undefined,
  W: GpuTensor,
  H: GpuTensor,
  pattern: SparsityPattern,
  opts: AdmmOptions = {},
): Promise<AdmmResult> {
  const o: Required<AdmmOptions> = {
    iterations: opts.iterations ?? 20,
    maskSteps: opts.maskSteps ?? Math.min(15, opts.iterations ?? 20),
    rho: opts.rho ?? 0.3,
    percdamp: opts.percdamp ?? 0.01,
    schedule: opts.schedule ?? "cubic",
    scope: opts.scope ?? "matrix",
    maxRetries: opts.maxRetries ?? 3,
  };
  const { rows, cols } = check(W, H, pattern, o);
  const original = gpu.alloc([rows, cols], "admm/original");
  try {
    let b = batch ?? gpu.batch("admm");
    b.copy(W.buffer, 0, original.buffer, 0, rows * cols * 4);
    for (let attempt = 0;; attempt++) {
      const temps = new Temps(gpu);
      try {
        const info = recordAdmm(gpu, b, W, H, pattern, o, temps);
        b.submit();
        const bytes = await gpu.readBytes(info.buffer, 0, (SUMSQ_PARTIALS + 1) * 4);
        const failed = new Uint32Array(bytes, SUMSQ_PARTIALS * 4, 1)[0] !== FAIL_NONE;
        if (!failed || attempt >= o.maxRetries) {
          const [diff, z] = finishSumSq(new Float32Array(bytes, 0, SUMSQ_PARTIALS));
          if (failed) {
            b = gpu.batch("admm-restore");
            b.copy(original.buffer, 0, W.buffer, 0, rows * cols * 4);
            recordDeadColumns(b, W, H, rows, cols);
            b.submit();
          }
          return {
            residual: failed ? NaN : Math.sqrt(diff / Math.max(z, 1e-30)),
            percdamp: o.percdamp,
            retries: attempt,
            inverseFailed: failed,
          };
        }
      } finally {
        temps.free();
      }
      o.percdamp = o.percdamp > 0 ? o.percdamp * 10 : 0.01;
      b = gpu.batch("admm-retry");
      b.copy(original.buffer, 0, W.buffer, 0, rows * cols * 4);
    }
  } finally {
    gpu.free(original);
  }
}

/**
 * ADMM as a layer solver, with its iteration count and penalty. With `quant` the mask ADMM
 * fixed is kept and the weights are then quantized by GPTQ with that mask
 * ({@linkcode quantizeWithMask}), so the rounding error is compensated as in SparseGPT's sweep.
 */
export function admmSolver(settings: { iterations: number; rho: number }): MatrixSolver {
  return {
    name: "admm",
    async solve(gpu, w, h, o) {
      const r = await admm(gpu, undefined, w, h, o.pattern, {
        iterations: settings.iterations,
        rho: settings.rho,
        percdamp: o.percdamp,
      });
      if (o.quant && !r.inverseFailed) await quantizeWithMask(gpu, w, h, o);
      return r.percdamp;
    },
  };
}

/** ADMM as a pipeline method: every matrix pruned with its input's Hessian (kept unmodified). */
export const admmMethod: PruneMethod = {
  name: "admm",
  needsCalibration: true,
  maxM: MAX_NM_M,
  stats: () => ({}),
  async pruneLayer(job) {
    const solver = admmSolver({ iterations: job.options.admmIters, rho: job.options.admmRho });
    const matrices = await pruneEach(job, job.arch.linears, (spec) => {
      const w = job.weights.linear(spec.role).weight;
      const h = job.stats.hessians.get(spec.input)!;
      // ADMM keeps H; quantizing overwrites it, so that runs on a copy
      const o = { ...job.options, ...job.quant?.hooks() };
      return job.options.quant
        ? solveOnCopy(job.gpu, solver, w, h, o)
        : solver.solve(job.gpu, w, h, o);
    });
    return { matrices };
  },
};
