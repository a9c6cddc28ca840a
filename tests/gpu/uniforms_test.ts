import assert from "node:assert/strict";
import { Uniforms } from "../../src/gpu/kernel.ts";
import { uniformStruct } from "../../src/gpu/uniforms.ts";

Deno.test("UniformStruct.pack writes named values in declared order, as Uniforms does positionally", () => {
  const s = uniformStruct("P", { n: "u32", lower: "i32", alpha: "f32", _p0: "u32", off: "u32" });
  assert.deepEqual(s.fields.map((f) => f.name), [
    "n",
    "lower",
    "alpha",
    "_p0",
    "off",
    "_p1",
    "_p2",
    "_p3",
  ]);
  assert.equal(s.words, 8);
  const got = s.pack({ off: -3, alpha: 0.1, lower: -5, n: 2 ** 32 + 7 });
  const want = new Uniforms().u32(2 ** 32 + 7).i32(-5).f32(0.1).u32(0, -3).bytes();
  assert.deepEqual(got, want);
  assert.equal(new Float32Array(got.buffer)[2], Math.fround(0.1));
  assert.equal(got[4], 2 ** 32 - 3);
});

Deno.test("uniformStruct pads to 16 bytes and prints its WGSL declaration", () => {
  const s = uniformStruct("Q", { a: "u32", _p0: "u32" });
  assert.equal(s.words, 4);
  assert.equal(s.wgsl(), "struct Q {\n  a: u32,\n  _p0: u32,\n  _p1: u32,\n  _p2: u32,\n}");
  assert.equal(uniformStruct("R", { a: "f32", b: "f32", c: "f32", d: "f32" }).words, 4);
  assert.equal(uniformStruct("S", { a: "f32", b: "f32", c: "f32", d: "f32", e: "u32" }).words, 8);
});

Deno.test("UniformStruct.pack names a missing or non-finite field", () => {
  const s = uniformStruct("P", { rows: "u32", scale: "f32" });
  assert.throws(() => s.pack({ scale: 1 } as never), /struct P: field "rows" is undefined/);
  assert.throws(() => s.pack({ rows: NaN, scale: 1 }), /field "rows" is NaN/);
  assert.equal(new Float32Array(s.pack({ rows: 1, scale: -Infinity }).buffer)[1], -Infinity);
});
