import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { ChunkStore } from "../../src/gpu/chunk_store.ts";
import { addScaled } from "../../src/kernels/add_scaled.ts";

const sizes = [{ nseq: 2, tokens: 6 }, { nseq: 1, tokens: 3 }, { nseq: 2, tokens: 6 }];
const d = 8;
const inputs = sizes.map((s, i) =>
  Float32Array.from({ length: s.tokens * d }, (_, j) => (i + 1) * 100 + j)
);

Deno.test("ChunkStore: a pass, swap and read back give the same values resident and spilled", async () => {
  const gpu = await getGpu();
  const results: Float32Array[][] = [];
  // Both fields of all chunks take 2 · 15 · 8 · 4 = 960 bytes.
  for (const budget of [960, 959]) {
    const store = ChunkStore.create(gpu, "test", sizes, { hidden: d, out: d }, budget);
    try {
      assert.equal(store.spilled, budget < 960);
      assert.equal(store.bytes, 960);
      inputs.forEach((x, i) => store.setHost("hidden", i, x));
      // Two layers: out = 2 · hidden, then swap.
      for (let layer = 0; layer < 2; layer++) {
        await store.each("double", { reads: ["hidden"], writes: ["out"] }, (b, c) => {
          b.copy(c.hidden.buffer, 0, c.out.buffer, 0, c.tokens * d * 4);
          addScaled(b, { out: c.out, x: c.hidden, count: c.tokens * d });
        });
        store.swap("hidden", "out");
      }
      results.push(await store.readAll("hidden"));
    } finally {
      store.free();
    }
  }
  for (const r of results) {
    assert.equal(r.length, 3);
    r.forEach((h, i) => assert.deepEqual([...h], [...inputs[i]].map((v) => 4 * v), `chunk ${i}`));
  }
  const store = ChunkStore.create(gpu, "test", sizes, { hidden: d }, 0);
  assert.throws(
    () => store.setHost("hidden", 0, new Float32Array(5)),
    /Chunk 0 needs 48 values for "hidden", got 5/,
  );
  store.free();
});

Deno.test("ChunkStore: given tensors stay the caller's and are used resident and spilled", async () => {
  const gpu = await getGpu();
  const given = inputs.map((x, i) => ({ x: gpu.upload(x, [sizes[i].tokens, d], `x${i}`) }));
  try {
    for (const budget of [Infinity, 0]) {
      const store = ChunkStore.create<"y", "x">(gpu, "test", sizes, { y: d }, budget, given);
      try {
        assert.equal(store.bytes, 15 * d * 4, "given tensors are not counted");
        store.chunks.forEach((c, i) => assert.equal(c.x, given[i].x));
        // y = x + x in every chunk, read back through the store.
        await store.each("add", { reads: [], writes: ["y"] }, (b, c) => {
          b.copy(c.x.buffer, 0, c.y.buffer, 0, c.tokens * d * 4);
          addScaled(b, { out: c.y, x: c.x, count: c.tokens * d });
        });
        const ys = await store.readAll("y");
        ys.forEach((y, i) => assert.deepEqual([...y], [...inputs[i]].map((v) => 2 * v)));
      } finally {
        store.free();
      }
      // The given tensors survive the store.
      assert.deepEqual([...await gpu.read(given[1].x)], [...inputs[1]]);
    }
  } finally {
    gpu.free(...given.map((g) => g.x));
  }
});
