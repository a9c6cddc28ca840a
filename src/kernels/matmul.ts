/**
 * Typed wrapper for the batched matmul kernel (`kernels/matmul.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { MATMUL_WGSL } from "./matmul.wgsl.ts";
import { MATMUL_PACK_WGSL } from "./matmul_pack.wgsl.ts";
import { MATMUL_EPILOGUE_WGSL } from "./matmul_epilogue.wgsl.ts";

/** Arguments of {@linkcode matmul}: `C = alpha·op(A)·op(B) + beta·C (+ bias)`, all row-major. */
export interface MatmulArgs {
  /** Left operand. */
  a: GpuTensor;
  /** Right operand. */
  b: GpuTensor;
  /**
   * Output (read too when `beta` ≠ 0). It may share a buffer with `a` or `b` when the entries it
   * writes are not read: the operands are packed before the epilogue writes.
   */
  c: GpuTensor;
  /** Rows of op(A) and C. */
  M: number;
  /** Columns of op(B) and C. */
  N: number;
  /** Inner dimension. */
  K: number;
  /** Use Aᵀ (A stored K×M). */
  transA?: boolean;
  /** Use Bᵀ (B stored N×K). */
  transB?: boolean;
  /** Leading dimensions (row strides) in elements; default dense. */
  lda?: number;
  /** Leading dimension of B. */
  ldb?: number;
  /** Leading dimension of C. */
  ldc?: number;
  /** Element offsets of the first entry. */
  offA?: number;
  /** Element offset into B. */
  offB?: number;
  /** Element offset into C. */
  offC?: number;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of the existing C (default 0: C is not read). */
  beta?: number;
  /** Optional bias added per output column. */
  bias?: GpuTensor;
  /** Element offset into the bias. */
  offBias?: number;
  /** Number of batched products (default 1). */
  count?: number;
  /** Element strides between batched operands. */
  strideA?: number;
  /** Batch stride of B. */
  strideB?: number;
  /** Batch stride of C. */
  strideC?: number;
}

/** Rows per invocation of the generated kernel (scripts/gen_matmul.ts). */
const TM = 32;
/** Columns per workgroup (8 invocations wide) of the kernel's `main` entry point. */
const WG_N = 128;
/** Columns per workgroup of `main_narrow`, used for products of at most 64 columns. */
const WG_N_NARROW = 64;
/** Largest staging block: bigger blocks gain nothing and cost memory. */
const STAGE_LIMIT = 64 * 2 ** 20;

/** The matmul kernel descriptor (one pipeline for every shape and layout). */
export const MATMUL_KERNEL: Kernel = {
  name: "matmul",
  source: MATMUL_WGSL,
  bindings: ["texture", "texture", "storage", "uniform"],
};

/** The matmul kernel for products of at most 64 columns (half as wide a tile). */
const MATMUL_NARROW_KERNEL: Kernel = { ...MATMUL_KERNEL, entryPoint: "main_narrow" };

function packKernel(trans: boolean): Kernel {
  return {
    name: "matmul-pack",
    source: MATMUL_PACK_WGSL,
    bindings: ["read", "storage-texture", "uniform"],
    constants: { TRANS: +trans },
  };
}

function epilogueKernel(hasBias: boolean): Kernel {
  return {
    name: "matmul-epilogue",
    source: MATMUL_EPILOGUE_WGSL,
    bindings: ["read", "storage", "read", "uniform"],
    constants: { HAS_BIAS: +hasBias },
  };
}

/**
 * Records `C = alpha·op(A)·op(B) + beta·C (+ bias)` into a batch (`count` products with strides).
 * op(A) and op(B) are packed into pooled `rgba32float` array textures (one layer per product),
 * the kernel writes the product to a pooled staging buffer (row blocks small enough for one
 * binding), and an epilogue writes C. Products past the device's texture limits are split:
 * along K (accumulating into C), along N, and into groups of layers.
 */
export function matmul(batch: Batch, x: MatmulArgs): void {
  const count = x.count ?? 1;
  if (x.M === 0 || x.N === 0 || count === 0) return;
  const transA = x.transA ?? false, transB = x.transB ?? false;
  const lda = x.lda ?? (transA ? x.M : x.K), ldb = x.ldb ?? (transB ? x.K : x.N);
  const ldc = x.ldc ?? x.N;
  const offA = x.offA ?? 0, offB = x.offB ?? 0, offC = x.offC ?? 0;
  const strideA = x.strideA ?? 0, strideB = x.strideB ?? 0, strideC = x.strideC ?? 0;
  const full = { ...x, lda, ldb, ldc, offA, offB, offC, strideA, strideB, strideC };
  const gpu = batch.gpu;
  const limits = gpu.device.limits;
  const kMax = Math.floor(limits.maxTextureDimension2D / 4) * 4, nMax = kMax * 4;
  if (x.K > kMax) {
    for (let k0 = 0; k0 < x.K; k0 += kMax) {
      matmul(batch, {
        ...full,
        K: Math.min(kMax, x.K - k0),
        offA: offA + (transA ? k0 * lda : k0),
        offB: offB + (transB ? k0 : k0 * ldb),
        beta: k0 === 0 ? x.beta : 1,
        bias: k0 === 0 ? x.bias : undefined,
      });
    }
    return;
  }
  if (x.N > nMax) {
    for (let n0 = 0; n0 < x.N; n0 += nMax) {
      matmul(batch, {
        ...full,
        N: Math.min(nMax, x.N - n0),
        offB: offB + (transB ? n0 * ldb : n0),
        offC: offC + n0,
        offBias: (x.offBias ?? 0) + n0,
      });
    }
    return;
  }
  const narrow = x.N <= WG_N_NARROW;
  const wgN = narrow ? WG_N_NARROW : WG_N;
  const nPad = Math.ceil(x.N / wgN) * wgN;
  const limit = Math.min(limits.maxStorageBufferBindingSize, STAGE_LIMIT);
  const layers = Math.max(
    1,
    Math.min(limits.maxTextureArrayLayers, Math.floor(limit / (4 * nPad * TM))),
  );
  if (count > layers) {
    for (let z0 = 0; z0 < count; z0 += layers) {
      matmul(batch, {
        ...full,
        count: Math.min(layers, count - z0),
        offA: offA + z0 * strideA,
        offB: offB + z0 * strideB,
        offC: offC + z0 * strideC,
      });
    }
    return;
  }
  const K4 = Math.ceil(x.K / 4);
  const mBlock = Math.min(
    Math.ceil(x.M / TM) * TM,
    Math.max(TM, Math.floor(limit / (4 * nPad * count) / TM) * TM),
    Math.floor(limits.maxTextureDimension2D / TM) * TM,
  );
  const stage = gpu.alloc(
    // power-of-two sizes: shrinking shapes (SparseGPT's lazy updates, blocked factorisations)
    // reuse a few pooled stages instead of leaving one per shape in the pool
    [2 ** Math.ceil(Math.log2(count * mBlock * nPad))],
    "matmul/stage",
  );
  const tb = gpu.pool.acquireTexture(Math.ceil(x.N / 4), Math.max(1, 4 * K4), count, "matmul/b");
  const ta = gpu.pool.acquireTexture(Math.max(1, K4), mBlock, count, "matmul/a");
  const tbView = tb.createView({ label: "matmul/b", dimension: "2d-array" });
  const taView = ta.createView({ label: "matmul/a", dimension: "2d-array" });
  const pack = (
    src: GpuTensor,
    view: GPUTextureView,
    trans: boolean,
    rows: number,
    cols: number,
    ld: number,
    off: number,
    stride: number,
    r0: number,
    h: number,
  ) => {
    const w4 = Math.ceil(cols / 4);
    batch.dispatch(
      packKernel(trans),
      [src, view],
      new Uniforms().u32(rows, cols, ld, off).u32(r0, w4, h, stride).bytes(),
      [Math.ceil(w4 / 64), h, count],
    );
  };
  // op(B)(k, n) as rows k, columns n, zero-padded to 4·K4 rows.
  pack(x.b, tbView, transB, x.K, x.N, ldb, offB, strideB, 0, 4 * K4);
  for (let m0 = 0; m0 < x.M; m0 += mBlock) {
    const m1 = Math.min(x.M, m0 + mBlock);
    pack(x.a, taView, transA, x.M, x.K, lda, offA, strideA, m0, m1 - m0);
    batch.dispatch(
      narrow ? MATMUL_NARROW_KERNEL : MATMUL_KERNEL,
      [taView, tbView, stage],
      new Uniforms().u32(K4, nPad / 4, mBlock).bytes(),
      [nPad / wgN, Math.ceil((m1 - m0) / TM), count],
    );
    const e = new Uniforms()
      .u32(m1, x.N, ldc, offC)
      .u32(strideC, mBlock, nPad, count)
      .f32(x.alpha ?? 1, x.beta ?? 0).u32(x.offBias ?? 0, m0);
    batch.dispatch(
      epilogueKernel(x.bias !== undefined),
      [stage, x.c, x.bias ?? stage],
      e.bytes(),
      [Math.ceil(((m1 - m0) * x.N * count) / 256)],
    );
  }
  gpu.free(stage);
  gpu.pool.releaseTexture(ta);
  gpu.pool.releaseTexture(tb);
}
