/**
 * Typed wrapper for the feed-forward activations (`kernels/activation.wgsl`): ReLU, SiLU, the
 * SwiGLU product `silu(gate) · up` and the GeGLU product `gelu_tanh(gate) · up`.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { ACTIVATION_WGSL } from "./activation.wgsl.ts";

const WG = 64;

/**
 * Activation functions: `relu(a)`, `silu(a)`, `silu(a) · b` (SwiGLU) or `gelu_tanh(a) · b`
 * (GeGLU with the tanh approximation of GELU, Gemma).
 */
export type ActivationKind = "relu" | "silu" | "silu-mul" | "gelu-tanh-mul";

const CODES: Record<ActivationKind, number> = {
  relu: 0,
  "silu-mul": 1,
  silu: 2,
  "gelu-tanh-mul": 3,
};

/** Arguments of {@linkcode activation}: `out[e] = act(a[e]) (· b[e])` for `n` elements. */
export interface ActivationArgs {
  /** Which activation. */
  kind: ActivationKind;
  /** Input (the gate for the gated kinds). */
  a: GpuTensor;
  /** Second input of the gated kinds (the up projection). */
  b?: GpuTensor;
  /** Output (must not share a buffer with the inputs). */
  out: GpuTensor;
  /** Number of elements. */
  n: number;
  /** Element offset into `a`. */
  offA?: number;
  /** Element offset into `b`. */
  offB?: number;
  /** Element offset into `out`. */
  offOut?: number;
}

/** The activation kernel descriptor. */
export function activationKernel(kind: ActivationKind): Kernel {
  return {
    name: "activation",
    source: ACTIVATION_WGSL,
    bindings: ["read", "read", "storage", "uniform"],
    constants: { ACT: CODES[kind], WG },
  };
}

/** Records an elementwise activation into a batch. */
export function activation(batch: Batch, x: ActivationArgs): void {
  if ((x.kind === "silu-mul" || x.kind === "gelu-tanh-mul") && !x.b) {
    throw new TypeError(
      `The "${x.kind}" activation needs a second input b (the up projection)`,
    );
  }
  const u = new Uniforms().u32(x.n, x.offA ?? 0, x.offB ?? 0, x.offOut ?? 0);
  batch.dispatch(
    activationKernel(x.kind),
    [x.a, x.b ?? x.a, x.out],
    u.bytes(),
    [Math.ceil(x.n / WG)],
  );
}
