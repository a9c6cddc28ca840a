/**
 * Dense linear algebra on the GPU (f32) for the pruning methods: Cholesky, triangular solves and
 * inverses, SPD inverses, damping, and SparseGPT's inverse-Hessian factor. The `record*`
 * functions only record dispatches into a caller's batch; {@linkcode choleskyFactor} and
 * {@linkcode spdInverse} submit and read back once.
 *
 * @module
 */

export * from "./cholesky.ts";
export * from "./lower_product.ts";
export * from "./spd.ts";
export * from "./temps.ts";
export * from "./triangular.ts";
