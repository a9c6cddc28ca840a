// pruneCheckpoint on the tiny OPT fixtures (f32 and bf16): the written checkpoint has the same
// tensors, dtypes and shapes; untouched tensors are byte-identical; pruned matrices obey the
// method's sparsity contract; report.json / report.svg are sound; non-weight files are copied.

import assert from "node:assert/strict";
import { join } from "node:path";
import { CheckpointReader, pruneCheckpoint, type PruneReport } from "../../io.ts";
import { type PruneOptionsInput, resolvePruneOptions } from "../../src/prune/options.ts";
import type { ProgressEvent } from "../../src/prune/report.ts";
import { byTag, parseXml, textOf } from "./report/_xml_check.ts";
import {
  hashTree,
  OPT_TINY,
  OPT_TINY_BF16,
  outputLeftovers,
  ROOT,
  sha256,
  TRAIN_TXT,
  withTempDir,
} from "../_cli_helpers.ts";

const TINY = { nsamples: 4, seqlen: 64 } as const;
const LAYERS = 2;
const PRUNABLE = /^model\.decoder\.layers\.(\d+)\.(self_attn\.(q|k|v|out)_proj|fc1|fc2)\.weight$/;

/** A pruned matrix read back: input and output values, shape. */
interface Pruned {
  name: string;
  rows: number;
  cols: number;
  before: Float32Array;
  after: Float32Array;
}

interface Result {
  report: PruneReport;
  out: string;
  /** Pruned matrices (those in the selected layers), by name. */
  pruned: Map<string, Pruned>;
}

/**
 * Prunes `model` into a temporary folder, checks everything every method must satisfy, and
 * hands the decoded pruned matrices to `check`.
 */
async function pruneAndCheck(
  model: string,
  input: PruneOptionsInput,
  check: (r: Result) => void | Promise<void>,
  { calib = TRAIN_TXT, layers = [0, LAYERS - 1] }: { calib?: string | null; layers?: number[] } =
    {},
): Promise<void> {
  const modelDir = join(ROOT, model);
  const inputHashes = await hashTree(modelDir);
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    const events: ProgressEvent[] = [];
    const report = await pruneCheckpoint({
      model: modelDir,
      out,
      calib: calib === null ? undefined : join(ROOT, calib),
      options: resolvePruneOptions({ ...TINY, ...input }),
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(await outputLeftovers(out), ["out"], "only the committed folder remains");
    assert.ok(events.some((e) => e.phase === "prune"), "prune progress was reported");

    const src = await CheckpointReader.open(modelDir);
    const dst = await CheckpointReader.open(out);
    const pruned = new Map<string, Pruned>();
    try {
      assert.deepEqual(dst.names(), src.names(), "same tensors in the same order");
      assert.deepEqual(dst.files(), src.files().concat(["report.json", "report.svg"]).sort());
      for (const name of src.names()) {
        const a = src.info(name), b = dst.info(name);
        assert.equal(b.dtype, a.dtype, `${name} dtype`);
        assert.deepEqual(b.shape, a.shape, `${name} shape`);
        const m = PRUNABLE.exec(name);
        if (m && layers.includes(Number(m[1]))) {
          const [rows, cols] = a.shape;
          const p = {
            name,
            rows,
            cols,
            before: await src.readF32(name),
            after: await dst.readF32(name),
          };
          for (let i = 0; i < p.after.length; i++) {
            assert.ok(Number.isFinite(p.after[i]), `${name}[${i}] = ${p.after[i]}`);
          }
          pruned.set(name, p);
        } else {
          const ra = await src.readRaw(name), rb = await dst.readRaw(name);
          assert.ok(
            ra.length === rb.length && ra.every((x, i) => x === rb[i]),
            `${name} must be byte-identical to the input`,
          );
        }
      }
    } finally {
      src.close();
      dst.close();
    }
    assert.equal(pruned.size, 6 * layers.length, "six prunable matrices per selected layer");

    // Non-weight files are byte-identical copies.
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) {
      assert.equal(
        await sha256(await Deno.readFile(join(out, f))),
        await sha256(await Deno.readFile(join(modelDir, f))),
        `${f} copied byte-identical`,
      );
    }

    // report.json: the returned report, JSON-safe, consistent with the written weights.
    const text = await Deno.readTextFile(join(out, "report.json"));
    assert.ok(!/\bNaN\b|Infinity/.test(text), "report.json is plain JSON");
    const json = JSON.parse(text);
    assert.equal(json.summary.method, input.method);
    assert.equal(json.summary.out, out);
    assert.deepEqual(json.summary.layers_pruned, layers);
    assert.equal(json.layers.length, LAYERS);
    let zeros = 0, total = 0;
    for (const [i, l] of json.layers.entries()) {
      assert.equal(l.layer, i);
      assert.equal(l.pruned, layers.includes(i));
      if (!l.pruned) {
        assert.deepEqual(l.matrices, []);
        continue;
      }
      assert.equal(l.matrices.length, 6, `layer ${i} matrices`);
      for (const m of l.matrices) {
        const p = pruned.get(m.name);
        assert.ok(p, `report names a pruned tensor: ${m.name}`);
        assert.equal(m.rows, p.rows);
        assert.equal(m.cols, p.cols);
        const z = p.after.filter((x) => x === 0).length;
        assert.equal(m.sparsity, z / p.after.length, `${m.name} reported sparsity`);
        zeros += z;
        total += p.after.length;
        if (calib === null) {
          assert.equal(m.relError, null, `${m.name}: no calibration, no error figure`);
        } else {
          assert.equal(typeof m.relError, "number", m.name);
          assert.ok(m.relError >= 0 && m.relError < 1, `${m.name} relError ${m.relError}`);
        }
      }
    }
    assert.ok(Math.abs(json.summary.sparsity - zeros / total) < 1e-12, "summary sparsity");
    assert.deepEqual(json.summary, report.summary);

    // report.svg: well-formed, one category per pruned layer.
    const svg = parseXml(await Deno.readTextFile(join(out, "report.svg")));
    assert.equal(svg.name, "svg");
    const labels = byTag(svg, "text").map(textOf);
    for (const l of layers) assert.ok(labels.includes(`layer ${l}`), `svg labels ${labels}`);

    await check({ report, out, pruned });
  });
  assert.deepEqual(await hashTree(modelDir), inputHashes, "the input folder is unchanged");
}

function zerosIn(a: Float32Array): number {
  let z = 0;
  for (const x of a) if (x === 0) z++;
  return z;
}

/** SparseGPT's comparison group is rows × blocksize: at least floor(numel·s) zeros in each. */
function assertBlockSparsity(p: Pruned, s: number, blocksize = 128): void {
  for (let c0 = 0; c0 < p.cols; c0 += blocksize) {
    const c1 = Math.min(p.cols, c0 + blocksize);
    let z = 0;
    for (let r = 0; r < p.rows; r++) {
      for (let c = c0; c < c1; c++) if (p.after[r * p.cols + c] === 0) z++;
    }
    const want = Math.floor(p.rows * (c1 - c0) * s);
    assert.ok(z >= want, `${p.name} columns ${c0}..${c1}: ${z} zeros < ${want}`);
  }
}

/**
 * Exactly n zeros in every group of m consecutive inputs of every row. With `deadInputs`, an
 * input column that is zero in every row (SparseGPT zeroes the columns of inputs that are
 * never active, as the reference does: `W[:, diag(H) == 0] = 0`) counts towards the n, and a
 * group with more than n such columns has exactly that many zeros.
 */
function assertNM(p: Pruned, n: number, m: number, deadInputs = false): void {
  assert.equal(p.cols % m, 0);
  const dead = new Uint8Array(p.cols);
  if (deadInputs) {
    for (let c = 0; c < p.cols; c++) {
      let all = true;
      for (let r = 0; r < p.rows && all; r++) all = p.after[r * p.cols + c] === 0;
      dead[c] = all ? 1 : 0;
    }
  }
  for (let r = 0; r < p.rows; r++) {
    for (let g = 0; g < p.cols; g += m) {
      let z = 0, d = 0;
      for (let c = g; c < g + m; c++) {
        if (p.after[r * p.cols + c] === 0) z++;
        d += dead[c];
      }
      assert.equal(z, Math.max(n, d), `${p.name} row ${r} columns ${g}..${g + m - 1}: ${z} zeros`);
    }
  }
}

/** Methods without weight updates only zero entries: every kept value is the input's. */
function assertOnlyZeroed(p: Pruned): void {
  for (let i = 0; i < p.after.length; i++) {
    if (p.after[i] !== 0 && p.after[i] !== p.before[i]) {
      assert.fail(`${p.name}[${i}] changed from ${p.before[i]} to ${p.after[i]}`);
    }
  }
}

/** The fixtures' trained weights have no exact zeros, so counts below are the pruner's. */
function assertDense(p: Pruned): void {
  assert.equal(zerosIn(p.before), 0, `${p.name} input has exact zeros`);
}

Deno.test("pruneCheckpoint sparsegpt 0.5 on opt-tiny: ≥ half zeros in every 128-column block", async () => {
  await pruneAndCheck(OPT_TINY, { method: "sparsegpt", sparsity: 0.5 }, ({ pruned, report }) => {
    let changed = 0;
    for (const p of pruned.values()) {
      assertDense(p);
      assertBlockSparsity(p, 0.5);
      // SparseGPT updates the kept weights to compensate.
      for (let i = 0; i < p.after.length; i++) {
        if (p.after[i] !== 0 && p.after[i] !== p.before[i]) changed++;
      }
    }
    assert.ok(changed > 0, "SparseGPT updated some kept weights");
    for (const l of report.layers) {
      for (const m of l.matrices) assert.equal(m.damping, 0.01, `${m.name} damping`);
    }
    assert.equal(report.summary.pattern, "unstructured");
    assert.equal(report.summary.nsamples, 4);
    assert.equal(report.options.seqlen, 64);
  });
});

Deno.test("pruneCheckpoint sparsegpt 0.5 on opt-tiny-bf16: output stays BF16", async () => {
  await pruneAndCheck(
    OPT_TINY_BF16,
    { method: "sparsegpt", sparsity: 0.5 },
    async ({ out, pruned }) => {
      for (const p of pruned.values()) {
        assertDense(p);
        assertBlockSparsity(p, 0.5);
      }
      const r = await CheckpointReader.open(out);
      try {
        for (const n of r.names()) assert.equal(r.info(n).dtype, "BF16", n);
      } finally {
        r.close();
      }
    },
  );
});

Deno.test("pruneCheckpoint magnitude 0.5 without calibration: ≥ floor(numel·s) per matrix", async () => {
  await pruneAndCheck(OPT_TINY, { method: "magnitude", sparsity: 0.5 }, ({ pruned, report }) => {
    for (const p of pruned.values()) {
      assertDense(p);
      assert.ok(zerosIn(p.after) >= Math.floor(p.after.length * 0.5), p.name);
      assertOnlyZeroed(p);
      // The zeroed entries are the smallest |W| of the matrix.
      let maxZeroed = 0, minKept = Infinity;
      for (let i = 0; i < p.after.length; i++) {
        const a = Math.abs(p.before[i]);
        if (p.after[i] === 0) maxZeroed = Math.max(maxZeroed, a);
        else minKept = Math.min(minKept, a);
      }
      assert.ok(maxZeroed <= minKept, `${p.name}: zeroed ${maxZeroed} > kept ${minKept}`);
    }
    assert.equal(report.summary.nsamples, 0);
  }, { calib: null });
});

Deno.test("pruneCheckpoint wanda 0.5: exactly floor(cols·s) zeros in every row", async () => {
  await pruneAndCheck(OPT_TINY, { method: "wanda", sparsity: 0.5 }, ({ pruned }) => {
    for (const p of pruned.values()) {
      assertDense(p);
      assertOnlyZeroed(p);
      const want = Math.floor(p.cols * 0.5);
      for (let r = 0; r < p.rows; r++) {
        const z = zerosIn(p.after.subarray(r * p.cols, (r + 1) * p.cols));
        assert.equal(z, want, `${p.name} row ${r}`);
      }
    }
  });
});

for (const method of ["sparsegpt", "wanda", "magnitude", "sparsellm"] as const) {
  Deno.test(`pruneCheckpoint ${method} 2:4: exactly 2 zeros in every 4 inputs of every row`, async () => {
    await pruneAndCheck(
      OPT_TINY,
      { method, pattern: "2:4", ...(method === "sparsellm" ? { iters: 1 } : {}) },
      ({ pruned, report }) => {
        assert.equal(report.summary.pattern, "2:4");
        assert.equal(report.summary.target_sparsity, 0.5);
        const onlyZeroes = method === "wanda" || method === "magnitude";
        if (onlyZeroes) assert.equal(report.summary.sparsity, 0.5);
        else assert.ok(report.summary.sparsity >= 0.5, `${report.summary.sparsity}`);
        for (const p of pruned.values()) {
          assertDense(p);
          // Only fc2 (after the ReLU) can have inputs that are never active.
          assertNM(p, 2, 4, !onlyZeroes && p.name.endsWith(".fc2.weight"));
          if (onlyZeroes) assertOnlyZeroed(p);
        }
      },
      method === "magnitude" ? { calib: null } : {},
    );
  });
}

Deno.test("pruneCheckpoint --layers 1-1: layer 0 byte-identical, layer 1 pruned", async () => {
  await pruneAndCheck(
    OPT_TINY,
    { method: "sparsegpt", sparsity: 0.5, layers: [1, 1] },
    ({ pruned, report }) => {
      // (byte-identity of every layer-0 tensor is checked by pruneAndCheck)
      assert.ok([...pruned.keys()].every((n) => n.includes(".layers.1.")));
      for (const p of pruned.values()) assertBlockSparsity(p, 0.5);
      assert.equal(report.layers[0].pruned, false);
      assert.equal(report.layers[1].pruned, true);
    },
    { layers: [1] },
  );
});

Deno.test("pruneCheckpoint sparsellm 0.5: FFN iterates start at SparseGPT and never end worse", async () => {
  await pruneAndCheck(
    OPT_TINY,
    { method: "sparsellm", sparsity: 0.5, iters: 2, solver: "sparsegpt" },
    ({ pruned, report, out }) => {
      for (const p of pruned.values()) assertBlockSparsity(p, 0.5);
      for (const l of report.layers) {
        const ffn = l.ffn;
        assert.ok(ffn, `layer ${l.layer} has an ffn report`);
        assert.ok(ffn.iterates.length >= 1 && ffn.iterates.length <= 3, "iterates ≤ iters + 1");
        assert.equal(ffn.iterates[0].iter, 0);
        ffn.iterates.forEach((it, i) => assert.equal(it.iter, i));
        assert.equal(ffn.sparsegptError, ffn.iterates[0].outputError);
        assert.ok(ffn.kept >= 0 && ffn.kept < ffn.iterates.length);
        assert.equal(ffn.finalError, ffn.iterates[ffn.kept].outputError);
        assert.ok(
          ffn.finalError <= ffn.sparsegptError,
          `layer ${l.layer}: final ${ffn.finalError} > SparseGPT ${ffn.sparsegptError}`,
        );
        for (const it of ffn.iterates) {
          assert.ok(Number.isFinite(it.outputError) && it.outputError >= 0, `${it.outputError}`);
          assert.ok(it.outputError >= ffn.finalError, "the kept iterate is the best one");
        }
      }
      return (async () => {
        const json = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
        for (const l of json.layers) {
          assert.equal(l.ffn.iterates[0].iter, 0);
          assert.ok(l.ffn.finalError <= l.ffn.sparsegptError);
        }
      })();
    },
  );
});

Deno.test("pruneCheckpoint with force replaces a non-empty folder and leaves no backup", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    await Deno.mkdir(out);
    await Deno.writeTextFile(join(out, "old.txt"), "old\n");
    const options = resolvePruneOptions({ method: "magnitude", sparsity: 0.3 });
    await assert.rejects(
      pruneCheckpoint({ model: join(ROOT, OPT_TINY), out, options }),
      /not empty/,
    );
    assert.equal(await Deno.readTextFile(join(out, "old.txt")), "old\n");
    await pruneCheckpoint({ model: join(ROOT, OPT_TINY), out, options, force: true });
    assert.deepEqual(await outputLeftovers(out), ["out"]);
    await assert.rejects(Deno.stat(join(out, "old.txt")), Deno.errors.NotFound);
    await Deno.stat(join(out, "model.safetensors"));
  });
});

Deno.test("pruneCheckpoint with an aborted signal rejects and leaves nothing behind", async () => {
  await withTempDir(async (tmp) => {
    const out = join(tmp, "out");
    const ac = new AbortController();
    ac.abort(new Error("stop here"));
    await assert.rejects(
      pruneCheckpoint({
        model: join(ROOT, OPT_TINY),
        out,
        calib: join(ROOT, TRAIN_TXT),
        options: resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5, ...TINY }),
        signal: ac.signal,
      }),
      /stop here/,
    );
    assert.deepEqual(await outputLeftovers(out), []);
  });
});
