// Row-wise normalisation, one invocation per row (f32 throughout):
//   LayerNorm (RMS = false): y = (x - mean(x)) / sqrt(var(x) + eps) * w (+ b), biased variance
//   RMSNorm   (RMS = true):  y = x / sqrt(mean(x^2) + eps) * w (+ b)
// where w is the stored weight plus wOffset (Gemma's RMSNorm x * (1 + w): wOffset = 1; else 0).
// Row r of x starts at offX + r*ldx, row r of y at offY + r*ldy; w and b hold `cols` values.
// The mean is subtracted before squaring (two passes), as torch.nn.functional.layer_norm does.

struct Params {
  rows: u32, cols: u32, ldx: u32, ldy: u32,
  offX: u32, offY: u32, eps: f32, wOffset: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override RMS: bool = false;
override HAS_BIAS: bool = true;
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = (wid.x + wid.y * nwg.x) * WG + li;
  if (r >= p.rows) {
    return;
  }
  let xo = p.offX + r * p.ldx;
  let yo = p.offY + r * p.ldy;
  let n = f32(p.cols);
  var mean = 0.0;
  if (!RMS) {
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) {
      s += x[xo + c];
    }
    mean = s / n;
  }
  var ss = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    let d = x[xo + c] - mean;
    ss += d * d;
  }
  let inv = 1.0 / sqrt(ss / n + p.eps);
  for (var c = 0u; c < p.cols; c++) {
    var v = (x[xo + c] - mean) * inv * (w[c] + p.wOffset);
    if (HAS_BIAS) {
      v += b[c];
    }
    y[yo + c] = v;
  }
}
