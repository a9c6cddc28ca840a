// The linalg_util helpers on matrices larger than the binding limit: with the limit lowered to
// 16 KiB every n×n matrix below (n = 200: 160 KB, n = 131: 69 KB) is split into row blocks, and
// the results must equal both the plain CPU result and the unsplit GPU result.

import assert from "node:assert/strict";
import { type Batch, getGpu, type Gpu } from "../../src/gpu/device.ts";
import type { GpuTensor } from "../../src/gpu/tensor.ts";
import {
  FAIL_NONE,
  recordAddDiag,
  recordCheckFinite,
  recordCopyBlock,
  recordFill,
  recordReverse,
  recordTriFix,
  recordZeroIfFailed,
} from "../../src/kernels/linalg_util.ts";
import { Rng } from "../reference/linalg_ref.ts";
import { withBindingLimit } from "../_binding_limit.ts";

const LIMIT = 16 * 1024;
const SIZES = [200, 131];

/** Random f32 values. */
function random(count: number, seed: number): Float32Array<ArrayBuffer> {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count }, () => rng.normal());
}

/** What one recording left in its tensors, and how many steps it recorded. */
interface Run {
  outs: Float32Array<ArrayBuffer>[];
  steps: number;
}

/**
 * Uploads `inputs`, records `record` into one batch and reads every tensor back; with `limit`,
 * under that binding limit.
 */
async function run(
  gpu: Gpu,
  inputs: (Float32Array | Uint32Array)[],
  record: (batch: Batch, ts: GpuTensor[]) => void,
  limit?: number,
): Promise<Run> {
  const body = async (): Promise<Run> => {
    const ts = inputs.map((d, i) => gpu.upload(d, [d.length], `input ${i}`));
    const batch = gpu.batch("linalg-util-split");
    record(batch, ts);
    const steps = batch.length;
    batch.submit();
    const outs = [];
    for (const t of ts) outs.push(await gpu.read(t));
    gpu.free(...ts);
    return { outs, steps };
  };
  return limit === undefined ? await body() : await withBindingLimit(gpu, limit, body);
}

/** Runs a recording unsplit and under {@linkcode LIMIT}: same results, more dispatches. */
async function runBoth(
  gpu: Gpu,
  inputs: (Float32Array | Uint32Array)[],
  record: (batch: Batch, ts: GpuTensor[]) => void,
): Promise<Float32Array<ArrayBuffer>[]> {
  assert.ok(inputs[0].length * 4 > LIMIT, "the matrix exceeds the lowered limit");
  const whole = await run(gpu, inputs, record);
  const split = await run(gpu, inputs, record, LIMIT);
  assert.ok(split.steps > whole.steps, `split into ${split.steps} vs ${whole.steps} dispatches`);
  for (let i = 0; i < whole.outs.length; i++) {
    assertBits(split.outs[i], whole.outs[i], `split vs unsplit, tensor ${i}`);
  }
  return split.outs;
}

/** Asserts that two f32 arrays hold the same bits (NaN included), naming the first difference. */
function assertBits(got: Float32Array, want: Float32Array, what: string): void {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < w.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

for (const n of SIZES) {
  const ld = n + 3, off = 5;
  const total = off + n * ld + 2;

  Deno.test(`recordFill() splits an identity fill into row blocks, n = ${n}`, async () => {
    const gpu = await getGpu();
    const data = new Float32Array(total).fill(-7);
    const [out] = await runBoth(gpu, [data], (b, [t]) => {
      recordFill(b, t, { rows: n, cols: n, ld, offset: off }, 0, 1);
    });
    const want = data.slice();
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) want[off + r * ld + c] = +(r === c);
    assertBits(out, want, "fill");
  });

  for (const mode of ["zero-upper", "mirror-lower", "mirror-upper"] as const) {
    Deno.test(`recordTriFix("${mode}") splits into row blocks, n = ${n}`, async () => {
      const gpu = await getGpu();
      const data = random(total, n);
      const [out] = await runBoth(gpu, [data], (b, [t]) => recordTriFix(b, t, n, mode, ld, off));
      const want = data.slice();
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < n; c++) {
          const at = off + r * ld + c;
          if (mode === "zero-upper" && c > r) want[at] = 0;
          if (mode === "mirror-lower" && c > r) want[at] = data[off + c * ld + r];
          if (mode === "mirror-upper" && c < r) want[at] = data[off + c * ld + r];
        }
      }
      assertBits(out, want, mode);
    });
  }

  for (const symLower of [false, true]) {
    Deno.test(`recordReverse(symLower = ${symLower}) splits into row blocks, n = ${n}`, async () => {
      const gpu = await getGpu();
      const src = random(n * n, 2 * n);
      // the symmetric variant must not read the upper triangle
      if (symLower) {
        for (let r = 0; r < n; r++) for (let c = r + 1; c < n; c++) src[r * n + c] = NaN;
      }
      const dst = new Float32Array(n * n);
      const [, out] = await runBoth(gpu, [src, dst], (b, [s, d]) => {
        recordReverse(b, s, d, n, symLower);
      });
      const want = new Float32Array(n * n);
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < n; c++) {
          const a = n - 1 - r, b = n - 1 - c;
          want[r * n + c] = symLower && a < b ? src[b * n + a] : src[a * n + b];
        }
      }
      assertBits(out, want, "reverse");
    });
  }

  Deno.test(`recordAddDiag() gathers a diagonal past the limit and damps it, n = ${n}`, async () => {
    const gpu = await getGpu();
    const data = random(total, 3 * n);
    for (const r of [0, 17, n - 1]) data[off + r * ld + r] = 0;
    const stats = new Float32Array(4).fill(-1);
    const opts = { c: 0.25, percent: 0.01, fixZero: true, ld, offset: off, statsIndex: 1 };
    const [out, st] = await runBoth(gpu, [data, stats], (b, [t, s]) => {
      recordAddDiag(b, t, n, s, opts);
    });
    let mean = 0;
    for (let r = 0; r < n; r++) mean += data[off + r * ld + r] || 1;
    mean /= n;
    const add = 0.25 + 0.01 * mean;
    assert.ok(Math.abs(st[1] - mean) <= 1e-5 * (1 + Math.abs(mean)), `mean ${st[1]} vs ${mean}`);
    assert.ok(Math.abs(st[2] - add) <= 1e-5, `added ${st[2]} vs ${add}`);
    assert.deepEqual([st[0], st[3]], [-1, -1]);
    for (let i = 0; i < total; i++) {
      const r = Math.floor((i - off) / ld), c = (i - off) % ld;
      const diag = i >= off && r < n && r === c;
      const want = diag ? (data[i] || 1) + add : data[i];
      assert.ok(Math.abs(out[i] - want) <= 1e-5 * (1 + Math.abs(want)), `element ${i}`);
    }
  });

  Deno.test(`recordCheckFinite() finds the first bad column in row blocks, n = ${n}`, async () => {
    const gpu = await getGpu();
    const data = random(total, 4 * n);
    data[off + (n - 1) * ld + 3] = Infinity; // last row: only the last block sees it
    data[off + (n - 2) * ld + 17] = NaN;
    data[off + 5 * ld + n] = NaN; // past the region's columns: not counted
    const status = new Uint32Array([7, 7, FAIL_NONE, 7]);
    const region = { rows: n, cols: n, ld, offset: off };
    const [, bad] = await runBoth(gpu, [data, status], (b, [t, s]) => {
      recordCheckFinite(b, t, region, s, 2);
    });
    assert.deepEqual([...new Uint32Array(bad.buffer)], [7, 7, 3, 7]);
    const clean = random(total, 5 * n);
    const [, good] = await runBoth(gpu, [clean, status], (b, [t, s]) => {
      recordCheckFinite(b, t, region, s, 2);
    });
    assert.deepEqual([...new Uint32Array(good.buffer)], [7, 7, FAIL_NONE, 7]);
  });

  Deno.test(`recordZeroIfFailed() zeroes a region past the limit in pieces, n = ${n}`, async () => {
    const gpu = await getGpu();
    const data = random(total, 6 * n);
    const count = n * ld;
    for (const word of [FAIL_NONE, 12]) {
      const status = new Uint32Array([0, word]);
      const [out] = await runBoth(gpu, [data, status], (b, [t, s]) => {
        recordZeroIfFailed(b, t, count, s, 1, off);
      });
      const want = data.slice();
      if (word !== FAIL_NONE) want.fill(0, off, off + count);
      assertBits(out, want, `status ${word}`);
    }
  });
}

Deno.test("the helpers record one dispatch each when the matrix fits one binding", async () => {
  const gpu = await getGpu();
  const n = 300;
  const a = gpu.alloc([n, n], "A"), b = gpu.alloc([n, n], "B");
  const stats = gpu.alloc([2], "stats"), status = gpu.alloc([1], "status", "u32");
  const steps = (record: (batch: Batch) => void) => {
    const batch = gpu.batch("count");
    record(batch);
    return batch.length;
  };
  assert.equal(steps((x) => recordFill(x, a, { rows: n, cols: n }, 0, 1)), 1);
  for (const mode of ["zero-upper", "mirror-lower", "mirror-upper"] as const) {
    assert.equal(steps((x) => recordTriFix(x, a, n, mode)), 1, mode);
  }
  assert.equal(steps((x) => recordReverse(x, a, b, n, true)), 1);
  assert.equal(steps((x) => recordAddDiag(x, a, n, stats, { percent: 0.01 })), 1);
  assert.equal(steps((x) => recordCheckFinite(x, a, { rows: n, cols: n }, status)), 1);
  assert.equal(steps((x) => recordZeroIfFailed(x, a, n * n, status)), 1);
  gpu.free(a, b, stats, status);
});

Deno.test("recordCopyBlock() copies a region between leading dimensions", async () => {
  const gpu = await getGpu();
  const src = random(3 + 6 * 11, 7);
  const dst = new Float32Array(2 + 6 * 9).fill(-1);
  const { outs: [, out] } = await run(gpu, [src, dst], (b, [s, d]) => {
    recordCopyBlock(b, s, { rows: 6, cols: 7, ld: 11, offset: 3 }, d, { ld: 9, offset: 2 });
  });
  const want = dst.slice();
  for (let r = 0; r < 6; r++) for (let c = 0; c < 7; c++) want[2 + r * 9 + c] = src[3 + r * 11 + c];
  assertBits(out, want, "copy");
});
