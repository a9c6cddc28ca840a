// Rotary position embedding, Hugging Face "rotate_half" convention (non-interleaved halves), in
// place. For row t (position pos = t % seqlen + posOffset), head h and i < half = headDim / 2:
//   x1 = x[i], x2 = x[i + half]          (within the head's slice of the row)
//   x[i]        = x1 * cos(pos * f_i) - x2 * sin(pos * f_i)
//   x[i + half] = x2 * cos(pos * f_i) + x1 * sin(pos * f_i)
// cos/sin come from a table: table[pos*half + i] = cos, table[tableRows*half + pos*half + i] = sin.
// One invocation per (row, head, i); linear index = (wid.x + wid.y * nwg.x) * WG + li.

struct Params {
  rows: u32, seqlen: u32, heads: u32, headDim: u32,
  ld: u32, off: u32, tableRows: u32, posOffset: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + li;
  let half = p.headDim / 2u;
  if (idx >= p.rows * p.heads * half) {
    return;
  }
  let i = idx % half;
  let h = (idx / half) % p.heads;
  let t = idx / (half * p.heads);
  let pos = t % p.seqlen + p.posOffset;
  let c = table[pos * half + i];
  let s = table[p.tableRows * half + pos * half + i];
  let base = p.off + t * p.ld + h * p.headDim;
  let x1 = x[base + i];
  let x2 = x[base + i + half];
  x[base + i] = x1 * c - x2 * s;
  x[base + i + half] = x2 * c + x1 * s;
}
