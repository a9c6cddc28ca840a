/**
 * Scale benchmark: generates a synthetic LLaMA-shaped checkpoint (random bf16 weights,
 * TinyLlama-1.1B shape by default: hidden 2048, 22 layers, FFN 5632, 32 heads, 4 KV heads,
 * vocabulary 32000, sharded like the original) and prunes it with each method in a child
 * process, sampling the child's peak resident memory (VmHWM) while it runs. Records time per
 * layer, the largest GPU buffer and the per-layer GPU peak (flat across layers means memory does
 * not grow with depth) from `report.json`.
 *
 * ```sh
 * deno run -A bench/scale_bench.ts                       # the full TinyLlama shape (~1.5 h on 2 cores)
 * deno run -A bench/scale_bench.ts --num-layers 2        # same width, 2 layers (smoke run)
 * deno run -A bench/scale_bench.ts --methods wanda --nsamples 8 --seqlen 512 --dir /tmp/tinyllama
 * deno run -A bench/scale_bench.ts --methods sparsegpt --layers 0-2 --dir /tmp/tinyllama --reuse
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { CheckpointWriter } from "../src/io/checkpoint_writer.ts";
import { encodeFromF32 } from "../src/io/dtype.ts";
import { formatMarkdownTable } from "../src/app/report/table.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string" },
    "num-layers": { type: "string" },
    hidden: { type: "string" },
    ffn: { type: "string" },
    methods: { type: "string" },
    nsamples: { type: "string" },
    seqlen: { type: "string" },
    keep: { type: "boolean" },
    layers: { type: "string" },
    reuse: { type: "boolean" },
    "gpu-memory": { type: "string" },
  },
}).values;

const shape = {
  hidden: Number(args.hidden ?? 2048),
  layers: Number(args["num-layers"] ?? 22),
  ffn: Number(args.ffn ?? 5632),
  heads: 32,
  kvHeads: 4,
  vocab: 32000,
};
const methods = (args.methods ?? "wanda,sparsegpt").split(",");
const nsamples = args.nsamples ?? "8";
const seqlen = args.seqlen ?? "512";
const root = new URL("..", import.meta.url).pathname;
const dir = args.dir ?? await Deno.makeTempDir({ prefix: "sparsellm-scale-" });

/** Writes the synthetic checkpoint tensor by tensor (memory stays at one tensor). */
async function generate(): Promise<number> {
  const { hidden: d, layers, ffn: f, heads, kvHeads, vocab } = shape;
  const hd = d / heads;
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: d,
    intermediate_size: f,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: hd,
    hidden_act: "silu",
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
    vocab_size: vocab,
    bos_token_id: 256,
    eos_token_id: 256,
    torch_dtype: "bfloat16",
  };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
  // A byte-level tokenizer (ids < 272) from the bundled fixture: calibration text tokenizes.
  for (const file of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
    await Deno.copyFile(join(root, "testdata/models/llama-small", file), join(dir, file));
  }
  const plan: { name: string; dtype: string; shape: number[] }[] = [];
  const add = (name: string, s: number[]) => plan.push({ name, dtype: "BF16", shape: s });
  add("model.embed_tokens.weight", [vocab, d]);
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [d]);
    add(`${p}.self_attn.q_proj.weight`, [heads * hd, d]);
    add(`${p}.self_attn.k_proj.weight`, [kvHeads * hd, d]);
    add(`${p}.self_attn.v_proj.weight`, [kvHeads * hd, d]);
    add(`${p}.self_attn.o_proj.weight`, [d, heads * hd]);
    add(`${p}.post_attention_layernorm.weight`, [d]);
    add(`${p}.mlp.gate_proj.weight`, [f, d]);
    add(`${p}.mlp.up_proj.weight`, [f, d]);
    add(`${p}.mlp.down_proj.weight`, [d, f]);
  }
  add("model.norm.weight", [d]);
  add("lm_head.weight", [vocab, d]);
  const writer = await CheckpointWriter.create(dir, plan, { maxShardBytes: 1_000_000_000 });
  let seed = 12345, bytes = 0;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  for (const p of plan) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (p.name.endsWith("norm.weight")) data.fill(1);
    else {
      const scale = 0.04 * Math.sqrt(3); // uniform with std 0.02
      for (let i = 0; i < n; i++) data[i] = rand() * 2 * scale;
    }
    const enc = encodeFromF32(data, "BF16");
    bytes += enc.length;
    await writer.write(p.name, enc);
  }
  await writer.close();
  return bytes;
}

/** Runs one method in a child process, sampling its peak RSS (VmHWM). */
async function pruneOnce(method: string): Promise<Record<string, unknown>> {
  const out = join(dir, `../${method}-out-${crypto.randomUUID().slice(0, 6)}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(root, "cli.ts"),
      "prune",
      "--model",
      dir,
      "--method",
      method,
      "--sparsity",
      "0.5",
      "--calib",
      join(root, "testdata/kjv/train.txt"),
      "--nsamples",
      nsamples,
      "--seqlen",
      seqlen,
      "--out",
      out,
      "--json",
      ...(args.layers ? ["--layers", args.layers] : []),
      ...(args["gpu-memory"] ? ["--gpu-memory", args["gpu-memory"]] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let peakKb = 0;
  const timer = setInterval(async () => {
    try {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const m = /VmHWM:\s+(\d+) kB/.exec(status);
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // The child has exited.
    }
  }, 200);
  const t0 = performance.now();
  const res = await child.output();
  clearInterval(timer);
  if (!res.success) throw new Error(`prune --method ${method} failed with exit ${res.code}`);
  const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  if (!args.keep) await Deno.remove(out, { recursive: true });
  return {
    method,
    wall: (performance.now() - t0) / 1000,
    peakRssBytes: peakKb * 1024,
    layers: report.layers
      .filter((l: { pruned: boolean }) => l.pruned)
      .map((l: { layer: number; seconds: number; gpuPeakBytes?: number }) => ({
        layer: l.layer,
        seconds: l.seconds,
        gpuPeakBytes: l.gpuPeakBytes,
      })),
    calibrationOnHost: report.summary.calibration_on_host,
    largestGpuBuffer: report.summary.largest_gpu_buffer_bytes,
  };
}

/** Size of an existing checkpoint's weight files (for `--reuse`). */
async function existingBytes(): Promise<number | undefined> {
  try {
    await Deno.stat(join(dir, "config.json"));
  } catch {
    return undefined;
  }
  let bytes = 0;
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith(".safetensors")) bytes += (await Deno.stat(join(dir, e.name))).size;
  }
  return bytes;
}

const ckptBytes = (args.reuse ? await existingBytes() : undefined) ?? await generate();
console.log(
  `# Scale benchmark: synthetic LLaMA, hidden ${shape.hidden}, ${shape.layers} layers, FFN ` +
    `${shape.ffn}, ${shape.heads} heads / ${shape.kvHeads} KV, bf16 ` +
    `${(ckptBytes / 1e9).toFixed(2)} GB; nsamples ${nsamples}, seqlen ${seqlen}\n`,
);
const rows: string[][] = [];
for (const m of methods) {
  const r = await pruneOnce(m) as {
    method: string;
    wall: number;
    peakRssBytes: number;
    layers: { seconds: number; gpuPeakBytes?: number }[];
    largestGpuBuffer: number;
  };
  const secs = r.layers.map((l) => l.seconds);
  const gpuPeaks = r.layers.map((l) => (l.gpuPeakBytes ?? 0) / 2 ** 20);
  rows.push([
    r.method,
    `${r.layers.length}`,
    r.wall.toFixed(0),
    (r.peakRssBytes / 1e9).toFixed(2),
    (secs.reduce((a, b) => a + b, 0) / secs.length).toFixed(1),
    `${Math.min(...gpuPeaks).toFixed(0)}–${Math.max(...gpuPeaks).toFixed(0)}`,
    (r.largestGpuBuffer / 2 ** 20).toFixed(0),
  ]);
  console.error(JSON.stringify(r));
}
console.log(
  formatMarkdownTable(
    [
      "method",
      "layers pruned",
      "wall s",
      "peak RSS GB",
      "s / layer",
      "GPU peak per layer MiB (min–max)",
      "largest GPU buffer MiB",
    ],
    rows,
  ),
);
if (!args.dir && !args.keep) await Deno.remove(dir, { recursive: true });
