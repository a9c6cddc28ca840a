/**
 * The GPTQ ("gptq" format) packing of one column of 32 levels into `bits` u32 words, spelled
 * out word by word as the layout is documented in README.md "Quantized checkpoints" (for 3 bits
 * the three words hold levels 0–9 | low 2 bits of 10; high bit of 10 | 11–20 | low bit of 21;
 * high 2 bits of 21 | 22–31), independently of the bit-stream form of src/quant/gptq.ts.
 *
 * @module
 */

/** The words of 32 levels (each < 2^bits). */
export function packColumn32(levels: ArrayLike<number>, bits: number): number[] {
  if (bits === 3) {
    const w = [0, 0, 0];
    for (let j = 0; j < 10; j++) w[0] += levels[j] * 2 ** (3 * j);
    w[0] += (levels[10] & 3) * 2 ** 30;
    w[1] += levels[10] >> 2;
    for (let j = 0; j < 10; j++) w[1] += levels[11 + j] * 2 ** (3 * j + 1);
    w[1] += (levels[21] & 1) * 2 ** 31;
    w[2] += levels[21] >> 1;
    for (let j = 0; j < 10; j++) w[2] += levels[22 + j] * 2 ** (3 * j + 2);
    return w;
  }
  const per = 32 / bits;
  const w = new Array<number>(bits).fill(0);
  for (let k = 0; k < bits; k++) {
    for (let j = 0; j < per; j++) w[k] += levels[k * per + j] * 2 ** (bits * j);
  }
  return w;
}
