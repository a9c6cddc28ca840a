import { strictEqual, throws } from "node:assert/strict";
import { formatMarkdownTable, formatTable } from "../../../src/app/report/table.ts";

const headers = ["method", "sparsity", "ppl", "note"];
const rows: (string | number)[][] = [
  ["dense", 0, 5.139308, ""],
  ["SparseGPT", 0.7, 7.91234, "2:4 | unstructured"],
  ["magnitude", 0.7, 1234.5678, "diverges"],
];

Deno.test("formatTable: numbers right-aligned, text left-aligned", () => {
  strictEqual(
    formatTable(headers, rows),
    [
      "method     sparsity    ppl  note",
      "---------  --------  -----  ------------------",
      "dense             0  5.139",
      "SparseGPT    0.7000  7.912  2:4 | unstructured",
      "magnitude    0.7000   1235  diverges",
    ].join("\n"),
  );
});

Deno.test("formatTable: options", () => {
  const text = formatTable(["a", "b"], [["x", 1.23456], ["yy", 10]], {
    align: ["right", "left"],
    separator: " | ",
    headerRule: false,
    formatNumber: (v, c) => `${v.toFixed(1)}@${c}`,
  });
  strictEqual(text, [" a | b", " x | 1.2@1", "yy | 10.0@1"].join("\n"));
  // Line breaks and tabs cannot break the layout; wide characters take two columns,
  // combining marks none.
  strictEqual(
    formatTable(["k", "v"], [["a\nb", "e\u0301"], ["日本", 1]]),
    ["k     v", "----  -", "a b   e\u0301", "日本  1"].join("\n"),
  );
});

Deno.test("formatMarkdownTable: alignment markers and escaped pipes", () => {
  strictEqual(
    formatMarkdownTable(headers, rows),
    [
      "| method    | sparsity |   ppl | note                |",
      "| :-------- | -------: | ----: | :------------------ |",
      "| dense     |        0 | 5.139 |                     |",
      "| SparseGPT |   0.7000 | 7.912 | 2:4 \\| unstructured |",
      "| magnitude |   0.7000 |  1235 | diverges            |",
    ].join("\n"),
  );
  strictEqual(formatMarkdownTable(["x"], []), "| x   |\n| :-- |");
});

Deno.test("tables: errors", () => {
  throws(() => formatTable([], []), {
    name: "RangeError",
    message: "A table needs at least one column header.",
  });
  throws(() => formatMarkdownTable(["a", "b"], [["x", 1], ["y"]]), {
    name: "RangeError",
    message: "Table row 2 has 1 cells, but there are 2 column headers.",
  });
});
