import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { maxLevel, quantizeRtn, type QuantSpec } from "../../src/quant/grid.ts";
import { sparsegpt } from "../../src/prune/sparsegpt.ts";
import { admm, admmSolver } from "../../src/prune/admm.ts";
import type { QuantOutcome } from "../../src/quant/recorder.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import { correlatedActivations, hessian64, relFro, Rng } from "../reference/linalg_ref.ts";
import { outputError64, sparsegpt64 } from "../reference/sparsegpt_ref.ts";

/** A layer with a random fixed mask (`sparsity` of the weights exactly 0) and its Hessian. */
function makeMaskedLayer(rows: number, cols: number, seed: number, sparsity: number) {
  const rng = new Rng(seed);
  const W = Float32Array.from({ length: rows * cols }, () => 0.05 * rng.normal());
  for (let i = 0; i < W.length; i++) if (rng.next() < sparsity) W[i] = 0;
  const tokens = 4 * cols;
  const x = correlatedActivations(tokens, cols, seed + 1);
  const H = Float32Array.from(hessian64(x, tokens, cols, tokens / 64));
  return { W, H };
}

/** Checks every weight of `w` is on its grid, ≤ 2^bits values per group, zeros where `zero`. */
function checkOnGrid(
  w: Float32Array,
  grid: Float32Array,
  rows: number,
  cols: number,
  quant: QuantSpec,
  mask: ArrayLike<number>,
): void {
  const gs = quant.groupSize || cols, ng = cols / gs, maxq = maxLevel(quant.bits);
  assert.equal(grid.length, rows * ng * 2);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < ng; g++) {
      const scale = grid[2 * (r * ng + g)], zero = grid[2 * (r * ng + g) + 1];
      const values = new Set<number>();
      for (let c = g * gs; c < (g + 1) * gs; c++) {
        const v = w[r * cols + c];
        const level = v / scale + zero;
        assert.ok(Number.isInteger(level) && level >= 0 && level <= maxq, `(${r}, ${c}) = ${v}`);
        values.add(v);
        if (mask[r * cols + c]) assert.equal(v, 0, `masked (${r}, ${c}) is ${v}`);
      }
      assert.ok(values.size <= 2 ** quant.bits, `row ${r} group ${g}: ${values.size} values`);
    }
  }
}

const CASES: { rows: number; cols: number; quant: QuantSpec; limit?: number }[] = [
  { rows: 64, cols: 256, quant: { bits: 4, groupSize: 0, sym: false } },
  { rows: 48, cols: 192, quant: { bits: 3, groupSize: 64, sym: true } },
  // split sweeps: the given mask is marked per row block and column piece
  { rows: 64, cols: 256, quant: { bits: 4, groupSize: 32, sym: false }, limit: 16384 },
];

for (const { rows, cols, quant, limit } of CASES) {
  const name = `${JSON.stringify(quant)}${limit ? `, binding limit ${limit}` : ""}`;
  Deno.test(`sparsegpt({ fixedMask }) is GPTQ with the mask fixed, as float64: ${name}`, async () => {
    const gpu = await getGpu();
    const L = makeMaskedLayer(rows, cols, rows + cols + quant.bits, 0.7);
    const tw = gpu.upload(L.W, [rows, cols], "W");
    const th = gpu.upload(L.H, [cols, cols], "H");
    // the pattern is ignored with a fixed mask
    const pattern = { kind: "unstructured", sparsity: 0.3 } as const;
    const run = () => sparsegpt(gpu, undefined, tw, th, pattern, { quant, fixedMask: true });
    const res = limit ? await withBindingLimit(gpu, limit, run) : await run();
    const w = await gpu.read(tw);
    gpu.free(tw, th);
    const ref = sparsegpt64(L.W, rows, cols, L.H, pattern, 128, 0.01, quant, true);
    assert.equal(res.choleskyFailed, false);
    const mask = Uint8Array.from(L.W, (v) => (v === 0 ? 1 : 0));
    assert.deepEqual(ref.mask, mask, "the reference keeps the given mask");
    checkOnGrid(w, res.grid!, rows, cols, quant, mask);
    // the same weights as float64 (rounding ties aside), and the same loss
    let agree = 0;
    for (let i = 0; i < w.length; i++) if (Math.abs(w[i] - ref.W[i]) <= 1e-6) agree++;
    assert.ok(agree / w.length >= 0.99, `${agree} of ${w.length} weights equal float64's`);
    const werr = relFro(w, ref.W);
    assert.ok(werr < 2e-2, `W relative error ${werr}`);
    let refLoss = 0;
    for (const v of ref.rowLoss) refLoss += v;
    assert.ok(Math.abs(res.loss - refLoss) < 2e-2 * refLoss, `loss ${res.loss} vs ${refLoss}`);
    // error compensation beats rounding to nearest with the same mask
    const rtn = quantizeRtn(L.W, rows, cols, quant).weights;
    const eGptq = outputError64(L.W, w, rows, cols, L.H);
    const eRtn = outputError64(L.W, rtn, rows, cols, L.H);
    assert.ok(eGptq < eRtn, `GPTQ ${eGptq} vs round-to-nearest ${eRtn}`);
  });
}

Deno.test("admmSolver with quant keeps ADMM's mask and quantizes with GPTQ, better than RTN", async () => {
  const gpu = await getGpu();
  const rows = 48, cols = 128;
  const L = makeMaskedLayer(rows, cols, 5, 0);
  const quant: QuantSpec = { bits: 4, groupSize: 0, sym: false };
  const pattern = { kind: "unstructured", sparsity: 0.6 } as const;
  const settings = { iterations: 20, rho: 0.3 };
  // ADMM alone: the mask and the weights that RTN would round
  const tw = gpu.upload(L.W, [rows, cols], "W");
  const th = gpu.upload(L.H, [cols, cols], "H");
  await admm(gpu, undefined, tw, th, pattern, settings);
  const pruned = await gpu.read(tw);
  gpu.free(tw);
  // the solver with quantization, on another copy of W and H
  const tq = gpu.upload(L.W, [rows, cols], "Wq");
  const tq2 = gpu.upload(L.H, [cols, cols], "Hq");
  let outcome: QuantOutcome | undefined;
  await admmSolver(settings).solve(gpu, tq, tq2, {
    pattern,
    blocksize: 128,
    percdamp: 0.01,
    quant,
    onQuantized: (_w, o) => (outcome = o),
  });
  const w = await gpu.read(tq);
  gpu.free(th, tq, tq2);
  assert.ok(outcome, "the grids were reported");
  assert.equal(outcome.mode, "joint");
  const mask = Uint8Array.from(pruned, (v) => (v === 0 ? 1 : 0));
  let maskCount = 0;
  for (const m of mask) maskCount += m;
  assert.equal(maskCount, Math.floor(rows * cols * 0.6), "ADMM's mask has the target sparsity");
  checkOnGrid(w, outcome.grid, rows, cols, quant, mask);
  // the float64 GPTQ pass over ADMM's weights with that mask gives the same result
  const ref = sparsegpt64(pruned, rows, cols, L.H, pattern, 128, 0.01, quant, true);
  assert.ok(relFro(w, ref.W) < 2e-2, `W relative error ${relFro(w, ref.W)}`);
  let zeros = 0;
  for (const v of w) zeros += v === 0 ? 1 : 0;
  assert.equal(zeros, maskCount + outcome.keptZeros, "zeros = mask + kept weights rounded to 0");
  const rtn = quantizeRtn(pruned, rows, cols, quant).weights;
  const eGptq = outputError64(L.W, w, rows, cols, L.H);
  const eRtn = outputError64(L.W, rtn, rows, cols, L.H);
  assert.ok(eGptq < eRtn, `GPTQ after ADMM ${eGptq} vs round-to-nearest ${eRtn}`);
});
