// The panel kernel of the recursive Cholesky factorisation A = L·Lᵀ (lower triangle, f32,
// row-major with leading dimension ld) in src/linalg/cholesky.ts. For each panel of b ≤ 64
// columns starting at k:
//   factor_diag  one workgroup factors the b×b diagonal block A[k:k+b, k:k+b] in workgroup
//                memory (LDLᵀ-style: one barrier per column), writes L_kk back into A and
//                L_kk⁻¹ into `dkk` (64×64, leading dimension 64). A pivot that is not a finite
//                positive number is recorded with atomicMin(status, column); that column of L
//                becomes the unit vector e_j and row j of L_kk⁻¹ is zeroed, so the rows below
//                get x_j = 0: the failed column is decoupled and nothing grows or turns NaN.
//   (a matmul then forms the rows below in place, A[k+b:n, k:k+b]·L_kk⁻ᵀ)
// Only the lower triangle of A is read. A is bound as a window of the rows the block touches:
// aOff is relative to the window and may wrap around (u32), while k is global, so
// `aOff + (k + r)*ld + k + c` lands in the window.

const NB: u32 = 64u;

struct Params { ld: u32, k: u32, b: u32, statusOff: u32, aOff: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> dkk: array<f32>;
@group(0) @binding(2) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> blk: array<f32, 4096>;
var<workgroup> pivs: array<f32, 64>;

fn goodPivot(d: f32) -> bool {
  return d > 0.0 && (bitcast<u32>(d) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(64)
fn factor_diag(@builtin(local_invocation_index) t: u32) {
  let b = p.b;
  let base = p.aOff + p.k * p.ld + p.k;
  for (var e = t; e < b * b; e += NB) {
    let r = e / b;
    let c = e % b;
    if (c <= r) {
      blk[r * NB + c] = a[base + r * p.ld + c];
    }
  }
  workgroupBarrier();
  // Column j: with d = A'[j][j] (A' = updated values, not yet scaled),
  // A'[t][c] -= A'[t][j] · A'[c][j] / d for j < c ≤ t. Step j reads only column j and writes
  // only columns > j, so one barrier per column is enough. L[t][j] = A'[t][j] / sqrt(d_j).
  for (var j = 0u; j < b; j++) {
    let d = blk[j * NB + j];
    let ok = goodPivot(d);
    if (t == j) {
      pivs[j] = select(0.0, d, ok);
      if (!ok) {
        atomicMin(&status[p.statusOff], p.k + j);
      }
    }
    if (ok && t > j && t < b) {
      let f = blk[t * NB + j] / d;
      for (var c = j + 1u; c <= t; c++) {
        blk[t * NB + c] -= f * blk[c * NB + j];
      }
    }
    workgroupBarrier();
  }
  // scale into L (in place; each entry depends only on itself) and store
  for (var e = t; e < b * b; e += NB) {
    let r = e / b;
    let c = e % b;
    let pc = pivs[c];
    var v = 0.0;
    if (c < r) {
      v = select(0.0, blk[r * NB + c] / sqrt(pc), pc != 0.0);
    } else if (c == r) {
      v = select(1.0, sqrt(pc), pc != 0.0);
    }
    if (c <= r) {
      blk[r * NB + c] = v;
      a[base + r * p.ld + c] = v;
    }
  }
  workgroupBarrier();
  // column t of L_kk⁻¹ by forward substitution; rows of failed columns are zeroed
  if (t < b) {
    var x: array<f32, 64>;
    x[t] = 1.0 / blk[t * NB + t];
    for (var i = t + 1u; i < b; i++) {
      var acc = 0.0;
      for (var k = t; k < i; k++) {
        acc += blk[i * NB + k] * x[k];
      }
      x[i] = -acc / blk[i * NB + i];
    }
    for (var i = 0u; i < b; i++) {
      dkk[i * NB + t] = select(0.0, x[i], i >= t && pivs[i] != 0.0);
    }
  }
}
