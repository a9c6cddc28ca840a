import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { recordQuantize } from "../../src/kernels/quant.ts";
import { maxLevel, type QuantSpec } from "../../src/quant/grid.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import { Rng } from "../reference/linalg_ref.ts";
import { quantizeRtn64 } from "../reference/quant_ref.ts";

function randomMatrix(rows: number, cols: number, seed: number): Float32Array<ArrayBuffer> {
  const rng = new Rng(seed);
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = rng.next() < 0.5 ? 0 : 0.1 * rng.normal();
  return w;
}

async function rtnOnGpu(
  w: Float32Array<ArrayBuffer>,
  rows: number,
  cols: number,
  spec: QuantSpec,
  bindingLimit?: number,
) {
  const gpu = await getGpu();
  const groups = spec.groupSize ? Math.ceil(cols / spec.groupSize) : 1;
  const W = gpu.upload(w, [rows, cols], "W");
  const G = gpu.alloc([rows * groups * 2], "grid");
  try {
    const run = async () => {
      const b = gpu.batch("rtn");
      recordQuantize(b, W, G, spec, true);
      b.submit();
      return { weights: await gpu.read(W), grid: await gpu.read(G) };
    };
    return bindingLimit ? await withBindingLimit(gpu, bindingLimit, run) : await run();
  } finally {
    gpu.free(W, G);
  }
}

for (
  const spec of [
    { bits: 4, groupSize: 0, sym: false },
    { bits: 3, groupSize: 16, sym: false },
    { bits: 2, groupSize: 32, sym: true },
    { bits: 8, groupSize: 0, sym: true },
  ]
) {
  Deno.test(`RTN kernel matches the float64 reference: ${JSON.stringify(spec)}`, async () => {
    const rows = 64, cols = 96;
    const w = randomMatrix(rows, cols, 5 + spec.bits);
    const ref = quantizeRtn64(w, rows, cols, spec.bits, spec.groupSize, spec.sym);
    for (const limit of [undefined, 8192]) {
      const got = await rtnOnGpu(w, rows, cols, spec, limit);
      ref.grids.forEach((g, i) => {
        assert.equal(got.grid[2 * i], g.scale, `scale of group ${i}`);
        assert.equal(got.grid[2 * i + 1], g.zero, `zero of group ${i}`);
      });
      const gs = spec.groupSize || cols, ng = cols / gs, maxq = maxLevel(spec.bits);
      let mismatched = 0;
      for (let i = 0; i < w.length; i++) {
        if (w[i] === 0) assert.equal(got.weights[i], 0, `pruned weight ${i} must stay 0`);
        const gi = Math.floor(i / cols) * ng + Math.floor((i % cols) / gs);
        const { scale, zero } = ref.grids[gi];
        const level = got.weights[i] / scale + zero;
        assert.ok(Number.isInteger(level) && level >= 0 && level <= maxq, `element ${i} on grid`);
        if (got.weights[i] === ref.W[i]) continue;
        // GPU division may differ from exact by an ulp: only near-ties may round differently.
        assert.ok(ref.tieDistance[i] < 1e-5, `element ${i}: ${got.weights[i]} vs ${ref.W[i]}`);
        mismatched++;
      }
      assert.ok(mismatched < 5, `${mismatched} near-tie elements differ`);
    }
  });
}
