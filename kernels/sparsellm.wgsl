// Elementwise updates of SparseLLM's auxiliary variables (one invocation per element).
// MODE selects the update; unused inputs are bound to any other buffer.
//   0 ReLU z-update (OPT):  out = z,   in1 = m (= W1·x + b1 of the pruned fc1), in2 = p.
//        z+ = max((g·p + a·m)/(g + a), 0), z- = min(m, 0); keep the one with the smaller
//        g·(p − relu(z))² + a·(z − m)² (ties: z+).
//   1 GLU z-update (LLaMA up branch): out = z, in1 = m (= Wu·x), in2 = p, in3 = s (gate pre-act):
//        z = (a·m + g·σ·p)/(a + g·σ²), σ = silu(s)  (exact minimiser).
//   2 GLU s-update (LLaMA gate): out = s, in1 = m (= Wg·x), in2 = p, in3 = z: minimise
//        a·(s − m)² + g·(p − silu(s)·z)² by safeguarded Gauss-Newton steps from the current s.
//   3 ReLU activation: out = relu(in1)
//   4 GLU activation:  out = silu(in1) · in2   (in1 = gate pre-act s, in2 = up z)
// GATE picks the gate function of modes 1, 2 and 4: 0 silu (LLaMA), 1 tanh-approximated GELU
// (Gemma's GeGLU): gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// A dispatch covers elements start .. start + count; each binding may be a window of its tensor,
// reached through its offset (o0 for out, o1..o3 for the inputs; u32 arithmetic wraps, so an
// offset may be "negative"): element e of a tensor is read at offset + e.

struct Params {
  count: u32, a: f32, g: f32, steps: u32,
  start: u32, o0: u32, o1: u32, o2: u32,
  o3: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> in1: array<f32>;
@group(0) @binding(2) var<storage, read> in2: array<f32>;
@group(0) @binding(3) var<storage, read> in3: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

override MODE: u32 = 0u;
override GATE: u32 = 0u;

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

fn silu(x: f32) -> f32 {
  return x * sigmoid(x);
}

fn gelu_tanh(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
  return 0.5 * x * (1.0 + t);
}

fn gate(x: f32) -> f32 {
  if (GATE == 1u) {
    return gelu_tanh(x);
  }
  return silu(x);
}

// d gate / dx
fn gate_deriv(x: f32) -> f32 {
  if (GATE == 1u) {
    let c = 0.7978845608028654;
    let u = c * (x + 0.044715 * x * x * x);
    let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
  }
  let sg = sigmoid(x);
  return sg * (1.0 + x * (1.0 - sg));
}

fn glu_obj(s: f32, m: f32, p: f32, z: f32) -> f32 {
  let r = p - gate(s) * z;
  return u.a * (s - m) * (s - m) + u.g * r * r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let k = (wid.x + wid.y * nwg.x) * 256u + li;
  if (k >= u.count) {
    return;
  }
  let e = u.start + k;
  if (MODE == 0u) {
    let m = in1[u.o1 + e];
    let p = in2[u.o2 + e];
    let zp = max((u.g * p + u.a * m) / (u.g + u.a), 0.0);
    let zn = min(m, 0.0);
    let fp = u.g * (p - zp) * (p - zp) + u.a * (zp - m) * (zp - m);
    let fn_ = u.g * p * p + u.a * (zn - m) * (zn - m);
    out[u.o0 + e] = select(zp, zn, fn_ < fp);
  } else if (MODE == 1u) {
    let m = in1[u.o1 + e];
    let p = in2[u.o2 + e];
    let sg = gate(in3[u.o3 + e]);
    out[u.o0 + e] = (u.a * m + u.g * sg * p) / (u.a + u.g * sg * sg);
  } else if (MODE == 2u) {
    let m = in1[u.o1 + e];
    let p = in2[u.o2 + e];
    let z = in3[u.o3 + e];
    var s = out[u.o0 + e];
    var f = glu_obj(s, m, p, z);
    // also consider the prior's minimiser as a start
    let fm = glu_obj(m, m, p, z);
    if (fm < f) {
      s = m;
      f = fm;
    }
    for (var k = 0u; k < u.steps; k++) {
      let ds = gate_deriv(s);
      let r = p - gate(s) * z;
      let grad = 2.0 * u.a * (s - m) - 2.0 * u.g * r * z * ds;
      let hess = 2.0 * u.a + 2.0 * u.g * z * z * ds * ds;
      var step = grad / hess;
      var accepted = false;
      for (var h = 0u; h < 6u; h++) {
        let sn = s - step;
        let fnew = glu_obj(sn, m, p, z);
        if (fnew < f) {
          s = sn;
          f = fnew;
          accepted = true;
          break;
        }
        step = step * 0.5;
      }
      if (!accepted) {
        break;
      }
    }
    out[u.o0 + e] = s;
  } else if (MODE == 3u) {
    out[u.o0 + e] = max(in1[u.o1 + e], 0.0);
  } else {
    out[u.o0 + e] = gate(in1[u.o1 + e]) * in2[u.o2 + e];
  }
}
