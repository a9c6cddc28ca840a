import assert from "node:assert/strict";
import { getGpu } from "../../../src/gpu/device.ts";
import { matmul } from "../../../src/kernels/matmul.ts";
import { sparsellmFfn } from "../../../src/prune/sparsellm/ffn.ts";
import { type FfnProblem, SPARSELLM_DEFAULTS } from "../../../src/prune/sparsellm/types.ts";
import type { SparsityPattern } from "../../../src/prune/types.ts";
import type { MatrixSolver } from "../../../src/prune/solver.ts";
import { admmSolver } from "../../../src/prune/admm.ts";

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    // sum of two uniforms: a rough bell shape
    const u = s / 2 ** 32;
    s = (s * 1664525 + 1013904223) >>> 0;
    return (u + s / 2 ** 32 - 1) * scale;
  });
}

const silu = (x: number) => x / (1 + Math.exp(-x));
const gelu = (x: number) =>
  0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
type Kind = "relu" | "glu" | "geglu";

/** float64 real output error ‖T − W2·φ(W1·x + b1)‖² / ‖T‖² with T the dense output. */
function outputError64(
  kind: Kind,
  x: Float32Array,
  n: number,
  d: number,
  f: number,
  dense: Float32Array[],
  pruned: Float32Array[],
  b1?: Float32Array,
): number {
  const ffn = (w: Float32Array[], t: number, out: Float64Array) => {
    const act = new Float64Array(f);
    for (let j = 0; j < f; j++) {
      let u = b1 ? b1[j] : 0, g = 0;
      for (let k = 0; k < d; k++) {
        u += w[0][j * d + k] * x[t * d + k];
        if (kind !== "relu") g += w[2][j * d + k] * x[t * d + k];
      }
      act[j] = kind === "relu" ? Math.max(u, 0) : (kind === "glu" ? silu(g) : gelu(g)) * u;
    }
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < f; j++) s += w[1][i * f + j] * act[j];
      out[i] = s;
    }
  };
  let num = 0, den = 0;
  const a = new Float64Array(d), b = new Float64Array(d);
  for (let t = 0; t < n; t++) {
    ffn(dense, t, a);
    ffn(pruned, t, b);
    for (let i = 0; i < d; i++) {
      num += (a[i] - b[i]) ** 2;
      den += a[i] ** 2;
    }
  }
  return num / den;
}

async function run(
  kind: Kind,
  pattern: SparsityPattern,
  iters: number,
  { chunks = 1, auxMemory, solver }: {
    chunks?: number;
    auxMemory?: number;
    solver?: MatrixSolver;
  } = {},
) {
  const gpu = await getGpu();
  const n = 512, nseq = 8, d = 32, f = 96;
  const x = rand(n * d, 1, 2);
  // correlated inputs: mix in a shared component
  for (let t = 0; t < n; t++) for (let k = 1; k < d; k++) x[t * d + k] += 0.5 * x[t * d];
  const w1 = rand(f * d, 2, 0.4), w2 = rand(d * f, 3, 0.3), wg = rand(f * d, 4, 0.4);
  const b1 = kind === "relu" ? rand(f, 5, 0.2) : undefined;
  const tx = gpu.upload(x, [n, d], "x");
  const up = {
    weight: gpu.upload(w1, [f, d], "up"),
    ...(b1 ? { bias: gpu.upload(b1, [f], "b1") } : {}),
  };
  const down = { weight: gpu.upload(w2, [d, f], "down") };
  const gate = kind !== "relu" ? { weight: gpu.upload(wg, [f, d], "gate") } : undefined;
  const hx = gpu.alloc([d, d], "hx");
  const b = gpu.batch("hx");
  matmul(b, { a: tx, b: tx, c: hx, M: d, N: d, K: n, transA: true, alpha: 2 / nseq });
  b.submit();
  // Split the tokens into `chunks` chunks of whole sequences (views of separate copies).
  const per = n / chunks;
  const parts = Array.from({ length: chunks }, (_, i) => ({
    x: chunks === 1 ? tx : gpu.upload(x.slice(i * per * d, (i + 1) * per * d), [per, d], "xc"),
    tokens: per,
    nseq: nseq / chunks,
  }));
  const problem: FfnProblem = {
    kind: kind === "relu" ? "relu" : "glu",
    ...(kind === "geglu" ? { gateFn: "gelu-tanh" as const } : {}),
    chunks: parts,
    nseq,
    d,
    f,
    up,
    down,
    hx,
    ...(gate ? { gate } : {}),
  };
  const report = await sparsellmFfn(gpu, problem, {
    ...SPARSELLM_DEFAULTS,
    blocksize: 32,
    iters,
    pattern,
    ...(auxMemory !== undefined ? { auxMemory } : {}),
    ...(solver ? { solver } : {}),
  });
  const pw1 = await gpu.read(up.weight), pw2 = await gpu.read(down.weight);
  const pwg = gate ? await gpu.read(gate.weight) : new Float32Array(0);
  gpu.free(tx, up.weight, down.weight, hx, up.bias, gate?.weight);
  if (chunks > 1) gpu.free(...parts.map((p) => p.x));
  const dense = [w1, w2, wg], pruned = [pw1, pw2, pwg];
  return { report, dense, pruned, x, n, d, f, b1 };
}

function checkSparsity(
  w: Float32Array,
  rows: number,
  cols: number,
  p: SparsityPattern,
  block: number,
) {
  for (let r = 0; r < rows; r++) {
    if (p.kind === "nm") {
      for (let g = 0; g < cols; g += p.m) {
        let z = 0;
        for (let j = g; j < g + p.m; j++) if (w[r * cols + j] === 0) z++;
        assert.ok(z >= p.n, `row ${r} group ${g}: ${z} zeros < ${p.n}`);
      }
    }
  }
  if (p.kind === "unstructured") {
    for (let c0 = 0; c0 < cols; c0 += block) {
      const c1 = Math.min(cols, c0 + block);
      let z = 0;
      for (let r = 0; r < rows; r++) for (let j = c0; j < c1; j++) if (w[r * cols + j] === 0) z++;
      assert.ok(z >= Math.floor(rows * (c1 - c0) * p.sparsity), `block ${c0}: ${z} zeros`);
    }
  }
}

for (const kind of ["relu", "glu", "geglu"] as const) {
  for (
    const pattern of [
      { kind: "unstructured", sparsity: 0.8 } as const,
      { kind: "nm", n: 3, m: 4 } as const,
    ]
  ) {
    const label = pattern.kind === "nm" ? "3:4" : "80 %";
    Deno.test(`sparsellmFfn ${kind} ${label}: kept error ≤ SparseGPT's, equals float64 recomputation, exact sparsity`, async () => {
      const { report, dense, pruned, x, n, d, f, b1 } = await run(kind, pattern, 3);
      assert.ok(report.iterates.length >= 2, "at least one alternating iteration ran");
      assert.equal(report.iterates[0].iter, 0);
      assert.ok(report.finalError <= report.sparsegptError, "kept iterate worse than SparseGPT");
      assert.equal(report.finalError, report.iterates[report.kept].outputError);
      for (const it of report.iterates.slice(1)) {
        assert.ok(it.relaxed && Number.isFinite(it.relaxed.output) && it.relaxed.output >= 0);
      }
      // The kept weights really have the reported error (float64 recomputation, dense T).
      const order = kind === "relu" ? [0, 1] : [0, 1, 2];
      const e64 = outputError64(
        kind,
        x,
        n,
        d,
        f,
        order.map((i) => dense[i]),
        order.map((i) => pruned[i]),
        b1,
      );
      assert.ok(
        Math.abs(e64 - report.finalError) <= 1e-3 * e64 + 1e-6,
        `reported ${report.finalError}, float64 ${e64}`,
      );
      checkSparsity(pruned[0], f, d, pattern, 32);
      checkSparsity(pruned[1], d, f, pattern, 32);
      if (kind !== "relu") checkSparsity(pruned[2], f, d, pattern, 32);
      for (const w of pruned) for (const v of w) assert.ok(Number.isFinite(v));
    });
  }
}

Deno.test("sparsellmFfn improves the real output error over SparseGPT at 80 % (relu)", async () => {
  const { report } = await run("relu", { kind: "unstructured", sparsity: 0.8 }, 2);
  assert.ok(
    report.finalError < 0.95 * report.sparsegptError,
    `SparseLLM ${report.finalError} vs SparseGPT ${report.sparsegptError}`,
  );
});

for (const kind of ["relu", "glu"] as const) {
  Deno.test(`sparsellmFfn ${kind}: auxiliaries spilled to host memory give identical results`, async () => {
    const pattern = { kind: "unstructured", sparsity: 0.8 } as const;
    const resident = await run(kind, pattern, 2, { chunks: 2 });
    const spilled = await run(kind, pattern, 2, { chunks: 2, auxMemory: 1 });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(spilled.pruned[i], resident.pruned[i], `weights ${i} differ`);
    }
    assert.deepEqual(
      spilled.report.iterates.map((it) => [it.outputError, it.relaxed]),
      resident.report.iterates.map((it) => [it.outputError, it.relaxed]),
    );
    assert.equal(spilled.report.auxSpilled, true);
    assert.equal(resident.report.auxSpilled, false);
    // Two chunks give the same kept error as one (up to f32 summation order).
    const single = await run(kind, pattern, 2);
    const rel = Math.abs(single.report.finalError - resident.report.finalError) /
      single.report.finalError;
    assert.ok(
      rel < 1e-3,
      `one chunk ${single.report.finalError}, two ${resident.report.finalError}`,
    );
  });
}

for (const kind of ["relu", "glu"] as const) {
  Deno.test(`sparsellmFfn ${kind} with the ADMM solver: kept error ≤ ADMM alone's, equals float64, exact sparsity`, async () => {
    const pattern = { kind: "unstructured", sparsity: 0.8 } as const;
    const solver = admmSolver({ iterations: 20, rho: 0.3 });
    const { report, dense, pruned, x, n, d, f, b1 } = await run(kind, pattern, 2, { solver });
    assert.ok(
      report.finalError <= report.sparsegptError,
      "kept iterate worse than the solver alone",
    );
    const order = kind === "relu" ? [0, 1] : [0, 1, 2];
    const e64 = outputError64(
      kind,
      x,
      n,
      d,
      f,
      order.map((i) => dense[i]),
      order.map((i) => pruned[i]),
      b1,
    );
    assert.ok(
      Math.abs(e64 - report.finalError) <= 1e-3 * e64 + 1e-6,
      `reported ${report.finalError}, float64 ${e64}`,
    );
    // ADMM selects per matrix: exactly floor(0.8 · rows · cols) zeros in each.
    for (const w of pruned.slice(0, order.length)) {
      assert.equal(w.reduce((z, v) => z + (v === 0 ? 1 : 0), 0), Math.floor(0.8 * w.length));
    }
  });
}
