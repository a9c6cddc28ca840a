import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { basename, dirname, join, resolve } from "node:path";
import {
  AtomicOutputDir,
  CheckpointError,
  copyNonWeightFiles,
  isWeightFile,
  listNonWeightFiles,
} from "../../io.ts";
import { MODELS, withTempDir } from "./_helpers.ts";

const INDEX = "model.safetensors.index.json";
const ls = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

async function makeModel(dir: string): Promise<string> {
  const model = join(dir, "model");
  await Deno.mkdir(model);
  await Deno.writeTextFile(join(model, "config.json"), "{}");
  return model;
}

Deno.test("AtomicOutputDir writes into a hidden sibling and renames it into place", async () => {
  await withTempDir(async (dir) => {
    const model = await makeModel(dir);
    const out = await AtomicOutputDir.prepare(join(dir, "a", "out"), model);
    strictEqual(out.path, join(dir, "a", "out"));
    strictEqual(dirname(out.tmpPath), join(dir, "a"));
    ok(/^\.out\.tmp-[0-9a-f]{8}$/.test(basename(out.tmpPath)), out.tmpPath);
    await Deno.writeTextFile(join(out.tmpPath, "x.txt"), "hi");
    await rejects(Deno.stat(out.path), Deno.errors.NotFound);
    await out.commit();
    strictEqual(await Deno.readTextFile(join(dir, "a", "out", "x.txt")), "hi");
    deepStrictEqual(await ls(join(dir, "a")), ["out"]);
    await rejects(out.commit(), /already committed or aborted/);
    await out.abort(); // no-op after commit
    strictEqual(await Deno.readTextFile(join(dir, "a", "out", "x.txt")), "hi");
  });
});

Deno.test("AtomicOutputDir refuses output folders that overlap the model folder", async () => {
  await withTempDir(async (dir) => {
    const model = await makeModel(dir);
    await Deno.symlink(model, join(dir, "alias"));
    const cases: [string, RegExp][] = [
      [model, /Output folder ".*model" is the model folder ".*model" or inside it/],
      [join(model, "pruned"), /is the model folder .* or inside it/],
      [join(model, "..", "model", "."), /or inside it/],
      [join(dir, "alias"), /or inside it/], // same folder through a symlink
      [join(dir, "alias", "new", "deeper"), /or inside it/],
      [dir, /Output folder ".*" contains the model folder/],
    ];
    for (const [out, message] of cases) {
      await rejects(AtomicOutputDir.prepare(out, model, { force: true }), (e: Error) => {
        ok(e instanceof CheckpointError && message.test(e.message), `${out}: ${e}`);
        return true;
      });
    }
    deepStrictEqual(await ls(dir), ["alias", "model"]);
  });
});

Deno.test("AtomicOutputDir refuses a non-empty output without force and replaces it with force", async () => {
  await withTempDir(async (dir) => {
    const model = await makeModel(dir);
    const target = join(dir, "out");
    await Deno.mkdir(target);
    await Deno.writeTextFile(join(target, "old.txt"), "old");
    await rejects(
      AtomicOutputDir.prepare(target, model),
      /Output folder ".*out" is not empty; use force: true to replace it/,
    );
    await Deno.writeTextFile(join(dir, "file"), "");
    await rejects(
      AtomicOutputDir.prepare(join(dir, "file"), model, { force: true }),
      /exists and is not a folder/,
    );

    const out = await AtomicOutputDir.prepare(target, model, { force: true });
    await Deno.writeTextFile(join(out.tmpPath, "new.txt"), "new");
    await out.commit();
    deepStrictEqual(await ls(target), ["new.txt"]);
    deepStrictEqual(await ls(dir), ["file", "model", "out"]); // no backup or temp folder left

    // An existing empty folder needs no force.
    const empty = join(dir, "empty");
    await Deno.mkdir(empty);
    const out2 = await AtomicOutputDir.prepare(empty, model);
    await Deno.writeTextFile(join(out2.tmpPath, "a"), "");
    await out2.commit();
    deepStrictEqual(await ls(empty), ["a"]);
  });
});

Deno.test("AtomicOutputDir.abort() and disposal remove the temporary folder", async () => {
  await withTempDir(async (dir) => {
    const model = await makeModel(dir);
    const out = await AtomicOutputDir.prepare(join(dir, "out"), model);
    await Deno.writeTextFile(join(out.tmpPath, "partial"), "");
    await out.abort();
    await out.abort();
    deepStrictEqual(await ls(dir), ["model"]);
    await rejects(out.commit(), /already committed or aborted/);
    {
      await using out2 = await AtomicOutputDir.prepare(join(dir, "out"), model);
      await Deno.writeTextFile(join(out2.tmpPath, "partial"), "");
    }
    deepStrictEqual(await ls(dir), ["model"]);
  });
});

Deno.test("copyNonWeightFiles() copies config and tokenizer files but no weights", async () => {
  await withTempDir(async (dir) => {
    const src = `${MODELS}/opt-tiny`;
    const dst = join(dir, "dst");
    await Deno.mkdir(dst);
    const copied = await copyNonWeightFiles(src, dst);
    deepStrictEqual(copied, await ls(dst));
    ok(
      copied.includes("config.json") && copied.includes("tokenizer.json") &&
        copied.includes("generation_config.json"),
    );
    ok(!copied.includes("model.safetensors"));
    for (const name of copied) {
      deepStrictEqual(await Deno.readFile(join(dst, name)), await Deno.readFile(join(src, name)));
    }

    for (
      const name of [
        "model.safetensors",
        INDEX,
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
        "x.gguf",
      ]
    ) {
      ok(isWeightFile(name), name);
    }
    ok(!isWeightFile("tokenizer.json") && !isWeightFile("special_tokens_map.json"));
    const mixed = join(dir, "mixed");
    await Deno.mkdir(join(mixed, "sub"), { recursive: true });
    for (
      const name of ["model-00001-of-00002.safetensors", INDEX, "pytorch_model.bin", "merges.txt"]
    ) {
      await Deno.writeTextFile(join(mixed, name), "");
    }
    // A link to a file inside the folder counts as that file; a dangling one is skipped.
    await Deno.copyFile(resolve(src, "vocab.json"), join(mixed, "sub", "vocab.json"));
    await Deno.symlink(join(mixed, "sub", "vocab.json"), join(mixed, "vocab.json"));
    await Deno.symlink(join(dir, "nowhere"), join(mixed, "dangling.json"));
    deepStrictEqual(await listNonWeightFiles(mixed), ["merges.txt", "vocab.json"]);
    // A link leading out of the folder is listed, but copying refuses it, as for shards.
    await Deno.symlink(resolve(src, "config.json"), join(mixed, "config.json"));
    deepStrictEqual(await listNonWeightFiles(mixed), ["config.json", "merges.txt", "vocab.json"]);
    await rejects(copyNonWeightFiles(mixed, dst), (e: Error) => {
      ok(
        e instanceof CheckpointError &&
          /"config\.json" .* outside the model folder/.test(e.message),
      );
      return true;
    });
  });
});
