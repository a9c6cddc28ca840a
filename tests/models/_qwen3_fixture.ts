// Test-only: builds the qwen3-tiny fixture (testdata/models/arch/qwen3-tiny): a random-weight
// Qwen3ForCausalLM checkpoint in Hugging Face layout and its float64 reference.json.
//
// Source followed for the architecture: huggingface/transformers,
// src/transformers/models/qwen3/modeling_qwen3.py at commit
// 000c33fdfde12e1ffafbfcdb3c926df5727a00b6 — Qwen3Attention.__init__ (q/k/v/o_proj with
// bias = config.attention_bias; q_norm / k_norm = Qwen3RMSNorm(head_dim, rms_norm_eps)),
// Qwen3Attention.forward (q_norm(q_proj(x).view(..., heads, head_dim)), the same for k, then
// apply_rotary_pos_emb; scaling head_dim^-0.5), Qwen3RMSNorm (w · x / sqrt(mean(x²) + eps)),
// Qwen3MLP (down(silu(gate(x)) · up(x))), Qwen3DecoderLayer (pre-norm residual blocks).
//
// The reference is computed by tests/reference/model_ref.ts in float64 with the protocol of the
// other arch fixtures (testdata/models/arch/README.md, "Reference protocol").
//
// Regenerate: deno run -A tests/models/_qwen3_fixture.ts

import { architectureFor } from "../../src/models/families.ts";
import { expectedShapes } from "../../src/models/tensor_names.ts";
import { parseModelConfig } from "../../src/models/config.ts";
import { MemoryWeightSource } from "../../src/models/weights.ts";
import { modelRef } from "../reference/model_ref.ts";

/** config.json of qwen3-tiny. */
export const QWEN3_CONFIG: Record<string, unknown> = {
  architectures: ["Qwen3ForCausalLM"],
  model_type: "qwen3",
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 256,
  eos_token_id: 256,
  pad_token_id: 257,
  head_dim: 32,
  hidden_act: "silu",
  hidden_size: 64,
  initializer_range: 0.02,
  intermediate_size: 192,
  max_position_embeddings: 512,
  max_window_layers: 2,
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000.0,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: "float32",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 272,
};

/** Deterministic N(0, 1) samples: xorshift32 and Box–Muller. */
function gaussian(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/**
 * The fixture's tensors, drawn in sorted-name order from one generator (seed 1006): embeddings,
 * v/o/down projections N(0, 0.02); q/k/gate/up projections N(0, 0.1) (so attention and the
 * position features matter); RMSNorm weights (q_norm and k_norm included) 1 + 0.1·N(0, 1).
 */
export function qwen3Tensors(): Map<string, { shape: number[]; data: Float32Array }> {
  const config = parseModelConfig(QWEN3_CONFIG, "qwen3-tiny/config.json");
  const arch = architectureFor(config, ["model.embed_tokens.weight"]);
  const shapes = [...expectedShapes(arch)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const g = gaussian(1006);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const norm = name.endsWith("norm.weight");
    const wide = /(q_proj|k_proj|gate_proj|up_proj)\.weight$/.test(name);
    for (let i = 0; i < n; i++) {
      data[i] = norm ? 1 + 0.1 * g() : (wide ? 0.1 : 0.02) * g();
    }
    out.set(name, { shape, data });
  }
  return out;
}

/** Serialises F32 tensors as a safetensors file (names sorted, header padded to 8 bytes). */
export function safetensorsBytes(
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let off = 0;
  for (const n of names) {
    const t = tensors.get(n)!;
    header[n] = { dtype: "F32", shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += " ";
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const n of names) {
    const d = tensors.get(n)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}

function topGap(row: Float64Array): number {
  let a = -Infinity, b = -Infinity;
  for (const v of row) {
    if (v > a) [a, b] = [v, a];
    else if (v > b) b = v;
  }
  return a - b;
}

/** reference.json of the fixture, computed in float64 by tests/reference/model_ref.ts. */
export async function qwen3Reference(text: Uint8Array): Promise<Record<string, unknown>> {
  const config = parseModelConfig(QWEN3_CONFIG, "qwen3-tiny/config.json");
  const tensors = qwen3Tensors();
  const source = new MemoryWeightSource(tensors);
  const arch = architectureFor(config, [...tensors.keys()]);
  const V = config.vocabSize;
  const sequences = [];
  for (const offset of [0, 100000]) {
    const ids = Int32Array.from(text.subarray(offset, offset + 64));
    const r = await modelRef(arch, source, ids, 1, 64);
    const nll = [...r.nll];
    sequences.push({
      source: "testdata/kjv/test.txt",
      byte_offset: offset,
      text: new TextDecoder().decode(text.subarray(offset, offset + 64)),
      token_ids: [...ids],
      next_token_nll: nll,
      mean_nll: nll.reduce((a, b) => a + b, 0) / nll.length,
      argmax: [...r.argmax],
      top1_top2_logit_gap: Array.from(
        { length: 64 },
        (_, t) => topGap(r.logits.subarray(t * V, (t + 1) * V)),
      ),
      logits: {
        "0": [...r.logits.subarray(0, 8)],
        "63": [...r.logits.subarray(63 * V, 63 * V + 8)],
      },
    });
  }
  const windows = Int32Array.from(text.subarray(0, 512));
  const r = await modelRef(arch, source, windows, 8, 64);
  const perWindow = Array.from({ length: 8 }, (_, w) => {
    const s = r.nll.subarray(w * 63, (w + 1) * 63);
    return s.reduce((a, b) => a + b, 0) / 63;
  });
  const mean = r.nll.reduce((a, b) => a + b, 0) / r.nll.length;
  return {
    model: "qwen3-tiny",
    computed_by: "tests/reference/model_ref.ts (float64), tests/models/_qwen3_fixture.ts",
    transformers: {
      file: "src/transformers/models/qwen3/modeling_qwen3.py",
      commit: "000c33fdfde12e1ffafbfcdb3c926df5727a00b6",
      used_for: "Qwen3RMSNorm; Qwen3Attention (q_norm/k_norm over head_dim before RoPE); " +
        "Qwen3MLP; Qwen3DecoderLayer",
    },
    sequences,
    test_mean_nll_seqlen64_first8: mean,
    test_ppl_seqlen64_first8: Math.exp(mean),
    test_window_mean_nll: perWindow,
  };
}

if (import.meta.main) {
  const root = new URL("../../testdata/models/arch/", import.meta.url);
  const dir = new URL("qwen3-tiny/", root);
  await Deno.mkdir(dir, { recursive: true });
  // Tokenizer and generation files: the byte-level ones every arch fixture shares.
  for (
    const f of [
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "special_tokens_map.json",
      "vocab.json",
      "merges.txt",
    ]
  ) {
    await Deno.copyFile(new URL(`qwen2-tiny/${f}`, root), new URL(f, dir));
  }
  await Deno.writeTextFile(
    new URL("config.json", dir),
    JSON.stringify(QWEN3_CONFIG, null, 2) + "\n",
  );
  await Deno.writeFile(new URL("model.safetensors", dir), safetensorsBytes(qwen3Tensors()));
  const text = await Deno.readFile(new URL("../../testdata/kjv/test.txt", import.meta.url));
  await Deno.writeTextFile(
    new URL("reference.json", dir),
    JSON.stringify(await qwen3Reference(text), null, 1) + "\n",
  );
  console.log(`wrote ${dir.pathname}`);
}
