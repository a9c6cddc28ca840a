/**
 * SparseLLM as a pipeline method: the attention projections are pruned by the layer solver with
 * their inputs' Hessians; the feed-forward block is pruned jointly by {@linkcode sparsellmFfn}
 * on the target {@linkcode denseTarget} or {@linkcode prunedAttentionTarget} builds.
 *
 * @module
 */

import { SPARSEGPT_MAX_M } from "../../kernels/sparsegpt.ts";
import type { LinearRole } from "../../models/arch.ts";
import { projectionRows } from "../../models/tensor_names.ts";
import { type SplitProjection, splitProjection } from "../../models/split_projection.ts";
import { type LayerJob, matrixReport, pruneEach, type PruneMethod } from "../method.ts";
import { solveOnCopy } from "../solver.ts";
import { sparsellmFfn } from "./ffn.ts";
import { denseTarget, type FfnTarget, prunedAttentionTarget } from "./target.ts";
import { type FfnLinear, type FfnReport, SPARSELLM_DEFAULTS } from "./types.ts";
import { type QuantOutcome, stackOutcomes } from "../../quant/recorder.ts";

/** SparseLLM (Bai et al., NeurIPS 2024). */
export const sparsellm: PruneMethod = {
  name: "sparsellm",
  needsCalibration: true,
  maxM: SPARSEGPT_MAX_M,
  stats: (o) => ({
    // The FFN activations' Hessian is built by SparseLLM itself, on the inputs it calibrates on.
    skipHessians: ["ffn_act"],
    ffnInputs: o.ffnInput === "dense",
    denseOutputs: o.ffnInput === "pruned",
  }),
  async pruneLayer(job) {
    const ffnRoles = new Set(job.arch.ffnRoles);
    const attention = job.arch.linears.filter((s) => !ffnRoles.has(s.role));
    const matrices = await pruneEach(job, attention, (spec) => {
      const w = job.weights.linear(spec.role).weight;
      const h = job.stats.hessians.get(spec.input)!;
      return solveOnCopy(job.gpu, job.solver, w, h, { ...job.options, ...job.quant?.hooks() });
    });
    job.progress("ffn");
    const t0 = performance.now();
    const ffn = await pruneFfn(job);
    const seconds = (performance.now() - t0) / 1000;
    const down = projectionRows(job.arch, ffnChain(job).down).linear.role;
    for (const role of job.arch.ffnRoles) {
      const m = matrixReport(job, job.arch.linears.find((s) => s.role === role)!);
      m.seconds = seconds / job.arch.ffnRoles.length;
      m.damping = ffn.maxDamping;
      if (role === down) m.relError = ffn.downRelError;
      matrices.push(m);
    }
    return { matrices, ffn };
  },
};

/** The FFN's projections by their place in the chain (fused or not in the checkpoint). */
function ffnChain(job: LayerJob): { up: LinearRole; gate?: LinearRole; down: LinearRole } {
  return job.arch.activation === "relu"
    ? { up: "fc1", down: "fc2" }
    : { up: "up", gate: "gate", down: "down" };
}

async function pruneFfn(job: LayerJob): Promise<FfnReport> {
  const { gpu, arch, options: o } = job;
  const roles = ffnChain(job);
  // Fused projections (Phi-3's gate_up_proj) are pruned as their halves, on copies.
  const b = gpu.batch("ffn/split");
  const split = (r: LinearRole) => splitProjection(gpu, b, arch, job.weights, r);
  const up = split(roles.up);
  const gate = roles.gate ? split(roles.gate) : undefined;
  const down = split(roles.down);
  b.submit();
  const lin = (p: SplitProjection): FfnLinear =>
    p.linear.bias ? { weight: p.linear.weight, bias: p.linear.bias } : { weight: p.linear.weight };
  const parts = [up, ...(gate ? [gate] : []), down];
  let target: FfnTarget | undefined;
  try {
    target = o.ffnInput === "pruned"
      ? await prunedAttentionTarget(job, down.linear.bias)
      : denseTarget(job);
    const report = await sparsellmFfn(gpu, {
      kind: arch.activation === "relu" ? "relu" : "glu",
      gateFn: arch.activation === "gelu-tanh-glu" ? "gelu-tanh" : "silu",
      chunks: target.chunks,
      nseq: job.nseq,
      d: arch.hiddenSize,
      f: arch.ffnSize,
      up: lin(up),
      ...(gate ? { gate: lin(gate) } : {}),
      down: lin(down),
      hx: target.hx,
    }, {
      pattern: o.pattern,
      iters: o.iters,
      alpha: o.alpha,
      beta: o.beta,
      gamma: o.gamma,
      growth: o.growth,
      ...(o.refitDamp !== undefined ? { refitDamp: o.refitDamp } : {}),
      blocksize: o.blocksize,
      percdamp: o.percdamp,
      tolerance: SPARSELLM_DEFAULTS.tolerance,
      auxMemory: o.gpuMemory ?? gpu.device.limits.maxBufferSize,
      solver: job.solver,
      ...(o.quant ? { quant: o.quant, quantOrder: o.quantOrder } : {}),
      ...job.quant?.hooks(),
      onIterate: (it) => job.progress(`ffn iterate ${it.iter}`),
    });
    const wb = gpu.batch("ffn/write-back");
    for (const p of parts) p.writeBack(wb);
    wb.submit();
    fuseGrids(job, [
      [roles.up, up],
      ...(roles.gate && gate ? [[roles.gate, gate] as const] : []),
      [roles.down, down],
    ]);
    return report;
  } finally {
    target?.free();
    await gpu.sync();
    for (const p of parts) p.release();
  }
}

/**
 * With quantization, gives each fused projection (Phi-3's `gate_up_proj`) the grids its halves
 * were quantized on, stacked in row order, so that the pipeline records them and does not round
 * the written-back matrix again. Left to the pipeline's round-to-nearest when a half has none
 * (its factorisation failed).
 */
function fuseGrids(
  job: LayerJob,
  projections: readonly (readonly [LinearRole, SplitProjection])[],
): void {
  const recorder = job.quant;
  if (!recorder) return;
  const fused = new Map<LinearRole, { start: number; outcome?: QuantOutcome }[]>();
  for (const [role, split] of projections) {
    if (!split.copied) continue;
    const p = projectionRows(job.arch, role);
    const list = fused.get(p.linear.role) ?? [];
    list.push({ start: p.start, outcome: recorder.get(split.linear.weight) });
    fused.set(p.linear.role, list);
  }
  for (const [role, halves] of fused) {
    // every part of the fused matrix must have been quantized as a half here
    const parts = job.arch.linears.find((s) => s.role === role)?.parts ?? [];
    if (halves.length !== parts.length) continue;
    halves.sort((a, b) => a.start - b.start);
    const outcomes = halves.map((h) => h.outcome);
    if (!outcomes.every((o): o is QuantOutcome => o !== undefined)) continue;
    recorder.hooks().onQuantized(job.weights.linear(role).weight, stackOutcomes(outcomes));
  }
}
