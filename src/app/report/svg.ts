/**
 * Dependency-free SVG charts for pruning reports: grouped bar charts (e.g.
 * reconstruction error per layer and matrix) and line charts (e.g.
 * perplexity against sparsity, one line per method).
 *
 * The output is a standalone, well-formed SVG 1.1 document (no scripts, no
 * external resources); every user-supplied text is XML-escaped. Elements
 * carry classes (`bar`, `series`, `line`, `point`, `legend-item`,
 * `tick-label`, `axis-label`, `title`) so the charts can be styled or tested.
 *
 * @module
 */

export { type ChartOptions, DEFAULT_COLORS } from "./_chart_frame.ts";
export * from "./bar_chart.ts";
export * from "./line_chart.ts";
