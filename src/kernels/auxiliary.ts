/**
 * Typed wrappers for SparseLLM's elementwise auxiliary-variable kernels
 * (`kernels/sparsellm.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
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

/**
 * Records one elementwise auxiliary-variable operation, in element ranges whose tensors fit one
 * binding each. In row-bias mode a bias longer than one binding must be as long as the range.
 */
export function auxOp(batch: Batch, mode: AuxModeValue, x: AuxArgs): void {
  const gpu = batch.gpu;
  const cols = x.cols ?? 1;
  const rowBias = mode === AuxMode.rowBias;
  if (rowBias && cols > gpu.windowElements && cols < x.count) {
    throw new RangeError(
      `Cannot add a row bias of ${cols} elements (past one binding) to ${x.count} elements`,
    );
  }
  forEachFitting(gpu, 0, x.count, (a, b) => b - a, (a, b) => {
    const windows = [x.out, ...x.inputs].map((t, i) =>
      // a row bias that fits is bound whole; one as long as the elements is windowed with them
      rowBias && i === 1 && cols <= gpu.windowElements
        ? gpu.window(t, 0, cols)
        : gpu.window(t, a, b)
    );
    // unused inputs are bound to the first input
    while (windows.length < 4) windows.push(windows[1] ?? windows[0]);
    const u = new Uniforms().u32(b - a, cols).f32(
      x.alpha ?? 1,
      x.gamma ?? 1,
      x.scale ?? 1,
    ).u32(x.steps ?? 8, a, 0, ...windows.map((w) => -w.base));
    batch.dispatch(auxKernel(mode), windows, u.bytes(), [Math.ceil((b - a) / 256)]);
  });
}
