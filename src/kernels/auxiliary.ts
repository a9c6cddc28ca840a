/**
 * Typed wrappers for SparseLLM's elementwise auxiliary-variable kernels
 * (`kernels/sparsellm.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { SPARSELLM_WGSL } from "./sparsellm.wgsl.ts";

/** The elementwise operations of `kernels/sparsellm.wgsl`, by MODE value. */
export const AuxMode = {
  zRelu: 0,
  zGlu: 1,
  sGlu: 2,
  relu: 3,
  glu: 4,
  rowBias: 5,
} as const;

/** One of {@linkcode AuxMode}'s values. */
export type AuxModeValue = typeof AuxMode[keyof typeof AuxMode];

function auxKernel(mode: AuxModeValue): Kernel {
  return {
    name: "sparsellm-aux",
    source: SPARSELLM_WGSL,
    bindings: ["storage", "read", "read", "read", "uniform"],
    constants: { MODE: mode },
  };
}

/** Parameters of {@linkcode auxOp}. */
export interface AuxArgs {
  /** Output (and, for the s-update and row bias, the current value). */
  out: GpuTensor;
  /** Inputs in the order the mode documents; missing ones may be omitted. */
  inputs: GpuTensor[];
  /** Number of elements. */
  count: number;
  /** Columns (row-bias mode). */
  cols?: number;
  /** Penalty on the linear constraint (α). */
  alpha?: number;
  /** Penalty on the activation constraint (γ). */
  gamma?: number;
  /** Scale (row-bias mode). */
  scale?: number;
  /** Gauss-Newton steps (s-update). */
  steps?: number;
}

/** Records one elementwise auxiliary-variable operation. */
export function auxOp(batch: Batch, mode: AuxModeValue, x: AuxArgs): void {
  const ins = [...x.inputs];
  while (ins.length < 3) ins.push(ins[0] ?? x.out);
  const u = new Uniforms().u32(x.count, x.cols ?? 1).f32(
    x.alpha ?? 1,
    x.gamma ?? 1,
    x.scale ?? 1,
  ).u32(x.steps ?? 8, 0, 0);
  batch.dispatch(auxKernel(mode), [x.out, ...ins], u.bytes(), [Math.ceil(x.count / 256)]);
}
