import assert from "node:assert/strict";
import { type Batch, getGpu } from "../../src/gpu/device.ts";
import type { GpuTensor } from "../../src/gpu/tensor.ts";
import { nmMask, thresholdMask } from "../../src/kernels/mask.ts";
import { type ScoreMode, selectKth, selectOutSize } from "../../src/kernels/select.ts";
import { pruneByThreshold, pruneNM, prunePerRow } from "../../src/prune/mask.ts";
import { countZeros } from "../_zeros.ts";
import { withBindingLimit } from "../_binding_limit.ts";
import {
  distinctWeights,
  exactColVec,
  exactWeights,
  firstDifference,
  nmMaskRef,
  rowMaskRef,
  scoresRef,
  thresholdMaskRef,
  zeroMask,
} from "../reference/mask_ref.ts";

const SHAPES: [number, number][] = [[7, 13], [64, 100], [257, 300], [280, 260]];

function assertMask(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const i = firstDifference(got, want);
  assert.equal(i, -1, `${what}: masks differ first at element ${i}`);
}

Deno.test("pruneByThreshold zeroes |W| <= sorted(|W|)[floor(n·s)], fused and with scratch", async () => {
  const gpu = await getGpu();
  const scratch = gpu.alloc([selectOutSize(1)], "scratch", "u32");
  for (const [rows, cols] of SHAPES) {
    const w = distinctWeights(rows * cols, rows * cols);
    const a = gpu.upload(w, [rows, cols], "a");
    const b = gpu.upload(w, [rows, cols], "b");
    const batch = gpu.batch("threshold");
    pruneByThreshold(batch, a, rows, cols, 0.6);
    pruneByThreshold(batch, b, rows, cols, 0.6, { scratch });
    batch.submit();
    const want = thresholdMaskRef(scoresRef(w, rows, cols), 0.6);
    const ga = await gpu.read(a), gb = await gpu.read(b);
    assertMask(zeroMask(ga), want, `fused ${rows}×${cols}`);
    assertMask(zeroMask(gb), want, `scratch ${rows}×${cols}`);
    // kept weights are untouched; distinct values prune exactly floor(n·s) + 1
    for (let i = 0; i < w.length; i++) if (!want[i]) assert.equal(ga[i], w[i]);
    const zeros = (await countZeros(gpu, a)).total;
    assert.equal(zeros, Math.floor(rows * cols * 0.6) + 1);
    gpu.free(a, b);
  }
  gpu.free(scratch);
});

Deno.test("prunePerRow zeroes exactly floor(cols·s) smallest Wanda scores per row", async () => {
  const gpu = await getGpu();
  for (const [rows, cols] of SHAPES) {
    const w = exactWeights(rows * cols, rows);
    const s = exactColVec(cols, cols);
    const tw = gpu.upload(w, [rows, cols], "w");
    const ts = gpu.upload(s, [cols], "s");
    const batch = gpu.batch("per-row");
    prunePerRow(batch, tw, rows, cols, 0.45, { mode: "wanda", colVec: ts });
    batch.submit();
    const got = await gpu.read(tw);
    assertMask(
      zeroMask(got),
      rowMaskRef(scoresRef(w, rows, cols, "wanda", s), rows, cols, 0.45),
      `${rows}×${cols}`,
    );
    const counts = await countZeros(gpu, tw);
    assert.deepEqual([...counts.counts], new Array(rows).fill(Math.floor(cols * 0.45)));
    gpu.free(tw, ts);
  }
});

Deno.test("pruneNM zeroes N of every M consecutive inputs, for each score mode", async () => {
  const gpu = await getGpu();
  const cases: [number, number, ScoreMode][] = [[2, 4, "magnitude"], [4, 8, "wanda"], [
    1,
    4,
    "wanda",
  ], [
    5,
    16,
    "magnitude",
  ]];
  for (const [n, m, mode] of cases) {
    for (const [rows, cols0] of SHAPES) {
      const cols = cols0 - (cols0 % m) || m;
      const w = mode === "magnitude"
        ? distinctWeights(rows * cols, cols)
        : exactWeights(rows * cols, cols);
      const v = exactColVec(cols, rows);
      const tw = gpu.upload(w, [rows, cols], "w");
      const tv = gpu.upload(v, [cols], "v");
      const batch = gpu.batch("nm");
      pruneNM(batch, tw, rows, cols, n, m, { mode, colVec: mode === "magnitude" ? undefined : tv });
      batch.submit();
      const got = await gpu.read(tw);
      const scores = scoresRef(w, rows, cols, mode, v);
      assertMask(zeroMask(got), nmMaskRef(scores, rows, cols, n, m), `${n}:${m} ${mode}`);
      const counts = await countZeros(gpu, tw, { group: m });
      assert.ok(counts.counts.every((c) => c === n), `${n}:${m}: every group has ${n} zeros`);
      assert.equal(counts.total, (rows * cols * n) / m);
      gpu.free(tw, tv);
    }
  }
});

Deno.test("masks break ties by the lower column; the threshold rule prunes all ties", async () => {
  const gpu = await getGpu();
  // rows of repeated magnitudes (signs vary): stable order decides
  const rows = 3, cols = 8;
  const w = Float32Array.from([
    [1, -1, 1, 1, -1, 1, 1, 1], // all tied
    [2, 1, -2, 1, 3, -1, 2, 3], // ties at 1 and 2
    [-0.5, 0.5, 0.25, -0.25, 0.25, 0.5, 0.25, -0.5],
  ].flat());
  const per = gpu.upload(w, [rows, cols], "per");
  const nm = gpu.upload(w, [rows, cols], "nm");
  const thr = gpu.upload(w, [rows, cols], "thr");
  const batch = gpu.batch("ties");
  prunePerRow(batch, per, rows, cols, 0.5); // 4 per row
  pruneNM(batch, nm, rows, cols, 2, 4);
  pruneByThreshold(batch, thr, rows, cols, 0.25); // thr = sorted[6] = 0.5
  batch.submit();
  const z = (t: Float32Array) => [0, 1, 2].map((r) => [...zeroMask(t.subarray(r * 8, r * 8 + 8))]);
  assert.deepEqual(z(await gpu.read(per)), [
    [1, 1, 1, 1, 0, 0, 0, 0],
    [1, 1, 0, 1, 0, 1, 0, 0],
    [0, 0, 1, 1, 1, 0, 1, 0],
  ]);
  assert.deepEqual(z(await gpu.read(nm)), [
    [1, 1, 0, 0, 1, 1, 0, 0],
    [0, 1, 0, 1, 0, 1, 1, 0],
    [0, 0, 1, 1, 1, 0, 1, 0],
  ]);
  // 8 entries have |w| <= 0.5 although floor(24·0.25) + 1 = 7
  assert.deepEqual(z(await gpu.read(thr)), [
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1],
  ]);
  const ref = scoresRef(w, rows, cols);
  assertMask(zeroMask(await gpu.read(per)), rowMaskRef(ref, rows, cols, 0.5), "per-row ref");
  assertMask(zeroMask(await gpu.read(nm)), nmMaskRef(ref, rows, cols, 2, 4), "nm ref");
  assertMask(zeroMask(await gpu.read(thr)), thresholdMaskRef(ref, 0.25), "threshold ref");
  gpu.free(per, nm, thr);
});

Deno.test("thresholdMask writes a 0/1 mask for a column block of a wider weight without touching W", async () => {
  const gpu = await getGpu();
  const R = 64, C = 100, B = 32, i1 = 40, s = 0.5;
  const w = exactWeights(R * C, 5);
  const d = exactColVec(C, 6);
  const tw = gpu.upload(w, [R, C], "w");
  const td = gpu.upload(d, [C], "d");
  const sel = gpu.alloc([selectOutSize(1)], "sel", "u32");
  const mask = gpu.alloc([R * B + 3], "mask", "u32");
  const region = {
    w: tw,
    rows: R,
    cols: B,
    ld: C,
    offset: i1,
    mode: "wanda" as const,
    colVec: td,
    colVecOffset: i1,
  };
  const batch = gpu.batch("column-block");
  selectKth(batch, { ...region, k: Math.floor(R * B * s), out: sel });
  thresholdMask(batch, { ...region, sel, mask, maskOffset: 3 });
  batch.submit();
  const want = thresholdMaskRef(scoresRef(w, R, B, "wanda", d, C, i1, i1), s);
  const got = await gpu.readU32(mask);
  assertMask(got.subarray(3), want, "block mask");
  assert.deepEqual(await gpu.read(tw), w);
  gpu.free(tw, td, sel, mask);
});

Deno.test("nmMask writes a 0/1 mask for a column group at an offset", async () => {
  const gpu = await getGpu();
  const R = 7, C = 13;
  const w = distinctWeights(R * C, 9);
  const tw = gpu.upload(w, [R, C], "w");
  const mask = gpu.alloc([R * 8], "mask", "u32");
  const batch = gpu.batch("nm-mask");
  nmMask(batch, { w: tw, rows: R, cols: 8, ld: C, offset: 3, n: 2, m: 4, mask });
  batch.submit();
  const want = nmMaskRef(scoresRef(w, R, 8, "magnitude", undefined, C, 3), R, 8, 2, 4);
  assertMask(await gpu.readU32(mask), want, "nm mask");
  assert.deepEqual(await gpu.read(tw), w);
  gpu.free(tw, mask);
});

Deno.test("mask functions reject bad patterns and sparsities, naming the value", async () => {
  const gpu = await getGpu();
  const tw = gpu.upload(new Float32Array(30), [3, 10], "w");
  const batch = gpu.batch("errors");
  assert.throws(
    () => pruneNM(batch, tw, 3, 10, 2, 4),
    /input columns 10 is not a multiple of M = 4/,
  );
  assert.throws(() => pruneNM(batch, tw, 3, 10, 5, 5), /N must be .* got 5/);
  assert.throws(() => pruneNM(batch, tw, 3, 10, 1, 1), /M must be .* got 1/);
  assert.throws(() => pruneByThreshold(batch, tw, 3, 10, 1), /sparsity must be in \[0, 1\), got 1/);
  assert.throws(() => prunePerRow(batch, tw, 3, 10, -0.1), /got -0.1/);
  assert.throws(() => prunePerRow(batch, tw, 3, 10, 0.5, { mode: "wanda" }), /colVec/);
  // sparsity 0 records nothing
  pruneByThreshold(batch, tw, 3, 10, 0);
  prunePerRow(batch, tw, 3, 10, 0.05);
  assert.equal(batch.length, 0);
  gpu.free(tw);
});

// A 16 KiB binding limit (4032 elements per window) splits these weights into row blocks.
const SPLIT_LIMIT = 16384;

Deno.test("masks of weights larger than the binding limit match the reference and the unsplit run", async () => {
  const gpu = await getGpu();
  const rows = 257, cols = 300;
  const w = exactWeights(rows * cols, 41);
  const s = exactColVec(cols, 42);
  const d = exactColVec(cols, 43);
  const ts = gpu.upload(s, [cols], "s");
  const td = gpu.upload(d, [cols], "d");
  const scratch = gpu.alloc([selectOutSize(1)], "scratch", "u32");
  const cases: [string, (b: Batch, t: GpuTensor) => void, Uint8Array][] = [
    [
      "threshold, fused",
      (b, t) => pruneByThreshold(b, t, rows, cols, 0.6),
      thresholdMaskRef(scoresRef(w, rows, cols), 0.6),
    ],
    [
      "threshold with scratch, Wanda scores",
      (b, t) => pruneByThreshold(b, t, rows, cols, 0.3, { mode: "wanda", colVec: td, scratch }),
      thresholdMaskRef(scoresRef(w, rows, cols, "wanda", d), 0.3),
    ],
    [
      "per row, Wanda scores",
      (b, t) => prunePerRow(b, t, rows, cols, 0.45, { mode: "wanda", colVec: ts }),
      rowMaskRef(scoresRef(w, rows, cols, "wanda", s), rows, cols, 0.45),
    ],
    [
      "2:4, Wanda scores",
      (b, t) => pruneNM(b, t, rows, cols, 2, 4, { mode: "wanda", colVec: ts }),
      nmMaskRef(scoresRef(w, rows, cols, "wanda", s), rows, cols, 2, 4),
    ],
    [
      "4:10, magnitude",
      (b, t) => pruneNM(b, t, rows, cols, 4, 10),
      nmMaskRef(scoresRef(w, rows, cols), rows, cols, 4, 10),
    ],
  ];
  for (const [what, prune, want] of cases) {
    const run = async () => {
      const tw = gpu.upload(w, [rows, cols], "w");
      const batch = gpu.batch("mask-split");
      prune(batch, tw);
      batch.submit();
      const got = await gpu.read(tw);
      const counts = await countZeros(gpu, tw, { group: 10 });
      gpu.free(tw);
      return { got, counts };
    };
    const split = await withBindingLimit(gpu, SPLIT_LIMIT, run);
    const whole = await run();
    assertMask(zeroMask(split.got), want, what);
    assert.equal(firstDifference(split.got, whole.got), -1, `${what}: split differs from unsplit`);
    for (let i = 0; i < w.length; i++) if (!want[i]) assert.equal(split.got[i], w[i]);
    // zeros per group of 10 columns, counted with the limit lowered as well
    const wantCounts = new Uint32Array(rows * (cols / 10));
    for (let i = 0; i < want.length; i++) wantCounts[Math.floor(i / 10)] += want[i];
    assert.deepEqual(split.counts.counts, wantCounts, `${what}: zero counts`);
  }
  gpu.free(ts, td, scratch);
});

Deno.test("thresholdMask and nmMask write 0/1 masks larger than the binding limit", async () => {
  const gpu = await getGpu();
  // a column block of a wide weight: 257 rows × 128 columns from column 40, ld 300
  const R = 257, C = 300, B = 128, i1 = 40, s = 0.5;
  const w = exactWeights(R * C, 51);
  const d = exactColVec(C, 52);
  const tw = gpu.upload(w, [R, C], "w");
  const td = gpu.upload(d, [C], "d");
  const region = {
    w: tw,
    rows: R,
    cols: B,
    ld: C,
    offset: i1,
    mode: "wanda" as const,
    colVec: td,
    colVecOffset: i1,
  };
  const sel = gpu.alloc([selectOutSize(1)], "sel", "u32");
  const mask = gpu.alloc([R * B + 3], "mask", "u32");
  const nm = gpu.alloc([R * B + 5], "nm", "u32");
  await withBindingLimit(gpu, SPLIT_LIMIT, () => {
    const batch = gpu.batch("masks-split");
    selectKth(batch, { ...region, k: Math.floor(R * B * s), out: sel });
    thresholdMask(batch, { ...region, sel, mask, maskOffset: 3 });
    nmMask(batch, { ...region, n: 2, m: 4, mask: nm, maskOffset: 5 });
    batch.submit();
  });
  const scores = scoresRef(w, R, B, "wanda", d, C, i1, i1);
  assertMask((await gpu.readU32(mask)).subarray(3), thresholdMaskRef(scores, s), "threshold");
  assertMask((await gpu.readU32(nm)).subarray(5), nmMaskRef(scores, R, B, 2, 4), "2:4");
  assert.deepEqual(await gpu.read(tw), w);
  gpu.free(tw, td, sel, mask, nm);
});
