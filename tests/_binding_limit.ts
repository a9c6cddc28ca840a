// Runs code with the shared device's binding limit lowered, so that the kernels split their
// work into windows as they would for matrices larger than maxStorageBufferBindingSize.

import type { Gpu } from "../src/gpu/device.ts";

/** Calls `fn` with `gpu.bindingLimit` set to `bytes`, restoring the old limit after. */
export async function withBindingLimit<T>(
  gpu: Gpu,
  bytes: number,
  fn: () => Promise<T> | T,
): Promise<T> {
  const old = gpu.bindingLimit;
  gpu.bindingLimit = bytes;
  try {
    return await fn();
  } finally {
    gpu.bindingLimit = old;
  }
}

/** Asserts two arrays are equal element for element (fast on large arrays: names the first difference). */
export function assertSameValues(
  got: ArrayLike<number> | undefined,
  want: ArrayLike<number>,
  what: string,
): void {
  if (!got || got.length !== want.length) {
    throw new Error(`${what}: ${got?.length ?? "no"} values, expected ${want.length}`);
  }
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}
