// SparseGPT (block OBS pruning) kernels, f32. W is rows×cols row-major, U the upper-triangular
// factor of the damped inverse Hessian (H⁻¹ = UᵀU, cols×cols, leading dimension ldu).
// For the block of `count` columns starting at i1 (see src/prune/sparsegpt.ts):
//   dead_cols     W[:, j] = 0 where H[j][j] == 0 (the caller then sets those H[j][j] = 1)
//   radix_hist    histogram of `width` bits (from bit `shift`) of the u32 patterns of the block
//                 scores w²/U_jj² (≥ 0, so their bit patterns sort like the floats), counting
//                 only scores whose higher bits equal the prefix selected so far
//   radix_select  one invocation: find the bin holding the k-th smallest score, extend the
//                 prefix, subtract the counts below, clear the histogram. After three passes
//                 sel[0] holds the exact bit pattern of the k-th smallest score (the threshold).
//   sweep         one invocation per row loops over the block's columns: mask (unstructured:
//                 score ≤ threshold, from the block-start weights; N:M: the N smallest scores of
//                 each group of M, from the compensated weights when the group is reached),
//                 e = w/U_jj for pruned weights, W1[r, j+1:] -= e·U[j, j+1:],
//                 Err[r, j] = e,
//                 loss[r] += Σ w²/U_jj²/2. Skipped (Err = 0) when the factor status failed.
//                 With WBITS > 0 (GPTQ-style joint quantization, see src/quant/grid.ts) each
//                 kept weight becomes q = its value on the row's grid as its column is
//                 reached, e = (w − q)/U_jj for every column and the loss is Σ (w − q)²/U_jj²/2;
//                 pruned weights stay 0 (q(0) = 0). The grid (scale, zero) of row r and group g
//                 is at sgrid[qOff + r*qLd + 2g]: with QGROUP = 0 one group per row, found
//                 before the sweeps (kernels/quant.wgsl); with QGROUP > 0 the sweep finds each
//                 group's grid from the row's current weights when it reaches the group's first
//                 column (global column qCol + j) and stores it there. Per row, the sweep adds
//                 to sgrid[qStat + 3r ..]: kept weights that rounded to 0, Σ (w − q)² and Σ w²
//                 over kept weights (w the compensated weight just before rounding).
//   mark          the unstructured mask of a split sweep (see below), stored in Err; with
//                 marked = 2 the mask is given instead: the zeros of the bound W (a copy of the
//                 weights as another method pruned them, e.g. ADMM), so the sweep only
//                 compensates (and quantizes) with that mask fixed.
// sel layout (u32): [0] prefix, [1] remaining k, [2 ..] histogram (BINS = 2048 bins).
//
// Every kernel may work on a block of rows of W and on windows of W, U, Err and H (for matrices
// larger than one storage binding): it reaches element (r, c) of its part through an offset and
// a leading dimension, e.g. W[r, c] = w[wOff + r*ldw + c] with r and c relative to the part.
// Offsets into a window may wrap below 0 (u32 arithmetic) as long as the final index is inside.
// A split sweep runs the block's columns in pieces [ja, jb), each with the window of U rows
// i1 + ja .. i1 + jb; a row's weights go back to W between pieces, so the pieces compute what a
// single sweep does. The unstructured mask must come from the block-start weights, so before the
// first piece `mark` writes each piece's mask bits (1.0 = pruned) into the Err slots, which the
// sweep reads (`marked`) and overwrites with the errors when it reaches those columns.

const FAIL_NONE: u32 = 0xffffffffu;
// #const MAXB = SPARSEGPT_MAX_BLOCK
// #const MAXM = SPARSEGPT_MAX_M
// #const BINS = SPARSEGPT_SELECT_BINS

fn score(w: f32, d: f32) -> f32 {
  return (w * w) / (d * d);
}

// ---------------------------------------------------------------------------------------------
// A rows×cols part of W at dw[wOff + r*ldw + c]; column c's diagonal entry of H at
// dh[hOff + c*(ldh + 1)].
struct DeadParams {
  rows: u32, cols: u32, ldw: u32, wOff: u32,
  ldh: u32, hOff: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<storage, read_write> dw: array<f32>;
@group(0) @binding(1) var<storage, read> dh: array<f32>;
@group(0) @binding(2) var<uniform> ddp: DeadParams;

@compute @workgroup_size(256)
fn dead_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= ddp.rows * ddp.cols) {
    return;
  }
  let r = i / ddp.cols;
  let c = i % ddp.cols;
  if (dh[ddp.hOff + c * (ddp.ldh + 1u)] == 0.0) {
    dw[ddp.wOff + r * ddp.ldw + c] = 0.0;
  }
}

// ---------------------------------------------------------------------------------------------
// A rows×count part of the block: W[r, c] at hw[wOff + r*ldw + c], U[c, c] at
// hu[uOff + c*(ldu + 1)].
struct HistParams {
  rows: u32, count: u32, ldw: u32, ldu: u32,
  wOff: u32, uOff: u32, shift: u32, width: u32,
  usePrefix: u32, perWg: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<storage, read> hw: array<f32>;
@group(0) @binding(1) var<storage, read> hu: array<f32>;
@group(0) @binding(2) var<storage, read_write> hsel: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> hp: HistParams;

var<workgroup> lh: array<atomic<u32>, BINS>;

@compute @workgroup_size(256)
fn radix_hist(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  for (var i = li; i < BINS; i += 256u) {
    atomicStore(&lh[i], 0u);
  }
  workgroupBarrier();
  let numel = hp.rows * hp.count;
  let start = (wid.x + wid.y * nwg.x) * hp.perWg;
  let end = min(start + hp.perWg, numel);
  let prefix = atomicLoad(&hsel[0]);
  let hiShift = min(hp.shift + hp.width, 31u);
  let binMask = (1u << hp.width) - 1u;
  for (var e = start + li; e < end; e += 256u) {
    let r = e / hp.count;
    let c = e % hp.count;
    let bits = bitcast<u32>(score(hw[hp.wOff + r * hp.ldw + c], hu[hp.uOff + c * (hp.ldu + 1u)]));
    if (hp.usePrefix != 0u && (bits >> hiShift) != (prefix >> hiShift)) {
      continue;
    }
    atomicAdd(&lh[(bits >> hp.shift) & binMask], 1u);
  }
  workgroupBarrier();
  for (var i = li; i < BINS; i += 256u) {
    let v = atomicLoad(&lh[i]);
    if (v != 0u) {
      atomicAdd(&hsel[2u + i], v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
struct SelParams { shift: u32, width: u32, first: u32, k0: u32 }
@group(0) @binding(0) var<storage, read_write> sel: array<u32>;
@group(0) @binding(1) var<uniform> sp: SelParams;

@compute @workgroup_size(1)
fn radix_select() {
  var k = sel[1];
  var prefix = sel[0];
  if (sp.first != 0u) {
    k = sp.k0;
    prefix = 0u;
  }
  let nb = 1u << sp.width;
  var chosen = nb - 1u;
  var found = false;
  for (var i = 0u; i < nb; i++) {
    let h = sel[2u + i];
    if (!found) {
      if (k < h) {
        chosen = i;
        found = true;
      } else {
        k -= h;
      }
    }
    sel[2u + i] = 0u;
  }
  sel[0] = prefix | (chosen << sp.shift);
  sel[1] = k;
}

// ---------------------------------------------------------------------------------------------
// rows rows of the block of `count` columns: W[r, c] at sw[wOff + r*ldw + c],
// U[i1 + j, i1 + c] at su[uOff + j*ldu + c], Err[r, c] at serr[errOff + r*ldErr + c], the row's
// loss at sloss[lossOff + r]; this dispatch sweeps the columns [ja, jb).
struct SweepParams {
  rows: u32, count: u32, ldw: u32, ldu: u32,
  ldErr: u32, n: u32, m: u32, statusOff: u32,
  wOff: u32, uOff: u32, errOff: u32, lossOff: u32,
  ja: u32, jb: u32, marked: u32, qOff: u32,
  qLd: u32, qCol: u32, qStat: u32, _q0: u32,
}
@group(0) @binding(0) var<storage, read_write> sw: array<f32>;
@group(0) @binding(1) var<storage, read> su: array<f32>;
@group(0) @binding(2) var<storage, read> ssel: array<u32>;
@group(0) @binding(3) var<storage, read_write> serr: array<f32>;
@group(0) @binding(4) var<storage, read_write> sloss: array<f32>;
@group(0) @binding(5) var<storage, read> sstatus: array<u32>;
@group(0) @binding(6) var<uniform> swp: SweepParams;
@group(0) @binding(7) var<storage, read_write> sgrid: array<f32>;

// N:M mode (true) or unstructured threshold mode (false).
override NM: bool = false;
override WG: u32 = 64u;
// Joint quantization: bits (0: off), inputs per group (0: one grid per row), symmetric grid.
override WBITS: u32 = 0u;
override QGROUP: u32 = 0u;
override QSYM: bool = false;

// #include "_quant_grid.wgsl"

fn diag(c: u32) -> f32 {
  return su[swp.uOff + c * (swp.ldu + 1u)];
}

@compute @workgroup_size(WG)
fn sweep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + li;
  if (r >= swp.rows) {
    return;
  }
  let count = swp.count;
  let ja = swp.ja;
  let jb = swp.jb;
  let rowBase = swp.wOff + r * swp.ldw;
  let errBase = swp.errOff + r * swp.ldErr;
  if (sstatus[swp.statusOff] != FAIL_NONE) {
    for (var c = ja; c < jb; c++) {
      serr[errBase + c] = 0.0;
    }
    return;
  }
  var row: array<f32, MAXB>;
  for (var c = ja; c < count; c++) {
    row[c] = sw[rowBase + c];
  }
  var mask: array<u32, MAXB / 32u>;
  if (!NM) {
    let thr = ssel[0];
    for (var c = ja; c < jb; c++) {
      var pruned: bool;
      if (swp.marked != 0u) {
        pruned = serr[errBase + c] != 0.0;
      } else {
        pruned = bitcast<u32>(score(row[c], diag(c))) <= thr;
      }
      if (pruned) {
        mask[c >> 5u] |= 1u << (c & 31u);
      }
    }
  }
  var rl = 0.0;
  var sc: array<f32, MAXM>;
  // The grid of the group holding column ja (found earlier: before the sweeps or in an
  // earlier piece); replaced at each group start when QGROUP > 0.
  let qBase = swp.qOff + r * swp.qLd;
  var qg = vec2<f32>(1.0, 0.0);
  var qZeros = 0.0;
  var qErr = 0.0;
  var qNorm = 0.0;
  if (WBITS > 0u) {
    var gi = 0u;
    if (QGROUP > 0u) {
      gi = (swp.qCol + ja) / QGROUP;
    }
    qg = vec2<f32>(sgrid[qBase + 2u * gi], sgrid[qBase + 2u * gi + 1u]);
  }
  for (var j = ja; j < jb; j++) {
    let ub = swp.uOff + j * swp.ldu;
    if (WBITS > 0u && QGROUP > 0u && (swp.qCol + j) % QGROUP == 0u) {
      var xmin = 0.0;
      var xmax = 0.0;
      for (var c = j; c < min(j + QGROUP, count); c++) {
        xmin = min(xmin, row[c]);
        xmax = max(xmax, row[c]);
      }
      qg = q_grid(xmin, xmax);
      let gi = (swp.qCol + j) / QGROUP;
      sgrid[qBase + 2u * gi] = qg.x;
      sgrid[qBase + 2u * gi + 1u] = qg.y;
    }
    if (NM && j % swp.m == 0u) {
      let g = min(swp.m, count - j);
      for (var q = 0u; q < g; q++) {
        sc[q] = score(row[j + q], diag(j + q));
      }
      for (var q = 0u; q < g; q++) {
        var rank = 0u;
        for (var o = 0u; o < g; o++) {
          if (sc[o] < sc[q] || (sc[o] == sc[q] && o < q)) {
            rank++;
          }
        }
        if (rank < swp.n) {
          let c = j + q;
          mask[c >> 5u] |= 1u << (c & 31u);
        }
      }
    }
    var e = 0.0;
    let pruned = ((mask[j >> 5u] >> (j & 31u)) & 1u) != 0u;
    if (WBITS > 0u) {
      let w = row[j];
      let d = su[ub + j];
      var q = 0.0;
      if (!pruned) {
        q = q_value(w, qg);
        qZeros += select(0.0, 1.0, q == 0.0);
        qErr += (w - q) * (w - q);
        qNorm += w * w;
      }
      e = (w - q) / d;
      rl += ((w - q) * (w - q)) / (d * d);
      for (var c = j + 1u; c < count; c++) {
        row[c] -= e * su[ub + c];
      }
      row[j] = q;
    } else if (pruned) {
      let w = row[j];
      let d = su[ub + j];
      e = w / d;
      rl += (w * w) / (d * d);
      for (var c = j + 1u; c < count; c++) {
        row[c] -= e * su[ub + c];
      }
      row[j] = 0.0;
    }
    serr[errBase + j] = e;
  }
  sloss[swp.lossOff + r] += rl * 0.5;
  if (WBITS > 0u) {
    let st = swp.qStat + 3u * r;
    sgrid[st] += qZeros;
    sgrid[st + 1u] += qErr;
    sgrid[st + 2u] += qNorm;
  }
  for (var c = ja; c < count; c++) {
    sw[rowBase + c] = row[c];
  }
}

// The unstructured mask bits of columns [ja, jb), from the block-start weights (marked = 2: the
// zeros of the bound W, a given mask), into the Err slots of those columns (same bindings and
// parameters as `sweep`).
@compute @workgroup_size(WG)
fn mark(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + li;
  if (r >= swp.rows) {
    return;
  }
  let thr = ssel[0];
  let rowBase = swp.wOff + r * swp.ldw;
  let errBase = swp.errOff + r * swp.ldErr;
  let given = swp.marked == 2u;
  for (var c = swp.ja; c < swp.jb; c++) {
    var pruned: bool;
    if (given) {
      pruned = sw[rowBase + c] == 0.0;
    } else {
      pruned = bitcast<u32>(score(sw[rowBase + c], diag(c))) <= thr;
    }
    serr[errBase + c] = select(0.0, 1.0, pruned);
  }
}
