// Runs code with the shared device's binding limit lowered, so that the kernels split their
// work into windows as they would for matrices larger than maxStorageBufferBindingSize.

import type { Gpu } from "../mod.ts";

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
