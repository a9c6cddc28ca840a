import assert from "node:assert/strict";
import { layerOutlierRatio, OWL_DEFAULTS, owlSparsities } from "../../src/prune/owl.ts";

function assertClose(got: number[], want: number[], tol = 1e-12): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= tol, `[${i}] ${g} vs ${want[i]}`));
}

Deno.test("owlSparsities() maps outlier ratios onto target ± lambda as computed by hand", () => {
  // D = [1, 3, 2, 6] %: min 1, max 6, a = 0.16·(D − 1)/5 = [0, 0.064, 0.032, 0.16],
  // mean(a) = 0.064, s_l = 0.7 − (a − 0.064) = [0.764, 0.7, 0.732, 0.604]
  const s = owlSparsities([1, 3, 2, 6], 0.7, 0.08);
  assertClose(s, [0.764, 0.7, 0.732, 0.604]);
  assert.ok(Math.abs(s.reduce((a, b) => a + b) / s.length - 0.7) < 1e-12, "mean is the target");
  // the scale of the ratios does not matter (fractions or percents)
  assertClose(owlSparsities([0.01, 0.03, 0.02, 0.06], 0.7, 0.08), s);
  // equal ratios, or lambda 0: the target everywhere
  assert.deepEqual(owlSparsities([2, 2, 2], 0.5), [0.5, 0.5, 0.5]);
  assertClose(owlSparsities([1, 3, 2], 0.5, 0), [0.5, 0.5, 0.5]);
  assert.equal(OWL_DEFAULTS.lambda, 0.08);
  assert.equal(OWL_DEFAULTS.m, 5);
});

Deno.test("owlSparsities() rejects ratios, targets and spreads it cannot use, naming them", () => {
  assert.throws(() => owlSparsities([], 0.5), /ratios \[\]/);
  assert.throws(() => owlSparsities([1, NaN], 0.5), /ratios \[1, NaN\]/);
  assert.throws(() => owlSparsities([1, 2], 1), /target sparsity 1/);
  assert.throws(() => owlSparsities([1, 2], 0.5, -0.1), /lambda -0.1/);
  // 0.95 + 0.08 leaves [0, 1) for the layer with the fewest outliers
  assert.throws(() => owlSparsities([1, 2], 0.95, 0.08), /layer 0 the sparsity 1.03/);
});

Deno.test("layerOutlierRatio() counts Wanda scores above M × their layer mean, by hand", () => {
  // matrix A (2 × 2), column norms sqrt([4, 1]) = [2, 1]: scores |W|·[2, 1]
  //   W = [[1, 8], [-0.5, 1]] → [2, 8, 1, 1]
  // matrix B (1 × 3), column norms sqrt([1, 9, 0]) = [1, 3, 0]: W = [4, -2, 100] → [4, 6, 0]
  // all 7 scores: sum 22, mean 22/7 ≈ 3.1429
  const A = { weights: [1, 8, -0.5, 1], rows: 2, cols: 2, colSq: [4, 1] };
  const B = { weights: [4, -2, 100], rows: 1, cols: 3, colSq: [1, 9, 0] };
  // M = 1: above 3.1429 are 8, 4, 6 → 3/7; M = 2: above 6.2857 only 8 → 1/7; M = 3: none
  assert.equal(layerOutlierRatio([A, B], 1), 3 / 7);
  assert.equal(layerOutlierRatio([A, B], 2), 1 / 7);
  assert.equal(layerOutlierRatio([A, B], 3), 0);
  // one matrix on its own: scores [2, 8, 1, 1], mean 3, above 3·1.5 = 4.5 only 8
  assert.equal(layerOutlierRatio([A], 1.5), 1 / 4);
  // OWL's default M = 5
  assert.equal(
    layerOutlierRatio([{
      weights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 50],
      rows: 1,
      cols: 10,
      colSq: Array(10).fill(1),
    }]),
    0.1,
  );
});

Deno.test("layerOutlierRatio() rejects mismatched shapes and a bad M, naming them", () => {
  const A = { weights: [1, 2, 3], rows: 2, cols: 2, colSq: [1, 1] };
  assert.throws(() => layerOutlierRatio([A]), /3 weights and 2 column norms for \[2, 2\]/);
  assert.throws(() => layerOutlierRatio([], 5), /no weights/);
  assert.throws(() => layerOutlierRatio([A], 0), /M 0/);
});
