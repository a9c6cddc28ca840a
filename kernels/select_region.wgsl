// Exact k-th smallest score (k 0-based) of one rows x cols region by radix select across many
// workgroups: `init`, then four rounds of `histogram` + `scan` (one per 8-bit digit, bits
// 31..24 first), all recorded into one batch.
//
// The region's first element is w[offset], its row stride is ld, and its elements are numbered
// row-major, e = r*cols + c. Scores are computed on the fly:
//   scoreBits of _score.wgsl (MODE 0: |w|, magnitude; MODE 1: |w|·sqrt(colVec[colOff + c]), Wanda)
//
// out (u32 words) holds the state and the histogram:
//   out[0] = digits found so far; after the last scan, the bits of the k-th smallest score v
//   out[1] = rank left; after the last scan, k - #{score < v}
//   out[2 .. 258) = the 256-bin histogram of the current round (cleared by `scan`)
// histogram: workgroup g counts the scores of elements [g*chunk, (g+1)*chunk) whose upper digits
// equal out[0], in a workgroup histogram that it then adds to out[2 ..] with atomics.

struct Params {
  rows: u32, cols: u32, ld: u32, offset: u32,
  k: u32, colOff: u32, round: u32, chunk: u32,
  ngroups: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> colVec: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

override MODE: u32 = 0u;
override WG: u32 = 256u;

var<workgroup> hist: array<atomic<u32>, 256>;

// #include "_score.wgsl"

@compute @workgroup_size(256)
fn init(@builtin(local_invocation_index) li: u32) {
  atomicStore(&out[2u + li], 0u);
  if (li == 0u) {
    atomicStore(&out[0], 0u);
    atomicStore(&out[1], p.k);
  }
}

@compute @workgroup_size(WG)
fn histogram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.ngroups) {
    return;
  }
  let shift = 24u - 8u * p.round;
  let hiMask = ~(((1u << shift) << 8u) - 1u);
  let prefix = atomicLoad(&out[0]);
  for (var i = li; i < 256u; i += WG) {
    atomicStore(&hist[i], 0u);
  }
  workgroupBarrier();
  let n = p.rows * p.cols;
  let start = g * p.chunk;
  let end = min(n, start + p.chunk);
  let e0 = start + li;
  var r = e0 / p.cols;
  var c = e0 % p.cols;
  let dr = WG / p.cols;
  let dc = WG % p.cols;
  for (var e = e0; e < end; e += WG) {
    let b = scoreBits(p.offset + r * p.ld + c, c);
    if ((b & hiMask) == prefix) {
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
  for (var i = li; i < 256u; i += WG) {
    let h = atomicLoad(&hist[i]);
    if (h != 0u) {
      atomicAdd(&out[2u + i], h);
    }
  }
}

@compute @workgroup_size(1)
fn scan() {
  let shift = 24u - 8u * p.round;
  let prefix = atomicLoad(&out[0]);
  let rank = atomicLoad(&out[1]);
  var cum = 0u;
  var bin = 256u;
  for (var i = 0u; i < 256u; i++) {
    let h = atomicLoad(&out[2u + i]);
    atomicStore(&out[2u + i], 0u);
    if (bin == 256u) {
      if (rank < cum + h) {
        bin = i;
      } else {
        cum += h;
      }
    }
  }
  bin = min(bin, 255u);
  atomicStore(&out[0], prefix | (bin << shift));
  atomicStore(&out[1], rank - cum);
}
