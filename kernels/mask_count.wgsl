// Counts the zeros of a rows x cols region (first element w[offset], row stride ld) per row
// and per group of `group` consecutive columns (group = cols gives one count per row; the last
// group of a row may be shorter). One invocation per (row, group):
//   out[outOff + r*ngroups + g] = #{c in group g of row r : w[offset + r*ld + c] == 0}
// (-0 counts as zero).

struct Params {
  rows: u32, cols: u32, ld: u32, offset: u32,
  group: u32, ngroups: u32, outOff: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + li;
  if (i >= p.rows * p.ngroups) {
    return;
  }
  let r = i / p.ngroups;
  let c0 = (i % p.ngroups) * p.group;
  let c1 = min(p.cols, c0 + p.group);
  let base = p.offset + r * p.ld;
  var zeros = 0u;
  for (var c = c0; c < c1; c++) {
    if (w[base + c] == 0.0) {
      zeros++;
    }
  }
  out[p.outOff + i] = zeros;
}
