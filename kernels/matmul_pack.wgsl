// Packs a row block of op(X) into an rgba32float texture for kernels/matmul.wgsl:
//   texel (c4, r) = [op(X)(r0 + r, 4c4), …, op(X)(r0 + r, 4c4 + 3)], zero past rows or cols,
// where op(X)(r, c) = TRANS ? x[off + c * ld + r] : x[off + r * ld + c].
// One invocation per texel of the w4 x h region.

struct Params {
  rows: u32, cols: u32, ld: u32, off: u32,
  r0: u32, w4: u32, h: u32, p0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var t: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<uniform> p: Params;

override TRANS: bool = false;

fn at(r: u32, c: u32) -> f32 {
  if (r >= p.rows || c >= p.cols) {
    return 0.0;
  }
  if (TRANS) {
    return x[p.off + c * p.ld + r];
  }
  return x[p.off + r * p.ld + c];
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c4 = gid.x;
  let r = gid.y;
  if (c4 >= p.w4 || r >= p.h) {
    return;
  }
  let c = 4u * c4;
  let rr = p.r0 + r;
  textureStore(t, vec2<u32>(c4, r), vec4<f32>(at(rr, c), at(rr, c + 1u), at(rr, c + 2u), at(rr, c + 3u)));
}
