import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { HessianAccumulator } from "../../src/prune/hessian.ts";
import { sparsegpt } from "../../src/prune/sparsegpt.ts";
import type { SparsityPattern } from "../../src/prune/types.ts";
import { correlatedActivations, hessian64, relFro, Rng } from "../reference/linalg_ref.ts";
import { magnitude64, outputError64, sparsegpt64 } from "../reference/sparsegpt_ref.ts";

interface Layer {
  rows: number;
  cols: number;
  W: Float32Array<ArrayBuffer>;
  H: Float32Array<ArrayBuffer>;
}

function makeLayer(rows: number, cols: number, seed: number, tokens = 4 * cols): Layer {
  const rng = new Rng(seed);
  const W = Float32Array.from({ length: rows * cols }, () => 0.05 * rng.normal());
  const x = correlatedActivations(tokens, cols, seed + 1);
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
      assert.ok(w.every(Number.isFinite));
      // same mask except near-ties
      let same = 0;
      for (let i = 0; i < w.length; i++) if ((w[i] === 0 ? 1 : 0) === ref.mask[i]) same++;
      const agree = same / w.length;
      // weights and loss close to float64
      const werr = relFro(w, ref.W);
      let refLoss = 0;
      for (const v of ref.rowLoss) refLoss += v;
      const lerr = Math.abs(res.loss - refLoss) / refLoss;
      assert.ok(agree >= 0.995, `mask agreement ${agree}`);
      assert.ok(werr < 2e-2, `W relative error ${werr}`);
      assert.ok(lerr < 1e-2, `loss ${res.loss} vs ${refLoss}`);

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
    },
  );
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
