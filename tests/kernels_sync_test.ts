import assert from "node:assert/strict";
import { composeKernel, generatedModule, isSnippet } from "../scripts/gen_kernels.ts";
import { matmulSource } from "../scripts/gen_matmul.ts";
import { KERNEL_CONSTANTS } from "../src/kernels/constants.ts";

const root = new URL("../", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(`kernels/${name}`, root));

Deno.test("generated kernel modules match kernels/*.wgsl (run `deno task gen:kernels`)", async () => {
  let count = 0;
  for await (const e of Deno.readDir(new URL("kernels/", root))) {
    if (!e.isFile || !e.name.endsWith(".wgsl") || isSnippet(e.name)) continue;
    const gen = await Deno.readTextFile(new URL(`src/kernels/${e.name}.ts`, root));
    assert.equal(
      gen,
      generatedModule(e.name, composeKernel(e.name, read)),
      `src/kernels/${e.name}.ts is stale`,
    );
    count++;
  }
  assert.ok(count > 0, "no kernels found");
});

Deno.test("composeKernel expands #include and #const lines and rejects bad ones", () => {
  const files: Record<string, string> = {
    "a.wgsl": 'x\n// #include "_b.wgsl"\n// #const MAXB = SPARSEGPT_MAX_BLOCK\ny',
    "_b.wgsl": "b1\nb2\n",
    "twice.wgsl": '// #include "_b.wgsl"\n// #include "_b.wgsl"',
    "plain.wgsl": '// #include "a.wgsl"',
    "unknown.wgsl": "// #const X = NO_SUCH_KEY",
    "typo.wgsl": "// #inclde _b.wgsl\n// #include _b.wgsl",
  };
  const rd = (n: string) => files[n];
  assert.equal(
    composeKernel("a.wgsl", rd),
    `x\nb1\nb2\nconst MAXB: u32 = ${KERNEL_CONSTANTS.SPARSEGPT_MAX_BLOCK}u;\ny`,
  );
  assert.throws(() => composeKernel("twice.wgsl", rd), /_b\.wgsl.*already has/);
  assert.throws(() => composeKernel("plain.wgsl", rd), /only snippets/);
  assert.throws(() => composeKernel("unknown.wgsl", rd), /NO_SUCH_KEY.*constants\.ts/);
  assert.throws(
    () => composeKernel("typo.wgsl", rd),
    /malformed directive "\/\/ #include _b\.wgsl"/,
  );
});

Deno.test("kernels/matmul.wgsl matches its generator (run scripts/gen_matmul.ts)", async () => {
  const src = await Deno.readTextFile(new URL("../kernels/matmul.wgsl", import.meta.url));
  assert.equal(src, matmulSource(), "kernels/matmul.wgsl is stale");
});
