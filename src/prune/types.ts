/**
 * Types shared by the pruning methods.
 *
 * @module
 */

/** Which weights a method zeroes: a fraction per comparison group, or N zeros in every M. */
export type SparsityPattern =
  | { readonly kind: "unstructured"; readonly sparsity: number }
  | { readonly kind: "nm"; readonly n: number; readonly m: number };

/** The pruning methods this library implements. */
export type MethodName = "magnitude" | "wanda" | "sparsegpt" | "sparsellm";

/** Parses `"2:4"`-style patterns (N zeros in every M consecutive input weights). */
export function parseNM(text: string): SparsityPattern {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  if (!m) throw new RangeError(`Invalid --pattern "${text}": expected two integers like "2:4"`);
  const n = Number(m[1]), mm = Number(m[2]);
  if (mm < 1 || n < 1 || n >= mm) {
    throw new RangeError(`Invalid --pattern "${text}": need 0 < N < M`);
  }
  return { kind: "nm", n, m: mm };
}

/** The fraction of zeros a pattern asks for. */
export function targetSparsity(p: SparsityPattern): number {
  return p.kind === "unstructured" ? p.sparsity : p.n / p.m;
}
