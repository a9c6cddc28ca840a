// The public surface of mod.ts stays small: every name is a promise on JSR.

import assert from "node:assert/strict";
import { ROOT } from "./_cli_helpers.ts";

Deno.test("mod.ts exports at most 40 names, none of the runtime's internals", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "mod.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const doc = JSON.parse(new TextDecoder().decode(r.stdout));
  const mod = Object.values(doc.nodes)[0] as { symbols: { name: string }[] };
  const names = new Set(mod.symbols.map((s) => s.name));
  assert.ok(names.size <= 40, `${names.size} names: ${[...names].join(", ")}`);
  for (
    const internal of ["Gpu", "BufferPool", "Uniforms", "kernelKey", "CausalLM", "prunePipeline"]
  ) {
    assert.ok(!names.has(internal), `${internal} is exported`);
  }
  for (const needed of ["SparseLLMPruner", "resolvePruneOptions", "evaluateModel", "getGpu"]) {
    assert.ok(names.has(needed), `${needed} is missing`);
  }
});
