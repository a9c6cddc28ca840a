// Batched general matrix product, f32 accumulate, register-blocked straight from global memory
// (no shared memory: on CPU adapters such as lavapipe barriers cost more than they save):
//   C[z] = alpha * op(A[z]) * op(B[z]) + beta * C[z] (+ bias[n])
// op(A)(m, k) = TRANS_A ? a[offA + z*strideA + k*lda + m] : a[offA + z*strideA + m*lda + k]
// op(B)(k, n) = TRANS_B ? b[offB + z*strideB + n*ldb + k] : b[offB + z*strideB + k*ldb + n]
// Each invocation computes an 8 x 8 block of C (rows m0..m0+7, columns n0..n0+7, as two vec4
// per row). Any M, N, K: loads are clamped at the edges, stores are masked.

struct Params {
  M: u32, N: u32, K: u32, lda: u32,
  ldb: u32, ldc: u32, offA: u32, offB: u32,
  offC: u32, strideA: u32, strideB: u32, strideC: u32,
  alpha: f32, beta: f32, offBias: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;

fn loadA(base: u32, m: u32, k: u32) -> f32 {
  let mm = min(m, p.M - 1u);
  if (TRANS_A) {
    return a[base + k * p.lda + mm];
  }
  return a[base + mm * p.lda + k];
}

fn loadB(base: u32, k: u32, n: u32) -> vec4<f32> {
  let last = p.N - 1u;
  if (TRANS_B) {
    return vec4<f32>(b[base + min(n, last) * p.ldb + k], b[base + min(n + 1u, last) * p.ldb + k],
      b[base + min(n + 2u, last) * p.ldb + k], b[base + min(n + 3u, last) * p.ldb + k]);
  }
  let r = base + k * p.ldb;
  if (n + 3u <= last) {
    return vec4<f32>(b[r + n], b[r + n + 1u], b[r + n + 2u], b[r + n + 3u]);
  }
  return vec4<f32>(b[r + min(n, last)], b[r + min(n + 1u, last)], b[r + min(n + 2u, last)],
    b[r + min(n + 3u, last)]);
}

fn store(base: u32, m: u32, n: u32, v: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < p.N) {
      let idx = base + m * p.ldc + n + j;
      var x = p.alpha * v[j];
      if (p.beta != 0.0) {
        x += p.beta * c[idx];
      }
      if (HAS_BIAS) {
        x += bias[p.offBias + n + j];
      }
      c[idx] = x;
    }
  }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m0 = gid.y * 8u;
  let n0 = gid.x * 8u;
  if (m0 >= p.M || n0 >= p.N) {
    return;
  }
  let z = gid.z;
  let bA = p.offA + z * p.strideA;
  let bB = p.offB + z * p.strideB;
  var c00 = vec4<f32>(); var c01 = vec4<f32>();
  var c10 = vec4<f32>(); var c11 = vec4<f32>();
  var c20 = vec4<f32>(); var c21 = vec4<f32>();
  var c30 = vec4<f32>(); var c31 = vec4<f32>();
  var c40 = vec4<f32>(); var c41 = vec4<f32>();
  var c50 = vec4<f32>(); var c51 = vec4<f32>();
  var c60 = vec4<f32>(); var c61 = vec4<f32>();
  var c70 = vec4<f32>(); var c71 = vec4<f32>();
  for (var k = 0u; k < p.K; k++) {
    let b0 = loadB(bB, k, n0);
    let b1 = loadB(bB, k, n0 + 4u);
    var x = loadA(bA, m0, k);
    c00 = fma(vec4<f32>(x), b0, c00); c01 = fma(vec4<f32>(x), b1, c01);
    x = loadA(bA, m0 + 1u, k);
    c10 = fma(vec4<f32>(x), b0, c10); c11 = fma(vec4<f32>(x), b1, c11);
    x = loadA(bA, m0 + 2u, k);
    c20 = fma(vec4<f32>(x), b0, c20); c21 = fma(vec4<f32>(x), b1, c21);
    x = loadA(bA, m0 + 3u, k);
    c30 = fma(vec4<f32>(x), b0, c30); c31 = fma(vec4<f32>(x), b1, c31);
    x = loadA(bA, m0 + 4u, k);
    c40 = fma(vec4<f32>(x), b0, c40); c41 = fma(vec4<f32>(x), b1, c41);
    x = loadA(bA, m0 + 5u, k);
    c50 = fma(vec4<f32>(x), b0, c50); c51 = fma(vec4<f32>(x), b1, c51);
    x = loadA(bA, m0 + 6u, k);
    c60 = fma(vec4<f32>(x), b0, c60); c61 = fma(vec4<f32>(x), b1, c61);
    x = loadA(bA, m0 + 7u, k);
    c70 = fma(vec4<f32>(x), b0, c70); c71 = fma(vec4<f32>(x), b1, c71);
  }
  let bC = p.offC + z * p.strideC;
  store(bC, m0, n0, c00); store(bC, m0, n0 + 4u, c01);
  store(bC, m0 + 1u, n0, c10); store(bC, m0 + 1u, n0 + 4u, c11);
  store(bC, m0 + 2u, n0, c20); store(bC, m0 + 2u, n0 + 4u, c21);
  store(bC, m0 + 3u, n0, c30); store(bC, m0 + 3u, n0 + 4u, c31);
  store(bC, m0 + 4u, n0, c40); store(bC, m0 + 4u, n0 + 4u, c41);
  store(bC, m0 + 5u, n0, c50); store(bC, m0 + 5u, n0 + 4u, c51);
  store(bC, m0 + 6u, n0, c60); store(bC, m0 + 6u, n0 + 4u, c61);
  store(bC, m0 + 7u, n0, c70); store(bC, m0 + 7u, n0 + 4u, c71);
}
