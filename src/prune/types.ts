/**
 * Types shared by the pruning methods.
 *
 * @module
 */

import { OptionError } from "./option_error.ts";

/**
 * Which weights a method zeroes: a fraction per comparison group, or N zeros in every M.
 *
 * @example Unstructured 50 % and 2:4 ask for the same fraction
 * ```ts
 * import { type SparsityPattern } from "@sparsellm/sparsellm";
 * import { targetSparsity } from "./types.ts";
 *
 * const half: SparsityPattern = { kind: "unstructured", sparsity: 0.5 };
 * const twoFour: SparsityPattern = { kind: "nm", n: 2, m: 4 };
 * console.log(targetSparsity(half) === targetSparsity(twoFour)); // true
 * ```
 */
export type SparsityPattern =
  | { readonly kind: "unstructured"; readonly sparsity: number }
  | { readonly kind: "nm"; readonly n: number; readonly m: number };

/**
 * The names of the pruning methods this library implements (the option table's `method` values).
 *
 * @example List the methods
 * ```ts
 * import { METHOD_NAMES } from "@sparsellm/sparsellm";
 *
 * console.log(METHOD_NAMES.join(", ")); // magnitude, wanda, sparsegpt, admm, sparsellm
 * ```
 */
export const METHOD_NAMES = ["magnitude", "wanda", "sparsegpt", "admm", "sparsellm"] as const;

/**
 * The pruning methods this library implements.
 *
 * @example Options for every method
 * ```ts
 * import { type MethodName, resolvePruneOptions } from "@sparsellm/sparsellm";
 *
 * const methods: MethodName[] = ["magnitude", "wanda", "sparsegpt", "sparsellm"];
 * const options = methods.map((method) => resolvePruneOptions({ method, sparsity: 0.5 }));
 * ```
 */
export type MethodName = typeof METHOD_NAMES[number];

/**
 * Parses `"2:4"`-style patterns (N zeros in every M consecutive input weights).
 *
 * @example Parse an N:M pattern
 * ```ts
 * import { parseNM } from "./types.ts";
 *
 * parseNM("2:4"); // { kind: "nm", n: 2, m: 4 }
 * parseNM("4:2"); // throws OptionError: pattern must be N:M with integers 0 < N < M …
 * ```
 */
export function parseNM(text: string): SparsityPattern {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  const n = Number(m?.[1]), mm = Number(m?.[2]);
  if (!m || mm < 1 || n < 1 || n >= mm) {
    throw new OptionError(
      "pattern",
      `pattern must be N:M with integers 0 < N < M, e.g. 2:4 (got ${JSON.stringify(text)})`,
    );
  }
  return { kind: "nm", n, m: mm };
}

/**
 * The fraction of zeros a pattern asks for.
 *
 * @example Fraction of zeros of a pattern
 * ```ts
 * import { parseNM, targetSparsity } from "./types.ts";
 *
 * targetSparsity(parseNM("3:4")); // 0.75
 * targetSparsity({ kind: "unstructured", sparsity: 0.7 }); // 0.7
 * ```
 */
export function targetSparsity(p: SparsityPattern): number {
  return p.kind === "unstructured" ? p.sparsity : p.n / p.m;
}
