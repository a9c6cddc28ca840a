// Inverses of the diagonal blocks of a lower-triangular matrix L (f32, row-major, leading
// dimension ld, first element at off). Block i covers rows/columns [i·bs, min((i+1)·bs, n)),
// bs ≤ 64; its inverse goes to dinv[i·bs·bs ...] as a bs×bs row-major block (leading dimension
// bs; zeros above the diagonal; a short last block uses its top-left corner).
// One workgroup per block; invocation t computes column t of the inverse by forward
// substitution. The blocked solves and inverses in src/linalg/triangular.ts use these blocks.
// A dispatch inverts the blocks bi0 .. bi1 (one workgroup each). L and dinv may be bound as
// windows: off and dOff are then relative to the windows and may wrap around (u32), while the
// block index is global, so the indices land in the windows of the dispatch's blocks.

struct Params { n: u32, ld: u32, off: u32, bs: u32, bi0: u32, bi1: u32, dOff: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> l: array<f32>;
@group(0) @binding(1) var<storage, read_write> dinv: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const NB: u32 = 64u;
var<workgroup> blk: array<f32, 4096>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  let bi = p.bi0 + wid.x + wid.y * nwg.x;
  let r0 = bi * p.bs;
  if (bi >= p.bi1 || r0 >= p.n) {
    return;
  }
  let s = min(p.bs, p.n - r0);
  let base = p.off + r0 * p.ld + r0;
  for (var e = t; e < s * s; e += NB) {
    let r = e / s;
    let c = e % s;
    if (c <= r) {
      blk[r * NB + c] = l[base + r * p.ld + c];
    }
  }
  workgroupBarrier();
  if (t >= s) {
    return;
  }
  var x: array<f32, 64>;
  x[t] = 1.0 / blk[t * NB + t];
  for (var i = t + 1u; i < s; i++) {
    var acc = 0.0;
    for (var k = t; k < i; k++) {
      acc += blk[i * NB + k] * x[k];
    }
    x[i] = -acc / blk[i * NB + i];
  }
  let ob = p.dOff + bi * p.bs * p.bs;
  for (var i = 0u; i < s; i++) {
    dinv[ob + i * p.bs + t] = select(0.0, x[i], i >= t);
  }
}
