// Checks of use-case arguments that are not pruning options (internal to src/app).

import { OptionError } from "../prune/option_error.ts";

/** Refuses an argument that is given but not a positive integer, naming it by its key. */
export function positiveInteger(key: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
    throw new OptionError(key, `${key} must be a positive integer (got ${value})`);
  }
}
