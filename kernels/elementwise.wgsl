// Elementwise update of a vector in place (f32), the residual add (axpy):
//   y[offY + e] = y[offY + e] + alpha * x[offX + e]
// x and y must be different buffers.
// One invocation per element; linear index = (wid.x + wid.y * nwg.x) * WG + li.

struct Params {
  n: u32, offX: u32, offY: u32, alpha: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nwg.x) * WG + li;
  if (e >= p.n) {
    return;
  }
  y[p.offY + e] = y[p.offY + e] + p.alpha * x[p.offX + e];
}
