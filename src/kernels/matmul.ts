/**
 * Typed wrapper for the batched matmul kernel (`kernels/matmul.wgsl`).
 *
 * @module
 */

import type { Batch } from "../gpu/device.ts";
import { type Kernel, Uniforms } from "../gpu/kernel.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { MATMUL_WGSL } from "./matmul.wgsl.ts";

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

const TILE = 64; // 8 x 8 invocations, 8 x 8 outputs each

/** The matmul kernel descriptor for a transpose/bias combination. */
export function matmulKernel(transA: boolean, transB: boolean, hasBias: boolean): Kernel {
  return {
    name: "matmul",
    source: MATMUL_WGSL,
    bindings: ["read", "read", "storage", "read", "uniform"],
    constants: { TRANS_A: +transA, TRANS_B: +transB, HAS_BIAS: +hasBias },
  };
}

/** Records `C = alpha·op(A)·op(B) + beta·C (+ bias)` into a batch. */
export function matmul(batch: Batch, x: MatmulArgs): void {
  const transA = x.transA ?? false, transB = x.transB ?? false;
  const u = new Uniforms()
    .u32(x.M, x.N, x.K, x.lda ?? (transA ? x.M : x.K))
    .u32(x.ldb ?? (transB ? x.K : x.N), x.ldc ?? x.N, x.offA ?? 0, x.offB ?? 0)
    .u32(x.offC ?? 0, x.strideA ?? 0, x.strideB ?? 0, x.strideC ?? 0)
    .f32(x.alpha ?? 1, x.beta ?? 0).u32(x.offBias ?? 0, 0);
  batch.dispatch(
    matmulKernel(transA, transB, x.bias !== undefined),
    [x.a, x.b, x.c, x.bias ?? x.a],
    u.bytes(),
    [Math.ceil(x.N / TILE), Math.ceil(x.M / TILE), x.count ?? 1],
  );
}
