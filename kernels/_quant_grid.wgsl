// Shared by quant.wgsl and sparsegpt.wgsl (included by `// #include "_quant_grid.wgsl"`): the
// min-max quantization grid of src/quant/grid.ts. The including kernel declares
// `override WBITS: u32` and `override QSYM: bool`.

// The nearest f16 value of x ≥ 0, ties to even (as src/quant/grid.ts f16Round).
fn f16_round(x: f32) -> f32 {
  if (!(x > 0.0)) {
    return x;
  }
  if (x < 6.103515625e-05) {
    return round(x * 16777216.0) / 16777216.0;
  }
  let u = bitcast<u32>(x);
  return bitcast<f32>((u + 0xfffu + ((u >> 13u) & 1u)) & ~0x1fffu);
}

// (scale, zero) of the range [xmin ≤ 0, xmax ≥ 0] (as src/quant/grid.ts gridFromRange).
fn q_grid(xmin0: f32, xmax0: f32) -> vec2<f32> {
  let maxq = f32((1u << WBITS) - 1u);
  var xmin = xmin0;
  var xmax = xmax0;
  if (QSYM) {
    xmax = max(-xmin, xmax);
    if (xmin < 0.0) {
      xmin = -xmax;
    }
  }
  if (xmin == 0.0 && xmax == 0.0) {
    xmin = -1.0;
    xmax = 1.0;
  }
  var scale = f16_round((xmax - xmin) / maxq);
  var zero = (maxq + 1.0) * 0.5;
  if (!QSYM) {
    zero = clamp(round(-xmin / scale), 0.0, maxq);
    // The GPTQ format stores zero − 1: a zero point of 0 becomes 1, xmax on the top level.
    if (zero == 0.0) {
      scale = f16_round(xmax / (maxq - 1.0));
      zero = 1.0;
    }
  }
  return vec2<f32>(scale, zero);
}

// x on the grid g: scale·(clamp(round(x/scale) + zero, 0, maxq) − zero).
fn q_value(x: f32, g: vec2<f32>) -> f32 {
  let maxq = f32((1u << WBITS) - 1u);
  return g.x * (clamp(round(x / g.x) + g.y, 0.0, maxq) - g.y);
}
