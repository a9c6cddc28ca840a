import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  CheckpointError,
  CheckpointReader,
  CheckpointWriter,
  encodeFromF32,
  INDEX_FILE,
  SafetensorsWriter,
} from "../../io.ts";
import { MODELS, numel, withTempDir } from "./_helpers.ts";

const PARAMS: Record<string, number> = {
  "opt-tiny": 134_016,
  "opt-small": 3_360_768,
  "llama-small": 3_303_680,
};
const TORCH_DTYPE: Record<string, string> = {
  "": "float32",
  "-f16": "float16",
  "-bf16": "bfloat16",
};

async function withReader(dir: string, fn: (r: CheckpointReader) => unknown): Promise<void> {
  const r = await CheckpointReader.open(dir);
  try {
    await fn(r);
  } finally {
    r.close();
  }
}

/** Writes a small model folder: config.json and one shard "shard.safetensors" holding tensor "a". */
async function makeShardedModel(dir: string, weightMap: Record<string, string>): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), '{"model_type":"opt"}');
  const w = await SafetensorsWriter.create(join(dir, "shard.safetensors"), [{
    name: "a",
    dtype: "F32",
    shape: [2],
  }]);
  await w.write("a", new Uint8Array(8));
  await w.close();
  await Deno.writeTextFile(
    join(dir, INDEX_FILE),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
}

Deno.test("CheckpointReader opens the fixtures: config, names, parameter counts, files", async () => {
  for (const [model, params] of Object.entries(PARAMS)) {
    for (const [suffix, torchDtype] of Object.entries(TORCH_DTYPE)) {
      await withReader(`${MODELS}/${model}${suffix}`, (r) => {
        strictEqual(r.config.model_type, model.startsWith("opt") ? "opt" : "llama");
        strictEqual(r.config.torch_dtype, torchDtype);
        strictEqual(r.names().reduce((n, name) => n + numel(r.info(name).shape), 0), params);
        strictEqual(r.has("lm_head.weight"), model === "llama-small");
        const info = r.info(r.names()[0]);
        strictEqual(info.file, "model.safetensors");
        strictEqual(info.dtype, { "": "F32", "-f16": "F16", "-bf16": "BF16" }[suffix]);
        ok(r.files().includes("tokenizer.json") && r.files().includes("config.json"));
        ok(!r.files().some((f) => f.endsWith(".safetensors")));
      });
    }
  }
  await withReader(`${MODELS}/opt-small`, async (r) => {
    deepStrictEqual(r.info("model.decoder.layers.0.fc1.weight").shape, [1024, 256]);
    throws(() => r.info("lm_head.weight"), {
      name: "CheckpointError",
      message: /Tensor "lm_head.weight" not found in checkpoint ".*opt-small"/,
    });
    await rejects(r.readF32("nope"), CheckpointError);
    strictEqual((await r.readF32("model.decoder.final_layer_norm.weight")).length, 256);
  });
});

Deno.test("F16 and BF16 fixtures decode to the F32 values rounded to half precision", async () => {
  for (const model of Object.keys(PARAMS)) {
    const ref = await CheckpointReader.open(`${MODELS}/${model}`);
    const f16 = await CheckpointReader.open(`${MODELS}/${model}-f16`);
    const bf16 = await CheckpointReader.open(`${MODELS}/${model}-bf16`);
    try {
      deepStrictEqual(f16.names(), ref.names());
      deepStrictEqual(bf16.names(), ref.names());
      for (const name of ref.names()) {
        const x = await ref.readF32(name);
        const h = await f16.readF32(name);
        for (let i = 0; i < x.length; i++) {
          // Half an F16 ulp (10 mantissa bits); subnormal spacing is 2^-24.
          const ulp = Math.max(2 ** (Math.floor(Math.log2(Math.abs(x[i]))) - 10), 2 ** -24);
          if (!(Math.abs(h[i] - x[i]) <= ulp / 2)) {
            throw new Error(`${model} ${name}[${i}]: ${x[i]} -> F16 ${h[i]}`);
          }
        }
        deepStrictEqual(await bf16.readRaw(name), encodeFromF32(x, "BF16"), `${model} ${name}`);
      }
    } finally {
      [ref, f16, bf16].forEach((r) => r.close());
    }
  }
});

Deno.test("CheckpointWriter writes a single file that reads back identically", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out");
    await withReader(`${MODELS}/opt-small`, async (src) => {
      const w = await CheckpointWriter.create(out, src.names().map((n) => src.info(n)));
      deepStrictEqual(w.files(), ["model.safetensors"]);
      for (const name of src.names().reverse()) await w.write(name, await src.readRaw(name));
      await w.close();
      deepStrictEqual([...Deno.readDirSync(out)].map((e) => e.name), ["model.safetensors"]);
      await Deno.writeTextFile(join(out, "config.json"), JSON.stringify(src.config));
      await withReader(out, async (back) => {
        deepStrictEqual(back.names(), src.names());
        for (const name of src.names()) {
          deepStrictEqual(await back.readRaw(name), await src.readRaw(name), name);
        }
      });
      deepStrictEqual(
        await Deno.readFile(join(out, "model.safetensors")),
        await Deno.readFile(`${MODELS}/opt-small/model.safetensors`),
      );
    });
  });
});

Deno.test("CheckpointWriter shards by maxShardBytes and writes the index", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out");
    const max = 50_000;
    await withReader(`${MODELS}/opt-tiny`, async (src) => {
      const plan = src.names().map((n) => src.info(n));
      const w = await CheckpointWriter.create(out, plan, {
        maxShardBytes: max,
        metadata: { pruned: "yes" },
      });
      const n = w.files().length;
      ok(n > 3);
      deepStrictEqual(
        w.files(),
        Array.from(
          { length: n },
          (_, i) =>
            `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`,
        ),
      );
      await Promise.all(src.names().map(async (name) => w.write(name, await src.readRaw(name))));
      await w.close();
      await Deno.copyFile(`${MODELS}/opt-tiny/config.json`, join(out, "config.json"));

      const index = JSON.parse(await Deno.readTextFile(join(out, INDEX_FILE)));
      strictEqual(index.metadata.total_size, plan.reduce((s, t) => s + t.end - t.begin, 0));
      deepStrictEqual(Object.keys(index.weight_map), src.names().toSorted());
      await withReader(out, async (back) => {
        deepStrictEqual(back.names().toSorted(), src.names().toSorted());
        const perShard = new Map<string, number>();
        for (const name of src.names()) {
          const t = back.info(name);
          strictEqual(t.file, index.weight_map[name]);
          perShard.set(t.file, (perShard.get(t.file) ?? 0) + 1);
          deepStrictEqual(await back.readRaw(name), await src.readRaw(name), name);
        }
        for (const file of w.files()) {
          const shard = back.names().filter((name) => back.info(name).file === file).map((name) =>
            back.info(name)
          );
          const bytes = shard.reduce((s, t) => s + t.end - t.begin, 0);
          ok(
            bytes <= max || shard.length === 1,
            `${file}: ${bytes} bytes in ${shard.length} tensors`,
          );
        }
        ok([...perShard.values()].includes(1)); // embed_positions (66,048 bytes) > max: its own shard
      });
    });
  });
});

Deno.test("CheckpointWriter validates options, plan and writes", async () => {
  await withTempDir(async (dir) => {
    const plan = [{ name: "a", dtype: "F32", shape: [2] }, { name: "b", dtype: "U8", shape: [3] }];
    await rejects(
      CheckpointWriter.create(dir, plan, { maxShardBytes: 0 }),
      /maxShardBytes must be a positive integer, got 0/,
    );
    await rejects(CheckpointWriter.create(dir, [...plan, plan[0]]), /Tensor "a" is planned twice/);
    const w = await CheckpointWriter.create(join(dir, "x"), plan, { maxShardBytes: 8 });
    deepStrictEqual(w.files(), [
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
    ]);
    await rejects(w.write("c", new Uint8Array(1)), {
      name: "CheckpointError",
      message: /Cannot write tensor "c": it is not planned/,
    });
    await rejects(w.write("b", new Uint8Array(2)), /got 2 bytes, shape \[3\] of U8 needs 3/);
    await w.write("a", new Uint8Array(8));
    await rejects(
      w.close(),
      /model-00002-of-00002.safetensors": 1 tensor\(s\) were not written: "b"/,
    );
    await rejects(Deno.stat(join(dir, "x", INDEX_FILE)), Deno.errors.NotFound);
  });
});

Deno.test("CheckpointReader.open() rejects bad folders with clear messages", async () => {
  await withTempDir(async (dir) => {
    await rejects(CheckpointReader.open(join(dir, "none")), /Model folder ".*none" not found/);
    await Deno.writeTextFile(join(dir, "file"), "");
    await rejects(
      CheckpointReader.open(join(dir, "file")),
      /Model folder ".*file" is not a folder/,
    );
    const m = join(dir, "m");
    await Deno.mkdir(m);
    await rejects(
      CheckpointReader.open(m),
      /Cannot read the model config: ".*m\/config.json" not found/,
    );
    await Deno.writeTextFile(join(m, "config.json"), "{oops");
    await rejects(
      CheckpointReader.open(m),
      /Cannot read the model config: ".*m\/config.json" is not valid JSON/,
    );
    await Deno.writeTextFile(join(m, "config.json"), "[1]");
    await rejects(CheckpointReader.open(m), /Model config ".*config.json" must be a JSON object/);
    await Deno.writeTextFile(join(m, "config.json"), "{}");
    await rejects(
      CheckpointReader.open(m),
      /Model folder ".*m" has no model.safetensors or model.safetensors.index.json/,
    );
    await Deno.writeFile(join(m, "pytorch_model.bin"), new Uint8Array(4));
    await rejects(
      CheckpointReader.open(m),
      /has only PyTorch .bin weights; only safetensors is supported/,
    );
    await Deno.writeFile(join(m, "model.safetensors"), new Uint8Array(4));
    await rejects(CheckpointReader.open(m), /".*model.safetensors" is 4 bytes, too short/);
    await Deno.remove(join(m, "model.safetensors"));
    await Deno.writeTextFile(join(m, INDEX_FILE), '{"weight_map": {"a": 3}}');
    await rejects(
      CheckpointReader.open(m),
      /Invalid weight index ".*index.json" at "weight_map.a": .*expected string/,
    );
  });
});

Deno.test("CheckpointReader.open() rejects unsafe or inconsistent sharded indexes", async () => {
  await withTempDir(async (dir) => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { a: "missing.safetensors" },
        /Shard "missing.safetensors" listed in ".*index.json" is missing/,
      ],
      [
        { a: "../m/shard.safetensors" },
        /Shard path "..\/m\/shard.safetensors" in ".*" must not contain ".."/,
      ],
      [{ a: "sub/../shard.safetensors" }, /must not contain ".."/],
      [
        { a: join(dir, "m", "shard.safetensors") },
        /Shard path ".*" in ".*" must be a file name relative to the model folder/,
      ],
      [{ a: "C:\\x.safetensors" }, /must be a file name relative to the model folder/],
      [
        { a: "link.safetensors" },
        /Shard "link.safetensors" listed in ".*" resolves to ".*outside.safetensors", outside the model folder/,
      ],
      [
        { a: "shard.safetensors", b: "shard.safetensors" },
        /Tensor "b" is listed in ".*index.json" but absent from its shard "shard.safetensors"/,
      ],
    ];
    for (const [i, [weightMap, message]] of cases.entries()) {
      const m = join(dir, `m${i}`);
      await makeShardedModel(m, weightMap);
      await Deno.writeFile(
        join(dir, "outside.safetensors"),
        await Deno.readFile(join(m, "shard.safetensors")),
      );
      await Deno.symlink(join(dir, "outside.safetensors"), join(m, "link.safetensors"));
      await rejects(CheckpointReader.open(m), (e: Error) => {
        ok(
          e instanceof CheckpointError && message.test(e.message),
          `${JSON.stringify(weightMap)}: ${e}`,
        );
        return true;
      });
    }
    // A valid index, including a symlink that stays inside the folder.
    const m = join(dir, "ok");
    await makeShardedModel(m, { a: "inside.safetensors" });
    await Deno.symlink("shard.safetensors", join(m, "inside.safetensors"));
    await withReader(m, async (r) => {
      deepStrictEqual(r.names(), ["a"]);
      strictEqual(r.info("a").file, "inside.safetensors");
      deepStrictEqual([...await r.readF32("a")], [0, 0]);
      deepStrictEqual(r.files(), ["config.json"]);
    });
    const empty = join(dir, "empty");
    await makeShardedModel(empty, {});
    await withReader(empty, (r) => deepStrictEqual(r.names(), []));
  });
});
