/**
 * The error of a bad option value, in its own module so that low layers (`src/prune/types.ts`'s
 * `parseNM`) can throw it without importing the option table.
 *
 * @module
 */

/**
 * A bad option value (the CLI maps it to exit code 2). The message is in library words and starts
 * with the option's key, e.g. `refitDamp must be positive (got -1)`; {@linkcode OptionError.option}
 * holds that key and {@linkcode OptionError.related} the other options the message names, so a
 * front end can put its own names in their place (the CLI prints `--refit-damp must be positive
 * (got -1)`).
 *
 * @example Report a bad option value
 * ```ts
 * import { OptionError, resolvePruneOptions } from "@sparsellm/sparsellm";
 *
 * try {
 *   resolvePruneOptions({ method: "wanda", sparsity: 1.5 });
 * } catch (e) {
 *   if (!(e instanceof OptionError)) throw e;
 *   console.error(e.option, e.message); // sparsity sparsity must be in [0, 1) (got 1.5)
 * }
 * ```
 */
export class OptionError extends RangeError {
  /** The key of the offending option (`"refitDamp"`, `"pattern"`, `"calib"`…); the message starts with it. */
  readonly option: string;
  /** Other options the message names (each by its key), e.g. `["pattern"]` for a block size that does not fit the pattern. */
  readonly related: readonly string[];

  /**
   * Creates the error.
   *
   * @param option The key of the offending option.
   * @param message A sentence that starts with `option` and names the offending value.
   * @param related Other options the message names, by key.
   */
  constructor(option: string, message: string, related: readonly string[] = []) {
    super(message);
    this.name = "OptionError";
    this.option = option;
    this.related = related;
  }
}
