/**
 * Typed wrapper for the batched matmul kernel (`kernels/matmul.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { MATMUL_WGSL } from "./matmul.wgsl.ts";
import { MATMUL_BATCHED_WGSL } from "./matmul_batched.wgsl.ts";
import { MATMUL_PACK_WGSL } from "./matmul_pack.wgsl.ts";
import { MATMUL_EPILOGUE_WGSL } from "./matmul_epilogue.wgsl.ts";

/** Arguments of {@linkcode matmul}: `C = alpha·op(A)·op(B) + beta·C (+ bias)`, all row-major. */
export interface MatmulArgs {
  /** Left operand. */
  a: GpuTensor;
  /** Right operand. */
  b: GpuTensor;
  /** Output (read too when `beta` ≠ 0). */
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

/** Rows per invocation of the generated batched kernel (scripts/gen_matmul.ts). */
const BATCHED_TM = 32;
/** Columns per invocation of the generated batched kernel. */
const BATCHED_TN = 32;
const BATCHED_WG_N = 8 * BATCHED_TN; // columns per workgroup (8 invocations wide)
/** Rows per invocation of the generated texture kernel. */
const TEX_TM = 32;
/** Columns per invocation of the generated texture kernel. */
const TEX_TN = 16;
const TEX_WG_N = 8 * TEX_TN;
/** Largest staging block: bigger blocks gain nothing and cost memory. */
const STAGE_LIMIT = 64 * 2 ** 20;

/** The batched (storage-buffer) matmul kernel descriptor for a transpose combination. */
export function matmulKernel(transA: boolean, transB: boolean): Kernel {
  return {
    name: "matmul-batched",
    source: MATMUL_BATCHED_WGSL,
    bindings: ["read", "read", "storage", "uniform"],
    constants: { TRANS_A: +transA, TRANS_B: +transB },
  };
}

const TEXTURE_KERNEL: Kernel = {
  name: "matmul",
  source: MATMUL_WGSL,
  bindings: ["texture", "texture", "storage", "uniform"],
};

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

/** A pooled staging buffer of a power-of-two size, so shrinking shapes reuse a few stages. */
function allocStage(batch: Batch, elements: number): GpuTensor {
  return batch.gpu.alloc([2 ** Math.ceil(Math.log2(elements))], "matmul/stage");
}

function recordEpilogue(
  batch: Batch,
  x: MatmulArgs,
  stage: GpuTensor,
  m0: number,
  m1: number,
  mBlock: number,
  nPad: number,
  count: number,
): void {
  const e = new Uniforms()
    .u32(m1, x.N, x.ldc ?? x.N, x.offC ?? 0)
    .u32(x.strideC ?? 0, mBlock, nPad, count)
    .f32(x.alpha ?? 1, x.beta ?? 0).u32(x.offBias ?? 0, m0);
  batch.dispatch(
    epilogueKernel(x.bias !== undefined),
    [stage, x.c, x.bias ?? stage],
    e.bytes(),
    [Math.ceil(((m1 - m0) * x.N * count) / 256)],
  );
}

/**
 * Records `C = alpha·op(A)·op(B) + beta·C (+ bias)` into a batch. Single products pack op(A)
 * and op(B) into pooled textures and run the texture kernel; batched products (`count` > 1) read
 * the storage buffers directly. Either way the product goes to a pooled staging buffer (row
 * blocks small enough for one binding), then an epilogue writes C. Products larger than the
 * device's texture extent are split along K (accumulating into C) and N.
 */
export function matmul(batch: Batch, x: MatmulArgs): void {
  const count = x.count ?? 1;
  if (x.M === 0 || x.N === 0 || count === 0) return;
  if (count > 1) return matmulBatched(batch, x);
  const transA = x.transA ?? false, transB = x.transB ?? false;
  const lda = x.lda ?? (transA ? x.M : x.K), ldb = x.ldb ?? (transB ? x.K : x.N);
  const ldc = x.ldc ?? x.N;
  const offA = x.offA ?? 0, offB = x.offB ?? 0;
  const maxExtent = batch.gpu.device.limits.maxTextureDimension2D;
  const kMax = Math.floor(maxExtent / 4) * 4, nMax = kMax * 4;
  if (x.K > kMax) {
    for (let k0 = 0; k0 < x.K; k0 += kMax) {
      matmul(batch, {
        ...x,
        K: Math.min(kMax, x.K - k0),
        lda,
        ldb,
        ldc,
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
        ...x,
        N: Math.min(nMax, x.N - n0),
        lda,
        ldb,
        ldc,
        offB: offB + (transB ? n0 * ldb : n0),
        offC: (x.offC ?? 0) + n0,
        offBias: (x.offBias ?? 0) + n0,
      });
    }
    return;
  }
  const gpu = batch.gpu;
  const K4 = Math.ceil(x.K / 4), nPad = Math.ceil(x.N / TEX_WG_N) * TEX_WG_N;
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, STAGE_LIMIT);
  const mBlock = Math.min(
    Math.ceil(x.M / TEX_TM) * TEX_TM,
    Math.max(TEX_TM, Math.floor(limit / (4 * nPad) / TEX_TM) * TEX_TM),
    Math.floor(maxExtent / TEX_TM) * TEX_TM,
  );
  const stage = allocStage(batch, mBlock * nPad);
  const tb = gpu.pool.acquireTexture(Math.ceil(x.N / 4), Math.max(1, 4 * K4), "matmul/b");
  const ta = gpu.pool.acquireTexture(Math.max(1, K4), mBlock, "matmul/a");
  const tbView = tb.createView({ label: "matmul/b" }),
    taView = ta.createView({ label: "matmul/a" });
  const pack = (
    src: GpuTensor,
    view: GPUTextureView,
    trans: boolean,
    rows: number,
    cols: number,
    ld: number,
    off: number,
    r0: number,
    h: number,
  ) => {
    const w4 = Math.ceil(cols / 4);
    batch.dispatch(
      packKernel(trans),
      [src, view],
      new Uniforms().u32(rows, cols, ld, off).u32(r0, w4, h, 0).bytes(),
      [Math.ceil(w4 / 64), h],
    );
  };
  // op(B)(k, n) as rows k, columns n, zero-padded to 4·K4 rows.
  pack(x.b, tbView, transB, x.K, x.N, ldb, offB, 0, 4 * K4);
  for (let m0 = 0; m0 < x.M; m0 += mBlock) {
    const m1 = Math.min(x.M, m0 + mBlock);
    pack(x.a, taView, transA, x.M, x.K, lda, offA, m0, m1 - m0);
    batch.dispatch(
      TEXTURE_KERNEL,
      [taView, tbView, stage],
      new Uniforms().u32(K4, nPad / 4).bytes(),
      [nPad / TEX_WG_N, Math.ceil((m1 - m0) / TEX_TM)],
    );
    recordEpilogue(batch, { ...x, ldc }, stage, m0, m1, mBlock, nPad, 1);
  }
  gpu.free(stage);
  gpu.pool.releaseTexture(ta);
  gpu.pool.releaseTexture(tb);
}

/** The storage-buffer path for batched products (attention heads). */
function matmulBatched(batch: Batch, x: MatmulArgs): void {
  const transA = x.transA ?? false, transB = x.transB ?? false;
  const count = x.count ?? 1;
  const gpu = batch.gpu;
  const nPad = Math.ceil(x.N / BATCHED_TN) * BATCHED_TN;
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, STAGE_LIMIT);
  const rowsPerBlock = Math.max(
    BATCHED_TM,
    Math.floor(limit / (4 * nPad * count) / BATCHED_TM) * BATCHED_TM,
  );
  const mBlock = Math.min(Math.ceil(x.M / BATCHED_TM) * BATCHED_TM, rowsPerBlock);
  const stage = allocStage(batch, count * mBlock * nPad);
  const lda = x.lda ?? (transA ? x.M : x.K), ldb = x.ldb ?? (transB ? x.K : x.N);
  for (let m0 = 0; m0 < x.M; m0 += mBlock) {
    const m1 = Math.min(x.M, m0 + mBlock);
    const u = new Uniforms()
      .u32(m1, x.N, x.K, lda)
      .u32(ldb, x.offA ?? 0, x.offB ?? 0, x.strideA ?? 0)
      .u32(x.strideB ?? 0, mBlock, nPad / 4, m0);
    batch.dispatch(
      matmulKernel(transA, transB),
      [x.a, x.b, stage],
      u.bytes(),
      [Math.ceil(x.N / BATCHED_WG_N), Math.ceil((m1 - m0) / BATCHED_TM), count],
    );
    recordEpilogue(batch, x, stage, m0, m1, mBlock, nPad, count);
  }
  gpu.free(stage);
}
