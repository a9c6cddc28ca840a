import assert from "node:assert/strict";
import { generatedModule } from "../scripts/gen_kernels.ts";
import { matmulSource } from "../scripts/gen_matmul.ts";

Deno.test("generated kernel modules match kernels/*.wgsl (run `deno task gen:kernels`)", async () => {
  const root = new URL("../", import.meta.url);
  let count = 0;
  for await (const e of Deno.readDir(new URL("kernels/", root))) {
    if (!e.isFile || !e.name.endsWith(".wgsl")) continue;
    const src = await Deno.readTextFile(new URL(`kernels/${e.name}`, root));
    const gen = await Deno.readTextFile(new URL(`src/kernels/${e.name}.ts`, root));
    assert.equal(gen, generatedModule(e.name, src), `src/kernels/${e.name}.ts is stale`);
    count++;
  }
  assert.ok(count > 0, "no kernels found");
});

Deno.test("kernels/matmul.wgsl matches its generator (run scripts/gen_matmul.ts)", async () => {
  const src = await Deno.readTextFile(new URL("../kernels/matmul.wgsl", import.meta.url));
  assert.equal(src, matmulSource(), "kernels/matmul.wgsl is stale");
});
