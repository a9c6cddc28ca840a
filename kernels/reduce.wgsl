// Partial sums over a region of rows x cols (leading dimensions ldx, ldy), per workgroup w:
//   MODE 0: partial[w] = (Σ x², 0)
//   MODE 1: partial[w] = (Σ (x − y)², Σ y²)
//   MODE 2: partial[w] = (Σ x·y, Σ y²)
// Partials are written from element outOff on (added to the partials there when accumulate is
// 1, so that a region too large for one binding is summed in row blocks). The host adds them.

struct Params {
  rows: u32, cols: u32, ldx: u32, ldy: u32,
  offX: u32, offY: u32, outOff: u32, accumulate: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;

override MODE: u32 = 1u;
const WG: u32 = 256u;
var<workgroup> s0: array<f32, WG>;
var<workgroup> s1: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let w = wid.x + wid.y * nwg.x;
  let total = nwg.x * nwg.y * WG;
  let n = u.rows * u.cols;
  var a = 0.0;
  var b = 0.0;
  for (var i = w * WG + li; i < n; i += total) {
    let r = i / u.cols;
    let c = i % u.cols;
    let xv = x[u.offX + r * u.ldx + c];
    if (MODE == 0u) {
      a += xv * xv;
    } else {
      let yv = y[u.offY + r * u.ldy + c];
      if (MODE == 1u) {
        a += (xv - yv) * (xv - yv);
      } else {
        a += xv * yv;
      }
      b += yv * yv;
    }
  }
  s0[li] = a;
  s1[li] = b;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (li < stride) {
      s0[li] += s0[li + stride];
      s1[li] += s1[li + stride];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    // Without accumulate the old contents are never read (a pooled buffer may hold NaN).
    var p0 = s0[0];
    var p1 = s1[0];
    if (u.accumulate != 0u) {
      p0 += partial[u.outOff + 2u * w];
      p1 += partial[u.outOff + 2u * w + 1u];
    }
    partial[u.outOff + 2u * w] = p0;
    partial[u.outOff + 2u * w + 1u] = p1;
  }
}
