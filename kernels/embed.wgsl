// Embedding gather for one block of vocabulary rows (large tables are split into blocks that
// each fit one binding): for every token row r whose id lies in [idStart, idStart + idCount),
//   out[r, c] = tok[(id - idStart) * cols + c] * scale (+ pos[(r % seqlen + posOffset) * cols + c - posBase])
// (scale: Gemma's sqrt(hidden) rounded to f32; 1 otherwise, which changes nothing)
// where the positions binding is a window that starts at element posBase.
// Rows whose id lies outside the block are left untouched; the wrapper dispatches every block.
// One invocation per (row, column); linear index = (wid.x + wid.y * nwg.x) * WG + li.

struct Params {
  rows: u32, cols: u32, seqlen: u32, posOffset: u32,
  idStart: u32, idCount: u32, posBase: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read> tok: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override HAS_POS: bool = false;
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + li;
  if (idx >= p.rows * p.cols) {
    return;
  }
  let r = idx / p.cols;
  let c = idx % p.cols;
  let id = u32(ids[r]) - p.idStart;
  if (id >= p.idCount) {
    return;
  }
  var e = tok[id * p.cols + c] * p.scale;
  if (HAS_POS) {
    e += pos[(r % p.seqlen + p.posOffset) * p.cols + c - p.posBase];
  }
  out[idx] = e;
}
