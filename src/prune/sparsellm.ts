/**
 * SparseLLM for one feed-forward block: the FFN's linears are pruned jointly by alternating
 * minimisation over their weights and auxiliary variables (Bai et al., NeurIPS 2024), judged by
 * the real FFN output error on the calibration tokens.
 *
 * OPT:   Y = W2·relu(W1·x + b1) + b2          LLaMA: Y = Wd·(silu(Wg·x) ⊙ Wu·x)
 *
 * Relaxed objective (T = Y − b2, the target of the second linear; z, s, p auxiliaries):
 *   β‖T − Ŵ2·p‖² + γ‖p − φ(z)‖² + α‖z − Ŵ1·x − b1‖²   (+ α‖s − Ŵg·x‖² for LLaMA's gate)
 *
 * One outer iteration:
 * 1. p-update, the ridge closed form `p = (βŴ2ᵀŴ2 + γI)⁻¹(βŴ2ᵀT + γφ(z))`, computed through the
 *    Woodbury identity as `p = q + Ŵ2ᵀ(γ/β·I + Ŵ2Ŵ2ᵀ)⁻¹(T − Ŵ2·q)` with `q = φ(z)` (a d×d solve
 *    instead of f×f);
 * 2. z-update: the two-case ReLU minimiser (OPT), or the exact minimiser
 *    `(αm + γσp)/(α + γσ²)` of the up branch and safeguarded Gauss-Newton steps on the gate
 *    pre-activation s (LLaMA);
 * 3. least-squares refit of the first linear(s) to the new pre-activations through damped normal
 *    equations `W = (z − b)ᵀX·(XᵀX + λI)⁻¹` accumulated over token chunks, then SparseGPT
 *    re-pruning with the input Hessian;
 * 4. consistency: the second linear is refitted by least squares on the activations the pruned
 *    first linear(s) really produce and re-pruned with SparseGPT using the Hessian rebuilt from
 *    those activations.
 *
 * Iterate 0 is plain SparseGPT (second linear pruned with the Hessian of the dense activations).
 * Every iterate's real output error ‖T − Ŵ2·φ̂‖²/‖T‖² is measured (iterate 0 by a pass over the
 * tokens, later ones from the Gram statistics TᵀA and AᵀA the consistency step accumulates anyway)
 * and the best one is kept, so the result is never worse than SparseGPT on the calibration tokens.
 * α and γ grow by `growth` after each iteration (as in penalty methods) so that the auxiliaries
 * converge to the real chain.
 * Penalties are relative: γ is scaled by mean(diag(Ŵ2Ŵ2ᵀ)) and α is taken relative to γ, so the
 * defaults do not depend on the scale of a layer's activations.
 *
 * Tokens are processed in chunks (the caller's chunking of the calibration set), so GPU buffers
 * are bounded by the chunk size, not the number of calibration tokens.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { matmul } from "../kernels/matmul.ts";
import { AuxMode, auxOp } from "../kernels/auxiliary.ts";
import { finishSumSq, recordSumSq, SUMSQ_PARTIALS } from "../kernels/reduce.ts";
import {
  dampedInverse,
  recordNormalRhs,
  recordPUpdate,
  recordRidgeSolve,
  woodburyInverse,
} from "./sparsellm_steps.ts";
import { HessianAccumulator } from "./hessian.ts";
import { sparsegpt } from "./sparsegpt.ts";
import { relativeError } from "./rel_error.ts";
import { type AuxChunk, AuxStore } from "./aux_store.ts";
import type { SparsityPattern } from "./types.ts";

/**
 * A linear layer on the GPU: weight [rows = outputs, cols = inputs], optional bias [rows].
 *
 * @example Upload fc1 of a 64-wide OPT layer
 * ```ts
 * import { type FfnLinear, getGpu } from "@sparsellm/sparsellm";
 *
 * const gpu = await getGpu();
 * const fc1: FfnLinear = {
 *   weight: gpu.upload(new Float32Array(256 * 64), [256, 64], "fc1.weight"),
 *   bias: gpu.upload(new Float32Array(256), [256], "fc1.bias"),
 * };
 * ```
 */
export interface FfnLinear {
  /** Weight, pruned in place. */
  weight: GpuTensor;
  /** Optional bias (never changed). */
  bias?: GpuTensor;
}

/**
 * One chunk of calibration tokens: the FFN input rows.
 *
 * @example Four sequences of 128 tokens
 * ```ts
 * import { type FfnChunk, getGpu } from "@sparsellm/sparsellm";
 *
 * const gpu = await getGpu();
 * const chunk: FfnChunk = { x: gpu.alloc([4 * 128, 64], "ffn_in"), tokens: 4 * 128, nseq: 4 };
 * ```
 */
export interface FfnChunk {
  /** FFN input (after the norm), [tokens, d]. */
  x: GpuTensor;
  /** Tokens in this chunk. */
  tokens: number;
  /** Sequences in this chunk. */
  nseq: number;
  /**
   * What the FFN should output for these tokens, without the second linear's bias, [tokens, d]
   * (not modified). Default: the dense FFN's own output on `x`.
   */
  target?: GpuTensor;
}

/**
 * The FFN of one decoder layer plus its calibration input.
 *
 * @example The feed-forward block of an OPT layer
 * ```ts
 * import { type FfnChunk, type FfnLinear, type FfnProblem, getGpu } from "@sparsellm/sparsellm";
 *
 * declare const chunks: FfnChunk[];
 * declare const fc1: FfnLinear;
 * declare const fc2: FfnLinear;
 * const gpu = await getGpu();
 * const problem: FfnProblem = {
 *   kind: "relu",
 *   chunks,
 *   nseq: 128,
 *   d: 64,
 *   f: 256,
 *   up: fc1,
 *   down: fc2,
 *   hx: gpu.alloc([64, 64], "Hx"),
 * };
 * ```
 */
export interface FfnProblem {
  /** `relu` (OPT: fc1 → ReLU → fc2) or `glu` (LLaMA: silu(gate)·up → down). */
  kind: "relu" | "glu";
  /** Calibration input in chunks of tokens. */
  chunks: FfnChunk[];
  /** Number of calibration sequences (the Hessian normalisation). */
  nseq: number;
  /** Hidden size. */
  d: number;
  /** FFN width. */
  f: number;
  /** fc1 (OPT) or up_proj (LLaMA). */
  up: FfnLinear;
  /** gate_proj (LLaMA only). */
  gate?: FfnLinear;
  /** fc2 (OPT) or down_proj (LLaMA). */
  down: FfnLinear;
  /** Undamped Hessian of the input, (2/nseq)·XᵀX, [d, d]; not modified. */
  hx: GpuTensor;
}

/**
 * Options of {@linkcode sparsellmFfn}.
 *
 * @example Eight iterations at 70 % sparsity
 * ```ts
 * import { SPARSELLM_DEFAULTS, type SparseLLMOptions } from "@sparsellm/sparsellm";
 *
 * const options: SparseLLMOptions = {
 *   ...SPARSELLM_DEFAULTS,
 *   pattern: { kind: "unstructured", sparsity: 0.7 },
 *   iters: 8,
 *   onIterate: (it) => console.log(it.iter, it.outputError),
 * };
 * ```
 */
export interface SparseLLMOptions {
  /** Target sparsity pattern. */
  pattern: SparsityPattern;
  /** Outer iterations after iterate 0 (default 4). */
  iters: number;
  /** Penalty on the linear constraints z = W1·x + b1, relative to γ. */
  alpha: number;
  /** Weight of the output term ‖T − W2·p‖². */
  beta: number;
  /** Penalty on the activation constraint p = φ(z), relative to mean(diag(Ŵ2Ŵ2ᵀ)). */
  gamma: number;
  /** Factor by which α and γ grow after every iteration (1 = constant). */
  growth: number;
  /** SparseGPT block size. */
  blocksize: number;
  /** SparseGPT / least-squares damping as a fraction of mean(diag(H)). */
  percdamp: number;
  /**
   * Strength of the least-squares refits' pull towards the dense weights, as a fraction of
   * mean(diag(H)) (default: `percdamp`). Larger values fit the calibration tokens less closely.
   */
  refitDamp?: number;
  /**
   * Stop after an iteration (from the second on) that improves the best real output error by
   * less than this fraction (default 0.01; 0 runs all `iters`).
   */
  tolerance: number;
  /** Called after every iterate (for progress reporting). */
  onIterate?: (it: FfnIterate) => void;
  /**
   * Largest number of bytes the auxiliary variables (FFN width × tokens each) may take on the
   * GPU; beyond it they are kept in host memory and moved chunk by chunk. Default: unlimited.
   */
  auxMemory?: number;
}

/**
 * One measured iterate.
 *
 * @example Log every iterate
 * ```ts
 * import { SPARSELLM_DEFAULTS } from "@sparsellm/sparsellm";
 * import type { FfnIterate, SparseLLMOptions } from "@sparsellm/sparsellm";
 *
 * const log = (it: FfnIterate) =>
 *   console.log(`iterate ${it.iter}: error ${it.outputError.toExponential(3)} (${it.seconds} s)`);
 * const options: SparseLLMOptions = { ...SPARSELLM_DEFAULTS, pattern: { kind: "nm", n: 2, m: 4 } };
 * options.onIterate = log;
 * ```
 */
export interface FfnIterate {
  /** 0 = SparseGPT, 1.. = alternating iterations. */
  iter: number;
  /** Real output error ‖T − Ŵ2·φ(Ŵ1·x + b1)‖² / ‖T‖² on the calibration tokens. */
  outputError: number;
  /** Relaxed objective terms after the auxiliary updates, each divided by ‖T‖². */
  relaxed?: { output: number; activation: number; linear: number };
  /** α used. */
  alpha?: number;
  /** γ used. */
  gamma?: number;
  /** Seconds spent on this iterate. */
  seconds: number;
}

/**
 * What {@linkcode sparsellmFfn} did.
 *
 * @example How much SparseLLM gained over SparseGPT
 * ```ts
 * import type { FfnReport, PrunedModel } from "@sparsellm/sparsellm";
 *
 * declare const pruned: PrunedModel;
 * const report: FfnReport | undefined = pruned.layers[0].ffn;
 * if (report) {
 *   const gain = 1 - report.finalError / report.sparsegptError;
 *   console.log(`kept iterate ${report.kept}: ${(100 * gain).toFixed(1)} % below SparseGPT`);
 * }
 * ```
 */
export interface FfnReport {
  /** Every iterate, in order. */
  iterates: FfnIterate[];
  /** Index into `iterates` of the kept weights. */
  kept: number;
  /** SparseGPT's output error (iterate 0). */
  sparsegptError: number;
  /** Output error of the kept weights. */
  finalError: number;
  /** Largest damping fraction SparseGPT had to use (after retries). */
  maxDamping: number;
  /** Whether the auxiliary variables were kept in host memory (see `auxMemory`). */
  auxSpilled: boolean;
  /** Bytes the auxiliary variables took. */
  auxBytes: number;
  /**
   * Relative error ‖W2·A − Ŵ2·A‖²/‖W2·A‖² of the kept second linear alone, on the dense
   * activations A of this FFN's calibration inputs.
   */
  downRelError: number;
}

/**
 * Default SparseLLM options, chosen by measurement on the fixtures (see BENCHMARKS.md).
 *
 * @example Read the defaults
 * ```ts
 * import { SPARSELLM_DEFAULTS } from "@sparsellm/sparsellm";
 *
 * console.log(SPARSELLM_DEFAULTS.iters, SPARSELLM_DEFAULTS.growth); // 4 2
 * ```
 */
export const SPARSELLM_DEFAULTS: Omit<SparseLLMOptions, "pattern"> = {
  iters: 4,
  alpha: 1,
  beta: 1,
  gamma: 1,
  growth: 2,
  blocksize: 128,
  percdamp: 0.01,
  tolerance: 0.01,
};

interface Scratch {
  q: GpuTensor; // [nmax, f]
  act: GpuTensor; // [nmax, f]
  r: GpuTensor; // [nmax, d]
  r2: GpuTensor; // [nmax, d]
  hp: GpuTensor; // [f, f]
  hpInv: GpuTensor; // [f, f]
  hxInv: GpuTensor; // [d, d]
  workD: GpuTensor; // [d, d]
  workF: GpuTensor; // [f, f]
  status: GpuTensor; // u32 Cholesky status
  cUp: GpuTensor; // [f, d]
  cDown: GpuTensor; // [d, f]
  small: GpuTensor; // [d, d]
  smallInv: GpuTensor; // [d, d]
  partial: GpuTensor; // reductions, 4 slots
}

function linear(
  b: Batch,
  x: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor | undefined,
  out: GpuTensor,
  n: number,
  inDim: number,
  outDim: number,
): void {
  matmul(b, { a: x, b: w, c: out, M: n, N: outDim, K: inDim, transB: true, bias });
}

function copy(b: Batch, src: GpuTensor, dst: GpuTensor, count = src.size): void {
  b.copy(src.buffer, 0, dst.buffer, 0, count * 4);
}

/**
 * Prunes one FFN with SparseLLM, in place. Returns per-iterate diagnostics; the weights left in
 * `problem.up/gate/down` are those of the best iterate by real output error.
 *
 * @example Prune one feed-forward block to 2:4
 * ```ts
 * import { type FfnProblem, getGpu, SPARSELLM_DEFAULTS, sparsellmFfn } from "@sparsellm/sparsellm";
 *
 * declare const problem: FfnProblem;
 * const report = await sparsellmFfn(await getGpu(), problem, {
 *   ...SPARSELLM_DEFAULTS,
 *   pattern: { kind: "nm", n: 2, m: 4 },
 * });
 * console.log(report.sparsegptError, report.finalError);
 * ```
 */
export async function sparsellmFfn(
  gpu: Gpu,
  pr: FfnProblem,
  o: SparseLLMOptions,
): Promise<FfnReport> {
  const { d, f, nseq } = pr;
  const glu = pr.kind === "glu";
  if (glu && !pr.gate) throw new TypeError("A GLU feed-forward block needs a gate linear");
  const firsts = glu ? [pr.gate!, pr.up] : [pr.up];
  const nmax = Math.max(...pr.chunks.map((c) => c.tokens));
  const sc: Scratch = {
    q: gpu.alloc([nmax, f], "sparsellm/q"),
    act: gpu.alloc([nmax, f], "sparsellm/act"),
    r: gpu.alloc([nmax, d], "sparsellm/r"),
    r2: gpu.alloc([nmax, d], "sparsellm/r2"),
    hp: gpu.alloc([f, f], "sparsellm/Hp"),
    hpInv: gpu.alloc([f, f], "sparsellm/HpInv"),
    hxInv: gpu.alloc([d, d], "sparsellm/HxInv"),
    workD: gpu.alloc([d, d], "sparsellm/workD"),
    workF: gpu.alloc([f, f], "sparsellm/workF"),
    status: gpu.alloc([1], "sparsellm/status", "u32"),
    cUp: gpu.alloc([f, d], "sparsellm/Cup"),
    cDown: gpu.alloc([d, f], "sparsellm/Cdown"),
    small: gpu.alloc([d, d], "sparsellm/A"),
    smallInv: gpu.alloc([d, d], "sparsellm/Ainv"),
    partial: gpu.alloc([5 * SUMSQ_PARTIALS], "sparsellm/partials"),
  };
  const store = AuxStore.create(gpu, pr.chunks, d, f, glu, o.auxMemory ?? Infinity);
  const hp = new HessianAccumulator(gpu, f, { h: sc.hp });
  const hp0 = gpu.alloc([f, f], "sparsellm/Hp0");
  const best = firsts.map((_, i) => gpu.alloc([f, d], `sparsellm/best${i}`));
  const dense = firsts.map((_, i) => gpu.alloc([f, d], `sparsellm/dense${i}`));
  const denseDown = gpu.alloc([d, f], "sparsellm/denseDown");
  const bestDown = gpu.alloc([d, f], "sparsellm/bestDown");
  let maxDamping = o.percdamp;
  const iterates: FfnIterate[] = [];
  const push = (it: FfnIterate) => {
    iterates.push(it);
    o.onIterate?.(it);
  };
  try {
    // Dense pass: target T = W2·φ(W1·x + b1) without b2; auxiliaries start at their dense values;
    // Hessian of the dense activations for iterate 0's SparseGPT on the second linear.
    let b = gpu.batch("sparsellm/dense");
    firsts.forEach((l, i) => copy(b, l.weight, dense[i]));
    copy(b, pr.down.weight, denseDown);
    b.submit();
    hp.reset();
    await store.each("sparsellm/dense", {
      reads: [],
      writes: ["z", "s", "p", "t"],
      finish: (b) => {
        hp.finalize(b);
        copy(b, sc.hp, hp0);
      },
    }, (b, c, i) => {
      preActivations(b, pr, c.x, c.n, glu ? c.s! : c.z, c.z);
      activation(b, pr, c.n, c.z, c.s, c.p);
      if (!pr.chunks[i].target) linear(b, c.p, pr.down.weight, undefined, c.t, c.n, f, d);
      hp.add(b, c.p, c.nseq, { tokens: c.n });
    });

    // Iterate 0: SparseGPT on every FFN linear.
    let t0 = performance.now();
    for (const l of firsts) maxDamping = Math.max(maxDamping, await pruneFirst(gpu, pr, l, sc, o));
    maxDamping = Math.max(maxDamping, await sparsegptInPlace(gpu, pr.down.weight, sc.hp, o));
    let err = await outputError(gpu, pr, store, sc);
    let bestErr = err, kept = 0;
    const save = () => {
      const sb = gpu.batch("sparsellm/keep");
      firsts.forEach((l, i) => copy(sb, l.weight, best[i]));
      copy(sb, pr.down.weight, bestDown);
      sb.submit();
    };
    save();
    push({ iter: 0, outputError: err, seconds: (performance.now() - t0) / 1000 });

    let alpha = o.alpha, gamma = o.gamma;
    for (let it = 1; it <= o.iters; it++) {
      t0 = performance.now();
      // 1. p-update through a d×d solve with the current pruned second linear.
      const ridge = await woodburyInverse(
        gpu,
        pr.down.weight,
        d,
        f,
        gamma / o.beta,
        sc.small,
        sc.smallInv,
        sc.status,
      );
      const aRel = alpha / gamma;
      // The relaxed objective's terms come out of the updates almost for free: with
      // A = ridge·I + Ŵ2Ŵ2ᵀ and S = (T − q·Ŵ2ᵀ)·A⁻¹, the output residual T − p·Ŵ2ᵀ is ridge·S.
      let sOut = 0, sT = 0, sLin = 0, sAct = 0;
      await store.each(`sparsellm/aux${it}`, {
        reads: ["t", "z", "s", "pre", "preGate"],
        writes: ["z", "s", "p"],
        after: async () => {
          const v = await gpu.read(sc.partial);
          const part = (k: number) =>
            finishSumSq(v.subarray(k * SUMSQ_PARTIALS, (k + 1) * SUMSQ_PARTIALS))[0];
          sOut += ridge * ridge * part(0);
          sT += part(1);
          sLin += part(2) + (glu ? part(3) : 0);
          sAct += part(4);
        },
      }, (b, c) => {
        activation(b, pr, c.n, c.z, c.s, sc.q);
        recordPUpdate(b, {
          t: c.t,
          q: sc.q,
          w2: pr.down.weight,
          aInv: sc.smallInv,
          p: c.p,
          r: sc.r,
          r2: sc.r2,
          n: c.n,
          d,
          f,
        });
        recordSumSq(b, c.n, d, { t: sc.r2 }, undefined, sc.partial, "sq", 0);
        recordSumSq(b, c.n, d, { t: c.t }, undefined, sc.partial, "sq", 1);
        // 2. z-update (and s-update) against the current pruned first linear(s).
        const count = c.n * f;
        // c.pre / c.preGate hold the current first linears' pre-activations (set when the last
        // iterate's real error was measured; the first linears have not changed since).
        if (glu) {
          auxOp(b, AuxMode.zGlu, {
            out: c.z,
            inputs: [c.pre, c.p, c.s!],
            count,
            alpha: aRel,
            gamma: 1,
          });
          recordSumSq(b, c.n, f, { t: c.z }, { t: c.pre }, sc.partial, "diff", 2);
          auxOp(b, AuxMode.sGlu, {
            out: c.s!,
            inputs: [c.preGate!, c.p, c.z],
            count,
            alpha: aRel,
            gamma: 1,
            steps: 8,
          });
          recordSumSq(b, c.n, f, { t: c.s! }, { t: c.preGate! }, sc.partial, "diff", 3);
        } else {
          auxOp(b, AuxMode.zRelu, { out: c.z, inputs: [c.pre, c.p], count, alpha: aRel, gamma: 1 });
          recordSumSq(b, c.n, f, { t: c.z }, { t: c.pre }, sc.partial, "diff", 2);
        }
        activation(b, pr, c.n, c.z, c.s, sc.q);
        recordSumSq(b, c.n, f, { t: c.p }, { t: sc.q }, sc.partial, "diff", 4);
      });
      const norm = Math.max(sT, 1e-30);
      const relaxed = {
        output: (o.beta * sOut) / norm,
        activation: (gamma * sAct) / norm,
        linear: (alpha * sLin) / norm,
      };
      // 3. Refit the first linear(s) by ridge regression towards the dense weights:
      //    W = ((2/nseq)(z − b)ᵀX + λ·W_dense)(Hx + λI)⁻¹, then SparseGPT.
      const refitDamp = o.refitDamp ?? o.percdamp;
      const lx = await dampedInverse(gpu, pr.hx, d, sc.hxInv, sc.workD, sc.status, refitDamp);
      for (const [li, l] of firsts.entries()) {
        await store.each(`sparsellm/refit${it}`, {
          reads: [glu && li === 0 ? "s" : "z"],
          writes: [],
          finish: (b) => recordRidgeSolve(b, sc.cUp, dense[li], lx, sc.hxInv, l.weight, f, d),
        }, (b, c, ci) => {
          let tgt = glu && li === 0 ? c.s! : c.z;
          if (l.bias) {
            copy(b, tgt, sc.q, c.n * f);
            auxOp(b, AuxMode.rowBias, {
              out: sc.q,
              inputs: [l.bias],
              count: c.n * f,
              cols: f,
              scale: -1,
            });
            tgt = sc.q;
          }
          recordNormalRhs(b, tgt, c.x, sc.cUp, f, d, c.n, nseq, ci > 0);
        });
        maxDamping = Math.max(maxDamping, await pruneFirst(gpu, pr, l, sc, o));
      }
      // 4. Consistency: refit and re-prune the second linear on the real activations.
      hp.reset();
      await store.each(`sparsellm/consistency${it}`, {
        reads: ["t"],
        writes: ["pre", "preGate"],
        finish: (b) => hp.finalize(b),
      }, (b, c, ci) => {
        realActivations(b, pr, c, sc);
        hp.add(b, sc.act, c.nseq, { tokens: c.n });
        recordNormalRhs(b, c.t, sc.act, sc.cDown, d, f, c.n, nseq, ci > 0);
      });
      const lp = await dampedInverse(gpu, sc.hp, f, sc.hpInv, sc.workF, sc.status, refitDamp);
      b = gpu.batch(`sparsellm/down${it}`);
      // Keep C = (2/nseq)·TᵀA and Hp (SparseGPT factorises it in place) for the output error.
      copy(b, sc.cDown, sc.cUp, d * f);
      recordRidgeSolve(b, sc.cDown, denseDown, lp, sc.hpInv, pr.down.weight, d, f);
      copy(b, sc.hp, sc.hpInv, f * f);
      b.submit();
      maxDamping = Math.max(maxDamping, await sparsegptInPlace(gpu, pr.down.weight, sc.hp, o));
      err = await gramOutputError(gpu, pr, sc, (2 / nseq) * sT);
      // Converged when an iteration improves the best real output error by less than 1 %.
      const converged = it > 1 && err > bestErr * (1 - o.tolerance);
      if (err < bestErr) {
        bestErr = err;
        kept = it;
        save();
      }
      push({
        iter: it,
        outputError: err,
        relaxed,
        alpha,
        gamma,
        seconds: (performance.now() - t0) / 1000,
      });
      alpha *= o.growth;
      gamma *= o.growth;
      if (converged) break;
    }
    b = gpu.batch("sparsellm/restore");
    firsts.forEach((l, i) => copy(b, best[i], l.weight));
    copy(b, bestDown, pr.down.weight);
    b.submit();
    const downRelError = await relativeError(gpu, denseDown, pr.down.weight, hp0, d, f);
    return {
      iterates,
      kept,
      sparsegptError: iterates[0].outputError,
      finalError: bestErr,
      maxDamping,
      auxSpilled: store.spilled,
      auxBytes: store.bytes,
      downRelError,
    };
  } finally {
    gpu.free(...Object.values(sc), ...best, bestDown, ...dense, denseDown, hp0);
    store.free();
  }
}

/** Records the pre-activations of the first linear(s): OPT z = W1·x + b1; LLaMA s = Wg·x, z = Wu·x. */
function preActivations(
  b: Batch,
  pr: FfnProblem,
  x: GpuTensor,
  n: number,
  gateOut: GpuTensor,
  upOut: GpuTensor,
): void {
  if (pr.kind === "glu") linear(b, x, pr.gate!.weight, pr.gate!.bias, gateOut, n, pr.d, pr.f);
  linear(b, x, pr.up.weight, pr.up.bias, upOut, n, pr.d, pr.f);
}

/** Records φ: relu(z) or silu(s)·z. */
function activation(
  b: Batch,
  pr: FfnProblem,
  n: number,
  z: GpuTensor,
  s: GpuTensor | undefined,
  out: GpuTensor,
): void {
  const count = n * pr.f;
  if (pr.kind === "glu") auxOp(b, AuxMode.glu, { out, inputs: [s!, z], count });
  else auxOp(b, AuxMode.relu, { out, inputs: [z], count });
}

/**
 * Records the chunk's pre-activations of the current (pruned) first linear(s) (kept in
 * `c.pre`/`c.preGate` for the next iteration's z-update) and their activations into `sc.act`.
 */
function realActivations(b: Batch, pr: FfnProblem, c: AuxChunk, sc: Scratch): void {
  preActivations(b, pr, c.x, c.n, c.preGate ?? c.pre, c.pre);
  activation(b, pr, c.n, c.pre, c.preGate, sc.act);
}

/** SparseGPT on a first linear with the input Hessian (on a copy). Returns the damping used. */
async function pruneFirst(
  gpu: Gpu,
  pr: FfnProblem,
  l: FfnLinear,
  sc: Scratch,
  o: SparseLLMOptions,
): Promise<number> {
  const b = gpu.batch("sparsellm/hx");
  copy(b, pr.hx, sc.workD, pr.d * pr.d);
  b.submit();
  return await sparsegptInPlace(gpu, l.weight, sc.workD, o);
}

async function sparsegptInPlace(
  gpu: Gpu,
  w: GpuTensor,
  h: GpuTensor,
  o: SparseLLMOptions,
): Promise<number> {
  const r = await sparsegpt(gpu, undefined, w, h, o.pattern, {
    blocksize: o.blocksize,
    percdamp: o.percdamp,
  });
  return r.percdamp;
}

/**
 * Real output error of the current second linear on the activations A of the consistency pass,
 * from their Gram statistics instead of another pass over the tokens:
 * ‖T − A·Ŵ2ᵀ‖² = ‖T‖² − 2⟨Ŵ2, TᵀA⟩ + ⟨Ŵ2·AᵀA, Ŵ2⟩, all scaled by 2/nseq. Expects
 * `sc.cUp` = (2/nseq)·TᵀA (as [d, f]), `sc.hpInv` = (2/nseq)·AᵀA (full), `tNorm` = (2/nseq)·‖T‖².
 */
async function gramOutputError(
  gpu: Gpu,
  pr: FfnProblem,
  sc: Scratch,
  tNorm: number,
): Promise<number> {
  const { d, f } = pr;
  const b = gpu.batch("sparsellm/gram-error");
  matmul(b, { a: pr.down.weight, b: sc.hpInv, c: sc.cDown, M: d, N: f, K: f });
  auxOp(b, AuxMode.rowBias, {
    out: sc.cDown,
    inputs: [sc.cUp],
    count: d * f,
    cols: d * f,
    scale: -2,
  });
  recordSumSq(b, d, f, { t: pr.down.weight }, { t: sc.cDown }, sc.partial, "dot", 0);
  b.submit();
  const [dot] = finishSumSq(await gpu.read(sc.partial, 0, SUMSQ_PARTIALS));
  return Math.max(0, tNorm + dot) / Math.max(tNorm, 1e-30);
}

/**
 * Real output error ‖T − Ŵ2·φ(Ŵ1·x + b1)‖² / ‖T‖² of the current weights, by a pass over the
 * tokens that also refreshes the cached pre-activations (iterate 0).
 */
async function outputError(
  gpu: Gpu,
  pr: FfnProblem,
  store: AuxStore,
  sc: Scratch,
): Promise<number> {
  let diff = 0, ref = 0;
  await store.each("sparsellm/error", {
    reads: ["t"],
    writes: ["pre", "preGate"],
    after: async () => {
      const [a, r] = finishSumSq(await gpu.read(sc.partial, 0, SUMSQ_PARTIALS));
      diff += a;
      ref += r;
    },
  }, (b, c) => {
    realActivations(b, pr, c, sc);
    linear(b, sc.act, pr.down.weight, undefined, sc.r, c.n, pr.f, pr.d);
    recordSumSq(b, c.n, pr.d, { t: sc.r }, { t: c.t }, sc.partial);
  });
  return diff / Math.max(ref, 1e-30);
}
