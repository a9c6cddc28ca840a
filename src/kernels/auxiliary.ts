/**
 * Typed wrappers for SparseLLM's elementwise auxiliary-variable kernels
 * (`kernels/sparsellm.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { SPARSELLM_WGSL } from "./sparsellm.wgsl.ts";

/**
 * The elementwise operations of `kernels/sparsellm.wgsl`, by MODE value.
 */
export const AuxMode = {
  zRelu: 0,
  zGlu: 1,
  sGlu: 2,
  relu: 3,
  glu: 4,
} as const;

/** One of {@linkcode AuxMode}'s values. */
export type AuxModeValue = typeof AuxMode[keyof typeof AuxMode];

const PARAMS = uniformStruct("Params", {
  count: "u32",
  a: "f32",
  g: "f32",
  steps: "u32",
  start: "u32",
  o0: "u32",
  o1: "u32",
  o2: "u32",
  o3: "u32",
});

/** The uniform layouts of `kernels/sparsellm.wgsl`. */
export const SPARSELLM_UNIFORMS: readonly UniformStruct[] = [PARAMS];

function auxKernel(mode: AuxModeValue, gate: AuxGate): Kernel {
  return {
    name: "sparsellm-aux",
    source: SPARSELLM_WGSL,
    bindings: ["storage", "read", "read", "read", "uniform"],
    constants: { MODE: mode, GATE: gate === "gelu-tanh" ? 1 : 0 },
  };
}

/** The gate function of the GLU modes: SiLU (LLaMA) or tanh-approximated GELU (Gemma). */
export type AuxGate = "silu" | "gelu-tanh";

/** Parameters of {@linkcode auxOp}. */
export interface AuxArgs {
  /** Output (and, for the s-update, the current value). */
  out: GpuTensor;
  /** Inputs in the order the mode documents; missing ones may be omitted. */
  inputs: GpuTensor[];
  /** Number of elements. */
  count: number;
  /** Penalty on the linear constraint (α). */
  alpha?: number;
  /** Penalty on the activation constraint (γ). */
  gamma?: number;
  /** Gauss-Newton steps (s-update). */
  steps?: number;
  /** Gate function of the GLU modes (default `silu`). */
  gate?: AuxGate;
}

/**
 * Records one elementwise auxiliary-variable operation, in element ranges whose tensors fit one
 * binding each.
 */
export function auxOp(batch: Batch, mode: AuxModeValue, x: AuxArgs): void {
  const gpu = batch.gpu;
  forEachFitting(gpu, 0, x.count, (a, b) => b - a, (a, b) => {
    const windows = [x.out, ...x.inputs].map((t) => gpu.window(t, a, b));
    // unused inputs are bound to the first input
    while (windows.length < 4) windows.push(windows[1] ?? windows[0]);
    const u = PARAMS.pack({
      count: b - a,
      a: x.alpha ?? 1,
      g: x.gamma ?? 1,
      steps: x.steps ?? 8,
      start: a,
      o0: -windows[0].base,
      o1: -windows[1].base,
      o2: -windows[2].base,
      o3: -windows[3].base,
    });
    batch.dispatch(auxKernel(mode, x.gate ?? "silu"), windows, u, [Math.ceil((b - a) / 256)]);
  });
}
