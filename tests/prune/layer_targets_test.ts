// Non-uniform layer sparsity: an explicit per-layer list is honoured by every method, and OWL's
// per-layer targets match owlSparsities(layerOutlierRatio(...)) computed here from the dense
// weights and column norms of a float64 forward pass of the calibration windows.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  METHOD_NAMES,
  type MethodName,
  type PruneOptionsInput,
  sampleCalibration,
  SparseLLMPruner,
  TextTokenizer,
} from "../../mod.ts";
import { CheckpointReader } from "../../io.ts";
import { architectureForSource } from "../../src/models/families.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import type { Architecture } from "../../src/models/arch.ts";
import type { WeightSource } from "../../src/models/weights.ts";
import { layerOutlierRatio, type OwlMatrix, owlSparsities } from "../../src/prune/owl.ts";
import { getGpu } from "../../src/gpu/device.ts";
import { resolvePruneOptions } from "../../src/prune/options.ts";
import { prunePipeline } from "../../src/prune/pipeline.ts";
import type { PrunedTensors } from "../../src/prune/report.ts";
import { decoderLayerRef, readRefLayer } from "../reference/model_ref.ts";
import { ROOT, TRAIN_TXT } from "../_cli_helpers.ts";
import { withTiny } from "./_tiny.ts";

/** Fraction of exact zeros of each decoder layer's prunable matrices in the pruned tensors. */
function layerZeros(arch: Architecture, tensors: Map<string, Float32Array>): number[] {
  return Array.from({ length: arch.numLayers }, (_, l) => {
    let z = 0, n = 0;
    for (const spec of arch.linears) {
      const t = tensors.get(spec.weight.replace("{i}", String(l)))!;
      for (const v of t) if (v === 0) z++;
      n += t.length;
    }
    return z / n;
  });
}

Deno.test("layerSparsities: every method prunes each layer to its own value", async () => {
  await withTiny(async (input) => {
    const arch = architectureForSource(
      parseModelConfig(input.config as Record<string, unknown>, "config.json"),
      input.source,
    );
    const list = [0.3, 0.75];
    for (const method of METHOD_NAMES as readonly MethodName[]) {
      const opts: PruneOptionsInput = { method, layerSparsities: list, seqlen: 64, nsamples: 4 };
      const pruner = new SparseLLMPruner(opts);
      // The nominal target is the mean of the list.
      assert.deepEqual(pruner.options.pattern, {
        kind: "unstructured",
        sparsity: (0.3 + 0.75) / 2,
      });
      const r = await pruner.prune(input);
      assert.deepEqual(r.layers.map((l) => l.targetSparsity), list, method);
      const got = layerZeros(arch, r.tensors);
      for (const [l, s] of list.entries()) {
        for (const spec of arch.linears) {
          const m = r.layers[l].matrices.find((x) => x.role === spec.role)!;
          // Within one weight per row of the target (methods round per row or per matrix).
          assert.ok(
            Math.abs(m.sparsity - s) <= 1 / m.cols + 1e-12,
            `${method} layer ${l} ${spec.role}: ${m.sparsity} for target ${s}`,
          );
        }
        assert.ok(Math.abs(got[l] - s) < 0.01, `${method} layer ${l}: ${got[l]} for ${s}`);
      }
      if (method === "wanda") {
        // Wanda zeroes exactly floor(cols·s) entries of every row.
        for (const [l, s] of list.entries()) {
          for (const spec of arch.linears) {
            const t = r.tensors.get(spec.weight.replace("{i}", String(l)))!;
            const zeros = t.reduce((a, v) => a + (v === 0 ? 1 : 0), 0);
            assert.equal(zeros, spec.rows * Math.floor(spec.cols * s), `layer ${l} ${spec.role}`);
          }
        }
      }
    }
  });
});

/** Mean squared column norms Σ_tokens x_j² / nseq of a [T, cols] activation, in float64. */
function colSq64(x: Float64Array, cols: number, nseq: number): Float64Array {
  const s = new Float64Array(cols);
  for (let i = 0; i < x.length; i++) s[i % cols] += x[i] * x[i];
  return s.map((v) => v / nseq);
}

/** OWL outlier ratios of every layer of the dense model, from a float64 forward pass. */
async function referenceRatios(
  arch: Architecture,
  source: WeightSource,
  windows: Int32Array[],
  seqlen: number,
  m: number,
): Promise<number[]> {
  const nseq = windows.length, T = nseq * seqlen, d = arch.hiddenSize;
  const emb = await source.readF32(arch.embedTokens);
  assert.equal(arch.positions.kind, "learned");
  const pos = arch.positions.kind === "learned"
    ? await source.readF32(arch.positions.tensor)
    : new Float32Array(0);
  const off = arch.positions.kind === "learned" ? arch.positions.offset : 0;
  let h: Float64Array = new Float64Array(T * d);
  windows.forEach((w, s) =>
    w.forEach((id, i) => {
      for (let c = 0; c < d; c++) {
        h[(s * seqlen + i) * d + c] = emb[id * d + c] + pos[(i + off) * d + c];
      }
    })
  );
  const ratios: number[] = [];
  for (let l = 0; l < arch.numLayers; l++) {
    const w = await readRefLayer(arch, source, l);
    const r = decoderLayerRef(arch, w, h, nseq, seqlen);
    const matrices: OwlMatrix[] = arch.linears.map((spec) => ({
      weights: w.linear.get(spec.role)!.w,
      rows: spec.rows,
      cols: spec.cols,
      colSq: colSq64(r.taps[spec.input], spec.cols, nseq),
    }));
    ratios.push(layerOutlierRatio(matrices, m));
    h = r.out;
  }
  return ratios;
}

Deno.test("sparsityProfile owl: targets from the dense model's outlier ratios, mean the target", async () => {
  const dir = join(ROOT, "testdata/models/opt-small");
  const reader = await CheckpointReader.open(dir);
  try {
    const tok = new TextTokenizer(JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json"))));
    const text = (await Deno.readTextFile(join(ROOT, TRAIN_TXT))).slice(0, 20_000);
    const calibration = sampleCalibration(tok.encode(text), 4, 64, 0);
    const input = { source: reader, config: reader.config, calibration };
    const arch = architectureForSource(parseModelConfig(reader.config, "config.json"), reader);
    const count = arch.linears.reduce((a, s) => a + s.rows * s.cols, 0);
    const ref = await referenceRatios(arch, reader, calibration, 64, 5);
    const base = { method: "magnitude", sparsity: 0.7, seqlen: 64, nsamples: 4 } as const;

    const r = await new SparseLLMPruner({ ...base, sparsityProfile: "owl" }).prune(input);
    const ratios = r.layers.map((l) => l.outlierRatio!);
    const targets = r.layers.map((l) => l.targetSparsity!);
    // The ratios the pipeline measured (float32 on the GPU) match the float64 reference to a
    // couple of weights per layer.
    ratios.forEach((x, l) => assert.ok(Math.abs(x - ref[l]) <= 3 / count, `${l}: ${x} ${ref[l]}`));
    assert.ok(new Set(ref).size === ref.length, `distinct reference ratios ${ref}`);
    // The targets are owlSparsities of those ratios: mean 0.7, spread at most 2λ, more outliers
    // pruned less, and close to the targets of the reference ratios.
    assert.deepEqual(targets, owlSparsities(ratios, 0.7, 0.08));
    const want = owlSparsities(ref, 0.7, 0.08);
    targets.forEach((t, l) => assert.ok(Math.abs(t - want[l]) < 1e-3, `${l}: ${t} ${want[l]}`));
    const mean = targets.reduce((a, b) => a + b) / targets.length;
    assert.ok(Math.abs(mean - 0.7) < 1e-12, `mean ${mean}`);
    assert.ok(Math.max(...targets) - Math.min(...targets) <= 0.16 + 1e-12);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        if (ref[i] > ref[j]) assert.ok(targets[i] < targets[j], `layers ${i}, ${j}`);
      }
    }
    // Every layer was pruned to its target.
    layerZeros(arch, r.tensors).forEach((z, l) => assert.ok(Math.abs(z - targets[l]) < 2e-3));

    // With --layers 1-3, the ratios of the pruned layers only; layer 0 stays dense.
    const part = await new SparseLLMPruner({
      ...base,
      sparsityProfile: "owl",
      owlLambda: 0.04,
      layers: [1, 3],
    }).prune(input);
    assert.equal(part.layers[0].pruned, false);
    assert.equal(part.layers[0].targetSparsity, undefined);
    const sub = part.layers.slice(1);
    assert.deepEqual(sub.map((l) => l.outlierRatio), ratios.slice(1));
    assert.deepEqual(sub.map((l) => l.targetSparsity), owlSparsities(ratios.slice(1), 0.7, 0.04));
    assert.equal(part.tensors.has(arch.linears[0].weight.replace("{i}", "0")), false);
  } finally {
    reader.close();
  }
});

Deno.test("sparsityProfile owl: a run resumed at layer 1 gives the same targets and weights", async () => {
  await withTiny(async (input) => {
    const config = parseModelConfig(input.config as Record<string, unknown>, "config.json");
    const options = resolvePruneOptions({
      method: "sparsegpt",
      sparsity: 0.6,
      sparsityProfile: "owl",
      nsamples: 4,
    });
    const args = {
      gpu: await getGpu(),
      config,
      source: input.source,
      calibration: input.calibration,
      seqlen: 64,
      options,
    };
    const full = new Map<number, PrunedTensors>();
    const hidden = new Map<number, Float32Array[]>();
    const a = await prunePipeline({
      ...args,
      onLayer: (l, t) => Promise.resolve(void full.set(l, t)),
      onCheckpoint: (next, h) => Promise.resolve(void hidden.set(next, h)),
    });
    const resumed = new Map<number, PrunedTensors>();
    const b = await prunePipeline({
      ...args,
      startLayer: 1,
      startHidden: hidden.get(1)!,
      onLayer: (l, t) => Promise.resolve(void resumed.set(l, t)),
    });
    assert.deepEqual([...resumed.keys()], [1]);
    assert.equal(b.layers[0].targetSparsity, a.layers[1].targetSparsity);
    assert.equal(b.layers[0].outlierRatio, a.layers[1].outlierRatio);
    assert.notEqual(a.layers[0].targetSparsity, a.layers[1].targetSparsity);
    for (const [name, t] of full.get(1)!) assert.deepEqual(resumed.get(1)!.get(name), t, name);
  });
});
