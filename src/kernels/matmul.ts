/**
 * Typed wrapper for the batched matmul kernel (`kernels/matmul.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { MATMUL_WGSL } from "./matmul.wgsl.ts";
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

/** Rows per invocation of the generated kernel (scripts/gen_matmul.ts). */
const MATMUL_TM = 32;
/** Columns per invocation of the generated kernel. */
const MATMUL_TN = 32;
const TILE_M = MATMUL_TM; // rows per workgroup (1 invocation high)
const TILE_N = 8 * MATMUL_TN; // columns per workgroup (8 invocations wide)

/** The matmul kernel descriptor for a transpose combination. */
export function matmulKernel(transA: boolean, transB: boolean): Kernel {
  return {
    name: "matmul",
    source: MATMUL_WGSL,
    bindings: ["read", "read", "storage", "uniform"],
    constants: { TRANS_A: +transA, TRANS_B: +transB },
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
 * Records `C = alpha·op(A)·op(B) + beta·C (+ bias)` into a batch: the product goes to a pooled
 * staging buffer (row blocks small enough for one binding), then an epilogue writes C.
 */
export function matmul(batch: Batch, x: MatmulArgs): void {
  const transA = x.transA ?? false, transB = x.transB ?? false;
  const count = x.count ?? 1;
  if (x.M === 0 || x.N === 0 || count === 0) return;
  const gpu = batch.gpu;
  const nPad = Math.ceil(x.N / MATMUL_TN) * MATMUL_TN;
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, 64 * 2 ** 20);
  const rowsPerBlock = Math.max(
    TILE_M,
    Math.floor(limit / (4 * nPad * count) / TILE_M) * TILE_M,
  );
  const mBlock = Math.min(Math.ceil(x.M / TILE_M) * TILE_M, rowsPerBlock);
  // Power-of-two sizes: loops whose shapes shrink (SparseGPT's lazy updates, blocked
  // factorisations) reuse a few pooled stages instead of leaving one per shape in the pool.
  const stage = gpu.alloc([2 ** Math.ceil(Math.log2(count * mBlock * nPad))], "matmul/stage");
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
      [Math.ceil(x.N / TILE_N), Math.ceil((m1 - m0) / TILE_M), count],
    );
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
  gpu.free(stage);
}
