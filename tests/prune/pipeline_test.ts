// The library front door on a real checkpoint: SparseLLMPruner with a CheckpointReader source.
// Cancellation through an AbortSignal, progress events, and the in-memory result.

import assert from "node:assert/strict";
import { type ProgressEvent, SparseLLMPruner } from "../../mod.ts";
import { resolvePruneOptions } from "../../src/prune/options.ts";
import { withTiny } from "./_tiny.ts";

const NAMES_PER_LAYER = ["q_proj", "k_proj", "v_proj", "out_proj"].map((r) => `self_attn.${r}`)
  .concat(["fc1", "fc2"]);

Deno.test("SparseLLMPruner validates options with messages naming the option", () => {
  assert.throws(() => new SparseLLMPruner({ method: "sparsegpt", sparsity: 1.5 }), {
    option: "sparsity",
    message: "sparsity must be in [0, 1) (got 1.5)",
  });
  assert.throws(
    () => new SparseLLMPruner({ method: "sparsegpt", sparsity: 0.5, pattern: "2:4" }),
    { option: "sparsity", related: ["pattern"], message: /^sparsity or pattern: give exactly one/ },
  );
  assert.throws(() => new SparseLLMPruner({ method: "wanda", pattern: "2:4", blocksize: 130 }), {
    name: "OptionError",
    option: "blocksize",
    message: /^blocksize 130 must be a multiple of M = 4 for pattern 2:4/,
  });
  const p = new SparseLLMPruner({ method: "sparsellm", sparsity: 0.5, seqlen: 64 });
  assert.deepEqual(
    p.options,
    resolvePruneOptions({ method: "sparsellm", sparsity: 0.5, seqlen: 64 }),
  );
});

Deno.test("SparseLLMPruner rejects calibration windows of the wrong length", async () => {
  await withTiny(async (input) => {
    const pruner = new SparseLLMPruner({ method: "sparsegpt", sparsity: 0.5, seqlen: 64 });
    const calibration = [input.calibration[0], input.calibration[1].subarray(0, 32)];
    await assert.rejects(pruner.prune({ ...input, calibration }), {
      name: "RangeError",
      message: /Calibration window 1 has 32 tokens/,
    });
  });
});

Deno.test("SparseLLMPruner: an already-aborted signal rejects with its reason", async () => {
  await withTiny(async (input) => {
    const pruner = new SparseLLMPruner({ method: "sparsegpt", sparsity: 0.5, seqlen: 64 });
    const ac = new AbortController();
    const reason = new Error("cancelled by the test");
    ac.abort(reason);
    const events: ProgressEvent[] = [];
    await assert.rejects(
      pruner.prune({ ...input, signal: ac.signal, onProgress: (e) => events.push(e) }),
      (e) => e === reason,
    );
    assert.ok(events.every((e) => e.done === 0), "no layer was completed");
  });
});

Deno.test("SparseLLMPruner: aborting after layer 0 stops before layer 1 is pruned", async () => {
  await withTiny(async (input) => {
    const pruner = new SparseLLMPruner({ method: "wanda", sparsity: 0.5, seqlen: 64 });
    const ac = new AbortController();
    const events: ProgressEvent[] = [];
    await assert.rejects(
      pruner.prune({
        ...input,
        signal: ac.signal,
        onProgress: (e) => {
          events.push(e);
          if (e.phase === "prune" && e.done === 1) ac.abort();
        },
      }),
      { name: "AbortError" },
    );
    assert.ok(events.some((e) => e.done === 1), "layer 0 finished");
    assert.ok(
      !events.some((e) => e.layer === 1 && e.matrix !== undefined),
      "no matrix of layer 1 was pruned",
    );
  });
});

Deno.test("SparseLLMPruner: progress events of phase prune with increasing done", async () => {
  await withTiny(async (input) => {
    const pruner = new SparseLLMPruner({ method: "sparsegpt", sparsity: 0.5, seqlen: 64 });
    const events: ProgressEvent[] = [];
    const r = await pruner.prune({ ...input, onProgress: (e) => events.push(e) });

    assert.ok(events.length > 0);
    assert.ok(events.every((e) => e.phase === "prune"), "phase prune");
    assert.ok(events.every((e) => e.total === 2), "total = decoder layers");
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i].done >= events[i - 1].done, `done decreased at event ${i}`);
      assert.ok(events[i].elapsed >= events[i - 1].elapsed, `elapsed decreased at event ${i}`);
    }
    assert.equal(events[0].done, 0);
    assert.equal(events.at(-1)!.done, 2);
    assert.deepEqual([...new Set(events.map((e) => e.done))], [0, 1, 2], "done steps by one");
    // One event per matrix of every layer, in forward order.
    for (const layer of [0, 1]) {
      const matrices = events.filter((e) => e.layer === layer && e.matrix).map((e) => e.matrix);
      assert.deepEqual(matrices, ["q", "k", "v", "o", "fc1", "fc2"], `layer ${layer}`);
      assert.ok(events.filter((e) => e.layer === layer).every((e) => e.done >= layer));
    }

    // The in-memory result.
    const want = [0, 1].flatMap((l) =>
      NAMES_PER_LAYER.map((n) => `model.decoder.layers.${l}.${n}.weight`)
    );
    assert.deepEqual([...r.tensors.keys()].sort(), want.sort());
    assert.equal(r.layers.length, 2);
    assert.ok(r.sparsity >= 0.5 && r.sparsity < 0.51, `sparsity ${r.sparsity}`);
    let zeros = 0, total = 0;
    for (const [name, w] of r.tensors) {
      assert.deepEqual(input.source.info(name).shape.reduce((a, b) => a * b, 1), w.length);
      for (const x of w) if (x === 0) zeros++;
      total += w.length;
      // The overlay serves the pruned matrix, and the base for everything else.
      assert.equal(await r.source.readF32(name), w);
    }
    assert.equal(r.sparsity, zeros / total);
    const bias = "model.decoder.layers.0.fc1.bias";
    assert.deepEqual(await r.source.readF32(bias), await input.source.readF32(bias));
  });
});
