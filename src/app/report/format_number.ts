/**
 * Compact, fixed-significance number formatting for reports.
 *
 * @module
 */

/**
 * Formats a number for a report with about `significant` significant digits.
 *
 * - Integers are written in full (`3360768`).
 * - Magnitudes from `1e-3` to below `1e6` use fixed notation with
 *   `significant` significant digits, trailing zeros kept so that a column
 *   reads evenly (`5.139`, `12.50`, `0.004210`); larger integral parts are
 *   rounded to units (`12346`).
 * - Other magnitudes use exponential notation (`1.235e-5`, `2.500e+7`).
 * - Non-finite values read `inf`, `-inf` and `NaN`.
 *
 * @example
 * ```ts
 * import { formatNumber } from "./format_number.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(formatNumber(5.139308), "5.139");
 * deepStrictEqual(formatNumber(0.0000123456), "1.235e-5");
 * deepStrictEqual(formatNumber(834), "834");
 * ```
 *
 * @param value The number.
 * @param significant Significant digits, an integer from 1 to 21. Default 4.
 * @returns The formatted number.
 * @throws {RangeError} when `significant` is out of range.
 */
export function formatNumber(value: number, significant = 4): string {
  if (!Number.isInteger(significant) || significant < 1 || significant > 21) {
    throw new RangeError(`significant must be an integer from 1 to 21, got ${significant}.`);
  }
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  if (Number.isInteger(value) && Math.abs(value) < 1e21) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e6) {
    const exponent = Math.floor(Math.log10(magnitude));
    let decimals = Math.max(0, significant - 1 - exponent);
    let text = value.toFixed(Math.min(decimals, 100));
    // Rounding may carry into a new digit (9.9996 -> "10.000"): redo with one decimal less.
    if (decimals > 0 && Math.abs(Number(text)) >= 10 ** (exponent + 1)) {
      decimals--;
      text = value.toFixed(decimals);
    }
    return text;
  }
  return value.toExponential(significant - 1);
}
