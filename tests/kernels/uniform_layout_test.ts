import assert from "node:assert/strict";
import { composeKernel } from "../../scripts/gen_kernels.ts";
import type { UniformStruct } from "../../src/gpu/uniforms.ts";
import { ADD_SCALED_UNIFORMS } from "../../src/kernels/add_scaled.ts";
import { ADMM_UNIFORMS } from "../../src/kernels/admm.ts";
import { QUANT_UNIFORMS } from "../../src/kernels/quant.ts";
import { SPARSELLM_UNIFORMS } from "../../src/kernels/auxiliary.ts";
import { CHOLESKY_UNIFORMS } from "../../src/kernels/cholesky.ts";
import { COLNORM_UNIFORMS } from "../../src/kernels/colnorm.ts";
import { LINALG_UTIL_UNIFORMS } from "../../src/kernels/linalg_util.ts";
import { MASK_UNIFORMS } from "../../src/kernels/mask.ts";
import { MATMUL_EPILOGUE_UNIFORMS, MATMUL_UNIFORMS } from "../../src/kernels/matmul.ts";
import { MATMUL_PACK_UNIFORMS } from "../../src/kernels/matmul_operands.ts";
import { NLL_UNIFORMS } from "../../src/kernels/nll.ts";
import { REDUCE_UNIFORMS } from "../../src/kernels/reduce.ts";
import { SELECT_REGION_UNIFORMS, SELECT_SEGMENT_UNIFORMS } from "../../src/kernels/select.ts";
import { SPARSEGPT_UNIFORMS } from "../../src/kernels/sparsegpt.ts";
import { TRIINV_UNIFORMS } from "../../src/kernels/triinv.ts";

/** The kernels whose uniforms are declared in TS, by file, with every uniform struct they bind. */
const DECLARED: Record<string, readonly UniformStruct[]> = {
  "add_scaled.wgsl": ADD_SCALED_UNIFORMS,
  "admm.wgsl": ADMM_UNIFORMS,
  "cholesky.wgsl": CHOLESKY_UNIFORMS,
  "colnorm.wgsl": COLNORM_UNIFORMS,
  "linalg_util.wgsl": LINALG_UTIL_UNIFORMS,
  "mask.wgsl": MASK_UNIFORMS,
  "matmul.wgsl": MATMUL_UNIFORMS,
  "matmul_epilogue.wgsl": MATMUL_EPILOGUE_UNIFORMS,
  "matmul_pack.wgsl": MATMUL_PACK_UNIFORMS,
  "nll.wgsl": NLL_UNIFORMS,
  "quant.wgsl": QUANT_UNIFORMS,
  "reduce.wgsl": REDUCE_UNIFORMS,
  "select_region.wgsl": SELECT_REGION_UNIFORMS,
  "select_segment.wgsl": SELECT_SEGMENT_UNIFORMS,
  "sparsegpt.wgsl": SPARSEGPT_UNIFORMS,
  "sparsellm.wgsl": SPARSELLM_UNIFORMS,
  "triinv.wgsl": TRIINV_UNIFORMS,
};

/** The forward-pass kernels, whose wrappers still pack uniforms positionally. */
const NOT_DECLARED = [
  "activation.wgsl",
  "attention.wgsl",
  "attention_softmax.wgsl",
  "embed.wgsl",
  "norm.wgsl",
  "rope.wgsl",
];

const root = new URL("../../", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(`kernels/${name}`, root));

/** The structs of a WGSL source: name → fields `[name, type]` in order. */
function wgslStructs(source: string): Map<string, [string, string][]> {
  const out = new Map<string, [string, string][]>();
  const code = source.replace(/\/\/[^\n]*/g, "");
  for (const m of code.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}/g)) {
    const fields = m[2].split(",").map((f) => f.trim()).filter((f) => f.length > 0)
      .map((f): [string, string] => {
        const [name, type] = f.split(":").map((x) => x.trim());
        return [name, type];
      });
    out.set(m[1], fields);
  }
  return out;
}

/** The struct types bound as `var<uniform>` in a WGSL source. */
function uniformTypes(source: string): string[] {
  return [...source.matchAll(/var<uniform>\s+\w+\s*:\s*(\w+)\s*;/g)].map((m) => m[1]);
}

/** A field list with padding (names starting with `_`) written as `_`. */
const shape = (fields: readonly (readonly [string, string])[]) =>
  fields.map(([n, t]) => `${n.startsWith("_") ? "_" : n}: ${t}`);

Deno.test("every TS uniform layout matches the struct of its WGSL kernel, padding included", () => {
  for (const [file, declared] of Object.entries(DECLARED)) {
    const source = composeKernel(file, read);
    const structs = wgslStructs(source);
    const bound = uniformTypes(source);
    assert.deepEqual(
      [...declared.map((d) => d.name)].sort(),
      [...new Set(bound)].sort(),
      `${file}: the declared layouts are the uniform structs it binds`,
    );
    for (const d of declared) {
      const wgsl = structs.get(d.name);
      assert.ok(wgsl, `${file} has no struct ${d.name}`);
      assert.deepEqual(
        shape(d.fields.map((f) => [f.name, f.type] as const)),
        shape(wgsl),
        `${file}: struct ${d.name} differs from its TS layout`,
      );
      assert.deepEqual(shape(wgslStructs(d.wgsl()).get(d.name)!), shape(wgsl));
    }
  }
});

Deno.test("every kernel with uniforms is either declared in TS or a known forward-pass kernel", async () => {
  for await (const e of Deno.readDir(new URL("kernels/", root))) {
    if (!e.name.endsWith(".wgsl") || e.name.startsWith("_")) continue;
    const binds = uniformTypes(composeKernel(e.name, read)).length > 0;
    assert.ok(
      !binds || e.name in DECLARED || NOT_DECLARED.includes(e.name),
      `kernels/${e.name} binds uniforms but declares no TS layout`,
    );
  }
});

Deno.test("wgslStructs reads a struct the way the layout test needs", () => {
  const s = wgslStructs("// x\nstruct P {\n  a: u32, // c\n  b: f32,\n  _p0: u32,\n  _p1: u32,\n}");
  assert.deepEqual(s.get("P"), [["a", "u32"], ["b", "f32"], ["_p0", "u32"], ["_p1", "u32"]]);
});
