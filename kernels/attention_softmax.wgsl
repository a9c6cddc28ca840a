// Causal softmax of attention scores in place, for the matmul-based attention path (one head
// at a time): rows of `count` square score matrices of side n, row i of matrix z at
// off + (z*n + i)*n. For j <= i: s[j] = exp(s[j] - max) / sum over j' <= i of exp(s[j'] - max);
// for j > i: s[j] = 0. The scale was applied by the score matmul. f32 throughout.
// With window > 0 (sliding window), only keys j0 = max(0, i + 1 - window) .. i take part; keys
// before j0 get 0 as well.
// One invocation per row; linear index = (wid.x + wid.y * nwg.x) * WG + li.

struct Params {
  rows: u32, n: u32, off: u32, window: u32,
}

@group(0) @binding(0) var<storage, read_write> s: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + li;
  if (r >= p.rows) {
    return;
  }
  let i = r % p.n;
  let base = p.off + r * p.n;
  var j0 = 0u;
  if (p.window > 0u && i + 1u > p.window) {
    j0 = i + 1u - p.window;
  }
  for (var j = 0u; j < j0; j++) {
    s[base + j] = 0.0;
  }
  var m = s[base + j0];
  for (var j = j0 + 1u; j <= i; j++) {
    m = max(m, s[base + j]);
  }
  var l = 0.0;
  for (var j = j0; j <= i; j++) {
    let e = exp(s[base + j] - m);
    s[base + j] = e;
    l += e;
  }
  let inv = 1.0 / l;
  for (var j = j0; j <= i; j++) {
    s[base + j] *= inv;
  }
  for (var j = i + 1u; j < p.n; j++) {
    s[base + j] = 0.0;
  }
}
