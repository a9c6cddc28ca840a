import { doesNotThrow, ok, strictEqual, throws } from "node:assert/strict";
import { CheckpointError } from "../../src/io/errors.ts";
import { assertFinite } from "../../src/io/finite.ts";

const NAME = "model.decoder.layers.0.fc1.weight";

/** The message `assertFinite(NAME, data, file)` throws, or `null`. */
function messageOf(data: Float32Array, file?: string): string | null {
  try {
    assertFinite(NAME, data, file);
    return null;
  } catch (e) {
    ok(e instanceof CheckpointError, `${e}`);
    strictEqual(e.name, "CheckpointError");
    return e.message;
  }
}

Deno.test("assertFinite accepts finite values, extremes included", () => {
  const bits = new Uint32Array([0x00000001, 0x80000001, 0x7f7fffff, 0xff7fffff, 0x80000000]);
  for (
    const data of [
      new Float32Array(0),
      new Float32Array(1000),
      new Float32Array([1, -2.5, 1e-45, -0, 3.4028234663852886e38, -3.4028234663852886e38]),
      new Float32Array(bits.buffer), // subnormals, largest magnitudes, -0
    ]
  ) {
    doesNotThrow(() => assertFinite(NAME, data));
    doesNotThrow(() => assertFinite(NAME, data, "model.safetensors"));
  }
});

Deno.test("assertFinite names the tensor, file, first value and index, and counts the rest", () => {
  const data = new Float32Array(200);
  data[123] = NaN;
  data.fill(Infinity, 150, 154);
  strictEqual(
    messageOf(data, "model.safetensors"),
    `Tensor "${NAME}" in "model.safetensors" contains NaN at index 123 (and 4 more non-finite values)`,
  );
  strictEqual(
    messageOf(data),
    `Tensor "${NAME}" contains NaN at index 123 (and 4 more non-finite values)`,
  );
  strictEqual(
    messageOf(new Float32Array([0, 0, Infinity])),
    `Tensor "${NAME}" contains Infinity at index 2`,
  );
  strictEqual(
    messageOf(new Float32Array([-Infinity, 1, NaN]), "model-00001-of-00002.safetensors"),
    `Tensor "${NAME}" in "model-00001-of-00002.safetensors" contains -Infinity at index 0 (and 1 more non-finite value)`,
  );
  strictEqual(
    messageOf(new Float32Array([NaN, NaN, NaN])),
    `Tensor "${NAME}" contains NaN at index 0 (and 2 more non-finite values)`,
  );
});

Deno.test("assertFinite sees every NaN bit pattern", () => {
  // Quiet, signalling, negative and all-ones-payload NaNs.
  for (const pattern of [0x7fc00000, 0x7f800001, 0xffc00000, 0xffffffff, 0x7fbfffff]) {
    const bits = new Uint32Array([0x3f800000, pattern]);
    strictEqual(
      messageOf(new Float32Array(bits.buffer)),
      `Tensor "${NAME}" contains NaN at index 1`,
      pattern.toString(16),
    );
  }
});

Deno.test("assertFinite counts indices from the start of a view", () => {
  const all = new Float32Array([NaN, 1, 2, Infinity, 4]);
  strictEqual(messageOf(all.subarray(1)), `Tensor "${NAME}" contains Infinity at index 2`);
  strictEqual(messageOf(all.subarray(1, 3)), null);
});

Deno.test("assertFinite handles large tensors", () => {
  const data = new Float32Array(1 << 22).fill(0.5);
  doesNotThrow(() => assertFinite(NAME, data));
  data[data.length - 1] = -Infinity;
  throws(() => assertFinite(NAME, data), {
    name: "CheckpointError",
    message: `Tensor "${NAME}" contains -Infinity at index ${data.length - 1}`,
  });
});
