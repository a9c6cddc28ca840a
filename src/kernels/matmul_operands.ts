/**
 * Operands of the matmul kernel: the rows of a stored matrix copied (when they lie in memory as
 * a texture holds them) or packed by `kernels/matmul_pack.wgsl` into a pooled `rgba32float`
 * array texture, four elements a texel.
 *
 * @module
 */

import type { Batch, Gpu } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import type { MatmulArgs } from "./matmul.ts";
import { MATMUL_PACK_WGSL } from "./matmul_pack.wgsl.ts";

const PACK_PARAMS = uniformStruct("Params", {
  rows: "u32",
  cols: "u32",
  ld: "u32",
  off: "u32",
  r0: "u32",
  w4: "u32",
  h: "u32",
  stride: "u32",
  z0: "u32",
  c40: "u32",
  t0: "u32",
});

/** The uniform layouts of `kernels/matmul_pack.wgsl`. */
export const MATMUL_PACK_UNIFORMS: readonly UniformStruct[] = [PACK_PARAMS];

/**
 * Whether `rows` rows of `texels` texels (4 elements each) of `count` operands can be copied into
 * a texture as they lie in `t`, starting at element `off` with row stride `ld` and batch stride
 * `stride`: WebGPU copies need 16-byte-aligned rows, row strides that are multiples of 256 bytes
 * and a buffer that allows copies; the last row read must end inside the buffer.
 */
function copyable(
  t: GpuTensor,
  off: number,
  ld: number,
  stride: number,
  count: number,
  rows: number,
  texels: number,
): boolean {
  if ((4 * ld) % 256 !== 0 || off % 4 !== 0 || (count > 1 && stride % 4 !== 0)) return false;
  if ((t.buffer.usage & GPUBufferUsage.COPY_SRC) === 0) return false;
  return 4 * (off + (count - 1) * stride + (rows - 1) * ld + 4 * texels) <= t.buffer.size;
}

/** The pack kernel: rows of a stored matrix into texture rows, four elements a texel. */
const PACK_KERNEL: Kernel = {
  name: "matmul-pack",
  source: MATMUL_PACK_WGSL,
  bindings: ["read", "storage-texture", "uniform"],
};

/** A stored matrix (rows × cols, row stride ld) and the texture it is copied or packed into. */
export interface Operand {
  src: GpuTensor;
  tex: GPUTexture;
  view: GPUTextureView;
  rows: number;
  cols: number;
  ld: number;
}

/** The arguments with their defaults filled in (dense leading dimensions, no offsets, one product). */
export function withDefaults(
  x: MatmulArgs,
): Required<Omit<MatmulArgs, "bias" | "offBias" | "lower" | "alpha" | "beta">> & MatmulArgs {
  const transA = x.transA ?? false, transB = x.transB ?? false;
  return {
    ...x,
    count: x.count ?? 1,
    transA,
    transB,
    lda: x.lda ?? (transA ? x.M : x.K),
    ldb: x.ldb ?? (transB ? x.K : x.N),
    ldc: x.ldc ?? x.N,
    offA: x.offA ?? 0,
    offB: x.offB ?? 0,
    offC: x.offC ?? 0,
    strideA: x.strideA ?? 0,
    strideB: x.strideB ?? 0,
    strideC: x.strideC ?? 0,
  };
}

/**
 * Which operands of a product {@linkcode matmul} copies into its textures as they lie in memory
 * instead of packing them with a kernel (a copy costs a tenth of the pack kernel on lavapipe; the
 * textures hold rows of the stored matrices either way):
 * those whose rows start 16-byte aligned, with row strides that are multiples of 256 bytes (64
 * elements), in buffers that allow copies, when K is a multiple of 4 (the textures then need no
 * zero padding). `matmul` evaluates this for each piece after its splits along K, N and layers.
 */
export function matmulCopies(gpu: Gpu, args: MatmulArgs): { a: boolean; b: boolean } {
  const x = withDefaults(args), K4 = Math.ceil(x.K / 4);
  const { count, transA, transB, lda, ldb, offA, offB, strideA, strideB } = x;
  if (x.K % 4 !== 0) return { a: false, b: false };
  return {
    a: transA
      ? copyable(x.a, offA, lda, strideA, count, x.K, Math.ceil(x.M / 4))
      : copyable(x.a, offA, lda, strideA, count, x.M, K4),
    b: transB
      ? x.N <= gpu.device.limits.maxTextureDimension2D &&
        copyable(x.b, offB, ldb, strideB, count, x.N, K4)
      : copyable(x.b, offB, ldb, strideB, count, x.K, Math.ceil(x.N / 4)),
  };
}

/**
 * Fills the operand's texture with rows [r0, r0 + h) of the stored X[z] of `count` products
 * (texture rows 0 .. h, zero past `rows` and `cols`). With `copy` (see {@linkcode matmulCopies})
 * the rows are copied as they lie, one copy per product; otherwise the pack kernel writes them,
 * in pieces whose elements fit one binding: by layers, then by rows, then by texel columns.
 */
export function fillOperand(
  batch: Batch,
  o: Operand,
  at: { off: number; stride: number; count: number; r0: number; h: number },
  copy: boolean,
): void {
  if (copy) {
    const rows = Math.min(o.rows, at.r0 + at.h) - at.r0;
    for (let z = 0; z < at.count; z++) {
      const offset = 4 * (at.off + z * at.stride + at.r0 * o.ld);
      batch.copyToTexture({ buffer: o.src.buffer, offset, bytesPerRow: 4 * o.ld }, o.tex, z, [
        Math.ceil(o.cols / 4),
        rows,
      ]);
    }
    return;
  }
  const gpu = batch.gpu;
  const w4 = Math.ceil(o.cols / 4);
  const rEnd = Math.min(o.rows, at.r0 + at.h);
  // first and one-past-last element read for layers [za, zb), op rows [ra, rb), texel cols [ca, cb)
  const range = (za: number, zb: number, ra: number, rb: number, ca: number, cb: number) => {
    rb = Math.min(rb, rEnd);
    cb = Math.min(4 * cb, o.cols);
    ca = 4 * ca;
    if (rb <= ra || cb <= ca) return [0, 0];
    const first = at.off + za * at.stride + ra * o.ld + ca;
    const last = at.off + (zb - 1) * at.stride + (rb - 1) * o.ld + cb;
    return [first, last];
  };
  const span = (...r: [number, number, number, number, number, number]) => {
    const [lo, hi] = range(...r);
    return hi - lo;
  };
  const r1 = at.r0 + at.h;
  const piece = (za: number, zb: number, ra: number, rb: number, ca: number, cb: number) => {
    const [lo, hi] = range(za, zb, ra, rb, ca, cb);
    const win = gpu.window(
      o.src,
      Math.min(lo, o.src.size - 1),
      Math.max(hi, Math.min(lo, o.src.size - 1) + 1),
    );
    const u = PACK_PARAMS.pack({
      rows: o.rows,
      cols: o.cols,
      ld: o.ld,
      off: at.off + za * at.stride - win.base,
      r0: ra,
      w4: cb - ca,
      h: rb - ra,
      stride: at.stride,
      z0: za,
      c40: ca,
      t0: ra - at.r0,
    });
    batch.dispatch(PACK_KERNEL, [win, o.view], u, [Math.ceil((cb - ca) / 64), rb - ra, zb - za]);
  };
  // the outer levels leave a single layer (row, texel column) that does not fit to the inner ones
  const outer = (n: number, sp: number) => (n === 1 ? 0 : sp);
  forEachFitting(
    gpu,
    0,
    at.count,
    (za, zb) => outer(zb - za, span(za, zb, at.r0, r1, 0, w4)),
    (za, zb) => {
      forEachFitting(
        gpu,
        at.r0,
        r1,
        (ra, rb) => outer(rb - ra, span(za, zb, ra, rb, 0, w4)),
        (ra, rb) =>
          forEachFitting(gpu, 0, w4, (ca, cb) => span(za, zb, ra, rb, ca, cb), (ca, cb) => {
            piece(za, zb, ra, rb, ca, cb);
          }),
      );
    },
  );
}
