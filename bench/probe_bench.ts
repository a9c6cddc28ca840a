/**
 * Probes behind the design notes in `BENCHMARKS.md` ("Kernel speed"), each timed from submit to
 * `onSubmittedWorkDone`, best of the repeats:
 *
 * ```sh
 * # square products with throwaway kernels of R rows × C vec4 columns per invocation, reading
 * # the operands from storage buffers or from rgba32float textures
 * deno run -A bench/probe_bench.ts --probe tiles --source buffer --n 1024 8,2 16,2
 * deno run -A bench/probe_bench.ts --probe tiles --source texture --n 2048 16,4 32,2 32,4
 * # the library's matmul, n³, repeated
 * deno run -A bench/probe_bench.ts --probe matmul --n 2048 --repeat 5
 * # a lower product (recordLowerProduct) against the full product of the same operands
 * deno run -A bench/probe_bench.ts --probe lower --n 2048 --k 256
 * # Cholesky of a damped XᵀX Hessian of correlated data and of the Kac–Murdock–Szegő matrix
 * # (ρ = 0.9) that bench/linalg_bench.ts uses, alternately
 * deno run -A bench/probe_bench.ts --probe cholesky --n 4096 --repeat 4
 * # operands copied into the textures (aligned) against packed by the kernel (one element off),
 * # for the four layouts, on an n × k · k × n product and an n³ product
 * deno run -A bench/probe_bench.ts --probe copies --n 2048 --k 64
 * # lavapipe's FMA ceiling: a kernel of independent vec4 FMA chains on registers, no loads,
 * # with 1 (default) to 8 FMAs per chain per loop iteration
 * deno run -A bench/probe_bench.ts --probe peak --n 4 --unroll 4
 * # dispatches recorded for one Cholesky, triangular inverse and SPD inverse of order n
 * deno run -A bench/probe_bench.ts --probe dispatches --n 1024
 * # SparseGPT on one rows × cols matrix: the factor of H⁻¹ alone, then the whole call
 * deno run -A bench/probe_bench.ts --probe sparsegpt --rows 2048 --cols 5632
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { getGpu } from "../src/gpu/device.ts";
import { Uniforms } from "../src/gpu/kernel.ts";
import type { GpuTensor } from "../src/gpu/tensor.ts";
import { matmul } from "../src/kernels/matmul.ts";
import { recordCholesky } from "../src/linalg/cholesky.ts";
import { recordLowerProduct } from "../src/linalg/lower_product.ts";
import { Temps } from "../src/gpu/temps.ts";
import { recordSparseGptFactor, recordSpdInverse } from "../src/linalg/spd.ts";
import { recordInvertLower } from "../src/linalg/triangular.ts";
import { sparsegpt } from "../src/prune/sparsegpt.ts";

const args = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    probe: { type: "string" },
    source: { type: "string", default: "texture" },
    n: { type: "string", default: "1024" },
    k: { type: "string", default: "256" },
    rows: { type: "string", default: "2048" },
    cols: { type: "string", default: "5632" },
    repeat: { type: "string", default: "3" },
    unroll: { type: "string", default: "1" },
  },
});
const v = args.values;
const gpu = await getGpu();
const repeat = Number(v.repeat);

/** Best wall time in ms of `repeat` runs of `record` (one submit each). */
async function best(label: string, record: (b: ReturnType<typeof gpu.batch>) => void) {
  let ms = Infinity;
  for (let r = 0; r < repeat; r++) {
    const t = performance.now();
    const b = gpu.batch(label);
    record(b);
    b.submit();
    await gpu.sync();
    ms = Math.min(ms, performance.now() - t);
  }
  return ms;
}

const random = (n: number): Float32Array<ArrayBuffer> =>
  new Float32Array(n).map(() => Math.random() - 0.5);

/** WGSL of a square product with R rows × C vec4 columns per invocation (8 per workgroup). */
function tileSource(R: number, C: number, texture: boolean): string {
  const load = (m: string, k: string, which: "a" | "b") =>
    texture
      ? `textureLoad(t${which}, vec2<u32>(${k}, ${m}), 0, 0)`
      : `${which}[(${m}) * n4 + ${k}]`;
  const L = [
    texture
      ? `@group(0) @binding(0) var ta: texture_2d_array<f32>;
@group(0) @binding(1) var tb: texture_2d_array<f32>;`
      : `@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;`,
    `@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> n: u32;
@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n4 = n / 4u; let m0 = gid.y * ${R}u; let c0 = gid.x * ${C}u;`,
  ];
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) L.push(`var c${i}_${j} = vec4<f32>();`);
  L.push(`for (var k = 0u; k < n; k += 4u) {`);
  for (let u = 0; u < 4; u++) {
    for (let j = 0; j < C; j++) L.push(`let b${u}_${j} = ${load(`k + ${u}u`, `c0 + ${j}u`, "b")};`);
  }
  for (let i = 0; i < R; i++) {
    L.push(`let a${i} = ${load(`m0 + ${i}u`, "k / 4u", "a")};`);
    for (let u = 0; u < 4; u++) {
      for (let j = 0; j < C; j++) {
        L.push(`c${i}_${j} = fma(vec4<f32>(a${i}[${u}]), b${u}_${j}, c${i}_${j});`);
      }
    }
  }
  L.push(`}`);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) L.push(`c[(m0 + ${i}u) * n4 + c0 + ${j}u] = c${i}_${j};`);
  }
  L.push(`}`);
  return L.join("\n");
}

async function probeTiles(n: number, texture: boolean, specs: string[]): Promise<void> {
  const A = random(n * n), B = random(n * n);
  const device = gpu.device;
  const tex = (data: Float32Array<ArrayBuffer>) => {
    const t = device.createTexture({
      size: [n / 4, n],
      format: "rgba32float",
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      label: "probe/operand",
    });
    device.queue.writeTexture({ texture: t }, data, { bytesPerRow: n * 4 }, [n / 4, n]);
    return t.createView({ dimension: "2d-array" });
  };
  const a: GPUBuffer | GPUTextureView = texture ? tex(A) : gpu.upload(A, [n * n], "probe/a").buffer;
  const b: GPUBuffer | GPUTextureView = texture ? tex(B) : gpu.upload(B, [n * n], "probe/b").buffer;
  const c = gpu.alloc([n * n], "probe/c");
  for (const spec of specs) {
    const [R, C] = spec.split(",").map(Number);
    const kind = texture ? "texture" : "read";
    const kernel = {
      name: `probe-${kind}-${R}x${C}`,
      source: tileSource(R, C, texture),
      bindings: [kind, kind, "storage", "uniform"] as const,
    };
    const ms = await best(
      kernel.name,
      (bt) => bt.dispatch(kernel, [a, b, c], new Uniforms().u32(n).bytes(), [n / (32 * C), n / R]),
    );
    const got = await gpu.read(c, 3 * n + 5, 1);
    let want = 0;
    for (let k = 0; k < n; k++) want += A[3 * n + k] * B[k * n + 5];
    const ok = Math.abs(got[0] - want) < 1e-3 ? "ok" : `WRONG (${got[0]} vs ${want})`;
    console.log(
      `${kernel.name} n=${n}: ${ms.toFixed(0)} ms, ${
        (2 * n ** 3 / ms / 1e6).toFixed(2)
      } GFLOP/s ${ok}`,
    );
  }
}

async function probeMatmul(n: number): Promise<void> {
  const a = gpu.upload(random(n * n), [n, n], "probe/a"), c = gpu.alloc([n, n], "probe/c");
  for (let r = 0; r < repeat; r++) {
    const t = performance.now();
    const b = gpu.batch("probe/matmul");
    matmul(b, { a, b: a, c, M: n, N: n, K: n });
    b.submit();
    await gpu.sync();
    const ms = performance.now() - t;
    console.log(`matmul ${n}³: ${ms.toFixed(0)} ms, ${(2 * n ** 3 / ms / 1e6).toFixed(2)} GFLOP/s`);
  }
}

async function probeLower(m: number, K: number): Promise<void> {
  const p = gpu.upload(random(m * K), [m, K], "probe/p"), c = gpu.alloc([m, m], "probe/c");
  const useful = m * m * K; // flops of the lower triangle
  const full = await best("full", (b) => matmul(b, { a: p, b: p, c, M: m, N: m, K, transB: true }));
  const lower = await best(
    "lower",
    (b) => recordLowerProduct(b, { a: p, b: p, c, m, K, transB: true }),
  );
  console.log(
    `m=${m} K=${K}: full product ${full.toFixed(0)} ms (${(2 * useful / full / 1e6).toFixed(2)} ` +
      `GFLOP/s), lower product ${lower.toFixed(0)} ms (${
        (useful / lower / 1e6).toFixed(2)
      } GFLOP/s)`,
  );
}

async function probeCopies(n: number, k: number): Promise<void> {
  // operands at element offset 0 (copied, ld = n) or 1 (packed by the kernel), C direct
  const x = gpu.upload(random(n * n + 1), [n * n + 1], "probe/x");
  const c = gpu.alloc([n, n], "probe/c");
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) {
    for (const K of [k, n]) {
      const N = K === k ? k : n;
      // small products: 16 per submit, so that the ~11 ms of each wait does not dominate
      const reps = K === k ? 16 : 1;
      const args = { a: x, b: x, c, M: n, N, K, transA: ta, transB: tb, lda: n, ldb: n, ldc: N };
      const run = (off: number) => (b: ReturnType<typeof gpu.batch>) => {
        for (let r = 0; r < reps; r++) matmul(b, { ...args, offA: off, offB: off });
      };
      const copied = await best("copied", run(0)) / reps;
      const packed = await best("packed", run(1)) / reps;
      const flops = 2 * n * N * K;
      console.log(
        `${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"} ${n}x${N}x${K}: copied ${copied.toFixed(2)} ms (${
          (flops / copied / 1e6).toFixed(2)
        } GFLOP/s), packed ${packed.toFixed(2)} ms (${(flops / packed / 1e6).toFixed(2)} GFLOP/s)`,
      );
    }
  }
}

async function probePeak(chains: number, unroll: number): Promise<void> {
  if (!Number.isInteger(chains) || chains < 1 || chains > 16) {
    console.error(`Invalid --n ${v.n} for --probe peak: expected 1 to 16 FMA chains`);
    Deno.exit(2);
  }
  if (![1, 2, 4, 8].includes(unroll)) {
    console.error(`Invalid --unroll ${v.unroll} for --probe peak: expected 1, 2, 4 or 8`);
    Deno.exit(2);
  }
  // U FMAs per chain per loop iteration: lavapipe writes each loop-carried value through the
  // loop's lane mask once per iteration, which halves the rate of one FMA per iteration
  const iters = (1 << 16) / unroll, groups = 4096;
  const L = [
    `@group(0) @binding(0) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> n: u32;
@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let x = vec4<f32>(f32(gid.x) * 1e-9);
  let y = vec4<f32>(0.999999);`,
  ];
  for (let i = 0; i < chains; i++) L.push(`  var a${i} = vec4<f32>(${i}.0);`);
  L.push(`  for (var k = 0u; k < n; k++) {`);
  for (let u = 0; u < unroll; u++) {
    for (let i = 0; i < chains; i++) L.push(`    a${i} = fma(a${i}, y, x);`);
  }
  L.push(`  }`);
  L.push(`  c[gid.x] = ${Array.from({ length: chains }, (_, i) => `a${i}`).join(" + ")};`, `}`);
  const kernel = {
    name: `probe-peak-${chains}-${unroll}`,
    source: L.join("\n"),
    bindings: ["storage", "uniform"] as const,
  };
  const c = gpu.alloc([groups * 8 * 4], "probe/c");
  const ms = await best(
    kernel.name,
    (b) => b.dispatch(kernel, [c], new Uniforms().u32(iters).bytes(), [groups]),
  );
  const flops = 2 * 4 * chains * unroll * iters * groups * 8;
  console.log(
    `${chains} vec4 FMA chains, ${unroll} per iteration: ${ms.toFixed(0)} ms, ${
      (flops / ms / 1e6).toFixed(1)
    } GFLOP/s`,
  );
}

async function probeCholesky(n: number): Promise<void> {
  // H = (2/T)·XᵀX + 1 % of its mean diagonal, X: T = 2n tokens of noise plus two shared factors
  const T = 2 * n, X = new Float32Array(T * n);
  for (let t = 0; t < T; t++) {
    const f = Math.random() - 0.5, g = Math.random() - 0.5;
    for (let j = 0; j < n; j++) {
      X[t * n + j] = Math.random() - 0.5 + f * Math.sin(j) + g * ((j % 7) / 7);
    }
  }
  const x = gpu.upload(X, [T, n], "probe/X"), H = gpu.alloc([n, n], "probe/H");
  const b = gpu.batch("probe/H");
  matmul(b, { a: x, b: x, c: H, M: n, N: n, K: T, transA: true, alpha: 2 / T });
  b.submit();
  const h = await gpu.read(H);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i] / n;
  for (let i = 0; i < n; i++) h[i * n + i] += 0.01 * mean;
  const kms = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) kms[i * n + j] = 0.9 ** Math.abs(i - j) + (i === j ? 0.1 : 0);
  }
  const mats = [["hessian", gpu.upload(h, [n, n], "probe/Hd")], [
    "kms",
    gpu.upload(kms, [n, n], "probe/kms"),
  ]] as const;
  const status = gpu.alloc([1], "probe/status", "u32"), out = gpu.alloc([n, n], "probe/L");
  for (let r = 0; r < repeat; r++) {
    for (const [name, a] of mats) {
      const temps = new Temps(gpu);
      const bt = gpu.batch("probe/cholesky");
      recordCholesky(gpu, bt, a, status, { out, temps });
      const t = performance.now();
      bt.submit();
      await gpu.sync();
      const ms = performance.now() - t;
      temps.free();
      const failed = new Uint32Array((await gpu.read(status)).buffer)[0] !== 0xffffffff;
      console.log(
        `cholesky ${name} ${n}: ${ms.toFixed(0)} ms, ${(n ** 3 / 3 / ms / 1e6).toFixed(2)} ` +
          `GFLOP/s${failed ? " (a pivot failed)" : ""}`,
      );
    }
  }
}

function probeDispatches(n: number): void {
  const a = gpu.alloc([n, n], "probe/A"), out = gpu.alloc([n, n], "probe/out");
  const status = gpu.alloc([1], "probe/status", "u32");
  const ops: [string, (b: ReturnType<typeof gpu.batch>, temps: Temps) => void][] = [
    ["cholesky", (b, temps) => recordCholesky(gpu, b, a, status, { out, temps })],
    ["triangular inverse", (b, temps) => recordInvertLower(gpu, b, a, out, { temps })],
    ["spd inverse", (b, temps) => recordSpdInverse(gpu, b, a, out, status, { temps })],
  ];
  for (const [name, record] of ops) {
    const temps = new Temps(gpu), b = gpu.batch("probe/count");
    record(b, temps); // recorded, never submitted
    console.log(`${name} n=${n}: ${b.length} dispatches and copies`);
    temps.free();
  }
  gpu.free(a, out, status);
}

async function probeSparseGpt(rows: number, cols: number): Promise<void> {
  const T = 1024; // H = XᵀX of T random tokens (damped by the factor)
  const x = gpu.upload(random(T * cols), [T, cols], "probe/x");
  const H = gpu.alloc([cols, cols], "probe/H");
  const U = gpu.alloc([cols, cols], "probe/U"), status = gpu.alloc([1], "probe/status", "u32");
  let b = gpu.batch("probe/h");
  matmul(b, { a: x, b: x, c: H, M: cols, N: cols, K: T, transA: true });
  b.submit();
  const factor = await best("probe/factor", (bt) => recordSparseGptFactor(gpu, bt, H, U, status));
  const W: GpuTensor = gpu.upload(random(rows * cols), [rows, cols], "probe/W");
  b = gpu.batch("probe/sparsegpt");
  const t = performance.now();
  await sparsegpt(gpu, b, W, H, { kind: "unstructured", sparsity: 0.5 });
  const total = performance.now() - t;
  console.log(
    `sparsegpt ${rows}×${cols}: factor ${factor.toFixed(0)} ms, whole call ${
      total.toFixed(0)
    } ms ` +
      `(the rest: ${(total - factor).toFixed(0)} ms)`,
  );
}

const n = Number(v.n);
switch (v.probe) {
  case "tiles":
    await probeTiles(n, v.source === "texture", args.positionals);
    break;
  case "matmul":
    await probeMatmul(n);
    break;
  case "lower":
    await probeLower(n, Number(v.k));
    break;
  case "cholesky":
    await probeCholesky(n);
    break;
  case "copies":
    await probeCopies(n, Number(v.k));
    break;
  case "peak":
    await probePeak(n, Number(v.unroll));
    break;
  case "dispatches":
    probeDispatches(n);
    break;
  case "sparsegpt":
    await probeSparseGpt(Number(v.rows), Number(v.cols));
    break;
  default:
    console.error(
      `Unknown --probe ${v.probe}: expected tiles, matmul, lower, copies, peak, cholesky, dispatches or sparsegpt`,
    );
    Deno.exit(2);
}
