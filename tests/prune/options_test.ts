// The option table of src/options.ts: the schema derived from it, its messages (library words,
// starting with the option's key), and the resolved types.

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseModelConfig } from "../../src/models/config.ts";
import { OPT_TINY, ROOT } from "../_cli_helpers.ts";
import type { QuantSpec } from "../../src/quant/grid.ts";
import {
  OptionError,
  parseByteSize,
  parseLayerRange,
  PRUNE_OPTIONS,
  type PruneOptions,
  type PruneOptionsInput,
  resolvePruneOptions,
  validateForModel,
} from "../../src/prune/options.ts";
import {
  METHOD_NAMES,
  type MethodName,
  parseNM,
  type SparsityPattern,
} from "../../src/prune/types.ts";

/** Asserts that `f` throws an OptionError for `option` whose message is `message`. */
function throwsOption(f: () => unknown, option: string, message: string | RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof OptionError, String(e));
    assert.ok(e instanceof RangeError);
    assert.equal(e.option, option);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.ok(e.message.startsWith(option), `"${e.message}" starts with ${option}`);
    assert.ok(!/--[a-z]/.test(e.message), `"${e.message}" names no CLI flag`);
    return true;
  });
}

Deno.test("parseByteSize reads gpuMemory sizes and rejects nonsense naming the option", () => {
  assert.equal(parseByteSize("512MiB"), 512 * 2 ** 20);
  assert.equal(parseByteSize("4GiB"), 4 * 2 ** 30);
  assert.equal(parseByteSize("1.5GB"), 1.5e9);
  assert.equal(parseByteSize("2e9"), 2e9);
  assert.equal(parseByteSize(1024), 1024);
  assert.equal(
    resolvePruneOptions({ method: "sparsellm", sparsity: 0.5, gpuMemory: "1KiB" }).gpuMemory,
    1024,
  );
  for (const bad of ["lots", "-1GiB", "12 parsecs", ""]) {
    throwsOption(
      () => parseByteSize(bad),
      "gpuMemory",
      `gpuMemory must be a size such as 512MiB, 4GiB or 2000000000 (got ${JSON.stringify(bad)})`,
    );
  }
  throwsOption(() => parseByteSize("0"), "gpuMemory", 'gpuMemory must be positive (got "0")');
  throwsOption(
    () => resolvePruneOptions({ method: "wanda", sparsity: 0.5, gpuMemory: "lots" }),
    "gpuMemory",
    /^gpuMemory must be a size/,
  );
});

Deno.test("refitDamp must be positive and is passed through", () => {
  assert.equal(
    resolvePruneOptions({ method: "sparsellm", sparsity: 0.7, refitDamp: 0.1 }).refitDamp,
    0.1,
  );
  assert.equal(resolvePruneOptions({ method: "sparsellm", sparsity: 0.7 }).refitDamp, undefined);
  throwsOption(
    () => resolvePruneOptions({ method: "sparsellm", sparsity: 0.7, refitDamp: -1 }),
    "refitDamp",
    "refitDamp must be positive and at most 100 (got -1)",
  );
});

Deno.test("resolvePruneOptions fills in every default of the option table", () => {
  const o = resolvePruneOptions({ method: "sparsellm", sparsity: 0.7 });
  assert.deepEqual(o, {
    method: "sparsellm",
    pattern: { kind: "unstructured", sparsity: 0.7 },
    sparsityProfile: "uniform",
    owlM: 5,
    owlLambda: 0.08,
    nsamples: 128,
    seed: 0,
    blocksize: 128,
    percdamp: 0.01,
    iters: 4,
    alpha: 1,
    beta: 1,
    gamma: 1,
    growth: 2,
    ffnInput: "dense",
    solver: "admm",
    admmIters: 20,
    admmRho: 0.3,
    quantOrder: "after",
  });
  for (const [key, spec] of Object.entries(PRUNE_OPTIONS)) {
    if ("default" in spec) assert.equal((o as Record<string, unknown>)[key], spec.default, key);
  }
  const all = resolvePruneOptions({
    method: "wanda",
    pattern: "2:4",
    nsamples: 8,
    seqlen: 64,
    layers: [1, 2],
    gpuMemory: "2KiB",
    ffnInput: "pruned",
  });
  assert.deepEqual(all.pattern, { kind: "nm", n: 2, m: 4 });
  assert.deepEqual(all.layers, [1, 2]);
  assert.equal(all.seqlen, 64);
  assert.equal(all.gpuMemory, 2048);
  assert.equal(all.ffnInput, "pruned");
  assert.equal("sparsity" in all, false);
});

Deno.test("resolvePruneOptions names the first bad option by its key, with the value", () => {
  const base = { method: "wanda", sparsity: 0.5 } as const;
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { method: "foo", sparsity: 0.5 },
      "method",
      `method must be one of ${METHOD_NAMES.join(", ")} (got "foo")`,
    ],
    [{ sparsity: 0.5 }, "method", `method is required: one of ${METHOD_NAMES.join(", ")}`],
    [{ ...base, sparsity: 1.2 }, "sparsity", "sparsity must be in [0, 1) (got 1.2)"],
    [{ ...base, nsamples: 0 }, "nsamples", "nsamples must be an integer from 1 to 1048576 (got 0)"],
    [{ ...base, seqlen: 2.5 }, "seqlen", "seqlen must be an integer from 1 to 1048576 (got 2.5)"],
    [{ ...base, seed: -1 }, "seed", "seed must be an integer from 0 to 4294967295 (got -1)"],
    [{ ...base, percdamp: -1 }, "percdamp", "percdamp must be a number from 0 to 100 (got -1)"],
    [{ ...base, iters: 1.5 }, "iters", "iters must be an integer from 0 to 1000 (got 1.5)"],
    [{ ...base, alpha: 0 }, "alpha", "alpha must be positive and at most 1000000 (got 0)"],
    [{ ...base, growth: 0.5 }, "growth", "growth must be a number from 1 to 100 (got 0.5)"],
    [{ ...base, ffnInput: "x" }, "ffnInput", 'ffnInput must be one of pruned, dense (got "x")'],
    [
      { ...base, layers: [3, 1] },
      "layers",
      "layers must be [start, end] with integers 0 <= start <= end (got [3,1])",
    ],
    [
      { method: "wanda", pattern: "5:4" },
      "pattern",
      'pattern must be N:M with integers 0 < N < M, e.g. 2:4 (got "5:4")',
    ],
    [{ method: "wanda" }, "sparsity", "sparsity or pattern: give exactly one (e.g. 0.5 or 2:4)"],
    [
      { method: "wanda", pattern: "2:4", blocksize: 130 },
      "blocksize",
      "blocksize 130 must be a multiple of M = 4 for pattern 2:4",
    ],
  ];
  for (const [input, option, message] of cases) {
    throwsOption(() => resolvePruneOptions(input as unknown as PruneOptionsInput), option, message);
  }
  assert.throws(
    () => resolvePruneOptions({ method: "wanda", sparsity: 0.5, pattern: "2:4" }),
    { option: "sparsity", related: ["pattern"] },
  );
});

Deno.test("layer profiles: layerSparsities and sparsityProfile owl, and their errors", async () => {
  const list = resolvePruneOptions({ method: "wanda", layerSparsities: [0.5, 0.6, 0.7, 0.9] });
  assert.deepEqual(list.layerSparsities, [0.5, 0.6, 0.7, 0.9]);
  assert.equal(list.sparsityProfile, "uniform");
  assert.deepEqual(list.pattern, { kind: "unstructured", sparsity: (0.5 + 0.6 + 0.7 + 0.9) / 4 });
  // With layers, the nominal target is the mean over the pruned layers.
  const part = resolvePruneOptions({
    method: "wanda",
    layerSparsities: [0.5, 0.6, 0.7, 0.9],
    layers: [2, 3],
  });
  assert.deepEqual(part.pattern, { kind: "unstructured", sparsity: (0.7 + 0.9) / 2 });
  const owl = resolvePruneOptions({
    method: "sparsellm",
    sparsity: 0.7,
    sparsityProfile: "owl",
    owlM: 7,
    owlLambda: 0.1,
  });
  assert.deepEqual([owl.sparsityProfile, owl.owlM, owl.owlLambda], ["owl", 7, 0.1]);
  const base = { method: "wanda" } as const;
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { ...base, layerSparsities: [0.5, 1, 0.2] },
      "layerSparsities",
      "layerSparsities has 1 for layer 1: every value must be in [0, 1) (got [0.5,1,0.2])",
    ],
    [
      { ...base, layerSparsities: [-0.1] },
      "layerSparsities",
      "layerSparsities has -0.1 for layer 0: every value must be in [0, 1) (got [-0.1])",
    ],
    [
      { ...base, layerSparsities: [] },
      "layerSparsities",
      "layerSparsities must be a non-empty list of numbers in [0, 1) (got [])",
    ],
    [
      { ...base, sparsity: 0.5, layerSparsities: [0.5] },
      "layerSparsities",
      "layerSparsities replaces sparsity and pattern: give only one of them",
    ],
    [
      { ...base, pattern: "2:4", sparsityProfile: "owl" },
      "sparsityProfile",
      "sparsityProfile owl needs an unstructured sparsity, not pattern 2:4 (an N:M pattern " +
      "prunes every layer alike)",
    ],
    [
      { ...base, layerSparsities: [0.5], sparsityProfile: "owl" },
      "sparsityProfile",
      "sparsityProfile owl cannot be combined with layerSparsities, which sets every layer's " +
      "sparsity itself",
    ],
    [
      { ...base, sparsity: 0.5, sparsityProfile: "flat" },
      "sparsityProfile",
      'sparsityProfile must be one of uniform, owl (got "flat")',
    ],
    [
      { ...base, sparsity: 0.5, owlM: 0 },
      "owlM",
      "owlM must be positive and at most 1000000 (got 0)",
    ],
    [
      { ...base, sparsity: 0.5, owlLambda: 0.5 },
      "owlLambda",
      "owlLambda must be in [0, 0.5) (got 0.5)",
    ],
  ];
  for (const [input, option, message] of cases) {
    throwsOption(() => resolvePruneOptions(input as unknown as PruneOptionsInput), option, message);
  }
  // One value per decoder layer of the model.
  const json = JSON.parse(await Deno.readTextFile(join(ROOT, OPT_TINY, "config.json")));
  const config = parseModelConfig(json, "config.json");
  validateForModel(resolvePruneOptions({ ...base, layerSparsities: [0.5, 0.6] }), config, 64);
  throwsOption(
    () =>
      validateForModel(
        resolvePruneOptions({ ...base, layerSparsities: [0.5, 0.6, 0.7] }),
        config,
        64,
      ),
    "layerSparsities",
    "layerSparsities has 3 values (0.5,0.6,0.7), but the model has 2 decoder layers: give one " +
      "value per layer",
  );
});

Deno.test("parseNM and parseLayerRange throw OptionError in library words", () => {
  assert.deepEqual(parseNM("2:4"), { kind: "nm", n: 2, m: 4 });
  for (const bad of ["4:2", "2:2", "0:4", "x", "2:4:8"]) {
    throwsOption(() => parseNM(bad), "pattern", /^pattern must be N:M with integers 0 < N < M/);
  }
  assert.deepEqual(parseLayerRange("0-11"), [0, 11]);
  assert.deepEqual(parseLayerRange(" 3 "), [3, 3]);
  throwsOption(() => parseLayerRange("3-1"), "layers", "layers 3-1 is empty: start 3 > end 1");
  throwsOption(
    () => parseLayerRange("a-b"),
    "layers",
    'layers must be N or A-B, e.g. 0-11 (got "a-b")',
  );
});

Deno.test("every option of the table has a distinct CLI flag, placeholder and help", () => {
  const flags = Object.values(PRUNE_OPTIONS).map((s) => s.flag);
  assert.equal(new Set(flags).size, flags.length);
  for (const [key, s] of Object.entries(PRUNE_OPTIONS)) {
    assert.match(s.flag, /^[a-z][a-z-]*$/, key);
    assert.ok((s.kind === "flag" || s.arg.length > 0) && s.help.length > 0, key);
  }
  assert.deepEqual(PRUNE_OPTIONS.method.values, METHOD_NAMES);
});

// Compile-time: the derived types are exactly these hand-written shapes.
type Flat<T> = { [K in keyof T]: T[K] };
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
const resolvedShape: Equal<Flat<PruneOptions>, {
  method: MethodName;
  pattern: SparsityPattern;
  layerSparsities?: number[];
  sparsityProfile: "uniform" | "owl";
  owlM: number;
  owlLambda: number;
  nsamples: number;
  seqlen?: number;
  seed: number;
  blocksize: number;
  percdamp: number;
  layers?: [number, number];
  iters: number;
  alpha: number;
  beta: number;
  gamma: number;
  growth: number;
  refitDamp?: number;
  ffnInput: "pruned" | "dense";
  solver: "sparsegpt" | "admm";
  admmIters: number;
  admmRho: number;
  wbits?: number;
  groupSize?: number;
  quantOrder: "after" | "joint";
  sym?: boolean;
  quant?: QuantSpec;
  gpuMemory?: number;
}> = true;
const inputShape: Equal<Flat<PruneOptionsInput>, {
  method: MethodName;
  sparsity?: number;
  pattern?: string;
  layerSparsities?: number[];
  sparsityProfile?: "uniform" | "owl";
  owlM?: number;
  owlLambda?: number;
  nsamples?: number;
  seqlen?: number;
  seed?: number;
  blocksize?: number;
  percdamp?: number;
  layers?: [number, number];
  iters?: number;
  alpha?: number;
  beta?: number;
  gamma?: number;
  growth?: number;
  refitDamp?: number;
  ffnInput?: "pruned" | "dense";
  solver?: "sparsegpt" | "admm";
  admmIters?: number;
  admmRho?: number;
  wbits?: number;
  groupSize?: number;
  quantOrder?: "after" | "joint";
  sym?: boolean;
  gpuMemory?: number | string;
}> = true;

Deno.test("PruneOptions and PruneOptionsInput derived from the table keep their shapes", () => {
  assert.equal(resolvedShape && inputShape, true);
});
