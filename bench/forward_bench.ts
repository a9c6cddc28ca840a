/**
 * Forward-pass benchmark: perplexity of the fixture checkpoints on the whole KJV test split
 * (834 windows of 256 byte tokens), compared with PyTorch's `test_ppl_seqlen256` from each
 * model's `reference.json`, and the throughput in tokens per second.
 *
 *     deno run -A bench/forward_bench.ts [--models opt-small,llama-small] [--max-windows N]
 *
 * Weights are read with the I/O layer's `CheckpointReader`; the evaluation is
 * `evaluatePerplexity` with its default chunking (all layers resident for these sizes).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { getGpu } from "../src/gpu/device.ts";
import { CheckpointReader } from "../src/io/checkpoint.ts";
import { evaluatePerplexity } from "../src/eval/perplexity.ts";
import { parseModelConfig } from "../src/models/config.ts";
import { CausalLM } from "../src/models/model.ts";

/** One benchmark row. */
export interface ForwardBenchRow {
  /** Fixture name under testdata/models. */
  model: string;
  /** Windows evaluated. */
  windows: number;
  /** Measured perplexity. */
  perplexity: number;
  /** PyTorch's perplexity on the full split (`test_ppl_seqlen256`). */
  reference: number;
  /** `perplexity / reference - 1` (meaningful on the full split only). */
  relativeError: number;
  /** Wall-clock seconds of the evaluation (model load excluded). */
  seconds: number;
  /** Input tokens per second. */
  tokensPerSecond: number;
}

/** Options of {@linkcode runForwardBench}. */
export interface ForwardBenchOptions {
  /** Fixture names (default: opt-small, llama-small and their -f16 / -bf16 copies). */
  models?: string[];
  /** Evaluate only the first N windows (default: all 834). */
  maxWindows?: number;
  /** Called with each row as it is measured. */
  onRow?: (row: ForwardBenchRow) => void;
  /** Called with progress lines. */
  onProgress?: (line: string) => void;
}

/** Default benchmark models. */
export const FORWARD_BENCH_MODELS: readonly string[] = [
  "opt-small",
  "llama-small",
  "opt-small-f16",
  "opt-small-bf16",
  "llama-small-f16",
  "llama-small-bf16",
];

const ROOT = new URL("../", import.meta.url);

/**
 * Evaluates each model on the KJV test split at seqlen 256.
 *
 * @param opts Models, window limit and callbacks.
 * @returns One row per model.
 */
export async function runForwardBench(opts: ForwardBenchOptions = {}): Promise<ForwardBenchRow[]> {
  const gpu = await getGpu();
  const bytes = await Deno.readFile(new URL("testdata/kjv/test.txt", ROOT));
  const ids = Int32Array.from(bytes);
  const seqlen = 256;
  const windows: Int32Array[] = [];
  for (let i = 0; (i + 1) * seqlen <= ids.length; i++) {
    windows.push(ids.subarray(i * seqlen, (i + 1) * seqlen));
  }
  const use = windows.slice(0, opts.maxWindows ?? windows.length);
  const rows: ForwardBenchRow[] = [];
  for (const name of opts.models ?? FORWARD_BENCH_MODELS) {
    const dir = new URL(`testdata/models/${name}`, ROOT).pathname;
    const reference = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`))
      .test_ppl_seqlen256 as number;
    const reader = await CheckpointReader.open(dir);
    try {
      const config = parseModelConfig(reader.config, `${dir}/config.json`);
      const model = await CausalLM.load(gpu, reader, config);
      try {
        let last = 0;
        const r = await evaluatePerplexity(gpu, model, use, {
          onProgress: (p) => {
            if (p.seconds - last >= 30) {
              last = p.seconds;
              opts.onProgress?.(
                `${name}: ${p.windowsDone}/${p.windows} windows, ${p.seconds.toFixed(0)} s`,
              );
            }
          },
        });
        const row: ForwardBenchRow = {
          model: name,
          windows: r.windows,
          perplexity: r.perplexity,
          reference,
          relativeError: r.perplexity / reference - 1,
          seconds: r.seconds,
          tokensPerSecond: r.tokensPerSecond,
        };
        rows.push(row);
        opts.onRow?.(row);
      } finally {
        model.release();
      }
    } finally {
      reader.close();
    }
  }
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { models: { type: "string" }, "max-windows": { type: "string" } },
  });
  const models = values.models?.split(",").map((s) => s.trim()).filter(Boolean);
  const maxWindows = values["max-windows"] ? Number(values["max-windows"]) : undefined;
  const gpu = await getGpu();
  console.log(`adapter: ${gpu.info.description}`);
  console.log("| model | windows | perplexity | PyTorch | rel. error | seconds | tokens/s |");
  console.log("|---|---|---|---|---|---|---|");
  await runForwardBench({
    ...(models ? { models } : {}),
    ...(maxWindows ? { maxWindows } : {}),
    onProgress: (line) => console.error(line),
    onRow: (r) =>
      console.log(
        `| ${r.model} | ${r.windows} | ${r.perplexity.toFixed(6)} | ${r.reference.toFixed(6)} | ` +
          `${(100 * r.relativeError).toFixed(4)} % | ${r.seconds.toFixed(1)} | ` +
          `${r.tokensPerSecond.toFixed(0)} |`,
      ),
  });
}
