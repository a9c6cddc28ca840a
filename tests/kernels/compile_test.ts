import assert from "node:assert/strict";
import { composeKernel, isSnippet } from "../../scripts/gen_kernels.ts";
import { getGpu } from "../../src/gpu/device.ts";

const root = new URL("../../", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(`kernels/${name}`, root));

Deno.test("every composed kernel (snippets and constants expanded) is valid WGSL on the device", async () => {
  const gpu = await getGpu();
  const names: string[] = [];
  for await (const e of Deno.readDir(new URL("kernels/", root))) {
    if (e.name.endsWith(".wgsl") && !isSnippet(e.name)) names.push(e.name);
  }
  names.sort();
  assert.ok(names.includes("mask.wgsl") && names.includes("sparsegpt.wgsl"));
  for (const name of names) {
    gpu.device.pushErrorScope("validation");
    gpu.device.createShaderModule({ code: composeKernel(name, read), label: name });
    const error = await gpu.device.popErrorScope();
    assert.equal(error?.message, undefined, `kernels/${name} does not compile`);
  }
});

Deno.test("an invalid kernel is reported by the same check", async () => {
  const gpu = await getGpu();
  gpu.device.pushErrorScope("validation");
  gpu.device.createShaderModule({ code: "fn main() { let x: u32 = MISSING; }", label: "bad" });
  const error = await gpu.device.popErrorScope();
  assert.ok(error, "a kernel naming an undefined constant must fail validation");
});
