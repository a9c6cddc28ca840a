import assert from "node:assert/strict";
import {
  checkQuantSpec,
  f16Round,
  findGrid,
  quantizeRtn,
  roundEven,
} from "../../src/quant/grid.ts";
import { Rng } from "../reference/linalg_ref.ts";
import { grid64, quantizeRtn64 } from "../reference/quant_ref.ts";

function randomMatrix(rows: number, cols: number, seed: number, zeroFrac = 0): Float32Array {
  const rng = new Rng(seed);
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = rng.next() < zeroFrac ? 0 : 0.2 * rng.normal();
  return w;
}

Deno.test("roundEven rounds ties to even like torch.round", () => {
  assert.deepEqual([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6].map(roundEven), [
    -2,
    -2,
    -0,
    0,
    2,
    2,
    2,
    -3,
  ]);
});

Deno.test("f16Round agrees with Float16Array on normal and subnormal f16 values", () => {
  const rng = new Rng(3);
  for (let i = 0; i < 20000; i++) {
    const x = Math.fround(Math.exp(rng.next() * 30 - 22)); // ~3e-10 .. 2.9e3
    assert.equal(f16Round(x), new Float16Array([x])[0], `x = ${x}`);
  }
  assert.equal(f16Round(0), 0);
});

Deno.test("grids match the float64 reference (asym/sym, per row and per group, 2..8 bits)", () => {
  const rows = 6, cols = 96;
  const w = randomMatrix(rows, cols, 11, 0.5);
  w.fill(0, 32, 64); // an all-zero group
  for (let c = 0; c < 32; c++) w[cols + c] = Math.abs(w[cols + c]); // a non-negative group
  for (const bits of [2, 3, 4, 8]) {
    for (const sym of [false, true]) {
      for (const groupSize of [0, 32]) {
        const ours = quantizeRtn(w, rows, cols, { bits, groupSize, sym });
        const ref = quantizeRtn64(w, rows, cols, bits, groupSize, sym);
        const ng = groupSize ? cols / groupSize : 1;
        ref.grids.forEach((g, i) => {
          assert.equal(ours.grid[2 * i], g.scale, `bits ${bits} sym ${sym} group ${i} scale`);
          assert.equal(ours.grid[2 * i + 1], g.zero, `bits ${bits} sym ${sym} group ${i} zero`);
        });
        let checked = 0;
        for (let i = 0; i < w.length; i++) {
          if (w[i] === 0) assert.equal(ours.weights[i], 0, "a zero weight must stay 0");
          if (ref.tieDistance[i] < 1e-5) continue;
          assert.equal(ours.weights[i], ref.W[i], `bits ${bits} sym ${sym} element ${i}`);
          checked++;
        }
        assert.ok(checked > w.length * 0.99);
        // At most 2^bits distinct values per group.
        const gs = groupSize || cols;
        for (let r = 0; r < rows; r++) {
          for (let g = 0; g < ng; g++) {
            const vals = new Set(ours.weights.subarray(r * cols + g * gs, r * cols + (g + 1) * gs));
            assert.ok(vals.size <= 2 ** bits);
          }
        }
      }
    }
  }
});

Deno.test("an all-zero row gets the grid of [-1, 1]", () => {
  const g = findGrid(new Float32Array(8), 0, 8, { bits: 4, groupSize: 0, sym: false });
  assert.deepEqual(g, grid64(new Float32Array(8), 4, false));
  assert.equal(g.scale, new Float16Array([2 / 15])[0]);
  assert.equal(g.zero, 8);
});

Deno.test("checkQuantSpec names the bad option", () => {
  assert.throws(
    () => checkQuantSpec({ bits: 1, groupSize: 0, sym: false }),
    /Invalid quantization bits 1/,
  );
  assert.throws(
    () => checkQuantSpec({ bits: 9, groupSize: 0, sym: false }),
    /Invalid quantization bits 9/,
  );
  assert.throws(() => checkQuantSpec({ bits: 4, groupSize: -1, sym: false }), /group size -1/);
  assert.throws(
    () => checkQuantSpec({ bits: 4, groupSize: 48, sym: false }, 128),
    /group size 48.*128 inputs/,
  );
});
