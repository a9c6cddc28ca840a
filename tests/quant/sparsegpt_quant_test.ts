import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { maxLevel, quantizeRtn, type QuantSpec } from "../../src/quant/grid.ts";
import { sparsegpt } from "../../src/prune/sparsegpt.ts";
import type { SparsityPattern } from "../../src/prune/types.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import { correlatedActivations, hessian64, relFro, Rng } from "../reference/linalg_ref.ts";
import { outputError64, sparsegpt64 } from "../reference/sparsegpt_ref.ts";

function makeLayer(rows: number, cols: number, seed: number) {
  const rng = new Rng(seed);
  const W = Float32Array.from({ length: rows * cols }, () => 0.05 * rng.normal());
  const tokens = 4 * cols;
  const x = correlatedActivations(tokens, cols, seed + 1);
  const H = Float32Array.from(hessian64(x, tokens, cols, tokens / 64));
  return { W, H };
}

const CASES: {
  rows: number;
  cols: number;
  blocksize: number;
  pattern: SparsityPattern;
  quant: QuantSpec;
  limit?: number;
}[] = [
  {
    rows: 64,
    cols: 256,
    blocksize: 128,
    pattern: { kind: "unstructured", sparsity: 0.5 },
    quant: { bits: 4, groupSize: 0, sym: false },
  },
  {
    rows: 64,
    cols: 256,
    blocksize: 128,
    pattern: { kind: "nm", n: 2, m: 4 },
    quant: { bits: 4, groupSize: 64, sym: false },
  },
  {
    rows: 48,
    cols: 192,
    blocksize: 64,
    pattern: { kind: "unstructured", sparsity: 0.7 },
    quant: { bits: 3, groupSize: 32, sym: true },
  },
  {
    rows: 64,
    cols: 256,
    blocksize: 128,
    pattern: { kind: "nm", n: 2, m: 4 },
    quant: { bits: 8, groupSize: 0, sym: true },
  },
  // split sweeps: row blocks and column pieces (groups start inside later pieces)
  {
    rows: 64,
    cols: 256,
    blocksize: 128,
    pattern: { kind: "nm", n: 2, m: 4 },
    quant: { bits: 4, groupSize: 32, sym: false },
    limit: 16384,
  },
  {
    rows: 64,
    cols: 256,
    blocksize: 128,
    pattern: { kind: "unstructured", sparsity: 0.5 },
    quant: { bits: 4, groupSize: 0, sym: false },
    limit: 16384,
  },
];

for (const { rows, cols, blocksize, pattern, quant, limit } of CASES) {
  const name = `${pattern.kind === "nm" ? `${pattern.n}:${pattern.m}` : pattern.sparsity}, ` +
    `${JSON.stringify(quant)}${limit ? `, binding limit ${limit}` : ""}`;
  Deno.test(`sparsegpt() with joint quantization matches the float64 reference: ${name}`, async () => {
    const gpu = await getGpu();
    const L = makeLayer(rows, cols, rows + cols + quant.bits);
    const tw = gpu.upload(L.W, [rows, cols], "W");
    const th = gpu.upload(L.H, [cols, cols], "H");
    const run = () => sparsegpt(gpu, undefined, tw, th, pattern, { blocksize, quant });
    const res = limit ? await withBindingLimit(gpu, limit, run) : await run();
    const w = await gpu.read(tw);
    gpu.free(tw, th);
    const ref = sparsegpt64(L.W, rows, cols, L.H, pattern, blocksize, 0.01, quant);
    assert.equal(res.choleskyFailed, false);
    const grid = res.grid!;
    const gs = quant.groupSize || cols, ng = cols / gs, maxq = maxLevel(quant.bits);
    assert.equal(grid.length, rows * ng * 2);

    // grids close to float64 (equal for per-row grids, found from the unpruned W)
    for (let i = 0; i < rows * ng; i++) {
      const g = ref.grids![i];
      if (quant.groupSize === 0) {
        assert.equal(grid[2 * i], g.scale, `row ${i} scale`);
        assert.equal(grid[2 * i + 1], g.zero, `row ${i} zero`);
      } else {
        assert.ok(Math.abs(grid[2 * i] - g.scale) <= 2e-2 * g.scale, `group ${i} scale`);
        assert.ok(Math.abs(grid[2 * i + 1] - g.zero) <= 1, `group ${i} zero`);
      }
    }
    // every weight on its grid; at most 2^bits values per group; pruned weights exactly 0
    let maskZeros = 0, agree = 0;
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < ng; g++) {
        const scale = grid[2 * (r * ng + g)], zero = grid[2 * (r * ng + g) + 1];
        const values = new Set<number>();
        for (let c = g * gs; c < (g + 1) * gs; c++) {
          const v = w[r * cols + c];
          const level = v / scale + zero;
          assert.ok(Number.isInteger(level) && level >= 0 && level <= maxq, `(${r}, ${c}) = ${v}`);
          values.add(v);
          if (ref.mask[r * cols + c]) maskZeros += v === 0 ? 1 : 0;
          if ((v === 0) === (ref.W[r * cols + c] === 0)) agree++;
        }
        assert.ok(values.size <= 2 ** quant.bits);
      }
    }
    assert.ok(agree / w.length >= 0.99, `zero pattern agreement ${agree / w.length}`);
    let maskCount = 0;
    for (const m of ref.mask) maskCount += m;
    assert.ok(maskZeros >= 0.99 * maskCount, `${maskZeros} of ${maskCount} masked weights are 0`);
    // the sweep's count of kept weights that rounded to 0 closes the books
    let zeros = 0;
    for (const v of w) zeros += v === 0 ? 1 : 0;
    const stats = res.quantStats!;
    assert.ok(
      Math.abs(zeros - (maskCount + stats.keptZeros)) <= 0.01 * maskCount,
      `${zeros} zeros vs mask ${maskCount} + kept rounded to 0 ${stats.keptZeros}`,
    );
    assert.ok(stats.relError > 0 && stats.relError < 0.1, `rounding error ${stats.relError}`);
    if (pattern.kind === "nm") {
      for (let r = 0; r < rows; r++) {
        for (let c0 = 0; c0 < cols; c0 += pattern.m) {
          let zeros = 0;
          for (let c = c0; c < c0 + pattern.m; c++) zeros += w[r * cols + c] === 0 ? 1 : 0;
          assert.ok(zeros >= pattern.n, `row ${r} group ${c0}: ${zeros} zeros`);
        }
      }
    }
    // weights and loss close to float64
    const werr = relFro(w, ref.W);
    let refLoss = 0;
    for (const v of ref.rowLoss) refLoss += v;
    assert.ok(werr < 3e-2, `W relative error ${werr}`);
    assert.ok(Math.abs(res.loss - refLoss) < 2e-2 * refLoss, `loss ${res.loss} vs ${refLoss}`);
    // joint quantization beats pruning first and rounding afterwards
    const pruned = sparsegpt64(L.W, rows, cols, L.H, pattern, blocksize, 0.01);
    const after = quantizeRtn(Float32Array.from(pruned.W), rows, cols, quant).weights;
    const eJoint = outputError64(L.W, w, rows, cols, L.H);
    const eAfter = outputError64(L.W, after, rows, cols, L.H);
    assert.ok(eJoint <= eAfter, `joint ${eJoint} vs prune-then-round ${eAfter}`);
  });
}

Deno.test("sparsegpt() rejects a group size that does not divide the block size", async () => {
  const gpu = await getGpu();
  const tw = gpu.alloc([4, 64], "W");
  const th = gpu.alloc([64, 64], "H");
  try {
    await assert.rejects(
      sparsegpt(gpu, undefined, tw, th, { kind: "unstructured", sparsity: 0.5 }, {
        blocksize: 32,
        quant: { bits: 4, groupSize: 48, sym: false },
      }),
      /group size 48: it must divide the SparseGPT blocksize 32/,
    );
  } finally {
    gpu.free(tw, th);
  }
});
