import { strictEqual, throws } from "node:assert/strict";
import { formatNumber } from "../../../src/app/report/format_number.ts";

Deno.test("formatNumber: fixed significance with readable notation", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [834, "834"],
    [-12, "-12"],
    [3_360_768, "3360768"],
    [5.139308, "5.139"],
    [12.5, "12.50"],
    [0.00421, "0.004210"],
    [12345.6, "12346"],
    [9.99996, "10.00"],
    [0.0000123456, "1.235e-5"],
    [25_000_000.5, "2.500e+7"],
    [-0.5, "-0.5000"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
    [NaN, "NaN"],
  ];
  for (const [value, text] of cases) strictEqual(formatNumber(value), text, String(value));
  strictEqual(formatNumber(5.139308, 6), "5.13931");
  strictEqual(formatNumber(5.139308, 1), "5");
});

Deno.test("formatNumber: rejects a bad digit count", () => {
  throws(() => formatNumber(1.5, 0), {
    name: "RangeError",
    message: "significant must be an integer from 1 to 21, got 0.",
  });
});
