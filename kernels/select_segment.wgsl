// Exact k-th smallest score (k 0-based) by radix select, one workgroup per segment, optionally
// fused with the mask that the selected value defines.
//
// Segment s (s < nseg) is the rows x cols region whose first element is w[offset + s*segStride],
// with row stride ld; its elements are numbered row-major, e = r*cols + c. The score of an
// element is computed on the fly from the weight (and a per-column vector):
//   scoreBits of _score.wgsl (MODE 0: |w|, magnitude; MODE 1: |w|·sqrt(colVec[colOff + c]), Wanda)
// Scores are non-negative, so their f32 bit patterns (sign bit cleared, so -0 reads as +0)
// order like the values. Four passes over 8-bit digits (bits 31..24, 23..16, 15..8, 7..0) build
// a workgroup histogram of the scores that share the digits found so far; invocation 0 walks the
// 256 bins to fix the next digit and the rank left inside it.
//
// After the passes v = the k-th smallest score and rank = k - #{score < v} (its position among
// the scores equal to v). Then, by OUTPUT:
//   0: out[outOff + 2s] = bits of v, out[outOff + 2s + 1] = rank (w is not written)
//   1: zero every weight with score <= v (threshold rule; ties can prune more than k + 1)
//   2: zero exactly k + 1 weights: all with score < v and the first rank + 1 with score = v in
//      element order (ties go to the lower index, as a stable sort would order them). When
//      every score equal to v is pruned (e.g. v is unique) this is rule 1, done in one pass;
//      otherwise each invocation takes a contiguous chunk and a scan of the chunks' tie counts
//      gives each tie its rank.
//
// With LOAD (one segment) the selection is skipped: v and rank are read from out[outOff] and
// out[outOff + 1], as select_region leaves them for a region split into row blocks, and each
// block is pruned by its own dispatch, in order. With OUTPUT 2 the dispatch then subtracts the
// ties it pruned from the rank (wrapping below 0 when none are left), for the next block.

struct Params {
  rows: u32, cols: u32, ld: u32, offset: u32,
  segStride: u32, nseg: u32, k: u32, colOff: u32,
  outOff: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
// read only; declared read_write so that an unused vector may alias w
@group(0) @binding(1) var<storage, read_write> colVec: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

override MODE: u32 = 0u;
override OUTPUT: u32 = 0u;
override LOAD: bool = false;
override WG: u32 = 256u;

var<workgroup> hist: array<atomic<u32>, 256>;
// prefix: digits found so far; rank: position left among the scores with that prefix;
// ties: how many scores have the prefix (after the last round: how many equal v)
struct State {
  prefix: u32,
  rank: u32,
  ties: u32,
}
var<workgroup> wgState: State;
var<workgroup> ties: array<u32, WG>;

// #include "_score.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let seg = wid.x + wid.y * nwg.x;
  if (seg >= p.nseg) {
    return;
  }
  let base = p.offset + seg * p.segStride;
  let n = p.rows * p.cols;
  // each invocation visits e = li, li + WG, ...; (r, c) advance by (dr, dc) with a carry
  let dr = WG / p.cols;
  let dc = WG % p.cols;
  let r0 = li / p.cols;
  let c0 = li % p.cols;

  var st = State(0u, p.k, 0u);
  if (LOAD) {
    if (li == 0u) {
      wgState = State(out[p.outOff], out[p.outOff + 1u], 0u);
    }
    st = workgroupUniformLoad(&wgState);
  }
  // the four rounds of the radix select, none with LOAD
  for (var round = 0u; round < select(4u, 0u, LOAD); round++) {
    let shift = 24u - 8u * round;
    // the digits above this round (0 on the first round: (1 << 32) wraps to 0)
    let hiMask = ~(((1u << shift) << 8u) - 1u);
    for (var i = li; i < 256u; i += WG) {
      atomicStore(&hist[i], 0u);
    }
    workgroupBarrier();
    var r = r0;
    var c = c0;
    for (var e = li; e < n; e += WG) {
      let b = scoreBits(base + r * p.ld + c, c);
      if ((b & hiMask) == st.prefix) {
        atomicAdd(&hist[(b >> shift) & 255u], 1u);
      }
      c += dc;
      r += dr;
      if (c >= p.cols) {
        c -= p.cols;
        r += 1u;
      }
    }
    workgroupBarrier();
    if (li == 0u) {
      var cum = 0u;
      var bin = 0u;
      var h = 0u;
      for (; bin < 256u; bin++) {
        h = atomicLoad(&hist[bin]);
        if (st.rank < cum + h) {
          break;
        }
        cum += h;
      }
      wgState = State(st.prefix | (bin << shift), st.rank - cum, h);
    }
    st = workgroupUniformLoad(&wgState);
  }
  let prefix = st.prefix;
  let rank = st.rank;

  if (OUTPUT == 0u) {
    if (li == 0u) {
      out[p.outOff + 2u * seg] = prefix;
      out[p.outOff + 2u * seg + 1u] = rank;
    }
    return;
  }

  // rule 2 with every tie pruned (e.g. a unique v) is rule 1
  if (OUTPUT == 1u || (!LOAD && rank + 1u == st.ties)) {
    var r = r0;
    var c = c0;
    for (var e = li; e < n; e += WG) {
      let idx = base + r * p.ld + c;
      if (scoreBits(idx, c) <= prefix) {
        w[idx] = 0.0;
      }
      c += dc;
      r += dr;
      if (c >= p.cols) {
        c -= p.cols;
        r += 1u;
      }
    }
    return;
  }

  // OUTPUT 2: each invocation owns a contiguous chunk, so that an exclusive scan of the tie
  // counts gives every tie its index-order rank.
  let chunk = (n + WG - 1u) / WG;
  let start = min(n, li * chunk);
  let end = min(n, start + chunk);
  var count = 0u;
  var r = start / p.cols;
  var c = start % p.cols;
  for (var e = start; e < end; e++) {
    if (scoreBits(base + r * p.ld + c, c) == prefix) {
      count++;
    }
    c++;
    if (c == p.cols) {
      c = 0u;
      r++;
    }
  }
  ties[li] = count;
  workgroupBarrier();
  if (li == 0u) {
    var acc = 0u;
    for (var i = 0u; i < WG; i++) {
      let t = ties[i];
      ties[i] = acc;
      acc += t;
    }
    if (LOAD) {
      out[p.outOff + 1u] = rank - min(acc, rank + 1u);
    }
  }
  workgroupBarrier();
  var seen = ties[li];
  let budget = rank + 1u;
  r = start / p.cols;
  c = start % p.cols;
  for (var e = start; e < end; e++) {
    let idx = base + r * p.ld + c;
    let b = scoreBits(idx, c);
    if (b < prefix) {
      w[idx] = 0.0;
    } else if (b == prefix) {
      if (seen < budget) {
        w[idx] = 0.0;
      }
      seen++;
    }
    c++;
    if (c == p.cols) {
      c = 0u;
      r++;
    }
  }
}
