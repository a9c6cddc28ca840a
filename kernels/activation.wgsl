// Elementwise activations of feed-forward layers, out of place (f32):
//   ACT = 0: out = relu(a)                (b unused; bind any buffer, e.g. a)
//   ACT = 1: out = silu(a) * b            (SwiGLU: a = gate projection, b = up projection)
//   ACT = 2: out = silu(a)                (b unused)
//   ACT = 3: out = gelu_tanh(a) * b       (GeGLU, Gemma: a = gate projection, b = up projection)
// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh(u) = 1 - 2 / (exp(2u) + 1)
// (finite for every u: exp overflowing to +inf gives 1).
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

fn gelu_tanh(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
  return 0.5 * x * (1.0 + t);
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
  } else if (ACT == 2u) {
    y = silu(x);
  } else {
    y = gelu_tanh(x) * b[p.offB + e];
  }
  out[p.offOut + e] = y;
}
