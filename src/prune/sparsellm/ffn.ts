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

import type { Gpu } from "../../gpu/device.ts";
import { HessianAccumulator } from "../hessian.ts";
import { relativeError } from "../rel_error.ts";
import { sparsegptSolver } from "../sparsegpt_solver.ts";
import { woodburyInverse } from "./algebra.ts";
import {
  activation,
  auxChunk,
  copy,
  createAuxStore,
  linear,
  preActivations,
} from "./auxiliaries.ts";
import {
  allocWorkspace,
  consistency,
  firstLinears,
  outputError,
  pruneFirst,
  refitFirstLinears,
  updateAuxiliaries,
} from "./steps.ts";
import { solveOnCopy } from "../solver.ts";
import type { FfnIterate, FfnProblem, FfnReport, SparseLLMOptions } from "./types.ts";

/**
 * Prunes one FFN with SparseLLM, in place. Returns per-iterate diagnostics; the weights left in
 * `problem.up/gate/down` are those of the best iterate by real output error.
 *
 * @example Prune one feed-forward block to 2:4
 * ```ts
 * import { getGpu } from "../../gpu/device.ts";
 * import { sparsellmFfn } from "./ffn.ts";
 * import { type FfnProblem, SPARSELLM_DEFAULTS } from "./types.ts";
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
  options: SparseLLMOptions,
): Promise<FfnReport> {
  const o = { ...options, solver: options.solver ?? sparsegptSolver };
  const { d, f } = pr;
  const glu = pr.kind === "glu";
  if (glu && !pr.gate) throw new TypeError("A GLU feed-forward block needs a gate linear");
  const firsts = firstLinears(pr);
  const ws = allocWorkspace(gpu, Math.max(...pr.chunks.map((c) => c.tokens)), d, f);
  const store = createAuxStore(gpu, pr.chunks, d, f, glu, o.auxMemory ?? Infinity);
  const hp = new HessianAccumulator(gpu, f, { h: ws.hp });
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
    // Hessian of the dense activations for iterate 0's pruning of the second linear.
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
        copy(b, ws.hp, hp0);
      },
    }, (b, chunk, i) => {
      const c = auxChunk(chunk);
      preActivations(b, pr, c.x, c.tokens, glu ? c.s! : c.z, c.z);
      activation(b, pr, c.tokens, c.z, c.s, c.p);
      if (!pr.chunks[i].target) linear(b, c.p, pr.down.weight, undefined, c.t, c.tokens, f, d);
      hp.add(b, c.p, c.nseq, { tokens: c.tokens });
    });

    // Iterate 0: the solver alone on every FFN linear.
    let t0 = performance.now();
    for (const l of firsts) {
      maxDamping = Math.max(maxDamping, await pruneFirst(gpu, pr, l, o, ws.ddTmp));
    }
    const downDamping = await solveOnCopy(gpu, o.solver, pr.down.weight, ws.hp, o, ws.ffWork);
    maxDamping = Math.max(maxDamping, downDamping);
    let err = await outputError(gpu, pr, store, ws);
    let bestErr = err, kept = 0;
    const save = () => {
      const sb = gpu.batch("sparsellm/keep");
      firsts.forEach((l, i) => copy(sb, l.weight, best[i]));
      copy(sb, pr.down.weight, bestDown);
      sb.submit();
      o.onKeep?.([...firsts.map((l) => l.weight), pr.down.weight]);
    };
    save();
    push({ iter: 0, outputError: err, seconds: (performance.now() - t0) / 1000 });

    let alpha = o.alpha, gamma = o.gamma;
    for (let it = 1; it <= o.iters; it++) {
      t0 = performance.now();
      const ridge = await woodburyInverse(
        gpu,
        pr.down.weight,
        d,
        f,
        gamma / o.beta,
        ws.ridge,
        ws.ridgeInv,
        ws.status,
      );
      const relaxed = await updateAuxiliaries(gpu, pr, store, ws, it, {
        ridge,
        alphaRel: alpha / gamma,
        beta: o.beta,
        alpha,
        gamma,
      });
      const refit = await refitFirstLinears(gpu, pr, store, ws, it, dense, o);
      maxDamping = Math.max(maxDamping, refit);
      const down = await consistency(gpu, pr, store, ws, hp, it, denseDown, relaxed.tNorm, o);
      maxDamping = Math.max(maxDamping, down.damping);
      err = down.error;
      // Converged when an iteration improves the best real output error by less than `tolerance`.
      const converged = it > 1 && err > bestErr * (1 - o.tolerance);
      if (err < bestErr) {
        bestErr = err;
        kept = it;
        save();
      }
      const { tNorm: _, ...terms } = relaxed;
      push({
        iter: it,
        outputError: err,
        relaxed: terms,
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
    o.onRestore?.([...firsts.map((l) => l.weight), pr.down.weight]);
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
    gpu.free(...Object.values(ws), ...best, bestDown, ...dense, denseDown, hp0);
    store.free();
  }
}
