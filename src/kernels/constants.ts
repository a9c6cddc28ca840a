/**
 * Sizes fixed at kernel-generation time, shared by the TS wrappers and the WGSL kernels: the
 * WGSL side gets them from `scripts/gen_kernels.ts`, which expands a `// #const NAME = KEY`
 * line of `kernels/*.wgsl` into `const NAME: u32 = <KERNEL_CONSTANTS[KEY]>u;`. This module
 * imports nothing, so that the generator can read it before the kernel modules exist.
 *
 * @module
 */

/** Largest block (columns swept per dispatch) the SparseGPT sweep kernel supports. */
export const SPARSEGPT_MAX_BLOCK: number = 256;
/** Largest M of an N:M pattern the SparseGPT sweep kernel supports. */
export const SPARSEGPT_MAX_M: number = 32;
/** Bins of one radix pass of the SparseGPT block threshold (11 bits). */
export const SPARSEGPT_SELECT_BINS: number = 2048;

/** The values a `// #const` line of `kernels/*.wgsl` may name, by key. */
export const KERNEL_CONSTANTS: Readonly<Record<string, number>> = {
  SPARSEGPT_MAX_BLOCK,
  SPARSEGPT_MAX_M,
  SPARSEGPT_SELECT_BINS,
};
