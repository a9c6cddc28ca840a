/**
 * `deno task bench`: kernel benchmarks (matmul, Hessian, Cholesky/inverse), forward-pass speed,
 * and end-to-end pruning of the bundled models per method. Prints markdown and writes it to
 * `bench/last_run.md` with the machine, adapter and command; `BENCHMARKS.md` quotes these runs.
 *
 * ```sh
 * deno task bench                      # everything at the default (quick) sizes
 * deno task bench --only kernels       # kernels only; --only prune / forward likewise
 * deno task bench --full               # matmul up to 4096, full test split for the forward pass
 * deno task bench --only kernels --repeats 5   # kernels: best and median of 5 runs (default 3)
 * deno task bench --only prune --models opt-small --methods sparsegpt,sparsellm \
 *   --settings 0.7,0.8,0.9,3:4 --nsamples 64 --max-windows 32 [--layers 0-1] [--reports DIR]
 * ```
 *
 * `--reports DIR` keeps every run's `report.json` as `DIR/<model>-<method>-<setting>.json`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { getGpu } from "../src/gpu/device.ts";
import { matmul } from "../src/kernels/matmul.ts";
import { parseLayerRange, resolvePruneOptions } from "../src/prune/options.ts";
import { pruneCheckpoint } from "../src/app/prune_checkpoint.ts";
import { formatMarkdownTable } from "../src/app/report/table.ts";
import { runLinalgBench } from "./linalg_bench.ts";
import { runForwardBench } from "./forward_bench.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    full: { type: "boolean" },
    methods: { type: "string" },
    models: { type: "string" },
    settings: { type: "string" },
    nsamples: { type: "string" },
    "max-windows": { type: "string" },
    layers: { type: "string" },
    reports: { type: "string" },
    repeats: { type: "string" },
  },
}).values;

const repeats = Number(args.repeats ?? 3);
if (!Number.isInteger(repeats) || repeats < 1) {
  console.error(`Invalid --repeats ${args.repeats}: expected a positive integer`);
  Deno.exit(2);
}
const gpu = await getGpu();
const out: string[] = [];
const log = (s: string) => {
  console.log(s);
  out.push(s);
};
const want = (part: string) => !args.only || args.only.split(",").includes(part);

log(`# sparsellm benchmark run`);
log("");
log(`- date: ${new Date().toISOString()}`);
log(`- command: deno task bench ${Deno.args.join(" ")}`);
log(`- adapter: ${gpu.info.description} (fallback: ${gpu.info.isFallbackAdapter})`);
log(`- cpu cores: ${navigator.hardwareConcurrency}; deno ${Deno.version.deno}`);
log("");

/** Times one matmul n³ (submit → onSubmittedWorkDone), upload and readback separately. */
async function benchMatmul(n: number): Promise<string[]> {
  const data = new Float32Array(n * n).map(() => Math.random() - 0.5);
  let t = performance.now();
  const a = gpu.upload(data, [n, n], "bench/a"), b = gpu.upload(data, [n, n], "bench/b");
  await gpu.sync();
  const upload = performance.now() - t;
  const c = gpu.alloc([n, n], "bench/c");
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    t = performance.now();
    const batch = gpu.batch("bench/matmul");
    matmul(batch, { a, b, c, M: n, N: n, K: n });
    batch.submit();
    await gpu.sync();
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  const best = times[0], median = times[times.length >> 1];
  t = performance.now();
  await gpu.read(c);
  const readback = performance.now() - t;
  gpu.free(a, b, c);
  return [
    `${n}`,
    (best / 1000).toFixed(3),
    ((2 * n ** 3) / best / 1e6).toFixed(2),
    ((2 * n ** 3) / median / 1e6).toFixed(2),
    upload.toFixed(0),
    readback.toFixed(0),
  ];
}

if (want("kernels")) {
  log("## Kernels");
  log("");
  const rows: string[][] = [];
  for (const n of args.full ? [512, 1024, 2048, 4096] : [512, 1024, 2048]) {
    rows.push(await benchMatmul(n));
  }
  log(`Best and median of ${repeats} runs each (\`--repeats\`).`);
  log("");
  log(
    formatMarkdownTable(
      ["matmul n", "best s", "GFLOP/s", "median GFLOP/s", "upload ms", "readback ms"],
      rows,
    ),
  );
  log("");
  const lin = await runLinalgBench({
    sizes: args.full ? [512, 1024, 2048, 4096] : [512, 1024, 2048],
    hessianSizes: args.full ? [256, 512, 1024, 2048, 4096] : [256, 512, 1024, 2048],
    repeats,
  });
  log(
    formatMarkdownTable(
      [
        "kernel",
        "n",
        "best ms",
        "GFLOP/s",
        "median ms",
        "median GFLOP/s",
        "upload ms",
        "readback ms",
      ],
      lin.map((r) => [
        r.name,
        r.n,
        r.ms.toFixed(0),
        r.gflops.toFixed(2),
        r.medianMs.toFixed(0),
        r.medianGflops.toFixed(2),
        r.uploadMs.toFixed(0),
        r.readbackMs.toFixed(0),
      ]),
    ),
  );
  log("");
}

if (want("forward")) {
  log("## Forward pass (KJV test split, seqlen 256)");
  log("");
  const maxWindows = args.full ? undefined : Number(args["max-windows"] ?? 64);
  const rows = await runForwardBench({
    models: ["opt-small", "llama-small"],
    ...(maxWindows ? { maxWindows } : {}),
  });
  log(
    formatMarkdownTable(
      ["model", "windows", "perplexity", "PyTorch (full split)", "seconds", "tokens/s"],
      rows.map((r) => [
        r.model,
        r.windows,
        r.perplexity.toFixed(4),
        r.reference.toFixed(4),
        r.seconds.toFixed(1),
        r.tokensPerSecond.toFixed(0),
      ]),
    ),
  );
  log("");
}

if (want("prune")) {
  const models = (args.models ?? "opt-small,llama-small").split(",");
  const methods = (args.methods ?? "magnitude,wanda,sparsegpt,sparsellm").split(",");
  const settings = (args.settings ?? "0.5").split(",");
  const nsamples = Number(args.nsamples ?? 64);
  const maxWindows = Number(args["max-windows"] ?? 64);
  log(
    `## End-to-end pruning (calibration ${nsamples} × 256 tokens of kjv/train.txt, seed 0; ` +
      `perplexity on the first ${maxWindows} windows of kjv/test.txt at seqlen 256` +
      (args.layers ? `; layers ${args.layers} pruned)` : "; all layers pruned)"),
  );
  log("");
  const rows: (string | number)[][] = [];
  const tmp = await Deno.makeTempDir({ prefix: "sparsellm-bench-" });
  try {
    for (const model of models) {
      let dense: number | undefined;
      for (const setting of settings) {
        for (const method of methods) {
          const options = resolvePruneOptions({
            method: method as "magnitude",
            nsamples,
            seqlen: 256,
            ...(setting.includes(":") ? { pattern: setting } : { sparsity: Number(setting) }),
            ...(args.layers ? { layers: parseLayerRange(args.layers) } : {}),
          });
          const r = await pruneCheckpoint({
            model: `testdata/models/${model}`,
            out: `${tmp}/${model}-${method}-${setting.replace(":", "of")}`,
            calib: "testdata/kjv/train.txt",
            evalText: "testdata/kjv/test.txt",
            maxWindows,
            options,
            gpu,
            ...(dense !== undefined ? { densePerplexity: dense } : {}),
          });
          dense = r.summary.dense_perplexity;
          if (args.reports) {
            await Deno.mkdir(args.reports, { recursive: true });
            const name = `${model}-${method}-${setting.replace(":", "of")}` +
              (args.layers ? `-layers${args.layers}` : "");
            await Deno.writeTextFile(`${args.reports}/${name}.json`, JSON.stringify(r, null, 1));
          }
          const row = [
            model,
            setting,
            method,
            r.summary.dense_perplexity!.toFixed(3),
            r.summary.pruned_perplexity!.toFixed(3),
            (100 * r.summary.sparsity).toFixed(2) + "%",
            r.summary.prune_seconds.toFixed(1),
          ];
          rows.push(row);
          console.error(row.join(" | "));
        }
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  log(
    formatMarkdownTable(
      ["model", "setting", "method", "dense ppl", "pruned ppl", "sparsity", "prune s"],
      rows,
    ),
  );
  log("");
}

await Deno.writeTextFile(
  new URL("./last_run.md", import.meta.url),
  out.join("\n").trimEnd() + "\n",
);
