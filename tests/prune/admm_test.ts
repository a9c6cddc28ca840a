import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { SparseLLMPruner } from "../../src/pruner.ts";
import { withTiny } from "./_tiny.ts";
import { admm, type AdmmOptions } from "../../src/prune/admm.ts";
import type { SparsityPattern } from "../../src/prune/types.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import { admm64, maskedLeastSquares64 } from "../reference/admm_ref.ts";
import { correlatedActivations, hessian64, relFro, Rng } from "../reference/linalg_ref.ts";
import { magnitude64, outputError64 } from "../reference/sparsegpt_ref.ts";

interface Layer {
  rows: number;
  cols: number;
  W: Float32Array<ArrayBuffer>;
  H: Float32Array<ArrayBuffer>;
}

/** A random layer whose Hessian comes from correlated activations (inputs `dead` always 0). */
function makeLayer(rows: number, cols: number, seed: number, dead: number[] = []): Layer {
  const rng = new Rng(seed);
  const W = Float32Array.from({ length: rows * cols }, () => 0.05 * rng.normal());
  const tokens = 4 * cols;
  const x = correlatedActivations(tokens, cols, seed + 1);
  for (let t = 0; t < tokens; t++) for (const j of dead) x[t * cols + j] = 0;
  const H = Float32Array.from(hessian64(x, tokens, cols, tokens / 64));
  return { rows, cols, W, H };
}

async function runAdmm(L: Layer, pattern: SparsityPattern, opts: AdmmOptions = {}) {
  const gpu = await getGpu();
  const tw = gpu.upload(L.W, [L.rows, L.cols], "W");
  const th = gpu.upload(L.H, [L.cols, L.cols], "H");
  try {
    const res = await admm(gpu, undefined, tw, th, pattern, opts);
    const h = await gpu.read(th);
    assert.deepEqual(h, L.H, "H is not modified");
    return { res, w: await gpu.read(tw) };
  } finally {
    gpu.free(tw, th);
  }
}

/** H + δ·diag(H): the objective ADMM minimises in the original coordinates. */
function dampedObjective(H: ArrayLike<number>, cols: number, delta: number): Float64Array {
  const G = Float64Array.from(H);
  for (let j = 0; j < cols; j++) G[j * cols + j] *= 1 + delta;
  return G;
}

function zeroMask(w: ArrayLike<number>): Uint8Array {
  return Uint8Array.from({ length: w.length }, (_, i) => (w[i] === 0 ? 1 : 0));
}

Deno.test("admm64() converges to the masked least-squares solution for a fixed mask", () => {
  const L = makeLayer(12, 40, 7);
  // one mask step, then 400 refits with the mask fixed
  const ref = admm64(L.W, L.rows, L.cols, L.H, { kind: "unstructured", sparsity: 0.6 }, {
    iterations: 400,
    maskSteps: 1,
  });
  const exact = maskedLeastSquares64(
    L.W,
    L.rows,
    L.cols,
    dampedObjective(L.H, L.cols, 0.01),
    ref.mask,
  );
  const err = relFro(ref.W, exact);
  assert.ok(err < 1e-6, `relative distance to the exact solution ${err}`);
  assert.ok(ref.residual < 1e-6, `residual ${ref.residual}`);
});

Deno.test("admm() converges to the float64 masked least-squares solution for a fixed mask", async () => {
  const L = makeLayer(24, 72, 11);
  const { res, w } = await runAdmm(L, { kind: "unstructured", sparsity: 0.5 }, {
    iterations: 300,
    maskSteps: 1,
  });
  const mask = zeroMask(w);
  const exact = maskedLeastSquares64(L.W, L.rows, L.cols, dampedObjective(L.H, L.cols, 0.01), mask);
  const err = relFro(w, exact);
  assert.ok(err < 2e-3, `relative distance to the exact solution ${err}`);
  assert.ok(res.residual < 1e-3, `residual ${res.residual}`);
  // the same mask as the reference's first (and only) selection
  const ref = admm64(L.W, L.rows, L.cols, L.H, { kind: "unstructured", sparsity: 0.5 }, {
    iterations: 1,
    maskSteps: 1,
  });
  assert.deepEqual(mask, ref.mask);
});

const CASES: { rows: number; cols: number; pattern: SparsityPattern; opts?: AdmmOptions }[] = [
  { rows: 64, cols: 128, pattern: { kind: "unstructured", sparsity: 0.8 } },
  { rows: 37, cols: 100, pattern: { kind: "unstructured", sparsity: 0.7 } },
  { rows: 45, cols: 133, pattern: { kind: "unstructured", sparsity: 0.6 }, opts: { scope: "row" } },
  {
    rows: 33,
    cols: 96,
    pattern: { kind: "unstructured", sparsity: 0.9 },
    opts: { schedule: "constant" },
  },
  { rows: 40, cols: 132, pattern: { kind: "nm", n: 2, m: 4 } },
  { rows: 29, cols: 100, pattern: { kind: "nm", n: 3, m: 4 } },
  { rows: 31, cols: 136, pattern: { kind: "nm", n: 4, m: 8 } },
];

function describe(p: SparsityPattern, o: AdmmOptions = {}): string {
  const s = p.kind === "unstructured" ? `unstructured ${p.sparsity}` : `${p.n}:${p.m}`;
  return [s, ...Object.entries(o).map(([k, v]) => `${k} ${v}`)].join(", ");
}

/** Exact pattern counts: N zeros in every group of M, or the target count per row / matrix. */
function assertExactPattern(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  pattern: SparsityPattern,
  scope: "matrix" | "row",
): void {
  if (pattern.kind === "nm") {
    for (let i = 0; i < rows * cols; i += pattern.m) {
      let zeros = 0;
      for (let c = i; c < i + pattern.m; c++) if (w[c] === 0) zeros++;
      assert.equal(zeros, pattern.n, `row ${Math.floor(i / cols)} group ${i % cols}`);
    }
  } else if (scope === "row") {
    for (let r = 0; r < rows; r++) {
      let zeros = 0;
      for (let c = 0; c < cols; c++) if (w[r * cols + c] === 0) zeros++;
      assert.equal(zeros, Math.floor(cols * pattern.sparsity), `row ${r}`);
    }
  } else {
    let zeros = 0;
    for (const v of Array.from(w)) if (v === 0) zeros++;
    assert.equal(zeros, Math.floor(rows * cols * pattern.sparsity));
  }
}

for (const { rows, cols, pattern, opts } of CASES) {
  Deno.test(
    `admm() matches the float64 reference with exact sparsity: ${rows}×${cols}, ${
      describe(pattern, opts)
    }`,
    async () => {
      const L = makeLayer(rows, cols, rows * 1000 + cols);
      const { res, w } = await runAdmm(L, pattern, opts);
      const ref = admm64(L.W, rows, cols, L.H, pattern, opts);
      assert.equal(res.inverseFailed, false);
      assert.equal(res.retries, 0);
      assert.ok(w.every(Number.isFinite));
      assertExactPattern(w, rows, cols, pattern, opts?.scope ?? "matrix");
      assertExactPattern(ref.W, rows, cols, pattern, opts?.scope ?? "matrix");
      let same = 0;
      for (let i = 0; i < w.length; i++) if ((w[i] === 0 ? 1 : 0) === ref.mask[i]) same++;
      assert.ok(same / w.length >= 0.999, `mask agreement ${same / w.length}`);
      const werr = relFro(w, ref.W);
      assert.ok(werr < 1e-3, `W relative error ${werr}`);
      assert.ok(
        Math.abs(res.residual - ref.residual) < 1e-2 * ref.residual,
        `residual ${res.residual} vs ${ref.residual}`,
      );
      // far better layer output than magnitude pruning
      const eAdmm = outputError64(L.W, w, rows, cols, L.H);
      const eMag = outputError64(L.W, magnitude64(L.W, rows, cols, pattern), rows, cols, L.H);
      assert.ok(eAdmm < 0.5 * eMag, `ADMM error ${eAdmm} vs magnitude ${eMag}`);
    },
  );
}

Deno.test("admm() zeroes dead inputs and gives the same result in windows past the binding limit", async () => {
  const gpu = await getGpu();
  const rows = 40, cols = 132;
  const L = makeLayer(rows, cols, 5, [0, 9, 131]);
  const pattern = { kind: "nm", n: 2, m: 4 } as const;
  const { w } = await runAdmm(L, pattern);
  for (const j of [0, 9, 131]) for (let r = 0; r < rows; r++) assert.equal(w[r * cols + j], 0);
  const ref = admm64(L.W, rows, cols, L.H, pattern);
  assert.ok(relFro(w, ref.W) < 1e-3);
  // 16 KiB bindings: every matrix of the pass (cols² = 69 KiB) is split into windows
  const split = await withBindingLimit(gpu, 16384, () => runAdmm(L, pattern));
  assert.ok(relFro(split.w, w) < 1e-5, `split result differs by ${relFro(split.w, w)}`);
});

Deno.test("admm() rejects a shape, pattern or schedule it cannot use, naming the value", async () => {
  const L = makeLayer(8, 30, 1);
  await assert.rejects(runAdmm(L, { kind: "nm", n: 2, m: 4 }), /2:4 for 30 columns/);
  await assert.rejects(
    runAdmm(L, { kind: "unstructured", sparsity: 0.5 }, { iterations: 4, maskSteps: 5 }),
    /iterations 4 and mask steps 5/,
  );
  await assert.rejects(runAdmm(L, { kind: "unstructured", sparsity: 1 }), /sparsity 1/);
  await assert.rejects(runAdmm(L, { kind: "unstructured", sparsity: 0.5 }, { rho: 0 }), /rho 0/);
});

Deno.test("the admm method prunes opt-tiny through the pipeline to exact 3:4 and 80 %", async () => {
  await withTiny(async (input) => {
    for (const o of [{ pattern: "3:4" }, { sparsity: 0.8 }]) {
      const pruned = await new SparseLLMPruner({ method: "admm", ...o }).prune({
        ...input,
        gpu: await getGpu(),
      });
      for (const [name, w] of pruned.tensors) {
        const zeros = w.reduce((z, v) => z + (v === 0 ? 1 : 0), 0);
        if (o.pattern) {
          for (let g = 0; g < w.length; g += 4) {
            assert.ok(
              w.subarray(g, g + 4).filter((v) => v === 0).length >= 3,
              `${name} group ${g}`,
            );
          }
        } else assert.equal(zeros, Math.floor(0.8 * w.length), name);
      }
      for (const l of pruned.layers) {
        for (const m of l.matrices) assert.ok(m.relError > 0 && m.relError < 1, `${m.name} error`);
      }
    }
  });
});
