// Elementwise steps of the ADMM layer pruner (src/prune/admm.ts), one invocation per element of
// a rows × cols matrix (row = output, column = input). MODE selects the step:
//   0 column scale:  out0 = in1 · d[col]                         (W' = W·diag(d), in2 = d)
//   1 normalise:     out0 = in1 / (d[row]·d[col]) + shift·[row = col]   (H' = D⁻¹HD⁻¹ + δI)
//   2 diagonal:      out0[j] = sqrt(H[j, j]), or 1 where H[j, j] ≤ 0  (in1 = H, count = cols)
//   3 sum:           out0 = in1 + in2                            (V = W + U)
//   4 step:          V = in1 + out0 (W + U), kept = in2 ≠ 0 (the mask holder Z):
//                    out0 = kept ? 0 : V   (U ← V − Z),   out1 = kept ? V : −V   (Z − U)
//   5 final:         out0 = kept ? (out0 + out1) / d[col] : 0    (W ← Z·D⁻¹; out1 = U,
//                    in1 = Z, in2 = d)
//   6 N:M score:     out0 = (|in1| among the M − N largest of its group of M) ? BIG : |in1|
//                    (of equal scores the higher column counts as larger, as pruneNM keeps it)
//   7 mask:          out0 = in1 ≠ 0 ? out0 : 0
// A dispatch covers elements start .. start + count; each binding may be a window of its
// tensor, reached through its offset (u32 arithmetic wraps, so an offset may be "negative").

struct Params {
  count: u32, cols: u32, start: u32, shift: f32,
  n: u32, m: u32, _p0: u32, _p1: u32,
  o0: u32, o1: u32, o2: u32, o3: u32,
}

@group(0) @binding(0) var<storage, read_write> out0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out1: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

override MODE: u32 = 0u;

// the score of weights an N:M step never prunes: larger than any |w|
const BIG: f32 = 3.0e38;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let k = (wid.x + wid.y * nwg.x) * 256u + li;
  if (k >= u.count) {
    return;
  }
  let e = u.start + k;
  let row = e / u.cols;
  let col = e % u.cols;
  if (MODE == 0u) {
    out0[u.o0 + e] = in1[u.o2 + e] * in2[u.o3 + col];
  } else if (MODE == 1u) {
    var h = in1[u.o2 + e] / (in2[u.o3 + row] * in2[u.o3 + col]);
    if (row == col) {
      h += u.shift;
    }
    out0[u.o0 + e] = h;
  } else if (MODE == 2u) {
    let h = in1[u.o2 + e * (u.cols + 1u)];
    out0[u.o0 + e] = select(1.0, sqrt(h), h > 0.0);
  } else if (MODE == 3u) {
    out0[u.o0 + e] = in1[u.o2 + e] + in2[u.o3 + e];
  } else if (MODE == 4u) {
    let v = in1[u.o2 + e] + out0[u.o0 + e];
    let kept = in2[u.o3 + e] != 0.0;
    out0[u.o0 + e] = select(v, 0.0, kept);
    out1[u.o1 + e] = select(-v, v, kept);
  } else if (MODE == 5u) {
    let kept = in1[u.o2 + e] != 0.0;
    let z = (out0[u.o0 + e] + out1[u.o1 + e]) / in2[u.o3 + col];
    out0[u.o0 + e] = select(0.0, z, kept);
  } else if (MODE == 6u) {
    let g0 = e - col % u.m;
    let a = abs(in1[u.o2 + e]);
    var rank = 0u;
    for (var j = 0u; j < u.m; j++) {
      let b = abs(in1[u.o2 + g0 + j]);
      if (b > a || (b == a && g0 + j > e)) {
        rank++;
      }
    }
    out0[u.o0 + e] = select(a, BIG, rank < u.m - u.n);
  } else if (MODE == 7u) {
    if (in1[u.o2 + e] == 0.0) {
      out0[u.o0 + e] = 0.0;
    }
  }
}
