/**
 * Typed wrapper for the batched matmul kernel (`kernels/matmul.wgsl`).
 *
 * @module
 */

import { type Batch, STORAGE_USAGE } from "../gpu/device.ts";
import type { Kernel } from "../gpu/kernel.ts";
import { forEachFitting } from "../gpu/split.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { type UniformStruct, uniformStruct } from "../gpu/uniforms.ts";
import { MATMUL_WGSL } from "./matmul.wgsl.ts";
import { MATMUL_EPILOGUE_WGSL } from "./matmul_epilogue.wgsl.ts";
import { fillOperand, matmulCopies, withDefaults } from "./matmul_operands.ts";

export { matmulCopies } from "./matmul_operands.ts";

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
  /**
   * Write only the entries C(i, j) with j − i ≤ `lower` (0: the lower triangle with its
   * diagonal); the others are neither computed (whole tiles past the line are skipped) nor
   * touched. Default: every entry.
   */
  lower?: number;
}

/** The `lower` uniform of a full product: larger than any column index. */
const ALL_COLUMNS = 2 ** 30;

/** A `lower` uniform kept inside ±2^30, so the kernels' i32 sums cannot overflow. */
const clampLower = (v: number): number => Math.max(-ALL_COLUMNS, Math.min(ALL_COLUMNS, v));

/** Rows per invocation of the generated kernel (scripts/gen_matmul.ts). */
const TM = 32;
/** Columns per workgroup (8 invocations wide) of the kernel's `main` entry point. */
const WG_N = 128;
/** Columns per workgroup of `main_narrow`, used for products of at most 64 columns. */
const WG_N_NARROW = 64;
/** Largest staging block: bigger blocks gain nothing and cost memory. */
const STAGE_LIMIT = 64 * 2 ** 20;

const PRODUCT_PARAMS = uniformStruct("Params", {
  K4: "u32",
  nPad4: "u32",
  mPad: "u32",
  lower: "i32",
  ldc4: "u32",
  offC4: "u32",
  strideC4: "u32",
  rows: "u32",
  N4: "u32",
  alpha: "f32",
  beta: "f32",
});

const EPILOGUE_PARAMS = uniformStruct("Params", {
  rows: "u32",
  N: "u32",
  ldc: "u32",
  offC: "u32",
  strideC: "u32",
  mPad: "u32",
  nPad: "u32",
  count: "u32",
  alpha: "f32",
  beta: "f32",
  offBias: "u32",
  offS: "u32",
  lower: "i32",
});

/** The uniform layouts of `kernels/matmul.wgsl`. */
export const MATMUL_UNIFORMS: readonly UniformStruct[] = [PRODUCT_PARAMS];
/** The uniform layouts of `kernels/matmul_epilogue.wgsl`. */
export const MATMUL_EPILOGUE_UNIFORMS: readonly UniformStruct[] = [EPILOGUE_PARAMS];

/** The matmul kernel descriptor (one pipeline for every shape and layout). */
export const MATMUL_KERNEL: Kernel = {
  name: "matmul",
  source: MATMUL_WGSL,
  bindings: ["read-storage-texture", "read-storage-texture", "storage", "uniform"],
};

/**
 * The product kernel: `narrow` for products of at most 64 columns, `direct` when it writes C
 * itself (no stage, no epilogue), `aCols` / `bRows` for Aᵀ / Bᵀ, which the textures hold in
 * their stored layout, and `cpu` for the entry points tuned for CPU adapters (8 invocations of
 * 32 rows a workgroup) rather than GPUs (64 invocations of 8 rows); both cover the same tile.
 */
function productKernel(
  narrow: boolean,
  direct: boolean,
  aCols: boolean,
  bRows: boolean,
  cpu: boolean,
): Kernel {
  const i = +narrow | (+direct << 1) | (+aCols << 2) | (+bRows << 3) | (+cpu << 4);
  return PRODUCT_KERNELS[i] ??= {
    ...MATMUL_KERNEL,
    entryPoint: (narrow ? "main_narrow" : "main") + (cpu ? "" : "_gpu"),
    constants: { DIRECT: +direct, A_COLS: +aCols, B_ROWS: +bRows },
  };
}
const PRODUCT_KERNELS: Kernel[] = [];

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
 * op(A) and op(B) are copied or packed into pooled `rgba32float` array textures (one layer per
 * product; see {@linkcode matmulCopies}). The kernel writes C itself when C is 16-byte aligned
 * and has no bias; otherwise it writes a pooled staging buffer (row blocks small enough for one
 * binding) and an epilogue writes C. Products past the device's texture limits are split:
 * along K (accumulating into C), along N, and into groups of layers.
 */
export function matmul(batch: Batch, x: MatmulArgs): void {
  const full = withDefaults(x);
  const { count, transA, transB, lda, ldb, ldc, offA, offB, offC, strideA, strideB, strideC } =
    full;
  if (x.M === 0 || x.N === 0 || count === 0) return;
  const lower = x.lower ?? ALL_COLUMNS;
  if (!Number.isInteger(lower)) {
    throw new RangeError(`Cannot use matmul lower ${x.lower}: expected an integer`);
  }
  const gpu = batch.gpu;
  const limits = gpu.device.limits;
  // K spans at most kMax texture rows or 4-element texels, N at most nMax texels (B) or rows (Bᵀ)
  const kMax = Math.floor(limits.maxTextureDimension2D / 4) * 4;
  const nMax = transB ? limits.maxTextureDimension2D : kMax * 4;
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
  const splitN = (step: number) => {
    for (let n0 = 0; n0 < x.N; n0 += step) {
      matmul(batch, {
        ...full,
        N: Math.min(step, x.N - n0),
        offB: offB + (transB ? n0 * ldb : n0),
        offC: offC + n0,
        offBias: (x.offBias ?? 0) + n0,
        lower: x.lower === undefined ? undefined : lower - n0,
      });
    }
  };
  if (x.N > nMax) {
    splitN(nMax);
    return;
  }
  const limit = Math.min(gpu.bindingLimit, STAGE_LIMIT);
  // the stage holds at least TM rows of the padded width: split N when that does not fit
  const nFit = Math.floor(limit / (4 * TM));
  if (x.N > WG_N_NARROW && Math.ceil(x.N / WG_N) * WG_N > nFit) {
    splitN(nFit >= WG_N ? Math.floor(nFit / WG_N) * WG_N : WG_N_NARROW);
    return;
  }
  const narrow = x.N <= WG_N_NARROW;
  const wgN = narrow ? WG_N_NARROW : WG_N;
  const nPad = Math.ceil(x.N / wgN) * wgN;
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
  const texRows = Math.floor(limits.maxTextureDimension2D / TM) * TM;
  // Direct mode: the kernel writes C itself in 16-byte units when C is aligned, has no bias and
  // TM rows of every product fit one binding; otherwise it writes a stage that an epilogue adds
  // into C (on CPU adapters that pass over C costs about half a rank-256 product).
  const cRows = (rows: number) => (count - 1) * strideC + (rows - 1) * ldc + x.N;
  const directRows = Math.floor((gpu.windowElements - cRows(1)) / ldc) + 1;
  const direct = !x.bias && x.N % 4 === 0 && ldc % 4 === 0 && offC % 4 === 0 &&
    strideC % 4 === 0 && directRows >= TM;
  const mBlock = Math.min(
    Math.ceil(x.M / TM) * TM,
    direct
      ? Math.floor(directRows / TM) * TM
      : Math.max(TM, Math.floor(limit / (4 * nPad * count) / TM) * TM),
    texRows,
  );
  // power-of-two buffers: shrinking shapes (SparseGPT's lazy updates, blocked factorisations)
  // reuse a few pooled stages instead of leaving one per shape in the pool
  const stageSize = count * mBlock * nPad;
  const stage: GpuTensor | undefined = direct ? undefined : {
    buffer: gpu.pool.acquire(
      4 * 2 ** Math.ceil(Math.log2(stageSize)),
      STORAGE_USAGE,
      "matmul/stage",
    ),
    shape: [stageSize],
    dtype: "f32",
    size: stageSize,
  };
  // The textures hold rows of the stored operands, four elements a texel: A (M×K) as texel
  // (k4, m), Aᵀ (stored K×M) as (m4, k), B (K×N) as (n4, k), Bᵀ (stored N×K) as (k4, n), zero
  // past K. Rows that lie in memory as a texture holds them are copied, the others packed.
  const copies = matmulCopies(gpu, full);
  const copyA = copies.a, copyB = copies.b;
  const tb = transB
    ? gpu.pool.acquireTexture(Math.max(1, K4), x.N, count, "matmul/b")
    : gpu.pool.acquireTexture(Math.ceil(x.N / 4), Math.max(1, 4 * K4), count, "matmul/b");
  const ta = transA
    ? gpu.pool.acquireTexture(mBlock / 4, Math.max(1, 4 * K4), count, "matmul/a")
    : gpu.pool.acquireTexture(Math.max(1, K4), mBlock, count, "matmul/a");
  const tbView = gpu.pool.arrayView(tb), taView = gpu.pool.arrayView(ta);
  const [bRows, bCols] = transB ? [x.N, x.K] : [x.K, x.N];
  fillOperand(batch, { src: x.b, tex: tb, view: tbView, rows: bRows, cols: bCols, ld: ldb }, {
    off: offB,
    stride: strideB,
    count,
    r0: 0,
    h: transB ? x.N : 4 * K4, // B zero-padded to 4·K4 rows
  }, copyB);
  for (let m0 = 0; m0 < x.M; m0 += mBlock) {
    const m1 = Math.min(x.M, m0 + mBlock);
    if (m1 - 1 + lower < 0) continue; // every row of the block lies above the written triangle
    // rows m0 .. m1 of A, or columns m0 .. m1 of the stored Aᵀ (zero-padded to 4·K4 rows)
    const a = transA
      ? { rows: x.K, cols: m1 - m0, off: offA + m0, r0: 0, h: 4 * K4 }
      : { rows: x.M, cols: x.K, off: offA, r0: m0, h: m1 - m0 };
    fillOperand(
      batch,
      { src: x.a, tex: ta, view: taView, rows: a.rows, cols: a.cols, ld: lda },
      { off: a.off, stride: strideA, count, r0: a.r0, h: a.h },
      copyA,
    );
    const grid = [nPad / wgN, Math.ceil((m1 - m0) / TM), count];
    const lowerM0 = clampLower(lower + m0);
    if (!stage) {
      const first = offC + m0 * ldc;
      const c = gpu.window(x.c, first, first + cRows(m1 - m0));
      batch.dispatch(
        productKernel(narrow, true, transA, transB, gpu.cpuKernels),
        [taView, tbView, c],
        PRODUCT_PARAMS.pack({
          K4,
          nPad4: nPad / 4,
          mPad: mBlock,
          lower: lowerM0,
          ldc4: ldc / 4,
          offC4: (first - c.base) / 4,
          strideC4: strideC / 4,
          rows: m1 - m0,
          N4: x.N / 4,
          alpha: x.alpha ?? 1,
          beta: x.beta ?? 0,
        }),
        grid,
      );
      continue;
    }
    batch.dispatch(
      productKernel(narrow, false, transA, transB, gpu.cpuKernels),
      [taView, tbView, stage],
      // the kernel writes the stage: C's fields are unused
      PRODUCT_PARAMS.pack({
        K4,
        nPad4: nPad / 4,
        mPad: mBlock,
        lower: lowerM0,
        ldc4: 0,
        offC4: 0,
        strideC4: 0,
        rows: 0,
        N4: 0,
        alpha: 0,
        beta: 0,
      }),
      grid,
    );
    // C rows m0 .. m1 of every product, in windows of C that fit one binding
    const offBias = x.offBias ?? 0;
    const bias = x.bias ? gpu.window(x.bias, offBias, offBias + x.N) : undefined;
    const cSpan = (za: number, zb: number, ma: number, mb: number) =>
      (zb - 1 - za) * strideC + (mb - 1 - ma) * ldc + x.N;
    forEachFitting(
      gpu,
      0,
      count,
      (za, zb) => zb - za === 1 ? 0 : cSpan(za, zb, m0, m1),
      (za, zb) => {
        forEachFitting(gpu, m0, m1, (ma, mb) => cSpan(za, zb, ma, mb), (ma, mb) => {
          const first = offC + za * strideC + ma * ldc;
          const c = gpu.window(x.c, first, first + cSpan(za, zb, ma, mb));
          const e = EPILOGUE_PARAMS.pack({
            rows: mb - ma,
            N: x.N,
            ldc,
            offC: first - c.base,
            strideC,
            mPad: mBlock,
            nPad,
            count: zb - za,
            alpha: x.alpha ?? 1,
            beta: x.beta ?? 0,
            offBias: bias ? offBias - bias.base : 0,
            offS: (za * mBlock + ma - m0) * nPad,
            lower: clampLower(lower + ma),
          });
          batch.dispatch(
            epilogueKernel(x.bias !== undefined),
            [stage, c, bias ?? stage],
            e,
            [Math.ceil(x.N / 256), mb - ma, zb - za],
          );
        });
      },
    );
  }
  if (stage) gpu.pool.release(stage.buffer);
  gpu.pool.releaseTexture(ta);
  gpu.pool.releaseTexture(tb);
}
