/**
 * Linear-algebra benchmarks on the WebGPU adapter: Cholesky, SPD inverse and Hessian
 * accumulation, timed from submit to `onSubmittedWorkDone` (kernels compiled by a warm-up run
 * first), with the upload of the input and the readback of the result timed separately. Run with
 * `deno run -A bench/linalg_bench.ts [sizes...]`.
 *
 * GFLOP/s use the standard operation counts: Cholesky n³/3, SPD inverse n³ (potrf + trtri +
 * lauum), Hessian d²·T per accumulation of T tokens (a symmetric rank-T update), and 2n³ for
 * the `matmul-ref` row, a plain square product with the matmul kernel all of these build on.
 *
 * @module
 */

import { getGpu, type Gpu } from "../src/gpu/device.ts";
import type { GpuTensor } from "../src/gpu/tensor.ts";
import { matmul } from "../src/kernels/matmul.ts";
import { recordCholesky } from "../src/linalg/cholesky.ts";
import { recordSpdInverse } from "../src/linalg/spd.ts";
import { Temps } from "../src/gpu/temps.ts";
import { HessianAccumulator } from "../src/prune/hessian.ts";

/** One benchmark measurement. */
export interface LinalgBenchRow {
  /** Operation name. */
  name: string;
  /** Problem size (matrix order, or Hessian width d). */
  n: number;
  /** Wall time from submit to completion, best of the repeats. */
  ms: number;
  /** Median wall time of the repeats (the machine's other load moves single runs). */
  medianMs: number;
  /** Standard flop count / best time. */
  gflops: number;
  /** Standard flop count / median time. */
  medianGflops: number;
  /** Upload of the input (n × n matrix, or one chunk of tokens × d) until the queue is done. */
  uploadMs: number;
  /** Readback of the result (the n × n factor or inverse, or the d × d Hessian) to the host. */
  readbackMs: number;
}

/** Options of {@linkcode runLinalgBench}. */
export interface LinalgBenchOptions {
  /** Matrix orders for Cholesky and SPD inverse (default 512, 1024, 2048). */
  sizes?: number[];
  /** Hessian widths (default 256, 512, 1024, 2048). */
  hessianSizes?: number[];
  /** Tokens per Hessian measurement (default 8192, in chunks of 2048). */
  tokens?: number;
  /** Repeats per measurement; the best is reported (default 1). */
  repeats?: number;
  /** Called with each row as it is measured. */
  onRow?: (row: LinalgBenchRow) => void;
}

/** A symmetric positive definite test matrix: ρ^|i−j| (Kac–Murdock–Szegő) plus a small ripple. */
function spdMatrix(n: number): Float32Array<ArrayBuffer> {
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      a[i * n + j] = 0.9 ** Math.abs(i - j) + (i === j ? 0.1 : 0);
    }
  }
  return a;
}

/** Uploads `data` and waits until the queue has it: the tensor and the milliseconds taken. */
async function timedUpload(
  gpu: Gpu,
  data: Float32Array<ArrayBuffer>,
  shape: number[],
  label: string,
): Promise<{ t: GpuTensor; ms: number }> {
  const t0 = performance.now();
  const t = gpu.upload(data, shape, label);
  await gpu.device.queue.onSubmittedWorkDone();
  return { t, ms: performance.now() - t0 };
}

/** Milliseconds to read `t` back to the host. */
async function timedRead(gpu: Gpu, t: GpuTensor): Promise<number> {
  const t0 = performance.now();
  await gpu.read(t);
  return performance.now() - t0;
}

async function measure(
  gpu: Gpu,
  repeats: number,
  record: (batch: ReturnType<Gpu["batch"]>, temps: Temps) => void,
): Promise<{ best: number; median: number }> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    await gpu.device.queue.onSubmittedWorkDone();
    const temps = new Temps(gpu);
    const batch = gpu.batch("bench");
    record(batch, temps);
    const t0 = performance.now();
    batch.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    times.push(performance.now() - t0);
    temps.free();
    gpu.throwIfError("linalg bench");
  }
  times.sort((x, y) => x - y);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { best: times[0], median };
}

/** Runs the linear-algebra benchmarks and returns one row per measurement. */
export async function runLinalgBench(opts: LinalgBenchOptions = {}): Promise<LinalgBenchRow[]> {
  const gpu = await getGpu();
  const sizes = opts.sizes ?? [512, 1024, 2048];
  const hsizes = opts.hessianSizes ?? [256, 512, 1024, 2048];
  const tokens = opts.tokens ?? 8192;
  const repeats = opts.repeats ?? 1;
  const rows: LinalgBenchRow[] = [];
  const push = (
    name: string,
    n: number,
    t: { best: number; median: number },
    flops: number,
    io: { uploadMs: number; readbackMs: number },
  ) => {
    const row = {
      name,
      n,
      ms: t.best,
      medianMs: t.median,
      gflops: flops / t.best / 1e6,
      medianGflops: flops / t.median / 1e6,
      ...io,
    };
    rows.push(row);
    opts.onRow?.(row);
  };

  // warm-up: compile every kernel once
  {
    const a = gpu.upload(spdMatrix(130), [130, 130], "warm");
    const out = gpu.alloc([130, 130], "warm-out");
    const status = gpu.alloc([1], "status", "u32");
    await measure(gpu, 1, (batch, temps) => {
      recordSpdInverse(gpu, batch, a, out, status, { temps });
      recordCholesky(gpu, batch, a, status, { out, temps });
    });
    gpu.free(a, out, status);
  }

  {
    // the matmul kernel every routine here is built on, as a yardstick (2n³ flops)
    const n = Math.min(1024, Math.max(...sizes, 256));
    const { t: a, ms: uploadMs } = await timedUpload(gpu, spdMatrix(n), [n, n], "bench/mm");
    const c = gpu.alloc([n, n], "bench/mm-out");
    const ms = await measure(
      gpu,
      repeats,
      (batch) => matmul(batch, { a, b: a, c, M: n, N: n, K: n }),
    );
    push("matmul-ref", n, ms, 2 * n ** 3, { uploadMs, readbackMs: await timedRead(gpu, c) });
    gpu.free(a, c);
  }

  for (const n of sizes) {
    const { t: a, ms: uploadMs } = await timedUpload(gpu, spdMatrix(n), [n, n], "bench/A");
    const out = gpu.alloc([n, n], "bench/out");
    const status = gpu.alloc([1], "bench/status", "u32");
    const msChol = await measure(gpu, repeats, (batch, temps) => {
      recordCholesky(gpu, batch, a, status, { out, temps });
    });
    push("cholesky", n, msChol, n ** 3 / 3, { uploadMs, readbackMs: await timedRead(gpu, out) });
    const msInv = await measure(gpu, repeats, (batch, temps) => {
      recordSpdInverse(gpu, batch, a, out, status, { temps });
    });
    push("spd-inverse", n, msInv, n ** 3, { uploadMs, readbackMs: await timedRead(gpu, out) });
    gpu.free(a, out, status);
  }

  for (const d of hsizes) {
    const chunk = Math.min(2048, tokens);
    const x = new Float32Array(chunk * d);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.618) * ((i % d) % 7 + 1);
    const { t: tx, ms: uploadMs } = await timedUpload(gpu, x, [chunk, d], "bench/X");
    const acc = new HessianAccumulator(gpu, d);
    const ms = await measure(gpu, repeats, (batch) => {
      acc.reset();
      for (let t = 0; t < tokens; t += chunk) {
        acc.add(batch, tx, 1, { tokens: Math.min(chunk, tokens - t) });
      }
      acc.finalize(batch);
    });
    push("hessian", d, ms, d * d * tokens, { uploadMs, readbackMs: await timedRead(gpu, acc.H) });
    acc.free();
    gpu.free(tx);
  }
  return rows;
}

if (import.meta.main) {
  // deno run -A bench/linalg_bench.ts [--repeats R] [sizes...]
  const at = Deno.args.indexOf("--repeats");
  const repeats = at >= 0 ? Number(Deno.args[at + 1]) : 3;
  if (!Number.isInteger(repeats) || repeats < 1) {
    console.error(`Invalid --repeats ${Deno.args[at + 1]}: expected a positive integer`);
    Deno.exit(2);
  }
  const args = Deno.args.filter((_, i) => i !== at && i !== at + 1).map(Number)
    .filter((v) => v > 0);
  const sizes = args.length ? args : undefined;
  console.log(
    `op            n   best ms  GFLOP/s  median ms  GFLOP/s  upload ms  readback ms (${repeats} runs)`,
  );
  await runLinalgBench({
    sizes,
    hessianSizes: sizes ? [] : undefined,
    repeats,
    onRow: (r) =>
      console.log(
        `${r.name.padEnd(12)} ${String(r.n).padStart(5)} ${r.ms.toFixed(1).padStart(9)} ${
          r.gflops.toFixed(2).padStart(8)
        } ${r.medianMs.toFixed(1).padStart(10)} ${r.medianGflops.toFixed(2).padStart(8)} ${
          r.uploadMs.toFixed(0).padStart(10)
        } ${r.readbackMs.toFixed(0).padStart(12)}`,
      ),
  });
}
