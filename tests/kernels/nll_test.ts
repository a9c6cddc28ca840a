import assert from "node:assert/strict";
import { getGpu } from "../../src/gpu/device.ts";
import { nllUpdate } from "../../src/kernels/nll.ts";
import { randomF32 } from "../reference/model_ref.ts";

Deno.test("nllUpdate() over vocabulary blocks gives logsumexp - logit[target] and the first argmax", async () => {
  const gpu = await getGpu();
  const nseq = 3, seqlen = 9, T = nseq * seqlen, V = 70;
  const logits = randomF32(T * V, 5, 8);
  logits[4 * V + 10] = 20, logits[4 * V + 50] = 20; // a tie across blocks: first wins
  logits[5 * V + 31] = 9, logits[5 * V + 32] = 9; // a tie within a block
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 13) % V);
  const tids = gpu.upload(ids, [T], "ids");
  const state = gpu.alloc([T * 3], "state"), nll = gpu.alloc([T], "nll");
  const am = gpu.alloc([T], "argmax", "u32");
  const blocks = [[0, 25], [25, 25], [50, 20]];
  const bufs = blocks.map(([s, c]) => {
    const b = new Float32Array(T * c);
    for (let t = 0; t < T; t++) b.set(logits.subarray(t * V + s, t * V + s + c), t * c);
    return gpu.upload(b, [T, c], `blk${s}`);
  });
  const batch = gpu.batch("nll");
  // rows in two row blocks of 20 and 7
  for (const [r0, rows] of [[0, 20], [20, 7]]) {
    blocks.forEach(([s, c], bi) =>
      nllUpdate(batch, {
        logits: bufs[bi],
        offL: r0 * c,
        ids: tids,
        state,
        nll,
        argmax: am,
        rows,
        rowStart: r0,
        seqlen,
        vocStart: s,
        vocCount: c,
      })
    );
  }
  batch.submit();
  const got = await gpu.read(nll), arg = await gpu.readU32(am);
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let m = -Infinity, a = 0;
    row.forEach((x, i) => {
      if (x > m) [m, a] = [x, i];
    });
    assert.equal(arg[t], a, `argmax of row ${t}`);
    if (t % seqlen === seqlen - 1) {
      assert.equal(got[t], 0);
      continue;
    }
    let z = 0;
    for (const x of row) z += Math.exp(x - m);
    const ref = m + Math.log(z) - row[ids[t + 1]];
    assert.ok(Math.abs(got[t] - ref) < 2e-5, `row ${t}: ${got[t]} vs ${ref}`);
  }
  assert.equal(arg[4], 10);
  assert.equal(arg[5], 31);
  gpu.free(tids, state, nll, am, ...bufs);
});
