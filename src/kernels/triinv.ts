/**
 * Typed wrapper for `kernels/triinv.wgsl`: inverses of the diagonal blocks of a
 * lower-triangular matrix.
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { recordCopyBlock } from "./linalg_util.ts";
import { TRIINV_WGSL } from "./triinv.wgsl.ts";

/** Largest diagonal block the kernel inverts. */
export const TRIINV_MAX_BLOCK: number = 64;

const PARAMS = uniformStruct("Params", {
  n: "u32",
  ld: "u32",
  off: "u32",
  bs: "u32",
  bi0: "u32",
  bi1: "u32",
  dOff: "u32",
});

/** The uniform layouts of `kernels/triinv.wgsl`. */
export const TRIINV_UNIFORMS: readonly UniformStruct[] = [PARAMS];

const TRIINV: Kernel = {
  name: "triinv",
  source: TRIINV_WGSL,
  bindings: ["read", "storage", "uniform"],
};

/**
 * Records the inverses of the diagonal `bs`×`bs` blocks of the lower-triangular n×n matrix `l`
 * into `dinv` (block i at element `i·bs·bs`, leading dimension bs, zeros above the diagonal).
 * `dinv` needs `ceil(n/bs)·bs·bs` elements. Runs of blocks are bound as windows of `l` and
 * `dinv` when either exceeds one binding. When one block does not fit a window (only under a
 * lowered limit), each block is copied into a pooled bs×bs scratch and inverted there.
 */
export function recordInvertDiagBlocks(
  batch: Batch,
  l: GpuTensor,
  dinv: GpuTensor,
  n: number,
  bs: number,
  ld: number = n,
  offset = 0,
): void {
  if (bs < 1 || bs > TRIINV_MAX_BLOCK) {
    throw new RangeError(`Cannot invert diagonal blocks of size ${bs}: expected 1 to 64`);
  }
  const gpu = batch.gpu;
  const room = gpu.windowElements;
  if ((bs - 1) * ld + bs > room || bs * bs > room) {
    // one block exceeds a window (only under a lowered limit): invert copies, block by block
    const blk = gpu.alloc([bs * bs], "triinv/block"), inv = gpu.alloc([bs * bs], "triinv/inverse");
    for (let r0 = 0; r0 < n; r0 += bs) {
      const s = Math.min(bs, n - r0);
      const region = { rows: s, cols: s, ld, offset: offset + r0 * ld + r0 };
      recordCopyBlock(batch, l, region, blk, { ld: bs });
      // the block on its own: a matrix of order s with leading dimension bs
      const u = PARAMS.pack({ n: s, ld: bs, off: 0, bs, bi0: 0, bi1: 1, dOff: 0 });
      batch.dispatch(TRIINV, [blk, inv], u, [1]);
      batch.copy(inv.buffer, 0, dinv.buffer, 4 * r0 * bs, 4 * ((s - 1) * bs + s));
    }
    gpu.free(blk, inv);
    return;
  }
  // blocks [b0, b1) read rows r0 .. r1 of l from column r0 on and write blocks b0 .. b1 of dinv
  const lRange = (b0: number, b1: number): [number, number] => {
    const r0 = b0 * bs, r1 = Math.min(n, b1 * bs);
    return [offset + r0 * ld + r0, offset + (r1 - 1) * ld + r1];
  };
  const span = (b0: number, b1: number) => {
    const [lo, hi] = lRange(b0, b1);
    return Math.max(hi - lo, (b1 - b0) * bs * bs);
  };
  forEachFitting(gpu, 0, Math.ceil(n / bs), span, (b0, b1) => {
    const lw = gpu.window(l, ...lRange(b0, b1));
    const dw = gpu.window(dinv, b0 * bs * bs, b1 * bs * bs);
    const u = PARAMS.pack({
      n,
      ld,
      off: offset - lw.base,
      bs,
      bi0: b0,
      bi1: b1,
      dOff: -dw.base,
    });
    batch.dispatch(TRIINV, [lw, dw], u, [b1 - b0]);
  });
}
