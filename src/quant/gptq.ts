/**
 * The GPTQ checkpoint layout of one linear layer (AutoGPTQ's `QuantLinear`, format "gptq",
 * which transformers' GPTQ integration, GPTQModel, vLLM and TGI load), packed from and unpacked
 * to fake-quantized weights. Pure functions on typed arrays; README.md "Quantized checkpoints"
 * describes the layout byte for byte.
 *
 * For a weight W of `out` rows (outputs) × `in` columns (inputs), `bits` ∈ {2, 3, 4, 8} and
 * `groups` = in/groupSize (1 without groups):
 * - `qweight` int32 [in·bits/32, out]: the levels q ∈ [0, 2^bits) of each column of Wᵀ, 32
 *   consecutive inputs per `bits` words, as one little-endian bit stream: level t of the 32
 *   (input 32k + t) occupies bits 3t.. of the stream for 3 bits (so it may straddle two words),
 *   or bits bits·t.. of word t·bits/32 for 2, 4 and 8 bits;
 * - `qzeros` int32 [groups, out·bits/32]: zero − 1 per group and output, packed the same way
 *   along outputs (AutoGPTQ's format stores zero − 1 and loaders add 1 back);
 * - `scales` f16 [groups, out]; `g_idx` int32 [in] = input / groupSize.
 *
 * A weight unpacks to scales[g, o]·(q − (stored zero + 1)), which is exactly the fake-quantized
 * value since the scale is an f16 value (see src/quant/grid.ts).
 *
 * @module
 */

import type { QuantSpec } from "./grid.ts";

/** The packed tensors of one linear layer. */
export interface GptqLinear {
  /** [in·bits/32, out] int32. */
  qweight: Int32Array<ArrayBuffer>;
  /** [groups, out·bits/32] int32. */
  qzeros: Int32Array<ArrayBuffer>;
  /** [groups, out] f16. */
  scales: Float16Array<ArrayBuffer>;
  /** [in] int32. */
  gIdx: Int32Array<ArrayBuffer>;
}

/** Bit widths the GPTQ layout defines. */
export const GPTQ_BITS: readonly number[] = [2, 3, 4, 8];

/** Shapes of the packed tensors of an out × in layer. */
export function gptqShapes(
  out: number,
  inputs: number,
  spec: QuantSpec,
): { qweight: number[]; qzeros: number[]; scales: number[]; gIdx: number[] } {
  const groups = spec.groupSize > 0 ? inputs / spec.groupSize : 1;
  return {
    qweight: [(inputs / 32) * spec.bits, out],
    qzeros: [groups, (out / 32) * spec.bits],
    scales: [groups, out],
    gIdx: [inputs],
  };
}

/** Throws a RangeError unless an out × in layer can be stored in the GPTQ layout. */
export function checkGptqLayer(name: string, out: number, inputs: number, spec: QuantSpec): void {
  if (!GPTQ_BITS.includes(spec.bits)) {
    throw new RangeError(
      `Cannot save ${name} in the GPTQ layout with ${spec.bits}-bit quantization: it defines 2, 3, 4 and ` +
        `8 bits only`,
    );
  }
  if (inputs % 32 !== 0 || out % 32 !== 0) {
    throw new RangeError(
      `Cannot save ${name} [${out}, ${inputs}] in the GPTQ layout: its inputs and outputs must ` +
        `be multiples of 32`,
    );
  }
  if (spec.groupSize > 0 && inputs % spec.groupSize !== 0) {
    throw new RangeError(
      `Cannot save ${name} in the GPTQ layout: the group size ${spec.groupSize} does not divide ` +
        `its ${inputs} inputs`,
    );
  }
}

/** ORs `value` (< 2^bits) into the bit stream `words` at bit `pos`, words `stride` apart. */
function putBits(
  words: Uint32Array,
  base: number,
  stride: number,
  pos: number,
  value: number,
  bits: number,
): void {
  const w = pos >>> 5, off = pos & 31;
  words[base + w * stride] |= value << off;
  if (off + bits > 32) words[base + (w + 1) * stride] |= value >>> (32 - off);
}

/** Reads `bits` bits at bit `pos` of the bit stream `words` (words `stride` apart). */
function getBits(
  words: Uint32Array,
  base: number,
  stride: number,
  pos: number,
  bits: number,
): number {
  const w = pos >>> 5, off = pos & 31;
  let v = words[base + w * stride] >>> off;
  if (off + bits > 32) v |= words[base + (w + 1) * stride] << (32 - off);
  return v & ((1 << bits) - 1);
}

/**
 * Packs fake-quantized weights `w` (out × in, f32, each scale·(q − zero) of its grid) with their
 * grids (out × groups × 2: scale, zero; as src/quant/grid.ts and the kernels write them).
 * Throws a RangeError naming the layer when a weight is not on its grid or a zero point is 0
 * (which the "gptq" format's zero − 1 cannot store: use `--sym`).
 */
export function packGptq(
  name: string,
  w: ArrayLike<number>,
  grid: ArrayLike<number>,
  out: number,
  inputs: number,
  spec: QuantSpec,
): GptqLinear {
  checkGptqLayer(name, out, inputs, spec);
  const { bits } = spec;
  const maxq = 2 ** bits - 1;
  const gs = spec.groupSize > 0 ? spec.groupSize : inputs;
  const groups = inputs / gs;
  if (grid.length !== out * groups * 2) {
    throw new RangeError(
      `Cannot pack ${name}: its grid has ${grid.length} values, ${out * groups * 2} expected`,
    );
  }
  const shapes = gptqShapes(out, inputs, spec);
  const qweight = new Uint32Array(shapes.qweight[0] * out);
  const qzeros = new Uint32Array(groups * shapes.qzeros[1]);
  const scales = new Float16Array(groups * out);
  const gIdx = Int32Array.from({ length: inputs }, (_, i) => Math.floor(i / gs));
  for (let o = 0; o < out; o++) {
    for (let g = 0; g < groups; g++) {
      const scale = grid[2 * (o * groups + g)], zero = grid[2 * (o * groups + g) + 1];
      const s16 = new Float16Array([scale])[0];
      if (s16 !== scale || !(scale > 0)) {
        throw new RangeError(
          `Cannot pack ${name}: the scale ${scale} of output ${o}, group ${g} is not a ` +
            `positive f16 value`,
        );
      }
      if (!Number.isInteger(zero) || zero < 1 || zero > maxq) {
        throw new RangeError(
          `Cannot pack ${name}: the zero point ${zero} of output ${o}, group ${g} cannot be ` +
            `stored in the "gptq" format (it stores zero − 1; use symmetric grids for a zero point ` +
            `of 2^(bits−1))`,
        );
      }
      scales[g * out + o] = scale;
      const zpos = o * bits;
      putBits(qzeros, g * shapes.qzeros[1], 1, zpos, zero - 1, bits);
      for (let i = g * gs; i < (g + 1) * gs; i++) {
        const v = w[o * inputs + i];
        const q = v / scale + zero;
        if (!Number.isInteger(q) || q < 0 || q > maxq || Math.fround(scale * (q - zero)) !== v) {
          throw new RangeError(
            `Cannot pack ${name}: weight (${o}, ${i}) = ${v} is not on its grid ` +
              `(scale ${scale}, zero ${zero})`,
          );
        }
        const chunk = Math.floor(i / 32), t = i % 32;
        putBits(qweight, chunk * bits * out + o, out, t * bits, q, bits);
      }
    }
  }
  return {
    qweight: new Int32Array(qweight.buffer),
    qzeros: new Int32Array(qzeros.buffer),
    scales,
    gIdx,
  };
}

/** Unpacks a layer to its weights (out × in, f32): scale·(q − (stored zero + 1)), per g_idx. */
export function unpackGptq(
  t: GptqLinear,
  out: number,
  inputs: number,
  bits: number,
): Float32Array<ArrayBuffer> {
  const qw = new Uint32Array(t.qweight.buffer, t.qweight.byteOffset, t.qweight.length);
  const qz = new Uint32Array(t.qzeros.buffer, t.qzeros.byteOffset, t.qzeros.length);
  const zeroWords = (out / 32) * bits;
  const w = new Float32Array(out * inputs);
  for (let i = 0; i < inputs; i++) {
    const g = t.gIdx[i];
    const chunk = Math.floor(i / 32), t32 = i % 32;
    for (let o = 0; o < out; o++) {
      const q = getBits(qw, chunk * bits * out + o, out, t32 * bits, bits);
      const zero = getBits(qz, g * zeroWords, 1, o * bits, bits) + 1;
      w[o * inputs + i] = t.scales[g * out + o] * (q - zero);
    }
  }
  return w;
}
