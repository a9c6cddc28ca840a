// Epilogue of kernels/matmul.wgsl: C[z] = alpha * stage[z] + beta * C[z] (+ bias[n]) for
// `rows` x N entries of each of `count` batch entries, one invocation per output element:
//   c[offC + z * strideC + m * ldc + n] from stage[offS + (z * mPad + m) * nPad + n].
// The stage is row-padded to mPad rows and nPad columns per batch entry; c and bias may be
// windows of their tensors (offC and offBias are then relative to the window).

struct Params {
  rows: u32, N: u32, ldc: u32, offC: u32,
  strideC: u32, mPad: u32, nPad: u32, count: u32,
  alpha: f32, beta: f32, offBias: u32, offS: u32,
}

@group(0) @binding(0) var<storage, read> stage: array<f32>;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override HAS_BIAS: bool = false;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.rows * p.N * p.count) {
    return;
  }
  let z = i / (p.rows * p.N);
  let r = i % (p.rows * p.N);
  let m = r / p.N;
  let n = r % p.N;
  let idx = p.offC + z * p.strideC + m * p.ldc + n;
  var x = p.alpha * stage[p.offS + (z * p.mPad + m) * p.nPad + n];
  if (p.beta != 0.0) {
    x += p.beta * c[idx];
  }
  if (HAS_BIAS) {
    x += bias[p.offBias + n];
  }
  c[idx] = x;
}
