// Phi-3's fused gate_up_proj under SparseLLM with wbits: SparseLLM prunes and quantizes gate and
// up as separate halves and writes them back fused; the fused matrix must keep exactly the
// halves' quantized values (no second rounding on a fused grid) and record the halves' grids.

import assert from "node:assert/strict";
import { join } from "node:path";
import { pruneCheckpoint } from "../../io.ts";
import { readQuantGrids } from "../../src/io/gptq.ts";
import { SafetensorsFile } from "../../src/io/safetensors_file.ts";
import { resolvePruneOptions } from "../../src/prune/options.ts";
import { maxLevel } from "../../src/quant/grid.ts";
import { stackOutcomes } from "../../src/quant/recorder.ts";
import { ROOT, TRAIN_TXT, withTempDir } from "../_cli_helpers.ts";

const PHI3 = join(ROOT, "testdata/models/arch/phi3-tiny");

for (const groupSize of [0, 32]) {
  Deno.test(`sparsellm wbits 4 (group size ${groupSize}) on phi3-tiny: gate_up_proj keeps its halves' grids`, async () => {
    await withTempDir(async (tmp) => {
      const out = join(tmp, "out");
      const report = await pruneCheckpoint({
        model: PHI3,
        out,
        calib: join(ROOT, TRAIN_TXT),
        options: resolvePruneOptions({
          method: "sparsellm",
          sparsity: 0.5,
          iters: 2,
          nsamples: 4,
          seqlen: 64,
          wbits: 4,
          ...(groupSize ? { groupSize } : {}),
        }),
      });
      const saved = await readQuantGrids(out);
      assert.ok(saved, "the output has quant_grids.safetensors");
      const grids: Map<string, Float32Array> = saved.grids;
      const f = await SafetensorsFile.open(join(out, "model.safetensors"));
      const maxq = maxLevel(4);
      try {
        for (const layer of [0, 1]) {
          const name = `model.layers.${layer}.mlp.gate_up_proj.weight`;
          const m = report.layers[layer].matrices.find((m) => m.name === name)!;
          assert.equal(
            m.quant?.mode,
            "joint",
            `${name} is quantized by the solver, not rounded again`,
          );
          const [rows, cols] = f.tensors().find((t) => t.name === name)!.shape;
          assert.deepEqual([rows, cols], [2 * 192, 64]);
          const w = await f.readF32(name);
          const grid = grids.get(name)!;
          const gs = groupSize || cols, ng = cols / gs;
          assert.equal(grid.length, rows * ng * 2);
          let zeros = 0;
          for (let r = 0; r < rows; r++) {
            for (let g = 0; g < ng; g++) {
              const scale = grid[2 * (r * ng + g)], zero = grid[2 * (r * ng + g) + 1];
              const values = new Set<number>();
              for (let c = g * gs; c < (g + 1) * gs; c++) {
                const v = w[r * cols + c];
                const level = v / scale + zero;
                assert.ok(
                  Number.isInteger(level) && level >= 0 && level <= maxq,
                  `${name} (${r}, ${c}) = ${v} is not on its grid (${scale}, ${zero})`,
                );
                assert.equal(Math.fround(scale * (level - zero)), v);
                values.add(v);
                if (v === 0) zeros++;
              }
              assert.ok(values.size <= 2 ** 4, `row ${r} group ${g}: ${values.size} values`);
            }
          }
          // the mask's zeros (half of each half's rows) plus kept weights that rounded to 0
          assert.ok(zeros >= rows * cols / 2, `${name}: ${zeros} zeros`);
          assert.equal(m.quant!.maskSparsity, 0.5);
        }
      } finally {
        f.close();
      }
    });
  });
}

Deno.test("stackOutcomes() stacks the grids in row order and weights the errors by norm", () => {
  const spec = { bits: 4, groupSize: 0, sym: false };
  const a = {
    spec,
    mode: "joint" as const,
    grid: Float32Array.of(0.5, 3, 0.25, 7),
    keptZeros: 2,
    relError: 0.1,
    keptNorm: 3,
  };
  const b = { ...a, grid: Float32Array.of(2, 8), keptZeros: 1, relError: 0.4, keptNorm: 1 };
  const s = stackOutcomes([a, b]);
  assert.deepEqual(Array.from(s.grid), [0.5, 3, 0.25, 7, 2, 8]);
  assert.equal(s.keptZeros, 3);
  assert.ok(Math.abs(s.relError - (0.1 * 3 + 0.4 * 1) / 4) < 1e-15);
  assert.equal(s.keptNorm, 4);
  assert.equal(s.mode, "joint");
  assert.equal(stackOutcomes([a, { ...b, mode: "rtn" }]).mode, "rtn");
  assert.throws(() => stackOutcomes([a, { ...b, spec: { ...spec, bits: 3 } }]), /different/);
});
