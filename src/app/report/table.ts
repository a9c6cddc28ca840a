/**
 * Plain-text and Markdown tables for CLI output and report files.
 *
 * @module
 */

import { formatNumber } from "./format_number.ts";

/** A table cell: text, or a number formatted by {@linkcode TableOptions.formatNumber}. */
export type TableCell = string | number;

/** Horizontal alignment of a column. */
export type Alignment = "left" | "right";

/** Options of {@linkcode formatTable} and {@linkcode formatMarkdownTable}. */
export interface TableOptions {
  /**
   * Alignment per column. By default a column is right-aligned when all its
   * cells are numbers (empty strings allowed) and left-aligned otherwise.
   */
  align?: readonly (Alignment | undefined)[];
  /**
   * Formats number cells; receives the value and the column index. Default
   * {@linkcode formatNumber} with 4 significant digits.
   */
  formatNumber?: (value: number, column: number) => string;
}

/** Options of {@linkcode formatTable}. */
export interface PlainTableOptions extends TableOptions {
  /** Text between columns. Default two spaces. */
  separator?: string;
  /** Draw a line of `-` under the header. Default `true`. */
  headerRule?: boolean;
}

interface Prepared {
  header: string[];
  body: string[][];
  align: Alignment[];
  widths: number[];
}

/**
 * Terminal display width: East Asian wide and fullwidth characters and most
 * emoji count two columns, combining marks and zero-width characters none.
 */
function width(text: string): number {
  let columns = 0;
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    if (
      (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) ||
      (cp >= 0xfe00 && cp <= 0xfe0f)
    ) continue;
    const wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
      (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
      (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd);
    columns += wide ? 2 : 1;
  }
  return columns;
}

function pad(text: string, to: number, align: Alignment): string {
  const fill = " ".repeat(Math.max(0, to - width(text)));
  return align === "right" ? fill + text : text + fill;
}

function prepare(
  headers: readonly string[],
  rows: readonly (readonly TableCell[])[],
  options: TableOptions,
  clean: (text: string) => string,
): Prepared {
  if (headers.length === 0) throw new RangeError("A table needs at least one column header.");
  rows.forEach((row, r) => {
    if (row.length !== headers.length) {
      throw new RangeError(
        `Table row ${
          r + 1
        } has ${row.length} cells, but there are ${headers.length} column headers.`,
      );
    }
  });
  const fmt = options.formatNumber ?? ((v: number) => formatNumber(v));
  const align = headers.map((_, c): Alignment => {
    const given = options.align?.[c];
    if (given !== undefined) return given;
    const numeric = rows.every((row) => typeof row[c] === "number" || row[c] === "");
    return numeric && rows.some((row) => typeof row[c] === "number") ? "right" : "left";
  });
  const header = headers.map(clean);
  const body = rows.map((row) =>
    row.map((cell, c) => clean(typeof cell === "number" ? fmt(cell, c) : cell))
  );
  const widths = header.map((h, c) => Math.max(width(h), ...body.map((row) => width(row[c]))));
  return { header, body, align, widths };
}

/**
 * Formats an aligned plain-text table: numbers right-aligned, text
 * left-aligned, a rule under the header, no trailing spaces.
 *
 * @example
 * ```ts
 * import { formatTable } from "./table.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const text = formatTable(["method", "ppl"], [["dense", 5.139308], ["magnitude", 12.5]]);
 * deepStrictEqual(text, [
 *   "method       ppl",
 *   "---------  -----",
 *   "dense      5.139",
 *   "magnitude  12.50",
 * ].join("\n"));
 * ```
 *
 * @param headers Column headers.
 * @param rows Rows of cells, each as long as `headers`.
 * @param options Alignment, number format, separator.
 * @returns The table, lines joined by `\n`, without a final newline.
 * @throws {RangeError} when there are no headers or a row has the wrong length.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly TableCell[])[],
  options: PlainTableOptions = {},
): string {
  const separator = options.separator ?? "  ";
  const { header, body, align, widths } = prepare(
    headers,
    rows,
    options,
    (text) => text.replace(/\r\n|\r|\n|\t/g, " "),
  );
  const line = (cells: string[]) =>
    cells.map((cell, c) => pad(cell, widths[c], align[c])).join(separator).trimEnd();
  const lines = [line(header)];
  if (options.headerRule ?? true) lines.push(widths.map((w) => "-".repeat(w)).join(separator));
  for (const row of body) lines.push(line(row));
  return lines.join("\n");
}

/**
 * Formats a GitHub-flavoured Markdown table with alignment markers. Pipes in
 * cells are escaped (`\|`) and line breaks become spaces.
 *
 * @example
 * ```ts
 * import { formatMarkdownTable } from "./table.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const md = formatMarkdownTable(["method", "ppl"], [["dense", 5.139308]]);
 * deepStrictEqual(md, "| method |   ppl |\n| :----- | ----: |\n| dense  | 5.139 |");
 * ```
 *
 * @param headers Column headers.
 * @param rows Rows of cells, each as long as `headers`.
 * @param options Alignment and number format.
 * @returns The table, lines joined by `\n`, without a final newline.
 * @throws {RangeError} when there are no headers or a row has the wrong length.
 */
export function formatMarkdownTable(
  headers: readonly string[],
  rows: readonly (readonly TableCell[])[],
  options: TableOptions = {},
): string {
  const { header, body, align, widths } = prepare(
    headers,
    rows,
    options,
    (text) => text.replace(/\r\n|\r|\n/g, " ").replace(/\|/g, "\\|"),
  );
  const cellWidths = widths.map((w) => Math.max(w, 3));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, c) => pad(cell, cellWidths[c], align[c])).join(" | ")} |`;
  const rule = `| ${
    cellWidths.map((w, c) =>
      align[c] === "right" ? "-".repeat(w - 1) + ":" : ":" + "-".repeat(w - 1)
    ).join(" | ")
  } |`;
  return [line(header), rule, ...body.map(line)].join("\n");
}
