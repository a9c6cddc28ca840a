// --quant-order: `after` (the default) prunes exactly as without --wbits, then quantizes with the
// mask fixed; `joint` quantizes inside the pruning sweep, so its mask is not the unquantized one.

import assert from "node:assert/strict";
import { join } from "node:path";
import { pruneCheckpoint } from "../../io.ts";
import { readQuantGrids } from "../../src/io/gptq.ts";
import { SafetensorsFile } from "../../src/io/safetensors_file.ts";
import { resolvePruneOptions } from "../../src/prune/options.ts";
import type { PruneOptionsInput } from "../../src/prune/options.ts";
import { OPT_TINY, ROOT, TRAIN_TXT, withTempDir } from "../_cli_helpers.ts";

const MATRICES = ["self_attn.q_proj", "self_attn.out_proj", "fc1", "fc2"].flatMap((m) =>
  [0, 1].map((l) => `model.decoder.layers.${l}.${m}.weight`)
);

async function prune(
  tmp: string,
  name: string,
  extra: Partial<PruneOptionsInput>,
): Promise<{ weights: Map<string, Float32Array>; grids?: Map<string, Float32Array> }> {
  const out = join(tmp, name);
  await pruneCheckpoint({
    model: join(ROOT, OPT_TINY),
    out,
    calib: join(ROOT, TRAIN_TXT),
    options: resolvePruneOptions({
      method: "sparsegpt",
      sparsity: 0.6,
      nsamples: 4,
      seqlen: 64,
      ...extra,
    }),
  });
  const f = await SafetensorsFile.open(join(out, "model.safetensors"));
  try {
    const weights = new Map<string, Float32Array>();
    for (const m of MATRICES) weights.set(m, await f.readF32(m));
    return { weights, grids: (await readQuantGrids(out))?.grids };
  } finally {
    f.close();
  }
}

Deno.test("quantOrder after keeps the unquantized mask; joint selects its own", async () => {
  await withTempDir(async (tmp) => {
    const plain = await prune(tmp, "plain", {});
    const after = await prune(tmp, "after", { wbits: 3 });
    const joint = await prune(tmp, "joint", { wbits: 3, quantOrder: "joint" });
    let jointMaskDiffers = false, roundedToZero = 0, kept = 0;
    for (const m of MATRICES) {
      const p = plain.weights.get(m)!, a = after.weights.get(m)!, j = joint.weights.get(m)!;
      const grid = after.grids!.get(m)!;
      const rows = grid.length / 2, cols = p.length / rows;
      for (let i = 0; i < p.length; i++) {
        // layer 0 (same inputs in all runs): every weight the plain run pruned is pruned after
        // quantizing too (later layers see the quantized layers' outputs)
        if (m.includes("layers.0.")) {
          if (p[i] === 0) assert.equal(a[i], 0, `${m}[${i}] pruned without --wbits`);
          else if (a[i] === 0) roundedToZero++;
          if (p[i] !== 0) kept++;
          if ((p[i] === 0) !== (j[i] === 0)) jointMaskDiffers = true;
        }
        // and the kept ones lie on their row's grid
        const r = Math.floor(i / cols), scale = grid[2 * r], zero = grid[2 * r + 1];
        const level = a[i] / scale + zero;
        assert.ok(Number.isInteger(level) && level >= 0 && level <= 7, `${m}[${i}] off its grid`);
      }
      assert.notDeepEqual(a, p, `${m} was quantized`);
    }
    assert.ok(roundedToZero < 0.2 * kept, `${roundedToZero} rounded to 0`);
    assert.ok(jointMaskDiffers, "joint quantization changes the selected mask");
  });
});
