import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import type { GpuTensor } from "../../src/gpu/tensor.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import {
  type ScoreMode,
  segmentPrune,
  selectKth,
  selectOutSize,
} from "../../src/kernels/select.ts";
import {
  distinctWeights,
  exactColVec,
  exactWeights,
  firstDifference,
  kthRef,
  rng,
  rowMaskRef,
  scoresRef,
  thresholdMaskRef,
  zeroMask,
} from "../reference/mask_ref.ts";

const SHAPES: [number, number][] = [[7, 13], [64, 100], [257, 300], [280, 260]];

/** Reads words back as (value, rank) pairs. */
function pairs(words: Uint32Array<ArrayBuffer>): { value: number; rank: number }[] {
  const f = new Float32Array(words.buffer);
  const out = [];
  for (let i = 0; i + 1 < words.length; i += 2) out.push({ value: f[i], rank: words[i + 1] });
  return out;
}

Deno.test("selectKth finds the exact k-th smallest |w| of a region, several k in one batch", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of SHAPES) {
    const n = rows * cols;
    const w = distinctWeights(n, rows * 1000 + cols);
    const tw = gpu.upload(w, [rows, cols], "w");
    const ks = [0, 1, Math.floor(n / 2), Math.floor(n * 0.9), n - 1];
    const outs = ks.map(() => gpu.alloc([selectOutSize(1)], "sel", "u32"));
    const gather = gpu.alloc([2 * ks.length], "gather", "u32");
    const batch = gpu.batch("select-region");
    ks.forEach((k, i) => {
      selectKth(batch, { w: tw, rows, cols, k, out: outs[i] });
      batch.copy(outs[i].buffer, 0, gather.buffer, 8 * i, 8);
    });
    batch.submit();
    const got = pairs(await gpu.readU32(gather));
    const scores = scoresRef(w, rows, cols);
    ks.forEach((k, i) => {
      assert.deepEqual(got[i], kthRef(scores, k), `${rows}×${cols}, k=${k}`);
    });
    gpu.free(tw, gather, ...outs);
  }
});

Deno.test("selectKth selects inside a strided sub-region with an element offset", async () => {
  const gpu = await getGpu();
  const R = 40, C = 50;
  const w = distinctWeights(R * C, 7);
  const tw = gpu.upload(w, [R, C], "w");
  const rows = 20, cols = 33, offset = 10 * C + 7;
  const out = gpu.alloc([selectOutSize(1)], "sel", "u32");
  const scores = scoresRef(w, rows, cols, "magnitude", undefined, C, offset);
  for (const k of [0, 329, rows * cols - 1]) {
    const batch = gpu.batch("select-sub");
    selectKth(batch, { w: tw, rows, cols, ld: C, offset, k, out });
    batch.submit();
    assert.deepEqual(pairs(await gpu.readU32(out))[0], kthRef(scores, k), `k=${k}`);
  }
  gpu.free(tw, out);
});

Deno.test("selectKth perRow finds the exact k-th smallest |w| of every row", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of SHAPES) {
    const w = distinctWeights(rows * cols, rows + cols);
    const tw = gpu.upload(w, [rows, cols], "w");
    const scores = scoresRef(w, rows, cols);
    const out = gpu.alloc([selectOutSize(rows, true)], "sel", "u32");
    for (const k of [0, Math.floor(cols / 2), cols - 1]) {
      const batch = gpu.batch("select-rows");
      selectKth(batch, { w: tw, rows, cols, k, out, perRow: true });
      batch.submit();
      const got = pairs(await gpu.readU32(out));
      for (let r = 0; r < rows; r++) {
        const want = kthRef(scores.subarray(r * cols, (r + 1) * cols), k);
        assert.deepEqual(got[r], want, `${rows}×${cols}, row ${r}, k=${k}`);
      }
    }
    gpu.free(tw, out);
  }
});

Deno.test("selectKth scores Wanda (|w|·sqrt(s_j)) exactly", async () => {
  const gpu = await getGpu();
  for (const mode of ["wanda"] as ScoreMode[]) {
    for (const [rows, cols] of SHAPES) {
      const n = rows * cols;
      const w = exactWeights(n, n);
      const vec = exactColVec(cols + 5, cols);
      const tw = gpu.upload(w, [rows, cols], "w");
      const tv = gpu.upload(vec, [cols + 5], "vec");
      const scores = scoresRef(w, rows, cols, mode, vec, cols, 0, 5);
      const region = { w: tw, rows, cols, mode, colVec: tv, colVecOffset: 5 };
      const out = gpu.alloc([selectOutSize(1)], "sel", "u32");
      const outRows = gpu.alloc([selectOutSize(rows, true)], "sel-rows", "u32");
      const k = Math.floor(n * 0.6), kr = Math.floor(cols * 0.3);
      const batch = gpu.batch("select-modes");
      selectKth(batch, { ...region, k, out });
      selectKth(batch, { ...region, k: kr, out: outRows, perRow: true });
      batch.submit();
      assert.deepEqual(pairs(await gpu.readU32(out))[0], kthRef(scores, k), `${mode} region`);
      const got = pairs(await gpu.readU32(outRows));
      for (let r = 0; r < rows; r++) {
        const want = kthRef(scores.subarray(r * cols, (r + 1) * cols), kr);
        assert.deepEqual(got[r], want, `${mode} ${rows}×${cols} row ${r}`);
      }
      gpu.free(tw, tv, out, outRows);
    }
  }
});

Deno.test("selectKth reports ties: the value and the rank of k among equal scores", async () => {
  const gpu = await getGpu();
  const rows = 9, cols = 11, n = rows * cols;
  const r = rng(3);
  const levels = [0, -0, 0.5, -0.5, 1, 2, -2];
  const w = Float32Array.from({ length: n }, () => levels[Math.floor(r() * levels.length)]);
  const tw = gpu.upload(w, [rows, cols], "w");
  const scores = scoresRef(w, rows, cols);
  const outs: GpuTensor[] = [];
  const gather = gpu.alloc([2 * n], "gather", "u32");
  const batch = gpu.batch("select-ties");
  for (let k = 0; k < n; k++) {
    outs.push(gpu.alloc([selectOutSize(1)], "sel", "u32"));
    selectKth(batch, { w: tw, rows, cols, k, out: outs[k] });
    batch.copy(outs[k].buffer, 0, gather.buffer, 8 * k, 8);
  }
  const outRows = gpu.alloc([selectOutSize(rows, true)], "sel-rows", "u32");
  selectKth(batch, { w: tw, rows, cols, k: 6, out: outRows, perRow: true });
  batch.submit();
  const got = pairs(await gpu.readU32(gather));
  for (let k = 0; k < n; k++) assert.deepEqual(got[k], kthRef(scores, k), `k=${k}`);
  const gotRows = pairs(await gpu.readU32(outRows));
  for (let i = 0; i < rows; i++) {
    assert.deepEqual(gotRows[i], kthRef(scores.subarray(i * cols, (i + 1) * cols), 6));
  }
  gpu.free(tw, gather, outRows, ...outs);
});

Deno.test("segmentPrune exact rule prunes k + 1 per row, with and without ties", async () => {
  const gpu = await getGpu();
  // 280×260 runs 64-invocation workgroups, 6×2304 runs 256-invocation ones
  for (const [rows, cols] of [[280, 260], [6, 2304]]) {
    for (const ties of [false, true]) {
      const w = ties ? exactWeights(rows * cols, 2) : distinctWeights(rows * cols, 2);
      if (ties) { for (let i = 0; i < w.length; i += 2) w[i] = 0.25; // many equal scores per row
       }
      const tw = gpu.upload(w, [rows, cols], "w");
      const k = Math.floor(cols * 0.4);
      const batch = gpu.batch("segment-exact");
      segmentPrune(batch, { w: tw, rows, cols, k, perRow: true, rule: "exact" });
      batch.submit();
      const want = rowMaskRef(scoresRef(w, rows, cols), rows, cols, (k + 1.5) / cols);
      const got = zeroMask(await gpu.read(tw));
      assert.equal(firstDifference(got, want), -1, `${rows}×${cols} ties: ${ties}`);
      gpu.free(tw);
    }
  }
});

Deno.test("selectKth rejects arguments that do not fit, naming the value", async () => {
  const gpu = await getGpu();
  const tw = gpu.upload(new Float32Array(12), [3, 4], "w");
  const out = gpu.alloc([selectOutSize(1)], "sel", "u32");
  const small = gpu.alloc([4], "small", "u32");
  const batch = gpu.batch("select-errors");
  const base = { w: tw, rows: 3, cols: 4, out };
  assert.throws(() => selectKth(batch, { ...base, k: 12 }), /k must be .* got 12/);
  assert.throws(() => selectKth(batch, { ...base, k: -1 }), /got -1/);
  assert.throws(() => selectKth(batch, { ...base, k: 4, perRow: true }), /\[0, 3\].*got 4/);
  assert.throws(() => selectKth(batch, { ...base, k: 0, out: small }), /out has 4 words, 258/);
  assert.throws(() => selectKth(batch, { ...base, rows: 4, k: 0 }), /ends at element 16/);
  assert.throws(() => selectKth(batch, { ...base, k: 0, mode: "wanda" }), /needs a per-column/);
  assert.throws(() => selectKth(batch, { ...base, cols: 5, ld: 4, k: 0 }), /ld must be .* got 4/);
  assert.equal(batch.length, 0);
  gpu.free(tw, out, small);
});

// A 16 KiB binding limit (4032 elements per window) splits these regions into row blocks.
const SPLIT_LIMIT = 16384;

Deno.test("selectKth over a region larger than the binding limit adds up the row blocks' histograms", async () => {
  const gpu = await getGpu();
  const R = 260, C = 310;
  const rows = 257, cols = 300, offset = 2 * C + 5; // a strided sub-region
  for (const mode of ["magnitude", "wanda"] as ScoreMode[]) {
    const w = mode === "magnitude" ? distinctWeights(R * C, 31) : exactWeights(R * C, 31);
    const vec = exactColVec(cols + 5, 7);
    const tw = gpu.upload(w, [R, C], "w");
    const tv = gpu.upload(vec, [cols + 5], "vec");
    const region = { w: tw, rows, cols, ld: C, offset, mode, colVec: tv, colVecOffset: 5 };
    const scores = scoresRef(w, rows, cols, mode, vec, C, offset, 5);
    const ks = [0, Math.floor(rows * cols * 0.6), rows * cols - 1];
    const out = gpu.alloc([selectOutSize(1)], "sel", "u32");
    const outRows = gpu.alloc([selectOutSize(rows, true)], "sel-rows", "u32");
    for (const k of ks) {
      await withBindingLimit(gpu, SPLIT_LIMIT, async () => {
        const batch = gpu.batch("select-split");
        selectKth(batch, { ...region, k, out });
        batch.submit();
        assert.deepEqual(pairs(await gpu.readU32(out))[0], kthRef(scores, k), `${mode} k=${k}`);
      });
    }
    const kr = Math.floor(cols * 0.3);
    await withBindingLimit(gpu, SPLIT_LIMIT, () => {
      const batch = gpu.batch("select-rows-split");
      selectKth(batch, { ...region, k: kr, out: outRows, perRow: true });
      batch.submit();
    });
    const got = pairs(await gpu.readU32(outRows));
    for (let r = 0; r < rows; r++) {
      const want = kthRef(scores.subarray(r * cols, (r + 1) * cols), kr);
      assert.deepEqual(got[r], want, `${mode} row ${r}`);
    }
    gpu.free(tw, tv, out, outRows);
  }
});

Deno.test("segmentPrune past the binding limit: per row, and one segment selected over row blocks", async () => {
  const gpu = await getGpu();
  const rows = 257, cols = 300, n = rows * cols;
  for (const ties of [false, true]) {
    const w = ties ? exactWeights(n, 5) : distinctWeights(n, 5);
    if (ties) { for (let i = 0; i < n; i += 2) w[i] = 0.25; // many equal scores
     }
    const scores = scoresRef(w, rows, cols);
    const k = Math.floor(n * 0.4), kr = Math.floor(cols * 0.4);
    const cases = [
      // one segment, threshold rule: every score <= the k-th smallest
      { perRow: false, rule: "threshold", k, want: thresholdMaskRef(scores, (k + 0.5) / n) },
      // one segment, exact rule: the k + 1 smallest, ties to the lower row-major index
      { perRow: false, rule: "exact", k, want: rowMaskRef(scores, 1, n, (k + 1.5) / n) },
      {
        perRow: true,
        rule: "exact",
        k: kr,
        want: rowMaskRef(scores, rows, cols, (kr + 1.5) / cols),
      },
      { perRow: true, rule: "threshold", k: kr, want: undefined },
    ] as const;
    for (const c of cases) {
      const run = async () => {
        const tw = gpu.upload(w, [rows, cols], "w");
        const batch = gpu.batch("segment-split");
        segmentPrune(batch, { w: tw, rows, cols, k: c.k, perRow: c.perRow, rule: c.rule });
        batch.submit();
        const got = await gpu.read(tw);
        gpu.free(tw);
        return got;
      };
      const what = `ties ${ties}, perRow ${c.perRow}, ${c.rule}`;
      const split = await withBindingLimit(gpu, SPLIT_LIMIT, run);
      assert.equal(firstDifference(split, await run()), -1, `${what}: split differs from unsplit`);
      if (c.want) assert.equal(firstDifference(zeroMask(split), c.want), -1, what);
      else {
        // per-row threshold: each row's scores <= its k-th smallest
        for (let r = 0; r < rows; r++) {
          const row = scores.subarray(r * cols, (r + 1) * cols);
          const thr = kthRef(row, kr).value;
          for (let j = 0; j < cols; j++) {
            assert.equal(split[r * cols + j] === 0, row[j] <= thr, `${what} (${r}, ${j})`);
          }
        }
      }
    }
  }
});
