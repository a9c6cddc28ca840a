// Small dense linear-algebra helpers, f32, row-major with explicit leading dimensions.
// Entry points (each with its own bindings, see src/kernels/linalg_util.ts):
//   fill2d          dst[off + r*ld + c] = (r == c) ? diagBits : offBits   (u32 bit patterns, so it
//                   fills f32 and u32 buffers alike: zeros, identities, status words)
//   tri_fix         mode 0: zero the strict upper triangle; mode 1: mirror lower into upper;
//                   mode 2: mirror upper into lower
//   reverse         dst = J·src·J (J the index reversal); symLower reads src's lower triangle only
//   diag_copy       copy a diagonal into a vector or back
//   add_diag        one workgroup: optionally fix zero diagonal entries to 1, then add
//                   c + percent·mean(diag) to the diagonal; writes mean and the added value
//   check_finite    atomicMin(status, column) of every non-finite entry
//   zero_if_failed  zero a region when status != FAIL_NONE
// 1-D dispatches may be folded into (x, y): the linear workgroup index is wid.x + wid.y * nwg.x.
// Matrices larger than one binding are bound in windows (row blocks): the offsets in the
// uniforms are relative to the window and may wrap around (u32), while row indices are global,
// so `off + r*ld + c` lands in the window for the rows of the dispatch.

const FAIL_NONE: u32 = 0xffffffffu;

fn linearWg(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn nonFinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// ---------------------------------------------------------------------------------------------
// Fills rows r0 .. r0 + rows of the region.
struct FillParams {
  off: u32, ld: u32, rows: u32, cols: u32,
  offBits: u32, diagBits: u32, r0: u32, _p0: u32,
}
@group(0) @binding(0) var<storage, read_write> fillDst: array<u32>;
@group(0) @binding(1) var<uniform> fp: FillParams;

@compute @workgroup_size(256)
fn fill2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let i = linearWg(wid, nwg) * 256u + li;
  if (i >= fp.rows * fp.cols) {
    return;
  }
  let r = fp.r0 + i / fp.cols;
  let c = i % fp.cols;
  fillDst[fp.off + r * fp.ld + c] = select(fp.offBits, fp.diagBits, r == c);
}

// ---------------------------------------------------------------------------------------------
// Works on the tile rows r0 .. r0 + rows, columns c0 .. c0 + cols of the matrix. Entry (r, c) is
// triDst[dstOff + r*ld + c]; the mirrors read entry (c, r) at triSrc[srcOff + c*ld + r]. Both
// bindings may be windows of the same buffer (dst: rows of the tile, src: rows c0 .. c0 + cols).
struct TriParams {
  n: u32, ld: u32, dstOff: u32, srcOff: u32,
  mode: u32, r0: u32, rows: u32, c0: u32,
  cols: u32, _p0: u32, _p1: u32, _p2: u32,
}
@group(0) @binding(0) var<storage, read_write> triDst: array<f32>;
@group(0) @binding(1) var<storage, read_write> triSrc: array<f32>;
@group(0) @binding(2) var<uniform> tp: TriParams;

@compute @workgroup_size(256)
fn tri_fix(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let i = linearWg(wid, nwg) * 256u + li;
  if (i >= tp.rows * tp.cols) {
    return;
  }
  let r = tp.r0 + i / tp.cols;
  let c = tp.c0 + i % tp.cols;
  let upper = c > r;
  if (c == r || upper == (tp.mode == 2u)) {
    return;
  }
  if (tp.mode == 0u) {
    triDst[tp.dstOff + r * tp.ld + c] = 0.0;
  } else {
    triDst[tp.dstOff + r * tp.ld + c] = triSrc[tp.srcOff + c * tp.ld + r];
  }
}

// ---------------------------------------------------------------------------------------------
// Rows r0 .. r0 + rows of dst (dense n×n, at dstOff) from rows n − r0 − rows .. n − r0 of src.
struct RevParams {
  n: u32, symLower: u32, srcOff: u32, dstOff: u32,
  r0: u32, rows: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<storage, read> revSrc: array<f32>;
@group(0) @binding(1) var<storage, read_write> revDst: array<f32>;
@group(0) @binding(2) var<uniform> rp: RevParams;

@compute @workgroup_size(256)
fn reverse(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let i = linearWg(wid, nwg) * 256u + li;
  if (i >= rp.rows * rp.n) {
    return;
  }
  let r = rp.r0 + i / rp.n;
  let c = i % rp.n;
  var a = rp.n - 1u - r;
  var b = rp.n - 1u - c;
  if (rp.symLower != 0u && a < b) {
    let t = a;
    a = b;
    b = t;
  }
  revDst[rp.dstOff + r * rp.n + c] = revSrc[rp.srcOff + a * rp.n + b];
}

// ---------------------------------------------------------------------------------------------
// vec[vecOff + r] = A[off + r*(ld+1)] for r in r0 .. r0 + count, or back when toMatrix != 0.
struct CopyParams {
  count: u32, ld: u32, off: u32, vecOff: u32,
  r0: u32, toMatrix: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<storage, read_write> dcA: array<f32>;
@group(0) @binding(1) var<storage, read_write> dcVec: array<f32>;
@group(0) @binding(2) var<uniform> dcp: CopyParams;

@compute @workgroup_size(256)
fn diag_copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let i = linearWg(wid, nwg) * 256u + li;
  if (i >= dcp.count) {
    return;
  }
  let r = dcp.r0 + i;
  let m = dcp.off + r * (dcp.ld + 1u);
  if (dcp.toMatrix != 0u) {
    dcA[m] = dcVec[dcp.vecOff + r];
  } else {
    dcVec[dcp.vecOff + r] = dcA[m];
  }
}

// ---------------------------------------------------------------------------------------------
struct DiagParams {
  n: u32, ld: u32, off: u32, statsOff: u32,
  c: f32, percent: f32, fixZero: u32, _p0: u32,
}
@group(0) @binding(0) var<storage, read_write> diagA: array<f32>;
@group(0) @binding(1) var<storage, read_write> diagStats: array<f32>;
@group(0) @binding(2) var<uniform> dp: DiagParams;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn add_diag(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = li; i < dp.n; i += 256u) {
    let idx = dp.off + i * (dp.ld + 1u);
    var v = diagA[idx];
    if (dp.fixZero != 0u && v == 0.0) {
      v = 1.0;
      diagA[idx] = 1.0;
    }
    s += v;
  }
  red[li] = s;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (li < h) {
      red[li] += red[li + h];
    }
    workgroupBarrier();
  }
  let mean = red[0] / f32(max(dp.n, 1u));
  let add = dp.c + dp.percent * mean;
  if (add != 0.0) {
    for (var i = li; i < dp.n; i += 256u) {
      let idx = dp.off + i * (dp.ld + 1u);
      diagA[idx] = diagA[idx] + add;
    }
  }
  if (li == 0u) {
    diagStats[dp.statsOff] = mean;
    diagStats[dp.statsOff + 1u] = add;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks rows r0 .. r0 + rows of the region.
struct FinParams {
  rows: u32, cols: u32, ld: u32, off: u32,
  statusOff: u32, r0: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<storage, read> finA: array<f32>;
@group(0) @binding(1) var<storage, read_write> finStatus: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> fnp: FinParams;

@compute @workgroup_size(256)
fn check_finite(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let i = linearWg(wid, nwg) * 256u + li;
  if (i >= fnp.rows * fnp.cols) {
    return;
  }
  let r = fnp.r0 + i / fnp.cols;
  let c = i % fnp.cols;
  if (nonFinite(finA[fnp.off + r * fnp.ld + c])) {
    atomicMin(&finStatus[fnp.statusOff], c);
  }
}

// ---------------------------------------------------------------------------------------------
struct ZeroParams { count: u32, off: u32, statusOff: u32, _p0: u32 }
@group(0) @binding(0) var<storage, read_write> zA: array<f32>;
@group(0) @binding(1) var<storage, read> zStatus: array<u32>;
@group(0) @binding(2) var<uniform> zp: ZeroParams;

@compute @workgroup_size(256)
fn zero_if_failed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let i = linearWg(wid, nwg) * 256u + li;
  if (i >= zp.count || zStatus[zp.statusOff] == FAIL_NONE) {
    return;
  }
  zA[zp.off + i] = 0.0;
}
