// The README's library example type-checks against the real API (a new user copies it).

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./_cli_helpers.ts";

Deno.test("README: the library example type-checks against mod.ts and io.ts", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const section = readme.slice(readme.indexOf("## Library"));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m, "the Library section has a ts code block");
  const code = m[1].replaceAll('"./mod.ts"', '"../mod.ts"').replaceAll('"./io.ts"', '"../io.ts"');
  const dir = await Deno.makeTempDir({ dir: join(ROOT, "tests"), prefix: ".readme_" });
  try {
    const file = join(dir, "example.ts");
    await Deno.writeTextFile(file, code.replaceAll('"../', '"../../'));
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", file],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
