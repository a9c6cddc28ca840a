import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { HessianAccumulator } from "../../src/prune/hessian.ts";
import { FAIL_NONE } from "../../src/kernels/linalg_util.ts";
import { recordDeadColumns, SPARSEGPT_SELECT_WORDS } from "../../src/kernels/sparsegpt.ts";
import { recordColumnSweeps, sparsegpt } from "../../src/prune/sparsegpt.ts";
import type { SparsityPattern } from "../../src/prune/types.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import {
  correlatedActivations,
  hessian64,
  relFro,
  Rng,
  sparsegptFactor64,
} from "../reference/linalg_ref.ts";
import {
  magnitude64,
  outputError64,
  sparsegpt64,
  type SparseGptRef,
} from "../reference/sparsegpt_ref.ts";

interface Layer {
  rows: number;
  cols: number;
  W: Float32Array<ArrayBuffer>;
  H: Float32Array<ArrayBuffer>;
}

/** A random layer; the inputs `dead` are always 0 (zero Hessian rows and columns). */
function makeLayer(
  rows: number,
  cols: number,
  seed: number,
  tokens = 4 * cols,
  dead: number[] = [],
): Layer {
  const rng = new Rng(seed);
  const W = Float32Array.from({ length: rows * cols }, () => 0.05 * rng.normal());
  const x = correlatedActivations(tokens, cols, seed + 1);
  for (let t = 0; t < tokens; t++) for (const j of dead) x[t * cols + j] = 0;
  const H = Float32Array.from(hessian64(x, tokens, cols, tokens / 64));
  return { rows, cols, W, H };
}

function describe(p: SparsityPattern): string {
  return p.kind === "unstructured" ? `unstructured ${p.sparsity}` : `${p.n}:${p.m}`;
}

const CASES: { rows: number; cols: number; blocksize: number; pattern: SparsityPattern }[] = [
  { rows: 64, cols: 256, blocksize: 128, pattern: { kind: "unstructured", sparsity: 0.5 } },
  { rows: 64, cols: 200, blocksize: 64, pattern: { kind: "unstructured", sparsity: 0.5 } },
  { rows: 64, cols: 256, blocksize: 128, pattern: { kind: "nm", n: 2, m: 4 } },
  { rows: 64, cols: 200, blocksize: 64, pattern: { kind: "nm", n: 2, m: 4 } },
  { rows: 64, cols: 256, blocksize: 128, pattern: { kind: "nm", n: 3, m: 4 } },
  { rows: 37, cols: 200, blocksize: 64, pattern: { kind: "unstructured", sparsity: 0.7 } },
  // several outer blocks of 4 · blocksize columns, the last one ragged
  { rows: 48, cols: 300, blocksize: 32, pattern: { kind: "unstructured", sparsity: 0.6 } },
  { rows: 40, cols: 300, blocksize: 32, pattern: { kind: "nm", n: 2, m: 4 } },
];

for (const { rows, cols, blocksize, pattern } of CASES) {
  Deno.test(
    `sparsegpt() matches the float64 reference: ${rows}×${cols}, blocksize ${blocksize}, ${
      describe(pattern)
    }`,
    async () => {
      const gpu = await getGpu();
      const L = makeLayer(rows, cols, rows * 1000 + cols + blocksize);
      const tw = gpu.upload(L.W, [rows, cols], "W");
      const th = gpu.upload(L.H, [cols, cols], "H");
      const res = await sparsegpt(gpu, undefined, tw, th, pattern, { blocksize });
      const w = await gpu.read(tw);
      gpu.free(tw, th);
      const ref = sparsegpt64(L.W, rows, cols, L.H, pattern, blocksize, 0.01);

      assert.equal(res.choleskyFailed, false);
      assert.equal(res.retries, 0);
      assert.ok(
        Math.abs(res.damp - ref.damp) <= 1e-5 * ref.damp,
        `damp ${res.damp} vs ${ref.damp}`,
      );
      assertLikeReference(L, w, res.loss, ref, pattern, blocksize);
    },
  );
}

/**
 * What every SparseGPT result must satisfy against the float64 reference `ref` of layer `L`:
 * finite weights, the same mask but for near-ties, weights and loss close to float64, the exact
 * sparsity of each block (unstructured) or group (N:M), and a much better layer output than
 * magnitude pruning.
 */
function assertLikeReference(
  L: Layer,
  w: Float32Array,
  loss: number,
  ref: SparseGptRef,
  pattern: SparsityPattern,
  blocksize: number,
): void {
  const { rows, cols } = L;
  assert.ok(w.every(Number.isFinite));
  // same mask except near-ties
  let same = 0;
  for (let i = 0; i < w.length; i++) if ((w[i] === 0 ? 1 : 0) === ref.mask[i]) same++;
  const agree = same / w.length;
  // weights and loss close to float64
  const werr = relFro(w, ref.W);
  let refLoss = 0;
  for (const v of ref.rowLoss) refLoss += v;
  const lerr = Math.abs(loss - refLoss) / refLoss;
  assert.ok(agree >= 0.995, `mask agreement ${agree}`);
  assert.ok(werr < 2e-2, `W relative error ${werr}`);
  assert.ok(lerr < 1e-2, `loss ${loss} vs ${refLoss}`);

  // exact sparsity of the result
  if (pattern.kind === "unstructured") {
    for (let i1 = 0; i1 < cols; i1 += blocksize) {
      const count = Math.min(blocksize, cols - i1);
      let zeros = 0;
      for (let r = 0; r < rows; r++) {
        for (let c = i1; c < i1 + count; c++) if (w[r * cols + c] === 0) zeros++;
      }
      assert.ok(zeros >= Math.floor(rows * count * pattern.sparsity), `block ${i1}: ${zeros}`);
    }
  } else {
    for (let r = 0; r < rows; r++) {
      for (let c0 = 0; c0 < cols; c0 += pattern.m) {
        let zeros = 0;
        for (let c = c0; c < Math.min(c0 + pattern.m, cols); c++) {
          if (w[r * cols + c] === 0) zeros++;
        }
        assert.equal(zeros, pattern.n, `row ${r} group ${c0}`);
      }
    }
  }

  // much better layer output than magnitude pruning
  const eSg = outputError64(L.W, w, rows, cols, L.H);
  const eMag = outputError64(L.W, magnitude64(L.W, rows, cols, pattern), rows, cols, L.H);
  assert.ok(eSg < 0.5 * eMag, `SparseGPT error ${eSg} vs magnitude ${eMag}`);
}

Deno.test("sparsegpt() on a batch holding the Hessian accumulation zeroes dead inputs like the reference", async () => {
  const gpu = await getGpu();
  const rows = 48, cols = 130, tokens = 400;
  const x = correlatedActivations(tokens, cols, 5);
  const dead = [0, 7, 64, 129];
  for (let t = 0; t < tokens; t++) for (const j of dead) x[t * cols + j] = 0;
  const rng = new Rng(9);
  const W = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const tx = gpu.upload(x, [tokens, cols], "X");
  const tw = gpu.upload(W, [rows, cols], "W");
  const acc = new HessianAccumulator(gpu, cols);
  const batch = gpu.batch("hessian+sparsegpt");
  acc.add(batch, tx, 2, { tokens: 200 });
  acc.add(batch, tx, 2, { offset: 200 * cols, tokens: 200 });
  const pattern = { kind: "unstructured", sparsity: 0.6 } as const;
  const res = await sparsegpt(gpu, batch, tw, acc.H, pattern, { blocksize: 64 });
  const w = await gpu.read(tw);
  const h = await gpu.read(acc.H);
  gpu.free(tx, tw);
  acc.free();
  for (const j of dead) {
    assert.equal(h[j * cols + j], 1, `H[${j}, ${j}] set to 1`);
    for (let r = 0; r < rows; r++) assert.equal(w[r * cols + j], 0);
  }
  // the reference on the same (f32) Hessian; the upper triangle was never computed, mirror it
  for (let i = 0; i < cols; i++) {
    for (let j = i + 1; j < cols; j++) h[i * cols + j] = h[j * cols + i];
  }
  for (const j of dead) h[j * cols + j] = 0;
  const ref = sparsegpt64(W, rows, cols, h, pattern, 64, 0.01);
  assert.equal(res.choleskyFailed, false);
  let same = 0;
  for (let i = 0; i < w.length; i++) if ((w[i] === 0 ? 1 : 0) === (ref.W[i] === 0 ? 1 : 0)) same++;
  assert.ok(same / w.length >= 0.995, `mask agreement ${same / w.length}`);
  assert.ok(relFro(w, ref.W) < 2e-2);
});

Deno.test("sparsegpt() retries a failed Cholesky with 10× damping and reports it", async () => {
  const gpu = await getGpu();
  const rows = 32, cols = 96, tokens = 40; // rank-deficient: XᵀX has λmin = 0
  const x = correlatedActivations(tokens, cols, 21);
  const h64 = hessian64(x, tokens, cols, 1);
  let mean = 0;
  for (let i = 0; i < cols; i++) mean += h64[i * cols + i] / cols;
  for (let i = 0; i < cols; i++) h64[i * cols + i] -= 0.05 * mean; // indefinite; 10 % damping fixes it
  const H = Float32Array.from(h64);
  const rng = new Rng(3);
  const W = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const tw = gpu.upload(W, [rows, cols], "W");
  const th = gpu.upload(H, [cols, cols], "H");
  const res = await sparsegpt(gpu, undefined, tw, th, { kind: "nm", n: 2, m: 4 }, {
    blocksize: 32,
  });
  const w = await gpu.read(tw);
  gpu.free(tw, th);
  assert.equal(res.retries, 1);
  assert.ok(Math.abs(res.percdamp - 0.1) < 1e-12);
  assert.equal(res.choleskyFailed, false);
  assert.ok(w.every(Number.isFinite));
  const ref = sparsegpt64(W, rows, cols, H, { kind: "nm", n: 2, m: 4 }, 32, 0.1);
  assert.ok(Math.abs(res.damp - ref.damp) <= 1e-5 * Math.abs(ref.damp));
  assert.ok(relFro(w, ref.W) < 2e-2, `W relative error ${relFro(w, ref.W)}`);
});

Deno.test("sparsegpt() leaves W untouched when every factorisation fails", async () => {
  const gpu = await getGpu();
  const rows = 16, cols = 40;
  const H = new Float32Array(cols * cols);
  for (let i = 0; i < cols; i++) H[i * cols + i] = -1 - i;
  const rng = new Rng(4);
  const W = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const tw = gpu.upload(W, [rows, cols], "W");
  const th = gpu.upload(H, [cols, cols], "H");
  const res = await sparsegpt(gpu, undefined, tw, th, { kind: "unstructured", sparsity: 0.5 }, {
    maxRetries: 2,
  });
  const w = await gpu.read(tw);
  gpu.free(tw, th);
  assert.equal(res.choleskyFailed, true);
  assert.equal(res.retries, 2);
  assert.equal(res.loss, 0);
  assert.deepEqual(w, W);
});

Deno.test("sparsegpt() rejects invalid shapes, block sizes and patterns", async () => {
  const gpu = await getGpu();
  const w = gpu.alloc([4, 8], "W"), h = gpu.alloc([8, 8], "H"), h2 = gpu.alloc([6, 6], "H2");
  const un = { kind: "unstructured", sparsity: 0.5 } as const;
  await assert.rejects(sparsegpt(gpu, undefined, w, h2, un), /expected \[8, 8\]/);
  await assert.rejects(sparsegpt(gpu, undefined, w, h, un, { blocksize: 300 }), /blocksize 300/);
  await assert.rejects(
    sparsegpt(gpu, undefined, w, h, { kind: "nm", n: 2, m: 4 }, { blocksize: 6 }),
    /multiple of M/,
  );
  await assert.rejects(
    sparsegpt(gpu, undefined, w, h, { kind: "unstructured", sparsity: 1 }),
    /sparsity 1/,
  );
  gpu.free(w, h, h2);
});

Deno.test("sparsegpt() prunes every tie of the block threshold, exactly like the reference", async () => {
  const gpu = await getGpu();
  const rows = 40, cols = 96;
  const rng = new Rng(17);
  // few distinct magnitudes and a diagonal Hessian: many exact ties, no compensation
  const W = Float32Array.from({ length: rows * cols }, () => 0.25 * Math.round(4 * rng.next() - 2));
  const H = new Float32Array(cols * cols);
  for (let j = 0; j < cols; j++) H[j * cols + j] = 1 + (j % 3);
  for (const sparsity of [0.3, 0.5, 0.9]) {
    const tw = gpu.upload(W, [rows, cols], "W");
    const th = gpu.upload(H, [cols, cols], "H");
    const pattern = { kind: "unstructured", sparsity } as const;
    await sparsegpt(gpu, undefined, tw, th, pattern, { blocksize: 32 });
    const w = await gpu.read(tw);
    gpu.free(tw, th);
    const ref = sparsegpt64(W, rows, cols, H, pattern, 32, 0.01);
    for (let i = 0; i < w.length; i++) {
      assert.equal(w[i] === 0 ? 1 : 0, ref.mask[i] || (W[i] === 0 ? 1 : 0), `entry ${i}`);
    }
    for (let i1 = 0; i1 < cols; i1 += 32) {
      let zeros = 0;
      for (let r = 0; r < rows; r++) {
        for (let c = i1; c < i1 + 32; c++) zeros += w[r * cols + c] === 0 ? 1 : 0;
      }
      assert.ok(zeros >= Math.floor(rows * 32 * sparsity));
    }
  }
});

// Matrices larger than one binding: W 96×300 and U 300×300 with a 16 KiB binding limit (4032
// elements per window), so W, H, U and Err are bound in windows and every block is split into
// row blocks and column pieces.
const SPLIT_LIMIT = 16384;
const SPLIT_CASES: { blocksize: number; pattern: SparsityPattern }[] = [
  { blocksize: 32, pattern: { kind: "unstructured", sparsity: 0.5 } },
  { blocksize: 128, pattern: { kind: "unstructured", sparsity: 0.6 } },
  { blocksize: 32, pattern: { kind: "nm", n: 2, m: 4 } },
  { blocksize: 128, pattern: { kind: "nm", n: 2, m: 4 } },
];
const DEAD = [0, 77, 150, 299];

function assertSameWeights(got: Float32Array, want: Float32Array): void {
  const i = got.findIndex((v, j) => !Object.is(v, want[j]));
  assert.equal(i, -1, `weights differ first at ${i}: ${got[i]} vs ${want[i]}`);
}

for (const { blocksize, pattern } of SPLIT_CASES) {
  Deno.test(
    `SparseGPT kernels split into windows give the unsplit weights: 96×300, blocksize ${blocksize}, ${
      describe(pattern)
    }`,
    async () => {
      const gpu = await getGpu();
      const rows = 96, cols = 300;
      const L = makeLayer(rows, cols, 7 + blocksize, 4 * cols, DEAD);
      // the reference factor, of H with the dead inputs' diagonal set to 1 as the pruner does
      const h = Float64Array.from(L.H);
      for (const j of DEAD) h[j * cols + j] = 1;
      const U = Float32Array.from(sparsegptFactor64(h, cols, 0.01).U);
      const run = async () => {
        const w = gpu.upload(L.W, [rows, cols], "W");
        const th = gpu.upload(L.H, [cols, cols], "H");
        const t = {
          U: gpu.upload(U, [cols, cols], "U"),
          err: gpu.alloc([rows, 4 * blocksize], "err"),
          loss: gpu.upload(new Float32Array(rows), [rows], "loss"),
          sel: gpu.upload(new Uint32Array(SPARSEGPT_SELECT_WORDS), [SPARSEGPT_SELECT_WORDS], "sel"),
          status: gpu.upload(Uint32Array.of(FAIL_NONE), [1], "status"),
        };
        const batch = gpu.batch("sparsegpt-kernels");
        recordDeadColumns(batch, w, th, rows, cols);
        recordColumnSweeps(batch, w, pattern, blocksize, t);
        batch.submit();
        const out = await gpu.read(w);
        const rowLoss = await gpu.read(t.loss);
        gpu.free(w, th, t.U, t.err, t.loss, t.sel, t.status);
        return { w: out, rowLoss, loss: rowLoss.reduce((a, b) => a + b, 0) };
      };
      const whole = await run();
      const split = await withBindingLimit(gpu, SPLIT_LIMIT, run);
      assertSameWeights(split.w, whole.w);
      // the loss of a row is summed per column piece: equal up to rounding
      split.rowLoss.forEach((v, r) => {
        const want = whole.rowLoss[r];
        assert.ok(Math.abs(v - want) <= 1e-5 * want, `row ${r}: loss ${v} vs ${want}`);
      });
      for (const j of DEAD) for (let r = 0; r < rows; r++) assert.equal(split.w[r * cols + j], 0);
      const ref = sparsegpt64(L.W, rows, cols, L.H, pattern, blocksize, 0.01);
      assertLikeReference(L, split.w, split.loss, ref, pattern, blocksize);
    },
  );
}

Deno.test("sparsegpt() with W and H larger than the binding limit matches the reference", async () => {
  const gpu = await getGpu();
  const rows = 96, cols = 300, blocksize = 32;
  const L = makeLayer(rows, cols, 11, 4 * cols, DEAD);
  for (const pattern of [SPLIT_CASES[0].pattern, SPLIT_CASES[2].pattern]) {
    const run = async () => {
      const tw = gpu.upload(L.W, [rows, cols], "W");
      const th = gpu.upload(L.H, [cols, cols], "H");
      const res = await sparsegpt(gpu, undefined, tw, th, pattern, { blocksize });
      const w = await gpu.read(tw);
      gpu.free(tw, th);
      return { res, w };
    };
    const whole = await run();
    const split = await withBindingLimit(gpu, SPLIT_LIMIT, run);
    assert.equal(split.res.choleskyFailed, false);
    assert.equal(split.res.retries, 0);
    const ref = sparsegpt64(L.W, rows, cols, L.H, pattern, blocksize, 0.01);
    assertLikeReference(L, split.w, split.res.loss, ref, pattern, blocksize);
    for (const j of DEAD) for (let r = 0; r < rows; r++) assert.equal(split.w[r * cols + j], 0);
    assert.ok(relFro(split.w, whole.w) < 1e-4, `split vs unsplit ${relFro(split.w, whole.w)}`);
  }
});
