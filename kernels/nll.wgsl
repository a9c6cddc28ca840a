// Next-token negative log-likelihood and argmax from logits, one vocabulary block at a time, so
// that no softmax (and, for large vocabularies, no full logits row) is ever stored.
// One invocation per logits row r (global token row g = rowStart + r, g = s*seqlen + i):
// the block holds the logits of vocabulary ids [vocStart, vocStart + vocCount) at
// logits[offL + r*ldl + (id - vocStart)]. A running state per token row, state[3g..3g+2] =
// (max m, sum of exp(logit - m), logit of the target), and argmax[g] are updated block by block
// (first = 1 starts them); after every block
//   nll[g] = m + log(sum) - logit[target]      with target = ids[g + 1] when i < seqlen - 1
//   nll[g] = 0                                 at the last position of a sequence
// so the values written by the last block are the final ones. argmax keeps the first maximum
// over the whole vocabulary (blocks arrive in increasing vocStart order).
// Linear index = (wid.x + wid.y * nwg.x) * WG + li.

struct Params {
  rows: u32, rowStart: u32, seqlen: u32, ldl: u32,
  offL: u32, vocStart: u32, vocCount: u32, first: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
@group(0) @binding(3) var<storage, read_write> nll: array<f32>;
@group(0) @binding(4) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + li;
  if (r >= p.rows) {
    return;
  }
  let g = p.rowStart + r;
  let base = p.offL + r * p.ldl;
  var bm = logits[base];
  var bi = 0u;
  for (var c = 1u; c < p.vocCount; c++) {
    let x = logits[base + c];
    if (x > bm) {
      bm = x;
      bi = c;
    }
  }
  var bs = 0.0;
  for (var c = 0u; c < p.vocCount; c++) {
    bs += exp(logits[base + c] - bm);
  }
  let hasTarget = (g % p.seqlen) + 1u < p.seqlen;
  var tid = 0u;
  if (hasTarget) {
    tid = u32(ids[g + 1u]);
  }
  var m = bm;
  var s = bs;
  var tl = 0.0;
  var am = p.vocStart + bi;
  if (p.first == 0u) {
    let om = state[3u * g];
    let os = state[3u * g + 1u];
    tl = state[3u * g + 2u];
    if (om >= bm) {
      m = om;
      s = os + bs * exp(bm - om);
      am = argmax[g];
    } else {
      s = bs + os * exp(om - bm);
    }
  }
  if (hasTarget && tid >= p.vocStart && tid - p.vocStart < p.vocCount) {
    tl = logits[base + tid - p.vocStart];
  }
  state[3u * g] = m;
  state[3u * g + 1u] = s;
  state[3u * g + 2u] = tl;
  argmax[g] = am;
  if (hasTarget) {
    nll[g] = m + log(s) - tl;
  } else {
    nll[g] = 0.0;
  }
}
