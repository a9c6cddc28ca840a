/**
 * The steps of one SparseLLM outer iteration (Bai et al., NeurIPS 2024, Algorithm 1), each a
 * pass over the calibration tokens:
 *
 * 1. p-update: `p = (βŴ2ᵀŴ2 + γI)⁻¹(βŴ2ᵀT + γφ(z))`, through the Woodbury identity;
 * 2. z-update (and s for GLU): the minimisers of α‖z − Ŵ1·x − b1‖² + γ‖p − φ(z)‖²;
 * 3. weight refit of the first linear(s) to the new pre-activations, then re-pruning;
 * 4. consistency: the second linear refitted on the activations the pruned first linear(s)
 *    really produce, then re-pruned, and the real output error measured.
 *
 * @module
 */

import type { Gpu } from "../../gpu/device.ts";
import type { GpuTensor } from "../../gpu/tensor.ts";
import { addScaled } from "../../kernels/add_scaled.ts";
import { AuxMode, auxOp } from "../../kernels/auxiliary.ts";
import { matmul } from "../../kernels/matmul.ts";
import { finishSumSq, recordSumSq, SUMSQ_PARTIALS } from "../../kernels/reduce.ts";
import type { HessianAccumulator } from "../hessian.ts";
import { type MatrixSolver, solveOnCopy } from "../solver.ts";
import { dampedInverse, recordNormalRhs, recordPUpdate, recordRidgeSolve } from "./algebra.ts";
import {
  activation,
  auxChunk,
  type AuxStore,
  copy,
  linear,
  realActivations,
} from "./auxiliaries.ts";
import type { FfnIterate, FfnLinear, FfnProblem, SparseLLMOptions } from "./types.ts";

/** GPU work arrays of one FFN, allocated once for all iterations. */
export interface Workspace {
  /** φ(z) per token, [tokens, f]; also the bias-free refit target. */
  q: GpuTensor;
  /** Real activations of the pruned first linear(s), [tokens, f]. */
  act: GpuTensor;
  /** Output residual T − q·Ŵ2ᵀ, [tokens, d]. */
  r: GpuTensor;
  /** The residual times (γ/β·I + Ŵ2Ŵ2ᵀ)⁻¹, [tokens, d]. */
  r2: GpuTensor;
  /** Hessian of the activations (2/nseq)·AᵀA, [f, f]. */
  hp: GpuTensor;
  /** The damped inverse of `hp`, then the solver's working copy of it, [f, f]. */
  ffWork: GpuTensor;
  /** Work matrix of the damped f×f inverse, [f, f]. */
  ffTmp: GpuTensor;
  /** The damped inverse of the input Hessian, [d, d]. */
  hxInv: GpuTensor;
  /** Work matrix of the damped d×d inverse, [d, d]. */
  ddTmp: GpuTensor;
  /** Woodbury's γ/β·I + Ŵ2Ŵ2ᵀ and its inverse, [d, d] each. */
  ridge: GpuTensor;
  /** See `ridge`. */
  ridgeInv: GpuTensor;
  /** Cholesky status word. */
  status: GpuTensor;
  /** Normal-equation right-hand side of a first linear, (2/nseq)·(z − b)ᵀX, [f, d]. */
  rhsUp: GpuTensor;
  /** Normal-equation right-hand side of the second linear, (2/nseq)·TᵀA, [d, f]. */
  rhsDown: GpuTensor;
  /** (2/nseq)·TᵀA kept for the output error while `rhsDown` is consumed, [d, f]. */
  keptTA: GpuTensor;
  /** Reduction partials, five slots. */
  partial: GpuTensor;
}

/** Allocates the workspace for chunks of at most `nmax` tokens. */
export function allocWorkspace(gpu: Gpu, nmax: number, d: number, f: number): Workspace {
  const a = (shape: number[], name: string) => gpu.alloc(shape, `sparsellm/${name}`);
  return {
    q: a([nmax, f], "q"),
    act: a([nmax, f], "act"),
    r: a([nmax, d], "r"),
    r2: a([nmax, d], "r2"),
    hp: a([f, f], "Hp"),
    ffWork: a([f, f], "ffWork"),
    ffTmp: a([f, f], "ffTmp"),
    hxInv: a([d, d], "HxInv"),
    ddTmp: a([d, d], "ddTmp"),
    ridge: a([d, d], "ridge"),
    ridgeInv: a([d, d], "ridgeInv"),
    status: gpu.alloc([1], "sparsellm/status", "u32"),
    rhsUp: a([f, d], "rhsUp"),
    rhsDown: a([d, f], "rhsDown"),
    keptTA: a([d, f], "keptTA"),
    partial: a([5 * SUMSQ_PARTIALS], "partials"),
  };
}

/** Steps 1 and 2 in one pass: the p-update, then the z (and s) update. */
export async function updateAuxiliaries(
  gpu: Gpu,
  pr: FfnProblem,
  store: AuxStore,
  ws: Workspace,
  it: number,
  w: { ridge: number; alphaRel: number; beta: number; alpha: number; gamma: number },
): Promise<NonNullable<FfnIterate["relaxed"]> & { tNorm: number }> {
  const { d, f } = pr;
  const glu = pr.kind === "glu";
  // The relaxed objective's terms come out of the updates almost for free: with
  // A = ridge·I + Ŵ2Ŵ2ᵀ and S = (T − q·Ŵ2ᵀ)·A⁻¹, the output residual T − p·Ŵ2ᵀ is ridge·S.
  let sOut = 0, sT = 0, sLin = 0, sAct = 0;
  await store.each(`sparsellm/aux${it}`, {
    reads: ["t", "z", "s", "pre", "preGate"],
    writes: ["z", "s", "p"],
    after: async () => {
      const v = await gpu.read(ws.partial);
      const part = (k: number) =>
        finishSumSq(v.subarray(k * SUMSQ_PARTIALS, (k + 1) * SUMSQ_PARTIALS))[0];
      sOut += w.ridge * w.ridge * part(0);
      sT += part(1);
      sLin += part(2) + (glu ? part(3) : 0);
      sAct += part(4);
    },
  }, (b, chunk) => {
    const c = auxChunk(chunk);
    const n = c.tokens;
    // 1. p-update through a d×d solve with the current pruned second linear.
    activation(b, pr, n, c.z, c.s, ws.q);
    recordPUpdate(b, {
      t: c.t,
      q: ws.q,
      w2: pr.down.weight,
      aInv: ws.ridgeInv,
      p: c.p,
      r: ws.r,
      r2: ws.r2,
      n,
      d,
      f,
    });
    recordSumSq(b, n, d, { t: ws.r2 }, undefined, ws.partial, "sq", 0);
    recordSumSq(b, n, d, { t: c.t }, undefined, ws.partial, "sq", 1);
    // 2. z-update (and s-update) against the current pruned first linear(s), whose
    // pre-activations c.pre / c.preGate hold since the last real error was measured.
    const count = n * f;
    if (glu) {
      auxOp(b, AuxMode.zGlu, {
        out: c.z,
        inputs: [c.pre, c.p, c.s!],
        count,
        alpha: w.alphaRel,
        gamma: 1,
        gate: pr.gateFn ?? "silu",
      });
      recordSumSq(b, n, f, { t: c.z }, { t: c.pre }, ws.partial, "diff", 2);
      auxOp(b, AuxMode.sGlu, {
        out: c.s!,
        inputs: [c.preGate!, c.p, c.z],
        count,
        alpha: w.alphaRel,
        gamma: 1,
        steps: 8,
        gate: pr.gateFn ?? "silu",
      });
      recordSumSq(b, n, f, { t: c.s! }, { t: c.preGate! }, ws.partial, "diff", 3);
    } else {
      auxOp(b, AuxMode.zRelu, {
        out: c.z,
        inputs: [c.pre, c.p],
        count,
        alpha: w.alphaRel,
        gamma: 1,
      });
      recordSumSq(b, n, f, { t: c.z }, { t: c.pre }, ws.partial, "diff", 2);
    }
    activation(b, pr, n, c.z, c.s, ws.q);
    recordSumSq(b, n, f, { t: c.p }, { t: ws.q }, ws.partial, "diff", 4);
  });
  const norm = Math.max(sT, 1e-30);
  return {
    output: (w.beta * sOut) / norm,
    activation: (w.gamma * sAct) / norm,
    linear: (w.alpha * sLin) / norm,
    tNorm: sT,
  };
}

/**
 * Step 3: refits each first linear by ridge regression towards its dense weights,
 * `W = ((2/nseq)(z − b)ᵀX + λ·W_dense)(Hx + λI)⁻¹`, then re-prunes it with the input Hessian.
 * Returns the largest damping the solver used.
 */
export async function refitFirstLinears(
  gpu: Gpu,
  pr: FfnProblem,
  store: AuxStore,
  ws: Workspace,
  it: number,
  dense: readonly GpuTensor[],
  o: SparseLLMOptions,
): Promise<number> {
  const { d, f, nseq } = pr;
  const glu = pr.kind === "glu";
  const refitDamp = o.refitDamp ?? o.percdamp;
  const lx = await dampedInverse(gpu, pr.hx, d, ws.hxInv, ws.ddTmp, ws.status, refitDamp);
  let damping = 0;
  for (const [li, l] of firstLinears(pr).entries()) {
    const field = glu && li === 0 ? "s" : "z";
    await store.each(`sparsellm/refit${it}`, {
      reads: [field],
      writes: [],
      finish: (b) => recordRidgeSolve(b, ws.rhsUp, dense[li], lx, ws.hxInv, l.weight, f, d),
    }, (b, chunk, ci) => {
      const c = auxChunk(chunk);
      let tgt = glu && li === 0 ? c.s! : c.z;
      if (l.bias) {
        copy(b, tgt, ws.q, c.tokens * f);
        addScaled(b, { out: ws.q, x: l.bias, count: c.tokens * f, period: f, scale: -1 });
        tgt = ws.q;
      }
      recordNormalRhs(b, tgt, c.x, ws.rhsUp, f, d, c.tokens, nseq, ci > 0);
    });
    damping = Math.max(damping, await pruneFirst(gpu, pr, l, o, ws.ddTmp));
  }
  return damping;
}

/**
 * Step 4: rebuilds the activations' Hessian and (2/nseq)·TᵀA from the pruned first linear(s),
 * refits the second linear towards its dense weights and re-prunes it. Returns the damping used
 * and the real output error ‖T − A·Ŵ2ᵀ‖²/‖T‖², with `tNorm` = ‖T‖².
 */
export async function consistency(
  gpu: Gpu,
  pr: FfnProblem,
  store: AuxStore,
  ws: Workspace,
  hp: HessianAccumulator,
  it: number,
  denseDown: GpuTensor,
  tNorm: number,
  o: SparseLLMOptions,
): Promise<{ damping: number; error: number }> {
  const { d, f, nseq } = pr;
  hp.reset();
  await store.each(`sparsellm/consistency${it}`, {
    reads: ["t"],
    writes: ["pre", "preGate"],
    finish: (b) => hp.finalize(b),
  }, (b, chunk, ci) => {
    const c = auxChunk(chunk);
    realActivations(b, pr, c, ws.act);
    hp.add(b, ws.act, c.nseq, { tokens: c.tokens });
    recordNormalRhs(b, c.t, ws.act, ws.rhsDown, d, f, c.tokens, nseq, ci > 0);
  });
  const refitDamp = o.refitDamp ?? o.percdamp;
  const lp = await dampedInverse(gpu, ws.hp, f, ws.ffWork, ws.ffTmp, ws.status, refitDamp);
  const b = gpu.batch(`sparsellm/down${it}`);
  copy(b, ws.rhsDown, ws.keptTA, d * f);
  recordRidgeSolve(b, ws.rhsDown, denseDown, lp, ws.ffWork, pr.down.weight, d, f);
  b.submit();
  const damping = await solveOnCopy(gpu, solverOf(o), pr.down.weight, ws.hp, o, ws.ffWork);
  const error = await gramOutputError(gpu, pr, ws, (2 / nseq) * tNorm);
  return { damping, error };
}

/** The first linear(s): [gate, up] for GLU blocks, [fc1] otherwise. */
export function firstLinears(pr: FfnProblem): FfnLinear[] {
  return pr.kind === "glu" ? [pr.gate!, pr.up] : [pr.up];
}

/** The solver the options name (SparseGPT by default). */
export function solverOf(o: SparseLLMOptions): MatrixSolver {
  if (!o.solver) throw new TypeError("SparseLLM needs a layer solver");
  return o.solver;
}

/** Prunes a first linear with the solver on a copy of the input Hessian (made in `work`). */
export function pruneFirst(
  gpu: Gpu,
  pr: FfnProblem,
  l: FfnLinear,
  o: SparseLLMOptions,
  work: GpuTensor,
): Promise<number> {
  return solveOnCopy(gpu, solverOf(o), l.weight, pr.hx, o, work);
}

/**
 * Real output error of the current second linear on the activations A of the consistency pass,
 * from their Gram statistics instead of another pass over the tokens:
 * ‖T − A·Ŵ2ᵀ‖² = ‖T‖² − 2⟨Ŵ2, TᵀA⟩ + ⟨Ŵ2·AᵀA, Ŵ2⟩, all scaled by 2/nseq, with
 * `ws.keptTA` = (2/nseq)·TᵀA, `ws.hp` = (2/nseq)·AᵀA and `tNorm` = (2/nseq)·‖T‖².
 */
async function gramOutputError(
  gpu: Gpu,
  pr: FfnProblem,
  ws: Workspace,
  tNorm: number,
): Promise<number> {
  const { d, f } = pr;
  const b = gpu.batch("sparsellm/gram-error");
  matmul(b, { a: pr.down.weight, b: ws.hp, c: ws.rhsDown, M: d, N: f, K: f });
  addScaled(b, { out: ws.rhsDown, x: ws.keptTA, count: d * f, scale: -2 });
  recordSumSq(b, d, f, { t: pr.down.weight }, { t: ws.rhsDown }, ws.partial, "dot", 0);
  b.submit();
  const [dot] = finishSumSq(await gpu.read(ws.partial, 0, SUMSQ_PARTIALS));
  return Math.max(0, tNorm + dot) / Math.max(tNorm, 1e-30);
}

/**
 * Real output error ‖T − Ŵ2·φ(Ŵ1·x + b1)‖² / ‖T‖² of the current weights, by a pass over the
 * tokens that also refreshes the cached pre-activations (iterate 0).
 */
export async function outputError(
  gpu: Gpu,
  pr: FfnProblem,
  store: AuxStore,
  ws: Workspace,
): Promise<number> {
  let diff = 0, ref = 0;
  await store.each("sparsellm/error", {
    reads: ["t"],
    writes: ["pre", "preGate"],
    after: async () => {
      const [a, r] = finishSumSq(await gpu.read(ws.partial, 0, SUMSQ_PARTIALS));
      diff += a;
      ref += r;
    },
  }, (b, chunk) => {
    const c = auxChunk(chunk);
    realActivations(b, pr, c, ws.act);
    linear(b, ws.act, pr.down.weight, undefined, ws.r, c.tokens, pr.f, pr.d);
    recordSumSq(b, c.tokens, pr.d, { t: ws.r }, { t: c.t }, ws.partial);
  });
  return diff / Math.max(ref, 1e-30);
}
