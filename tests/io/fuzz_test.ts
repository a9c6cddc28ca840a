import {
  deepStrictEqual,
  notDeepStrictEqual,
  ok,
  rejects,
  strictEqual,
  throws,
} from "node:assert/strict";
import { join } from "node:path";
import { CheckpointError } from "../../src/io/errors.ts";
import { CheckpointReader, INDEX_FILE } from "../../src/io/checkpoint.ts";
import { SafetensorsWriter } from "../../src/io/safetensors_writer.ts";
import { parseSafetensorsHeader } from "../../src/io/safetensors.ts";
import {
  caseSeed,
  describeFailure,
  type FuzzSummary,
  guarded,
  loadFixtures,
  makeCase,
  openFilesUnder,
  Rng,
  runFuzz,
  uninstallReadGuard,
} from "./_fuzz.ts";
import { buildSafetensors, withTempDir } from "./_helpers.ts";

const CASES = 300;

Deno.test("fuzz: the PRNG and the cases depend on the seed and index alone", async () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 100 }, () => a.u32());
  deepStrictEqual(xs, Array.from({ length: 100 }, () => b.u32()));
  notDeepStrictEqual(xs, Array.from({ length: 100 }, () => new Rng(43).u32()));
  ok(xs.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32));
  ok(new Set(xs).size > 95);
  const floats = Array.from({ length: 1000 }, () => a.float());
  ok(floats.every((x) => x >= 0 && x < 1));
  notDeepStrictEqual(caseSeed(1, 0), caseSeed(1, 1));
  notDeepStrictEqual(caseSeed(1, 0), caseSeed(2, 0));

  await withTempDir(async (dir) => {
    const fx = await loadFixtures(dir);
    for (const index of [0, 1, 7, 123]) {
      const [x, y] = [makeCase(fx, 5, index), makeCase(fx, 5, index)];
      deepStrictEqual(x.ops, y.ops);
      deepStrictEqual([...x.files.keys()], [...y.files.keys()]);
      deepStrictEqual([...x.files.values()], [...y.files.values()]);
    }
  });
});

Deno.test("fuzz: the read guard flags oversized buffers, reads past the end and leaked handles", async () => {
  try {
    await withTempDir(async (dir) => {
      const path = join(dir, "ten");
      await Deno.writeFile(path, new Uint8Array(10));
      const read = async (at: number, n: number) => {
        using f = await Deno.open(path);
        await f.seek(at, Deno.SeekMode.Start);
        await f.read(new Uint8Array(n));
      };
      deepStrictEqual(await guarded(() => read(0, 10)), []);
      deepStrictEqual(await guarded(() => read(4, 6)), []);
      const [big] = await guarded(() => read(0, 11));
      ok(big.includes("11-byte buffer, file is 10 bytes"), big);
      const [past] = await guarded(() => read(5, 6));
      ok(past.includes("6 bytes at 5 runs past the end"), past);

      const real = await Deno.realPath(dir);
      deepStrictEqual(openFilesUnder(real), []);
      const f = await Deno.open(path);
      try {
        if (Deno.build.os === "linux") deepStrictEqual(openFilesUnder(real), [join(real, "ten")]);
      } finally {
        f.close();
      }
      deepStrictEqual(openFilesUnder(real), []);
    });
  } finally {
    uninstallReadGuard();
  }
});

function summarize(s: FuzzSummary): string {
  const families = Object.entries(s.byFamily).map(([f, o]) =>
    `${f}: ${o.ok} ok, ${o.error} errors, ${o.failure} failures`
  );
  return [
    `${s.cases} cases in ${
      s.seconds.toFixed(1)
    } s: ${s.ok} ok, ${s.errors} errors, ${s.failures} failures`,
    ...families,
    ...s.failed.slice(0, 10).map(describeFailure),
  ].join("\n");
}

Deno.test(`fuzz: ${CASES} mutated checkpoints end in CheckpointError or a correct read`, async () => {
  const s = await runFuzz({ cases: CASES, timeoutMs: 10_000 });
  const report = summarize(s);
  strictEqual(s.cases, CASES, report);
  strictEqual(s.failures, 0, report);
  strictEqual(s.ok + s.errors, CASES, report);
  for (const [family, o] of Object.entries(s.byFamily)) {
    ok(o.ok > 0, `no correct read among the ${family} cases\n${report}`);
    ok(o.error > 0, `no CheckpointError among the ${family} cases\n${report}`);
  }
  ok(s.errorClasses.size >= 15, `only ${s.errorClasses.size} error classes\n${report}`);
});

Deno.test("fuzz: a hung case fails and the run goes on in a fresh worker", async () => {
  const s = await runFuzz({ cases: 4, hangAt: 1, timeoutMs: 1000 });
  strictEqual(s.cases, 4);
  strictEqual(s.failures, 1);
  strictEqual(s.failed[0].index, 1);
  ok(s.failed[0].message?.startsWith("hang: no result after 1000 ms"), s.failed[0].message);
  strictEqual(s.ok + s.errors, 3);
});

// Regressions the fuzzer found: file system errors caused by the input used to escape raw.

async function writeModel(dir: string, index?: unknown): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), '{"model_type":"opt"}');
  const w = await SafetensorsWriter.create(join(dir, "a.safetensors"), [
    { name: "a", dtype: "F32", shape: [2] },
  ]);
  await w.write("a", new Uint8Array(8));
  await w.close();
  if (index !== undefined) {
    const text = typeof index === "string" ? index : JSON.stringify(index);
    await Deno.writeTextFile(join(dir, INDEX_FILE), text);
  } else await Deno.rename(join(dir, "a.safetensors"), join(dir, "model.safetensors"));
}

const shardIndex = (shard: string) => ({ metadata: {}, weight_map: { a: shard } });

const REGRESSIONS: [string, (dir: string) => Promise<void>, RegExp][] = [
  [
    "config.json is a folder",
    async (dir) => {
      await writeModel(dir);
      await Deno.remove(join(dir, "config.json"));
      await Deno.mkdir(join(dir, "config.json"));
    },
    /Cannot read the model config: ".*config\.json" is a folder, not a file/,
  ],
  [
    "config.json is a symbolic link loop",
    async (dir) => {
      await writeModel(dir);
      await Deno.remove(join(dir, "config.json"));
      await Deno.symlink("config.json", join(dir, "config.json"));
    },
    /Cannot read the model config: ".*config\.json" has too many levels of symbolic links/,
  ],
  [
    "the index is a folder",
    async (dir) => {
      await writeModel(dir, shardIndex("a.safetensors"));
      await Deno.remove(join(dir, INDEX_FILE));
      await Deno.mkdir(join(dir, INDEX_FILE));
    },
    /Cannot read the weight index: ".*" is a folder, not a file/,
  ],
  [
    "model.safetensors is a folder",
    async (dir) => {
      await writeModel(dir);
      await Deno.remove(join(dir, "model.safetensors"));
      await Deno.mkdir(join(dir, "model.safetensors"));
    },
    /Cannot open ".*model\.safetensors": it is a folder/,
  ],
  [
    "model.safetensors is a symbolic link loop",
    async (dir) => {
      await writeModel(dir);
      await Deno.remove(join(dir, "model.safetensors"));
      await Deno.symlink("model.safetensors", join(dir, "model.safetensors"));
    },
    /Cannot open ".*model\.safetensors": it has too many levels of symbolic links/,
  ],
  [
    'shard "." (the model folder itself)',
    (dir) => writeModel(dir, shardIndex(".")),
    /Cannot open ".*": it is a folder/,
  ],
  [
    "shard is a sub-folder",
    async (dir) => {
      await writeModel(dir, shardIndex("sub"));
      await Deno.mkdir(join(dir, "sub"));
    },
    /Cannot open ".*sub": it is a folder/,
  ],
  [
    "shard name with a NUL byte",
    (dir) => writeModel(dir, shardIndex("a.safetensors\u0000")),
    /Shard "a\.safetensors[^"]" listed in ".*" cannot be opened: ".*" contains a NUL byte/,
  ],
  [
    "shard name too long",
    (dir) => writeModel(dir, shardIndex("x".repeat(300) + ".safetensors")),
    /Shard "x+\.safetensors" listed in ".*" cannot be opened: ".*" is too long a file name/,
  ],
  [
    "shard name with a trailing slash after a file",
    (dir) => writeModel(dir, shardIndex("a.safetensors/")),
    /Shard "a\.safetensors\/" listed in ".*" cannot be opened: ".*" has a file where a folder should be/,
  ],
  [
    "shard is a symbolic link loop",
    async (dir) => {
      await writeModel(dir, shardIndex("loop.safetensors"));
      await Deno.symlink("loop.safetensors", join(dir, "loop.safetensors"));
    },
    /Shard "loop\.safetensors" listed in ".*" cannot be opened: ".*" has too many levels of symbolic links/,
  ],
  [
    'the weight map lists "__proto__", absent from the shard',
    (dir) => writeModel(dir, '{"weight_map":{"a":"a.safetensors","__proto__":"a.safetensors"}}'),
    /Tensor "__proto__" is listed in ".*" but absent from its shard "a\.safetensors"/,
  ],
  [
    'the weight map maps "__proto__" to a non-string',
    (dir) => writeModel(dir, '{"weight_map":{"a":"a.safetensors","__proto__":{"x":1}}}'),
    /Invalid weight index ".*" at "weight_map\.__proto__": expected a string, got object/,
  ],
];

for (const [what, setup, message] of REGRESSIONS) {
  Deno.test(`CheckpointReader.open throws CheckpointError when ${what}`, async () => {
    await withTempDir(async (root) => {
      const dir = join(root, "model");
      await setup(dir);
      await rejects(() => CheckpointReader.open(dir), (e: unknown) => {
        ok(e instanceof CheckpointError, `${e}`);
        ok(message.test(e.message), e.message);
        return true;
      });
      deepStrictEqual(openFilesUnder(await Deno.realPath(root)), []);
    });
  });
}

Deno.test('parseSafetensorsHeader keeps and checks a "__proto__" key of __metadata__', () => {
  const file = (metadata: string) =>
    buildSafetensors(
      `{"__metadata__":${metadata},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`,
      1,
    );
  const good = file('{"__proto__":"x","format":"pt"}');
  const { metadata } = parseSafetensorsHeader(good, good.length, "m.safetensors");
  deepStrictEqual(Object.entries(metadata), [["__proto__", "x"], ["format", "pt"]]);
  const bad = file('{"__proto__":{"a":"b"}}');
  throws(() => parseSafetensorsHeader(bad, bad.length, "m.safetensors"), {
    name: "CheckpointError",
    message:
      'Invalid __metadata__ in "m.safetensors": it must map strings to strings (at "__proto__": expected a string, got object)',
  });
});
