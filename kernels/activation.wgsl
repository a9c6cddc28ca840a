// Elementwise activations of feed-forward layers, out of place (f32):
//   ACT = 0: out = relu(a)                (b unused; bind any buffer, e.g. a)
//   ACT = 1: out = silu(a) * b            (SwiGLU: a = gate projection, b = up projection)
//   ACT = 2: out = silu(a)                (b unused)
// silu(x) = x / (1 + exp(-x)). Element e of a, b and out sits at offA + e, offB + e, offOut + e.
// One invocation per element; linear index = (wid.x + wid.y * nwg.x) * WG + li.

struct Params {
  n: u32, offA: u32, offB: u32, offOut: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

override ACT: u32 = 0u;
override WG: u32 = 64u;

fn silu(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nwg.x) * WG + li;
  if (e >= p.n) {
    return;
  }
  let x = a[p.offA + e];
  var y = 0.0;
  if (ACT == 0u) {
    y = max(x, 0.0);
  } else if (ACT == 1u) {
    y = silu(x) * b[p.offB + e];
  } else {
    y = silu(x);
  }
  out[p.offOut + e] = y;
}
