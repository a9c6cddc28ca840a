// Round-to-nearest quantization (`--wbits` with magnitude and Wanda) and the per-row grids of
// SparseGPT's joint quantization; the grid is that of src/quant/grid.ts (GPTQ's min/max grid,
// f16 scales). One invocation per (row, group) of a rows×cols part of W at
// qw[wOff + r*ldw + c]: xmin = min(0, min w), xmax = max(0, max w) over the group's columns
// [g*gsize, min((g+1)*gsize, cols)), its (scale, zero) to qg[gOff + (r*groups + g)*2], and with
// APPLY every weight of the group replaced by its value on the grid (0 stays 0).
// The helpers below are the same as in kernels/sparsegpt.wgsl.

struct QuantParams {
  rows: u32, cols: u32, ldw: u32, wOff: u32,
  gOff: u32, groups: u32, gsize: u32, _p0: u32,
}
@group(0) @binding(0) var<storage, read_write> qw: array<f32>;
@group(0) @binding(1) var<storage, read_write> qg: array<f32>;
@group(0) @binding(2) var<uniform> qp: QuantParams;

override WBITS: u32 = 4u;
override QSYM: bool = false;
override APPLY: bool = true;

// #include "_quant_grid.wgsl"

@compute @workgroup_size(64)
fn rtn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + li;
  if (i >= qp.rows * qp.groups) {
    return;
  }
  let r = i / qp.groups;
  let g = i % qp.groups;
  let base = qp.wOff + r * qp.ldw;
  let c0 = g * qp.gsize;
  let c1 = min(c0 + qp.gsize, qp.cols);
  var xmin = 0.0;
  var xmax = 0.0;
  for (var c = c0; c < c1; c++) {
    xmin = min(xmin, qw[base + c]);
    xmax = max(xmax, qw[base + c]);
  }
  let grid = q_grid(xmin, xmax);
  qg[qp.gOff + 2u * i] = grid.x;
  qg[qp.gOff + 2u * i + 1u] = grid.y;
  if (APPLY) {
    for (var c = c0; c < c1; c++) {
      qw[base + c] = q_value(qw[base + c], grid);
    }
  }
}
