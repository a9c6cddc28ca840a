import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { CheckpointError, decodeToF32, DTYPE_SIZES, dtypeSize, encodeFromF32 } from "../../io.ts";

const u16 = (...v: number[]) => new Uint8Array(new Uint16Array(v).buffer);
const f32Bits = (...bits: number[]) => new Float32Array(new Uint32Array(bits).buffer);
const bitsOf = (x: Float32Array) => [...new Uint32Array(x.buffer, x.byteOffset, x.length)];

/** Reference F16 decoder from the IEEE 754 binary16 definition. */
function f16Ref(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** Reference BF16 rounding: pick the nearer of the two neighbours, ties to even. */
function bf16Ref(bits: number): number {
  const x = f32Bits(bits)[0];
  const lo = bits >>> 16;
  if (!Number.isFinite(x)) return lo;
  const hi = lo + 1;
  // Magnitude one step past the largest finite value counts as 2^128 (it becomes infinity).
  const v = (h: number) => (h & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : f32Bits(h << 16)[0];
  const dl = Math.abs(x - v(lo));
  const dh = Math.abs(x - v(hi));
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return lo % 2 === 0 ? lo : hi;
}

Deno.test("dtypeSize() knows the safetensors dtypes and rejects others", () => {
  deepStrictEqual(
    [
      DTYPE_SIZES.F64,
      DTYPE_SIZES.F32,
      DTYPE_SIZES.F16,
      DTYPE_SIZES.BF16,
      DTYPE_SIZES.I64,
      DTYPE_SIZES.BOOL,
    ],
    [8, 4, 2, 2, 8, 1],
  );
  strictEqual(dtypeSize("F8_E4M3"), 1);
  strictEqual(dtypeSize("U32"), 4);
  throws(() => dtypeSize("Q4_K"), { name: "CheckpointError", message: /Unsupported dtype "Q4_K"/ });
  throws(() => dtypeSize("toString"), CheckpointError);
});

Deno.test("decodeToF32() decodes every F16 value like the binary16 definition", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const out = decodeToF32(new Uint8Array(all.buffer), "F16");
  for (let h = 0; h < 65536; h++) {
    const want = f16Ref(h);
    if (Number.isNaN(want)) ok(Number.isNaN(out[h]), `0x${h.toString(16)}`);
    else strictEqual(out[h], want, `0x${h.toString(16)}`);
  }
});

Deno.test("decodeToF32() decodes BF16 and F32, also from unaligned bytes", () => {
  deepStrictEqual([...decodeToF32(u16(0x3f80, 0xc000, 0x7f80, 0x0001), "BF16")], [
    1,
    -2,
    Infinity,
    2 ** -133,
  ]);
  const buf = new Uint8Array(9);
  buf.set(new Uint8Array(new Float32Array([1.5, -3]).buffer), 1);
  deepStrictEqual([...decodeToF32(buf.subarray(1), "F32")], [1.5, -3]);
  buf.set(u16(0x3c00, 0x7bff), 1);
  deepStrictEqual([...decodeToF32(buf.subarray(1, 5), "F16")], [1, 65504]);
  buf.set(u16(0x3f80, 0x4049), 1);
  deepStrictEqual([...decodeToF32(buf.subarray(1, 5), "BF16")], [1, 3.140625]);
});

Deno.test("decodeToF32() rejects unknown dtypes and partial elements", () => {
  throws(() => decodeToF32(new Uint8Array(8), "I64"), {
    name: "CheckpointError",
    message: /dtype "I64"/,
  });
  throws(() => decodeToF32(new Uint8Array(3), "F16"), /3 bytes as F16: not a multiple of 2/);
  throws(() => encodeFromF32(new Float32Array(1), "F64"), /Cannot encode to dtype "F64"/);
});

Deno.test("encodeFromF32() rounds BF16 to nearest even and keeps NaN", () => {
  const cases: [number, number][] = [
    [0x3f808000, 0x3f80], // tie, lower is even
    [0x3f818000, 0x3f82], // tie, upper is even
    [0x3f808001, 0x3f81], // above the tie
    [0x3f807fff, 0x3f80], // below the tie
    [0x7f7fffff, 0x7f80], // overflows to infinity
    [0xff800000, 0xff80], // -inf
    [0x80000000, 0x8000], // -0
  ];
  const enc = new Uint16Array(encodeFromF32(f32Bits(...cases.map((c) => c[0])), "BF16").buffer);
  deepStrictEqual([...enc], cases.map((c) => c[1]));
  const nans = decodeToF32(
    encodeFromF32(f32Bits(0x7f800001, 0xffc00000, 0x7fffffff), "BF16"),
    "BF16",
  );
  ok([...nans].every(Number.isNaN));
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  const bits = Array.from({ length: 20000 }, rand).filter((b) => !Number.isNaN(f32Bits(b)[0]));
  const got = new Uint16Array(encodeFromF32(f32Bits(...bits), "BF16").buffer);
  deepStrictEqual([...got], bits.map(bf16Ref));
});

Deno.test("encodeFromF32() rounds F16 to nearest even", () => {
  const x = new Float32Array([
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    65504,
    65519,
    65520,
    -1e6,
    2 ** -25,
    2 ** -24 * 1.5,
  ]);
  deepStrictEqual(
    [...new Uint16Array(encodeFromF32(x, "F16").buffer)],
    [0x3c00, 0x3c02, 0x7bff, 0x7bff, 0x7c00, 0xfc00, 0x0000, 0x0002],
  );
  ok(Number.isNaN(decodeToF32(encodeFromF32(new Float32Array([NaN]), "F16"), "F16")[0]));
});

Deno.test("encode then decode round-trips F32 exactly and F16/BF16 within half an ulp", () => {
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = Float32Array.from({ length: 4096 }, () => rand() * 10 ** Math.floor(rand() * 4));
  deepStrictEqual(bitsOf(decodeToF32(encodeFromF32(x, "F32"), "F32")), bitsOf(x));
  for (const [dtype, mantissa] of [["F16", 10], ["BF16", 7]] as const) {
    const y = decodeToF32(encodeFromF32(x, dtype), dtype);
    for (let i = 0; i < x.length; i++) {
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(x[i]))) - mantissa);
      ok(Math.abs(y[i] - x[i]) <= Math.max(ulp, 2 ** -24) / 2, `${dtype} ${x[i]} -> ${y[i]}`);
    }
    // Values already representable survive a second round trip unchanged.
    deepStrictEqual(bitsOf(decodeToF32(encodeFromF32(y, dtype), dtype)), bitsOf(y));
  }
  const all16 = new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer);
  const back = new Uint16Array(encodeFromF32(decodeToF32(all16, "F16"), "F16").buffer);
  const nonNaN = [...back.keys()].filter((h) => !Number.isNaN(f16Ref(h)));
  deepStrictEqual(nonNaN.map((h) => back[h]), nonNaN);
});
