// Running mean squared column norms for Wanda, over activations X [T, cols] (row-major, one
// token per row, first element x[xOff]):
//   s_j <- s_j * scale + (sum_t X[t, j]^2) / denom,  scale = n / (n + b), denom = n + b
// where n counts the sequences seen so far and b those in X, so that after all batches
// s_j = sum over all tokens of x_j^2 / (number of sequences).
//
// partial: the T rows are cut into nslab slabs of slabRows rows; workgroup (slab, column block)
//          writes partial[j*nslab + slab] = sum over the slab's rows of X[t, j]^2 (short sums
//          keep f32 rounding small).
// update:  one invocation per column adds up the slabs and updates s.
// A dispatch may cover a block of `cols` columns of X (row stride ld) and, for partialSums, the
// slabs slab0 .. slab0 + slabs; x, partial and s may be windows of their tensors, reached through
// the offsets xOff, pOff and sOff (u32 arithmetic wraps, so xOff may be "negative").

struct Params {
  rows: u32, cols: u32, slabRows: u32, nslab: u32,
  xOff: u32, scale: f32, denom: f32, ld: u32,
  pOff: u32, sOff: u32, slab0: u32, slabs: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn partialSums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let blocks = (p.cols + 63u) / 64u;
  let lin = wid.x + wid.y * nwg.x;
  let slab = p.slab0 + lin / blocks;
  let j = (lin % blocks) * 64u + li;
  if (lin / blocks >= p.slabs || j >= p.cols) {
    return;
  }
  let t0 = slab * p.slabRows;
  let t1 = min(p.rows, t0 + p.slabRows);
  var acc = 0.0;
  for (var t = t0; t < t1; t++) {
    let v = x[p.xOff + t * p.ld + j];
    acc = fma(v, v, acc);
  }
  partial[p.pOff + j * p.nslab + slab] = acc;
}

@compute @workgroup_size(64)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let j = (wid.x + wid.y * nwg.x) * 64u + li;
  if (j >= p.cols) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < p.nslab; k++) {
    acc += partial[p.pOff + j * p.nslab + k];
  }
  s[p.sOff + j] = s[p.sOff + j] * p.scale + acc / p.denom;
}
