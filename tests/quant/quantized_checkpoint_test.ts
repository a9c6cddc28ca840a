// pruneCheckpoint with --wbits on opt-tiny: the written weights lie on their grids (at most
// 2^bits values per row or group, pruned zeros kept, mask sparsity and final zeros reported
// separately), and --save-quantized writes the GPTQ layout, which unpacks to exactly the
// written weights and which inspect reads.

import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointReader, inspectCheckpoint, pruneCheckpoint } from "../../io.ts";
import { readQuantGrids } from "../../src/io/gptq.ts";
import { resolvePruneOptions } from "../../src/prune/options.ts";
import { unpackGptq } from "../../src/quant/gptq.ts";
import { OPT_TINY, TRAIN_TXT, withTempDir } from "../_cli_helpers.ts";

for (
  const c of [
    { method: "sparsegpt", sparsity: 0.5, wbits: 4 },
    { method: "sparsegpt", pattern: "2:4", wbits: 3, groupSize: 32 },
    { method: "sparsellm", sparsity: 0.7, wbits: 4, iters: 1, solver: "sparsegpt" },
    { method: "wanda", pattern: "2:4", wbits: 8, groupSize: 32, sym: true },
    { method: "magnitude", sparsity: 0.5, wbits: 2 },
  ] as const
) {
  Deno.test(`--wbits output and --save-quantized round trip: ${JSON.stringify(c)}`, async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out"), gptq = join(dir, "gptq");
      const options = resolvePruneOptions({ nsamples: 4, seqlen: 64, ...c });
      const report = await pruneCheckpoint({
        model: OPT_TINY,
        out,
        calib: TRAIN_TXT,
        options,
        saveQuantized: gptq,
      });
      const q = (await readQuantGrids(out))!;
      assert.deepEqual(q.spec, options.quant);
      const reader = await CheckpointReader.open(out);
      const packed = await CheckpointReader.open(gptq);
      try {
        const matrices = report.layers.flatMap((l) => l.matrices);
        assert.equal(q.grids.size, matrices.length);
        for (const m of matrices) {
          const w = await reader.readF32(m.name);
          const grid = q.grids.get(m.name)!;
          const gs = c.groupSize ?? m.cols, ng = m.cols / gs;
          // on the grid: ≤ 2^bits values per row/group, each scale·(level − zero)
          for (let r = 0; r < m.rows; r++) {
            for (let g = 0; g < ng; g++) {
              const scale = grid[2 * (r * ng + g)], zero = grid[2 * (r * ng + g) + 1];
              const values = new Set<number>();
              for (let i = g * gs; i < (g + 1) * gs; i++) {
                const v = w[r * m.cols + i];
                const level = v / scale + zero;
                assert.ok(Number.isInteger(level) && level >= 0 && level < 2 ** c.wbits);
                values.add(v);
              }
              assert.ok(values.size <= 2 ** c.wbits);
            }
          }
          // mask sparsity ≈ the target; final zeros include kept weights rounded to 0
          const target: number = "sparsity" in c && c.sparsity !== undefined ? c.sparsity : 0.5;
          // (ADMM, SparseLLM's default solver, prunes exactly floor(s · rows · cols) per matrix)
          const floor = Math.floor(target * m.rows * m.cols + 1e-9) / (m.rows * m.cols);
          assert.ok(m.quant!.maskSparsity >= floor - 1e-9, `${m.name} mask`);
          assert.ok(m.quant!.maskSparsity <= target + 0.01, `${m.name} mask`);
          assert.ok(m.quant!.zeroFraction >= m.quant!.maskSparsity);
          assert.equal(m.quant!.zeroFraction, m.sparsity);
          assert.equal(m.quant!.mode, c.method.startsWith("sparse") ? "joint" : "rtn");
          if (c.method === "wanda") {
            // N:M masks: at least N zeros in every group of M
            for (let i = 0; i < w.length; i += 4) {
              assert.ok([0, 1, 2, 3].filter((k) => w[i + k] === 0).length >= 2);
            }
          }
          // the GPTQ layout unpacks to exactly these weights, zeros included
          const p = m.name.replace(/\.weight$/, "");
          if (c.wbits === 2 || c.wbits === 3 || c.wbits === 4 || c.wbits === 8) {
            const back = unpackGptq(
              {
                qweight: new Int32Array((await packed.readRaw(`${p}.qweight`)).slice().buffer),
                qzeros: new Int32Array((await packed.readRaw(`${p}.qzeros`)).slice().buffer),
                scales: new Float16Array((await packed.readRaw(`${p}.scales`)).slice().buffer),
                gIdx: new Int32Array((await packed.readRaw(`${p}.g_idx`)).slice().buffer),
              },
              m.rows,
              m.cols,
              c.wbits,
            );
            assert.deepEqual(back, w, m.name);
            assert.equal(packed.has(m.name), false);
          }
        }
        const cfg = packed.config.quantization_config as Record<string, unknown>;
        assert.equal(cfg.quant_method, "gptq");
        assert.equal(cfg.bits, c.wbits);
        assert.equal(cfg.group_size, c.groupSize ?? -1);
      } finally {
        reader.close();
        packed.close();
      }
      const info = await inspectCheckpoint(gptq);
      assert.deepEqual(info.quantization, {
        format: "gptq",
        bits: c.wbits,
        groupSize: c.groupSize ?? 0,
        sym: "sym" in c ? c.sym : false,
        matrices: 12,
      });
      assert.equal((await inspectCheckpoint(out)).quantization?.format, "fake");
    });
  });
}

Deno.test("groupSize and sym need wbits; groupSize must divide blocksize", () => {
  assert.throws(
    () => resolvePruneOptions({ method: "wanda", sparsity: 0.5, groupSize: 32 }),
    /groupSize and sym need wbits/,
  );
  assert.throws(
    () => resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5, wbits: 4, groupSize: 96 }),
    /groupSize 96 must divide blocksize 128/,
  );
  assert.throws(
    () => resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5, wbits: 9 }),
    /wbits must be an integer from 2 to 8 \(got 9\)/,
  );
});
