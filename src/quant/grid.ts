/**
 * The quantization grid of GPTQ and SparseGPT (`--wbits`): a uniform grid of 2^bits levels per
 * output row, or per group of `groupSize` consecutive inputs of a row, found from the minimum
 * and maximum of the weights it covers.
 *
 * For weights x of one row (or group), with maxq = 2^bits − 1:
 * - xmin = min(min x, 0), xmax = max(max x, 0) (so 0 is always inside the range);
 * - symmetric (`sym`): xmax = max(|xmin|, xmax), and xmin = −xmax when xmin < 0;
 * - xmin = −1, xmax = 1 when both are 0;
 * - scale = (xmax − xmin)/maxq, rounded to the nearest f16 value (the one difference from the
 *   references: GPTQ checkpoints store scales in f16, so rounding here makes the saved form
 *   unpack to exactly the weights written);
 * - zero = (maxq + 1)/2 when symmetric, else round(−xmin/scale) clamped to [0, maxq];
 * - when that zero is 0 (the range hardly reaches below 0): zero = 1 and scale = xmax/(maxq − 1)
 *   (f16-rounded), the second difference: the GPTQ format stores zero − 1, which must not be
 *   negative (rows whose kept weights are all ≥ 0 are common after pruning);
 * - q(x) = clamp(round(x/scale) + zero, 0, maxq), and the weight becomes scale·(q − zero).
 *
 * Rounding is to nearest, ties to even (as `torch.round` and WGSL's `round`); every step is
 * in f32, as in the references and the GPU kernels. Since zero is an integer, q(0) = zero and
 * a pruned weight stays exactly 0.
 *
 * @module
 */

/** How weights are quantized. */
export interface QuantSpec {
  /** Bits per weight, 2 to 8. */
  bits: number;
  /** Inputs per group of a row sharing one scale and zero; 0 for one group per row. */
  groupSize: number;
  /** Symmetric grid (zero point fixed at the middle level). */
  sym: boolean;
}

/** Scale and zero point of one row or group. */
export interface GridParams {
  /** Step between levels (an f16 value). */
  scale: number;
  /** Level of weight 0 (an integer in [0, maxq]). */
  zero: number;
}

const f32 = Math.fround;

/** Largest quantized level, 2^bits − 1. */
export function maxLevel(bits: number): number {
  return 2 ** bits - 1;
}

/**
 * Checks a quantization spec (and, given `cols`, that the group size divides it). Throws a
 * RangeError naming the option and the offending value.
 */
export function checkQuantSpec(spec: QuantSpec, cols?: number): void {
  const { bits, groupSize } = spec;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) {
    throw new RangeError(`Invalid quantization bits ${bits}: expected an integer from 2 to 8`);
  }
  if (!Number.isInteger(groupSize) || groupSize < 0) {
    throw new RangeError(
      `Invalid quantization group size ${groupSize}: expected a positive integer, or 0 for one group per row`,
    );
  }
  if (cols !== undefined && groupSize > 0 && cols % groupSize !== 0) {
    throw new RangeError(
      `Invalid quantization group size ${groupSize}: it must divide the ${cols} inputs of every matrix`,
    );
  }
}

/** Groups per row of a matrix with `cols` inputs. */
export function groupsPerRow(spec: QuantSpec, cols: number): number {
  return spec.groupSize > 0 ? Math.ceil(cols / spec.groupSize) : 1;
}

/** Rounds to the nearest integer, ties to even. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Rounds a non-negative f32 to the nearest f16 value (ties to even), by the same bit operations
 * as the WGSL kernels (values above the f16 range are not expected: a scale is at most
 * 2·max|w|/3).
 */
export function f16Round(x: number): number {
  if (!(x > 0)) return x;
  if (x < 2 ** -14) return roundEven(x * 2 ** 24) / 2 ** 24; // f16 subnormals: steps of 2^-24
  const u = new Uint32Array(new Float32Array([x]).buffer);
  const lsb = (u[0] >>> 13) & 1;
  u[0] = ((u[0] + 0xfff + lsb) & ~0x1fff) >>> 0;
  return new Float32Array(u.buffer)[0];
}

/** The grid of the weights `x[lo .. hi)` (f32 arithmetic). */
export function findGrid(
  x: ArrayLike<number>,
  lo: number,
  hi: number,
  spec: QuantSpec,
): GridParams {
  const maxq = maxLevel(spec.bits);
  let xmin = 0, xmax = 0;
  for (let i = lo; i < hi; i++) {
    const v = x[i];
    if (v < xmin) xmin = v;
    if (v > xmax) xmax = v;
  }
  return gridFromRange(f32(xmin), f32(xmax), maxq, spec.sym);
}

/** The grid of a range [xmin ≤ 0, xmax ≥ 0] (f32 arithmetic). */
export function gridFromRange(xmin: number, xmax: number, maxq: number, sym: boolean): GridParams {
  if (sym) {
    xmax = Math.max(-xmin, xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin === 0 && xmax === 0) {
    xmin = -1;
    xmax = 1;
  }
  const scale = f16Round(f32(f32(xmax - xmin) / maxq));
  const zero = sym ? (maxq + 1) / 2 : Math.min(maxq, Math.max(0, roundEven(f32(-xmin / scale))));
  // The GPTQ format stores zero − 1, so a zero point of 0 (a range that hardly reaches below 0)
  // becomes 1, with the scale that puts xmax on the top level.
  if (zero === 0) return { scale: f16Round(f32(xmax / (maxq - 1))), zero: 1 };
  return { scale, zero };
}

/** The level of `x` on the grid: clamp(round(x/scale) + zero, 0, maxq). */
export function quantLevel(x: number, g: GridParams, maxq: number): number {
  return Math.min(maxq, Math.max(0, roundEven(f32(f32(x) / g.scale)) + g.zero));
}

/** `x` rounded to the grid: scale·(q(x) − zero) (exact in f32). */
export function quantizeValue(x: number, g: GridParams, maxq: number): number {
  return f32(g.scale * (quantLevel(x, g, maxq) - g.zero));
}

/** A matrix rounded to its grids (see {@linkcode quantizeRtn}). */
export interface QuantizedMatrix {
  /** The weights on the grid (rows × cols, f32). */
  weights: Float32Array<ArrayBuffer>;
  /** Per row and group: scale then zero (rows × groups × 2). */
  grid: Float32Array<ArrayBuffer>;
}

/**
 * Round-to-nearest quantization of `w` (rows × cols, f32): each row's (or group's) grid from its
 * current weights, every weight rounded to it; zeros stay exactly 0. The CPU form of the GPU
 * kernel `kernels/quant.wgsl`.
 */
export function quantizeRtn(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  spec: QuantSpec,
): QuantizedMatrix {
  checkQuantSpec(spec);
  const maxq = maxLevel(spec.bits);
  const gs = spec.groupSize > 0 ? spec.groupSize : cols;
  const ng = groupsPerRow(spec, cols);
  const weights = new Float32Array(rows * cols);
  const grid = new Float32Array(rows * ng * 2);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < ng; g++) {
      const lo = r * cols + g * gs, hi = r * cols + Math.min(cols, (g + 1) * gs);
      const p = findGrid(w, lo, hi, spec);
      grid[(r * ng + g) * 2] = p.scale;
      grid[(r * ng + g) * 2 + 1] = p.zero;
      for (let i = lo; i < hi; i++) weights[i] = quantizeValue(w[i], p, maxq);
    }
  }
  return { weights, grid };
}
