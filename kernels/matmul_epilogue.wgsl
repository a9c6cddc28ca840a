// Epilogue of kernels/matmul.wgsl: C[z] = alpha * stage[z] + beta * C[z] (+ bias[n]) for
// `rows` x N entries of each of `count` batch entries:
//   c[offC + z * strideC + m * ldc + n] from stage[offS + (z * mPad + m) * nPad + n].
// The stage is row-padded to mPad rows and nPad columns per batch entry; c and bias may be
// windows of their tensors (offC and offBias are then relative to the window). Only the entries
// with n <= m + lower are written (`lower` is i32; 2^30 writes every entry), so a lower
// triangle leaves the rest of C untouched.
// One invocation per 4 columns of one row: the dispatch is (ceil(N / 256), rows, count), so no
// index needs a division (which CPU adapters emit lane by lane).

struct Params {
  rows: u32, N: u32, ldc: u32, offC: u32,
  strideC: u32, mPad: u32, nPad: u32, count: u32,
  alpha: f32, beta: f32, offBias: u32, offS: u32,
  lower: i32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<storage, read> stage: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override HAS_BIAS: bool = false;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = gid.y;
  let z = gid.z;
  let n0 = 4u * gid.x;
  if (n0 >= p.N || m >= p.rows || z >= p.count) {
    return;
  }
  // the last column written in this row: N - 1, or m + lower when that is smaller
  let last = min(i32(p.N) - 1, i32(m) + p.lower);
  if (i32(n0) > last) {
    return;
  }
  let s = stage[(p.offS + (z * p.mPad + m) * p.nPad + n0) / 4u];
  let row = p.offC + z * p.strideC + m * p.ldc;
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + j;
    if (i32(n) > last) {
      break;
    }
    let idx = row + n;
    var x = p.alpha * s[j];
    if (p.beta != 0.0) {
      x += p.beta * c[idx];
    }
    if (HAS_BIAS) {
      x += bias[p.offBias + n];
    }
    c[idx] = x;
  }
}
