// Causal multi-head attention with grouped key/value heads, fused with an online softmax, so no
// score matrix is stored. One invocation per (sequence, head, query row i); it loops over the
// keys j <= i of its own sequence, keeping the running maximum m, the running sum l of
// exp(score - m) and the running weighted sum of value rows (f32 throughout):
//   o[i] = sum_j softmax_j(scale * q[i] . k[j]) * v[j]
// Rows: token t = s*seqlen + i of sequence s. q row t starts at offQ + t*ldq, query head h at
// + h*headDim; key/value head kh = h / (heads / kvHeads) at offK + t*ldk + kh*headDim (same for
// v). Output head h of row t goes to offO + t*ldo + h*headDim.
// With window > 0 (sliding-window attention, Mistral), query i attends keys
// max(0, i + 1 - window) .. i only: the `window` most recent positions including itself.
// headDim must be a multiple of 4 and at most 4 * MAX_VEC4 (the wrapper checks).
// Linear index = (wid.x + wid.y * nwg.x) * WG + li; consecutive invocations are consecutive
// queries of one head, so a workgroup reads the same key and value rows.

struct Params {
  nseq: u32, seqlen: u32, heads: u32, kvHeads: u32,
  headDim: u32, ldq: u32, ldk: u32, ldv: u32,
  ldo: u32, offQ: u32, offK: u32, offV: u32,
  offO: u32, scale: f32, window: u32, _pad1: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64u;
const MAX_VEC4: u32 = 64u;

fn load4(base: u32) -> vec4<f32> {
  return vec4<f32>(k[base], k[base + 1u], k[base + 2u], k[base + 3u]);
}

fn loadV4(base: u32) -> vec4<f32> {
  return vec4<f32>(v[base], v[base + 1u], v[base + 2u], v[base + 3u]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * WG + li;
  if (idx >= p.nseq * p.heads * p.seqlen) {
    return;
  }
  let i = idx % p.seqlen;
  let h = (idx / p.seqlen) % p.heads;
  let s = idx / (p.seqlen * p.heads);
  let kh = h / (p.heads / p.kvHeads);
  let nv = p.headDim / 4u;
  let t0 = s * p.seqlen;

  var qv: array<vec4<f32>, MAX_VEC4>;
  var acc: array<vec4<f32>, MAX_VEC4>;
  let qb = p.offQ + (t0 + i) * p.ldq + h * p.headDim;
  for (var c = 0u; c < nv; c++) {
    let b = qb + 4u * c;
    qv[c] = vec4<f32>(q[b], q[b + 1u], q[b + 2u], q[b + 3u]) * p.scale;
    acc[c] = vec4<f32>(0.0);
  }
  var m = -3.0e38;
  var l = 0.0;
  var j0 = 0u;
  if (p.window > 0u && i + 1u > p.window) {
    j0 = i + 1u - p.window;
  }
  for (var j = j0; j <= i; j++) {
    let kb = p.offK + (t0 + j) * p.ldk + kh * p.headDim;
    var d = vec4<f32>(0.0);
    for (var c = 0u; c < nv; c++) {
      d = fma(qv[c], load4(kb + 4u * c), d);
    }
    let sc = d.x + d.y + d.z + d.w;
    if (sc > m) {
      let corr = exp(m - sc);
      l *= corr;
      for (var c = 0u; c < nv; c++) {
        acc[c] *= corr;
      }
      m = sc;
    }
    let e = exp(sc - m);
    l += e;
    let vb = p.offV + (t0 + j) * p.ldv + kh * p.headDim;
    for (var c = 0u; c < nv; c++) {
      acc[c] = fma(vec4<f32>(e), loadV4(vb + 4u * c), acc[c]);
    }
  }
  let inv = 1.0 / l;
  let ob = p.offO + (t0 + i) * p.ldo + h * p.headDim;
  for (var c = 0u; c < nv; c++) {
    let a = acc[c] * inv;
    let b = ob + 4u * c;
    o[b] = a.x;
    o[b + 1u] = a.y;
    o[b + 2u] = a.z;
    o[b + 3u] = a.w;
  }
}
