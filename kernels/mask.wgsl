// Masks on a rows x cols region of a weight (first element w[offset], row stride ld; row =
// output, column = input), with scores computed on the fly:
//   scoreBits of _score.wgsl (MODE 0: |w|, magnitude; MODE 1: |w|·sqrt(colVec[colOff + c]), Wanda)
//
// threshold: prunes each element whose score <= the f32 whose bits are sel[a] (e.g. the value
//            written by select_region or select_segment).
// nm:        in each group of M = b consecutive columns of a row (cols % M == 0, M <= 64),
//            prunes the N = a entries of smallest score, ties to the lower column.
// A pruned weight is set to 0 in place; with WRITE_MASK the weights are left alone and
// mask[maskOff + r*cols + c] receives 1 (pruned) or 0 (kept) instead.

struct Params {
  rows: u32, cols: u32, ld: u32, offset: u32,
  colOff: u32, a: u32, b: u32, maskOff: u32,
}

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
// read only; colVec, sel and mask are declared read_write so that unused ones may alias w
@group(0) @binding(1) var<storage, read_write> colVec: array<f32>;
@group(0) @binding(2) var<storage, read_write> sel: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

override MODE: u32 = 0u;
override WRITE_MASK: bool = false;

// #include "_score.wgsl"

fn apply(r: u32, c: u32, idx: u32, pruned: bool) {
  if (WRITE_MASK) {
    mask[p.maskOff + r * p.cols + c] = select(0u, 1u, pruned);
  } else if (pruned) {
    w[idx] = 0.0;
  }
}

// Each workgroup covers TILE = 64 * PER consecutive elements (threshold) or groups (nm), each
// invocation PER of them, 64 apart: fewer, fuller workgroups run much faster on CPU adapters.
const PER: u32 = 16u;

@compute @workgroup_size(64)
fn threshold(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let n = p.rows * p.cols;
  let e0 = (wid.x + wid.y * nwg.x) * 64u * PER + li;
  let thr = sel[p.a];
  var r = e0 / p.cols;
  var c = e0 % p.cols;
  let dr = 64u / p.cols;
  let dc = 64u % p.cols;
  for (var j = 0u; j < PER; j++) {
    let e = e0 + 64u * j;
    if (e >= n) {
      break;
    }
    let idx = p.offset + r * p.ld + c;
    apply(r, c, idx, scoreBits(idx, c) <= thr);
    c += dc;
    r += dr;
    if (c >= p.cols) {
      c -= p.cols;
      r += 1u;
    }
  }
}

@compute @workgroup_size(64)
fn nm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(local_invocation_index) li: u32) {
  let m = p.b;
  let perRow = p.cols / m;
  let total = p.rows * perRow;
  let g0 = (wid.x + wid.y * nwg.x) * 64u * PER + li;
  for (var j = 0u; j < PER; j++) {
    let g = g0 + 64u * j;
    if (g >= total) {
      break;
    }
    nmGroup(g / perRow, (g % perRow) * m, m);
  }
}

// rank of entry i = #{j : s_j < s_i, or s_j == s_i and j < i}; the N lowest ranks are pruned.
// Decisions are collected in a bit set (M <= 64) before any weight is written.
fn nmGroup(r: u32, c0: u32, m: u32) {
  let rowBase = p.offset + r * p.ld;
  var bits = array<u32, 2>(0u, 0u);
  for (var i = 0u; i < m; i++) {
    let si = scoreBits(rowBase + c0 + i, c0 + i);
    var rank = 0u;
    for (var j = 0u; j < m; j++) {
      let sj = scoreBits(rowBase + c0 + j, c0 + j);
      if (sj < si || (sj == si && j < i)) {
        rank++;
      }
    }
    if (rank < p.a) {
      bits[i / 32u] |= 1u << (i % 32u);
    }
  }
  for (var i = 0u; i < m; i++) {
    apply(r, c0 + i, rowBase + c0 + i, ((bits[i / 32u] >> (i % 32u)) & 1u) == 1u);
  }
}
