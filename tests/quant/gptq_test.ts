import assert from "node:assert/strict";
import { quantizeRtn } from "../../src/quant/grid.ts";
import { gptqShapes, packGptq, unpackGptq } from "../../src/quant/gptq.ts";
import { Rng } from "../reference/linalg_ref.ts";
import { packColumn32 } from "../reference/gptq_ref.ts";

function prunedMatrix(out: number, inputs: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const w = new Float32Array(out * inputs);
  for (let i = 0; i < w.length; i++) w[i] = rng.next() < 0.5 ? 0 : 0.05 * rng.normal();
  return w;
}

for (const bits of [2, 3, 4, 8]) {
  for (const groupSize of [0, 32, 64]) {
    Deno.test(`GPTQ pack/unpack round trip and layout: ${bits} bits, group size ${groupSize}`, () => {
      const out = 64, inputs = 128;
      const spec = { bits, groupSize, sym: false };
      const src = prunedMatrix(out, inputs, bits * 100 + groupSize);
      // make every zero point ≥ 1 (the "gptq" format stores zero − 1)
      for (let o = 0; o < out; o++) src[o * inputs] = -0.2;
      for (let o = 0; o < out && groupSize; o++) {
        for (let c = 0; c < inputs; c += groupSize) src[o * inputs + c] = -0.2;
      }
      const { weights, grid } = quantizeRtn(src, out, inputs, spec);
      const t = packGptq("layer", weights, grid, out, inputs, spec);
      const shapes = gptqShapes(out, inputs, spec);
      assert.equal(t.qweight.length, shapes.qweight[0] * shapes.qweight[1]);
      assert.equal(t.qzeros.length, shapes.qzeros[0] * shapes.qzeros[1]);
      assert.equal(t.scales.length, shapes.scales[0] * shapes.scales[1]);
      const gs = groupSize || inputs;
      assert.deepEqual(Array.from(t.gIdx), Array.from({ length: inputs }, (_, i) => (i / gs) | 0));

      // exact round trip, pruned zeros included
      const back = unpackGptq(t, out, inputs, bits);
      assert.deepEqual(back, weights);
      for (let i = 0; i < src.length; i++) if (src[i] === 0) assert.equal(back[i], 0);

      // the words are AutoGPTQ's layout
      const groups = inputs / gs;
      const qw = new Uint32Array(t.qweight.buffer);
      for (let o = 0; o < out; o += 7) {
        for (let k = 0; k < inputs / 32; k++) {
          const levels = Array.from({ length: 32 }, (_, j) => {
            const i = k * 32 + j, g = (i / gs) | 0;
            const p = 2 * (o * groups + g);
            return weights[o * inputs + i] / grid[p] + grid[p + 1];
          });
          const words = packColumn32(levels, bits);
          for (let r = 0; r < bits; r++) assert.equal(qw[(k * bits + r) * out + o], words[r]);
        }
      }
      const qz = new Uint32Array(t.qzeros.buffer);
      for (let g = 0; g < groups; g++) {
        for (let k = 0; k < out / 32; k++) {
          const zeros = Array.from(
            { length: 32 },
            (_, j) => grid[2 * ((k * 32 + j) * groups + g) + 1] - 1,
          );
          const words = packColumn32(zeros, bits);
          for (let r = 0; r < bits; r++) {
            assert.equal(qz[g * (out / 32) * bits + k * bits + r], words[r]);
          }
        }
      }
      for (let o = 0; o < out; o++) {
        for (let g = 0; g < groups; g++) {
          assert.equal(t.scales[g * out + o], grid[2 * (o * groups + g)]);
        }
      }
    });
  }
}

Deno.test("packGptq refuses weights off the grid, zero points of 0 and odd shapes", () => {
  const spec = { bits: 4, groupSize: 0, sym: false };
  const w = new Float32Array(32 * 32).fill(0);
  w[0] = -1;
  const { weights, grid } = quantizeRtn(w, 32, 32, spec);
  const off = weights.slice();
  off[1] = 0.01234;
  assert.throws(() => packGptq("fc1", off, grid, 32, 32, spec), /fc1: weight \(0, 1\) = /);
  // rows of weights ≥ 0 get the zero point 1 (the format stores zero − 1) and pack
  const pos = new Float32Array(32 * 32).fill(0.5);
  const q = quantizeRtn(pos, 32, 32, spec);
  assert.deepEqual([q.grid[0], q.grid[1]], [new Float16Array([0.5 / 14])[0], 1]);
  assert.ok(q.weights.every((v) => Math.abs(v - 0.5) <= q.grid[0] / 2));
  packGptq("fc2", q.weights, q.grid, 32, 32, spec);
  // a zero point of 0 cannot be stored
  const zero0 = q.grid.slice();
  zero0[1] = 0;
  assert.throws(
    () => packGptq("fc2", q.weights, zero0, 32, 32, spec),
    /zero point 0 .*symmetric grids/,
  );
  assert.throws(
    () => packGptq("q", weights, grid, 32, 32, { ...spec, bits: 5 }),
    /with 5-bit quantization/,
  );
  assert.throws(
    () => packGptq("k", new Float32Array(16 * 32), new Float32Array(32), 16, 32, spec),
    /multiples of 32/,
  );
});

Deno.test("symmetric grids pack with zero point 2^(bits-1)", () => {
  const spec = { bits: 4, groupSize: 32, sym: true };
  const w = prunedMatrix(32, 64, 9);
  const { weights, grid } = quantizeRtn(w, 32, 64, spec);
  const t = packGptq("v", weights, grid, 32, 64, spec);
  assert.deepEqual(unpackGptq(t, 32, 64, 4), weights);
  assert.ok(Array.from(new Uint32Array(t.qzeros.buffer)).every((x) => x === 0x77777777));
});
