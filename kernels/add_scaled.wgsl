// out += scale * x, with x repeating every `period` elements (f32, one invocation per element):
//   out[o0 + e] = out[o0 + e] + scale * x[o1 + e % period]   for e in start .. start + count
// Subtracts a tensor (period = its length, scale = -1) or adds a bias to every row of a
// row-major matrix (period = the bias length). out and x may be windows of their tensors,
// reached through their offsets (u32 arithmetic wraps, so an offset may be "negative").
// Linear index = (wid.x + wid.y * nwg.x) * 256 + li.

struct Params {
  count: u32, period: u32, scale: f32, start: u32,
  o0: u32, o1: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let k = (wid.x + wid.y * nwg.x) * 256u + li;
  if (k >= p.count) {
    return;
  }
  let e = p.start + k;
  out[p.o0 + e] = out[p.o0 + e] + p.scale * x[p.o1 + e % p.period];
}
