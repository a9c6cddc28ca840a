// Option parsing helpers of src/options.ts.

import assert from "node:assert/strict";
import { OptionError, parseByteSize, resolvePruneOptions } from "../src/options.ts";

Deno.test("parseByteSize reads --gpu-memory sizes and rejects nonsense naming the flag", () => {
  assert.equal(parseByteSize("512MiB"), 512 * 2 ** 20);
  assert.equal(parseByteSize("4GiB"), 4 * 2 ** 30);
  assert.equal(parseByteSize("1.5GB"), 1.5e9);
  assert.equal(parseByteSize("2e9"), 2e9);
  assert.equal(parseByteSize(1024), 1024);
  assert.equal(
    resolvePruneOptions({ method: "sparsellm", sparsity: 0.5, gpuMemory: "1KiB" }).gpuMemory,
    1024,
  );
  for (const bad of ["lots", "-1GiB", "0", "12 parsecs", ""]) {
    assert.throws(() => parseByteSize(bad), (e: unknown) => {
      assert.ok(e instanceof OptionError);
      assert.match((e as Error).message, /--gpu-memory/);
      return true;
    }, bad);
  }
});

Deno.test("--refit-damp must be positive and is passed through", () => {
  assert.equal(
    resolvePruneOptions({ method: "sparsellm", sparsity: 0.7, refitDamp: 0.1 }).refitDamp,
    0.1,
  );
  assert.equal(resolvePruneOptions({ method: "sparsellm", sparsity: 0.7 }).refitDamp, undefined);
  assert.throws(
    () => resolvePruneOptions({ method: "sparsellm", sparsity: 0.7, refitDamp: -1 }),
    /--refit-damp must be positive/,
  );
});
