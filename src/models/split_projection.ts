/**
 * A projection as a matrix of its own: the rows of a fused linear (Phi-3's `gate_up_proj`,
 * `qkv_proj`) copied into new tensors, and written back after a step that needs them alone.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { Architecture, LinearRole } from "./arch.ts";
import type { LayerWeights, LinearWeights } from "./layer_weights.ts";
import { projectionRows } from "./tensor_names.ts";

/**
 * A projection as a matrix of its own, for steps that need it alone (SparseLLM's joint
 * feed-forward step takes gate and up separately). For a fused linear (Phi-3's `gate_up_proj`,
 * `qkv_proj`) its rows are copied into new tensors and {@linkcode SplitProjection.writeBack}
 * records their copy back into the fused matrix; otherwise `linear` is the layer's own and both
 * methods do nothing.
 *
 * @example Prune the up half of Phi-3's gate_up_proj on its own
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { splitProjection } from "./split_projection.ts";
 * import type { Architecture } from "./arch.ts";
 * import type { LayerWeights } from "./layer_weights.ts";
 *
 * declare const arch: Architecture, weights: LayerWeights;
 * const gpu = await getGpu();
 * const b = gpu.batch("split");
 * const up = splitProjection(gpu, b, arch, weights, "up");
 * b.submit();
 * // ... prune up.linear.weight ([ffnSize, hidden]) ...
 * const back = gpu.batch("write back");
 * up.writeBack(back);
 * back.submit();
 * up.release();
 * ```
 */
export interface SplitProjection {
  /** The projection's weight `[rows, cols]` (and bias). */
  linear: LinearWeights;
  /** Whether `linear` is a copy of rows of a fused matrix. */
  copied: boolean;
  /** Records the copy of `linear` back into its rows of the fused matrix (no-op when not copied). */
  writeBack(batch: Batch): void;
  /** Frees the copies (after the batches that use them were submitted). */
  release(): void;
}

/**
 * The projection `role` of a layer as its own matrix: the layer's linear, or a copy of its rows
 * of a fused linear (see {@linkcode SplitProjection}). The copy is recorded into `batch`.
 */
export function splitProjection(
  gpu: Gpu,
  batch: Batch,
  arch: Architecture,
  weights: LayerWeights,
  role: LinearRole,
): SplitProjection {
  const p = projectionRows(arch, role);
  const fused = weights.linear(p.linear.role);
  if (!p.linear.parts) {
    return { linear: fused, copied: false, writeBack() {}, release() {} };
  }
  const cols = fused.cols;
  const weight = gpu.alloc([p.rows, cols], `${role}/split`);
  batch.copy(fused.weight.buffer, p.start * cols * 4, weight.buffer, 0, p.rows * cols * 4);
  const linear: LinearWeights = { weight, rows: p.rows, cols };
  if (fused.bias) {
    linear.bias = gpu.alloc([p.rows], `${role}/split-bias`);
    batch.copy(fused.bias.buffer, p.start * 4, linear.bias.buffer, 0, p.rows * 4);
  }
  let released = false;
  return {
    linear,
    copied: true,
    writeBack(b: Batch): void {
      b.copy(weight.buffer, 0, fused.weight.buffer, p.start * cols * 4, p.rows * cols * 4);
      if (linear.bias && fused.bias) {
        b.copy(linear.bias.buffer, 0, fused.bias.buffer, p.start * 4, p.rows * 4);
      }
    },
    release(): void {
      if (released) return;
      released = true;
      gpu.free(weight, linear.bias);
    },
  };
}
