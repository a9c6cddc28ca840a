/**
 * Float64 reference of the GPTQ/SparseGPT quantizer (`find_params` with `weight=True`, and
 * `quantize`), written from the description in src/quant/grid.ts: per row or group, min/max
 * including 0, symmetric option, scale rounded to f16, zero point, clamp(round(x/s) + z).
 *
 * @module
 */

/** Grid of one row or group in float64. */
export interface Grid64 {
  /** Scale (an f16 value). */
  scale: number;
  /** Zero point. */
  zero: number;
}

function roundHalfEven64(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The grid of `x` with `bits` bits. */
export function grid64(x: ArrayLike<number>, bits: number, sym: boolean): Grid64 {
  const maxq = 2 ** bits - 1;
  let xmin = Math.min(0, ...Array.from(x));
  let xmax = Math.max(0, ...Array.from(x));
  if (sym) {
    xmax = Math.max(Math.abs(xmin), xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin === 0 && xmax === 0) [xmin, xmax] = [-1, 1];
  const scale = new Float16Array([(xmax - xmin) / maxq])[0];
  const zero = sym ? (maxq + 1) / 2 : Math.min(maxq, Math.max(0, roundHalfEven64(-xmin / scale)));
  // zero point 0 (GPTQ stores zero − 1): zero 1, xmax on the top level
  if (zero === 0) return { scale: new Float16Array([xmax / (maxq - 1)])[0], zero: 1 };
  return { scale, zero };
}

/** `x` on the grid, and how far x/scale was from a rounding tie (to skip ambiguous cases). */
export function quantize64(
  x: number,
  g: Grid64,
  bits: number,
): { value: number; level: number; tieDistance: number } {
  const maxq = 2 ** bits - 1;
  const t = x / g.scale;
  const level = Math.min(maxq, Math.max(0, roundHalfEven64(t) + g.zero));
  return {
    value: g.scale * (level - g.zero),
    level,
    tieDistance: Math.abs(t - Math.floor(t) - 0.5),
  };
}

/** Round-to-nearest quantization of a rows × cols matrix (groupSize 0: one group per row). */
export function quantizeRtn64(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  bits: number,
  groupSize: number,
  sym: boolean,
): { W: Float64Array; grids: Grid64[]; tieDistance: Float64Array } {
  const gs = groupSize > 0 ? groupSize : cols;
  const W = new Float64Array(rows * cols);
  const tieDistance = new Float64Array(rows * cols);
  const grids: Grid64[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c0 = 0; c0 < cols; c0 += gs) {
      const c1 = Math.min(cols, c0 + gs);
      const g = grid64(Array.from(w).slice(r * cols + c0, r * cols + c1), bits, sym);
      grids.push(g);
      for (let c = c0; c < c1; c++) {
        const q = quantize64(w[r * cols + c], g, bits);
        W[r * cols + c] = q.value;
        tieDistance[r * cols + c] = q.tieDistance;
      }
    }
  }
  return { W, grids, tieDistance };
}
