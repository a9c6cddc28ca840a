import assert from "node:assert/strict";
import { SparseLLMPruner } from "../../mod.ts";
import { getGpu } from "../../src/gpu/device.ts";
import type { PruneOptions } from "../../src/prune/options.ts";
import { checkPrunedMatrix, SparsityCheckError } from "../../src/prune/sparsity_check.ts";
import { withTiny } from "./_tiny.ts";

const unstructured = (sparsity: number) => ({ kind: "unstructured" as const, sparsity });

Deno.test("checkPrunedMatrix counts zeros and accepts a matrix at its target", () => {
  // 4 × 8 at 50 %: 16 zeros; Wanda's per-row rounding may leave one weight per row short.
  const w = Float32Array.from({ length: 32 }, (_, i) => (i % 2 ? 1 : 0));
  assert.equal(checkPrunedMatrix("w", w, 4, 8, unstructured(0.5)), 16);
  w[0] =
    w[8] =
    w[16] =
    w[24] =
      3; // 12 zeros = 16 − one per row
  assert.equal(checkPrunedMatrix("w", w, 4, 8, unstructured(0.5)), 12);
});

Deno.test("checkPrunedMatrix rejects a matrix short of its unstructured target", () => {
  const w = Float32Array.from({ length: 32 }, (_, i) => (i % 2 ? 1 : 0));
  w[0] =
    w[8] =
    w[16] =
    w[24] =
    w[2] =
      3; // 11 zeros < 16 − 4
  assert.throws(
    () => checkPrunedMatrix("layers.0.fc1.weight", w, 4, 8, unstructured(0.5)),
    (e: Error) =>
      e instanceof SparsityCheckError &&
      /"layers\.0\.fc1\.weight": 34\.38 % of its weights are zero, 50\.00 % was requested/.test(
        e.message,
      ),
  );
});

Deno.test("checkPrunedMatrix checks every N:M group", () => {
  // 2 × 8 at 2:4: groups [0-3], [4-7] per row.
  const w = new Float32Array([0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1]);
  assert.equal(checkPrunedMatrix("w", w, 2, 8, { kind: "nm", n: 2, m: 4 }), 9);
  w[12] = w[13] = 5; // row 1, group 4-7 now has 1 zero
  assert.throws(
    () => checkPrunedMatrix("w", w, 2, 8, { kind: "nm", n: 2, m: 4 }),
    /missed the 2:4 pattern in "w": row 1, columns 4-7 hold 1 zero\(s\), 2 required/,
  );
});

Deno.test("checkPrunedMatrix rejects non-finite weights", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const w = new Float32Array([0, 0, 1, bad]);
    assert.throws(
      () => checkPrunedMatrix("w", w, 1, 4, unstructured(0.5)),
      /non-finite weight \((NaN|Infinity|-Infinity)\) in "w" at row 0, column 3/,
    );
  }
});

Deno.test("pruning with an absurd damping fails with the check's message, not a silent model", async () => {
  await withTiny(async (input) => {
    // The option table refuses such a damping up front now; the check after every matrix must
    // still catch a run that misses its target, so the resolved options are bent past it.
    assert.throws(
      () => new SparseLLMPruner({ method: "sparsegpt", sparsity: 0.5, percdamp: 1e39 }),
      { name: "OptionError", message: "percdamp must be a number from 0 to 100 (got 1e+39)" },
    );
    const pruner = new SparseLLMPruner({ method: "sparsegpt", sparsity: 0.5 });
    (pruner as { options: PruneOptions }).options = { ...pruner.options, percdamp: 1e39 };
    await assert.rejects(
      async () => await pruner.prune({ ...input, gpu: await getGpu() }),
      (e: Error) => e instanceof SparsityCheckError && /q_proj\.weight": 0\.00 %/.test(e.message),
    );
  });
});
