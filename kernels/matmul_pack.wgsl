// Packs a block of the stored matrix X[z] into layer z of an rgba32float array texture for
// kernels/matmul.wgsl (which reads A, Aᵀ, B and Bᵀ in their stored layouts):
//   texel (c4, r) of layer z = [X[z](r0 + r, 4c4), …, X[z](r0 + r, 4c4 + 3)],
// zero past rows or cols, where X[z](r, c) = x[off + z * stride + r * ld + c] and x may be a
// window of the tensor (off is then relative to the window).
// One invocation per texel of the region: texel columns c40 .. c40 + w4, rows r0 .. r0 + h
// (written to texture rows t0 .. t0 + h), batch entries z (the dispatch's z) written to
// layers z0 + z. Index arithmetic wraps in u32, so `off` may be "negative" for a window that
// starts past the operand's first element.

struct Params {
  rows: u32, cols: u32, ld: u32, off: u32,
  r0: u32, w4: u32, h: u32, stride: u32,
  z0: u32, c40: u32, t0: u32, _pad0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var t: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(2) var<uniform> p: Params;

fn at(base: u32, r: u32, c: u32) -> f32 {
  if (r >= p.rows || c >= p.cols) {
    return 0.0;
  }
  return x[base + r * p.ld + c];
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.y;
  if (gid.x >= p.w4 || r >= p.h) {
    return;
  }
  let c4 = p.c40 + gid.x;
  let base = p.off + gid.z * p.stride;
  let c = 4u * c4;
  let rr = p.r0 + r;
  let v = vec4<f32>(at(base, rr, c), at(base, rr, c + 1u), at(base, rr, c + 2u), at(base, rr, c + 3u));
  textureStore(t, vec2<u32>(c4, p.t0 + r), p.z0 + gid.z, v);
}
