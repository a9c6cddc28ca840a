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

import { attrs, escapeXml, num } from "./_xml.ts";
import { linearScale, logScale, type Scale } from "./_scale.ts";
import { formatNumber } from "./format_number.ts";

/** Colour-blind-safe default palette (Okabe & Ito), used in order. */
export const DEFAULT_COLORS: readonly string[] = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#E69F00",
  "#CC79A7",
  "#56B4E9",
  "#000000",
  "#F0E442",
];

/** Options shared by both chart kinds. */
export interface ChartOptions {
  /** Title drawn above the plot and stored as the document `<title>`. */
  title?: string;
  /** Label of the horizontal axis. */
  xLabel?: string;
  /** Label of the vertical axis. */
  yLabel?: string;
  /**
   * Logarithmic (base 10) vertical axis. Values that are not positive cannot
   * be drawn on it and are left out. Default `false`.
   */
  logY?: boolean;
  /** Width in pixels; default depends on the chart. */
  width?: number;
  /** Height in pixels; default 420. */
  height?: number;
  /** Formats values in tooltips; default {@linkcode formatNumber}. */
  formatValue?: (value: number) => string;
}

/** One series of a grouped bar chart: a value per category. */
export interface BarSeries {
  /** Legend entry, e.g. a matrix name such as `self_attn.q_proj`. */
  name: string;
  /**
   * One value per category, in category order; `null` or a non-finite value
   * leaves the bar out.
   */
  values: readonly (number | null)[];
  /** CSS colour; default from {@linkcode DEFAULT_COLORS}. */
  color?: string;
}

/** Options of {@linkcode barChartSvg}. */
export interface BarChartOptions extends ChartOptions {
  /** Group labels along the horizontal axis, e.g. `layer 0`, `layer 1`, ... */
  categories: readonly string[];
  /** The bars of each group, one series per bar position. */
  series: readonly BarSeries[];
}

/** One point of a line chart. */
export interface LinePoint {
  /** Horizontal position, e.g. sparsity. */
  x: number;
  /** Vertical position, e.g. perplexity; a non-finite value breaks the line there. */
  y: number;
}

/** One line of a line chart. */
export interface LineSeries {
  /** Legend entry, e.g. a pruning method such as `SparseGPT`. */
  name: string;
  /** The points, drawn in the order given. */
  points: readonly LinePoint[];
  /** CSS colour; default from {@linkcode DEFAULT_COLORS}. */
  color?: string;
}

/** A dashed horizontal line across the plot, e.g. the dense model's perplexity. */
export interface ReferenceLine {
  /** Vertical position. */
  y: number;
  /** Text drawn at its right end. */
  label: string;
}

/** Options of {@linkcode lineChartSvg}. */
export interface LineChartOptions extends ChartOptions {
  /** The lines. */
  series: readonly LineSeries[];
  /** Dashed horizontal reference lines. */
  referenceLines?: readonly ReferenceLine[];
  /** Formats the horizontal tick labels, e.g. as percentages; default plain numbers. */
  formatX?: (value: number) => string;
}

const FONT_SIZE = 12;
const CHAR_WIDTH = 6.6; // average advance of a 12px sans-serif glyph
const PLOT_TOP_NO_TITLE = 16;
const PLOT_TOP_TITLE = 40;

function textWidth(text: string): number {
  return [...text].length * CHAR_WIDTH;
}

function checkSize(what: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 100 || value > 100_000) {
    throw new RangeError(`The chart ${what} must be from 100 to 100000 pixels, got ${value}.`);
  }
  return value;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  top: number;
  plotWidth: number;
  plotHeight: number;
}

function yScaleFor(values: number[], logY: boolean, includeZero: boolean): Scale {
  if (logY) {
    const positive = values.filter((v) => v > 0);
    return logScale(Math.min(...positive), Math.max(...positive));
  }
  if (values.length === 0) return linearScale(0, 1);
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (includeZero) [min, max] = [Math.min(min, 0), Math.max(max, 0)];
  return linearScale(min, max);
}

function drawable(value: number | null | undefined, logY: boolean): value is number {
  return typeof value === "number" && Number.isFinite(value) && (!logY || value > 0);
}

function svgOpen(width: number, height: number, title: string | undefined): string {
  const head = `<svg${
    attrs({
      xmlns: "http://www.w3.org/2000/svg",
      width,
      height,
      viewBox: `0 0 ${num(width)} ${num(height)}`,
      "font-family": "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif",
      "font-size": FONT_SIZE,
    })
  }>\n`;
  let out = head;
  if (title !== undefined) out += `<title>${escapeXml(title)}</title>\n`;
  out += `<rect${attrs({ class: "background", width, height, fill: "#ffffff" })}/>\n`;
  if (title !== undefined) {
    out += `<text${
      attrs({
        class: "title",
        x: width / 2,
        y: 24,
        "text-anchor": "middle",
        "font-size": 15,
        "font-weight": "bold",
      })
    }>${escapeXml(title)}</text>\n`;
  }
  return out;
}

/** Y axis: grid lines, ticks and labels, the axis line and its label. */
function yAxis(frame: Frame, scale: Scale, yLabel: string | undefined): string {
  const { left, top, plotWidth, plotHeight } = frame;
  let out = `<g class="y-axis">\n`;
  for (const tick of scale.ticks) {
    const y = top + plotHeight * (1 - scale.fraction(tick));
    out += `<line${
      attrs({ class: "grid", x1: left, x2: left + plotWidth, y1: y, y2: y, stroke: "#e0e0e0" })
    }/>\n`;
    out += `<text${attrs({ class: "tick-label", x: left - 6, y: y + 4, "text-anchor": "end" })}>${
      escapeXml(scale.label(tick))
    }</text>\n`;
  }
  out += `<line${
    attrs({ class: "axis", x1: left, x2: left, y1: top, y2: top + plotHeight, stroke: "#333333" })
  }/>\n`;
  if (yLabel !== undefined) {
    const x = 16;
    const y = top + plotHeight / 2;
    out += `<text${
      attrs({
        class: "axis-label",
        x,
        y,
        "text-anchor": "middle",
        transform: `rotate(-90 ${num(x)} ${num(y)})`,
      })
    }>${escapeXml(yLabel)}</text>\n`;
  }
  return out + `</g>\n`;
}

function xAxisLine(frame: Frame, y: number): string {
  const { left, plotWidth } = frame;
  return `<line${
    attrs({ class: "axis", x1: left, x2: left + plotWidth, y1: y, y2: y, stroke: "#333333" })
  }/>\n`;
}

function xAxisLabel(frame: Frame, xLabel: string | undefined): string {
  if (xLabel === undefined) return "";
  return `<text${
    attrs({
      class: "axis-label",
      x: frame.left + frame.plotWidth / 2,
      y: frame.height - 10,
      "text-anchor": "middle",
    })
  }>${escapeXml(xLabel)}</text>\n`;
}

/** Legend to the right of the plot: a swatch (or line) and the name per series. */
function legend(
  frame: Frame,
  entries: readonly { name: string; color: string }[],
  kind: "bar" | "line",
): string {
  const x = frame.left + frame.plotWidth + 16;
  let out = `<g class="legend">\n`;
  entries.forEach((entry, i) => {
    const y = frame.top + 8 + i * 18;
    out += `<g class="legend-item">`;
    out += kind === "bar"
      ? `<rect${attrs({ x, y: y - 9, width: 12, height: 12, fill: entry.color })}/>`
      : `<line${
        attrs({ x1: x, x2: x + 16, y1: y - 3, y2: y - 3, stroke: entry.color, "stroke-width": 2 })
      }/>`;
    out += `<text${attrs({ class: "legend-label", x: x + 22, y: y + 1 })}>${
      escapeXml(entry.name)
    }</text></g>\n`;
  });
  return out + `</g>\n`;
}

function legendWidth(names: readonly string[]): number {
  return names.length === 0 ? 16 : 56 + Math.max(...names.map(textWidth));
}

function colorOf(color: string | undefined, index: number): string {
  return color ?? DEFAULT_COLORS[index % DEFAULT_COLORS.length];
}

/**
 * Draws a grouped bar chart: for each category, one bar per series side by
 * side, e.g. the relative reconstruction error of each weight matrix (series)
 * in each layer (category). Bars start at zero on a linear axis and at the
 * bottom of the axis when `logY` is set.
 *
 * @example Reconstruction error per layer
 * ```ts
 * import { barChartSvg } from "./svg.ts";
 * import { ok } from "node:assert/strict";
 *
 * const svg = barChartSvg({
 *   title: "Relative reconstruction error",
 *   categories: ["layer 0", "layer 1"],
 *   series: [
 *     { name: "q_proj", values: [0.012, 0.03] },
 *     { name: "fc1", values: [0.2, 0.5] },
 *   ],
 *   yLabel: "error",
 *   logY: true,
 * });
 * ok(svg.startsWith("<svg"));
 * ```
 *
 * @param options The data and labels.
 * @returns The SVG document.
 * @throws {RangeError} when there are no categories or series, or a series
 * has a different number of values than there are categories.
 */
export function barChartSvg(options: BarChartOptions): string {
  const { categories, series, logY = false } = options;
  if (categories.length === 0) throw new RangeError("A bar chart needs at least one category.");
  if (series.length === 0) throw new RangeError("A bar chart needs at least one series.");
  for (const s of series) {
    if (s.values.length !== categories.length) {
      throw new RangeError(
        `Bar series "${s.name}" has ${s.values.length} values, but there are ${categories.length} categories.`,
      );
    }
  }
  const format = options.formatValue ?? ((v: number) => formatNumber(v));
  const values = series.flatMap((s) => s.values.filter((v) => drawable(v, logY)));
  const scale = yScaleFor(values, logY, true);

  // Layout: width grows with the number of bars; labels rotate when crowded.
  const barsPerGroup = series.length;
  const rightMargin = legendWidth(series.map((s) => s.name));
  const leftMargin = 72;
  const width = checkSize(
    "width",
    options.width,
    Math.min(
      4000,
      Math.max(720, leftMargin + rightMargin + categories.length * (barsPerGroup * 7 + 10)),
    ),
  );
  const height = checkSize("height", options.height, 420);
  const plotWidth = width - leftMargin - rightMargin;
  if (plotWidth < 20) {
    throw new RangeError(
      `The chart width ${width} leaves no room for the plot next to the legend.`,
    );
  }
  const band = plotWidth / categories.length;
  const longest = Math.max(...categories.map(textWidth));
  const rotate = longest > band - 4;
  const labelEvery = rotate ? Math.max(1, Math.ceil(16 / band)) : 1;
  const labelDepth = rotate ? Math.min(longest, 160) * Math.SQRT1_2 + 12 : 18;
  const top = options.title === undefined ? PLOT_TOP_NO_TITLE : PLOT_TOP_TITLE;
  const bottom = labelDepth + (options.xLabel === undefined ? 12 : 34);
  const plotHeight = height - top - bottom;
  if (plotHeight < 20) {
    throw new RangeError(
      `The chart height ${height} leaves no room for the plot under the labels.`,
    );
  }
  const frame: Frame = { width, height, left: leftMargin, top, plotWidth, plotHeight };
  const yOf = (v: number) => top + plotHeight * (1 - scale.fraction(v));
  const baseline = logY
    ? top + plotHeight
    : yOf(Math.min(Math.max(0, scale.domain[0]), scale.domain[1]));

  let out = svgOpen(width, height, options.title);
  out += yAxis(frame, scale, options.yLabel);

  const groupPad = Math.min(band * 0.2, 12);
  const barWidth = (band - groupPad) / barsPerGroup;
  series.forEach((s, si) => {
    const color = colorOf(s.color, si);
    out += `<g${attrs({ class: "series", "data-name": s.name, fill: color })}>\n`;
    s.values.forEach((v, ci) => {
      if (!drawable(v, logY)) return;
      const x = leftMargin + ci * band + groupPad / 2 + si * barWidth;
      const y = yOf(v);
      out += `<rect${
        attrs({
          class: "bar",
          x,
          y: Math.min(y, baseline),
          width: Math.max(barWidth - (barWidth > 3 ? 1 : 0), 0.5),
          height: Math.max(Math.abs(baseline - y), 0.5),
        })
      }><title>${escapeXml(`${categories[ci]} / ${s.name}: ${format(v)}`)}</title></rect>\n`;
    });
    out += `</g>\n`;
  });

  out += xAxisLine(frame, baseline);
  out += `<g class="x-axis">\n`;
  categories.forEach((c, ci) => {
    if (ci % labelEvery !== 0) return;
    const x = leftMargin + (ci + 0.5) * band;
    const y = top + plotHeight + 16;
    out += `<text${
      attrs(
        rotate
          ? {
            class: "tick-label",
            x,
            y,
            "text-anchor": "end",
            transform: `rotate(-45 ${num(x)} ${num(y)})`,
          }
          : { class: "tick-label", x, y, "text-anchor": "middle" },
      )
    }>${escapeXml(c)}</text>\n`;
  });
  out += `</g>\n`;
  out += xAxisLabel(frame, options.xLabel);
  out += legend(frame, series.map((s, i) => ({ name: s.name, color: colorOf(s.color, i) })), "bar");
  return out + `</svg>\n`;
}

/**
 * Draws a line chart with numeric axes, e.g. perplexity (y, optionally
 * logarithmic) against sparsity (x), one line per pruning method, with
 * markers at the points. A point whose `y` cannot be drawn (non-finite, or
 * not positive on a log axis) breaks its line.
 *
 * @example Perplexity against sparsity
 * ```ts
 * import { lineChartSvg } from "./svg.ts";
 * import { ok } from "node:assert/strict";
 *
 * const svg = lineChartSvg({
 *   title: "opt-small, KJV test",
 *   xLabel: "sparsity",
 *   yLabel: "perplexity",
 *   logY: true,
 *   series: [
 *     { name: "magnitude", points: [{ x: 0.5, y: 6.1 }, { x: 0.7, y: 40 }] },
 *     { name: "SparseGPT", points: [{ x: 0.5, y: 5.4 }, { x: 0.7, y: 7.9 }] },
 *   ],
 *   referenceLines: [{ y: 5.139, label: "dense" }],
 *   formatX: (x) => `${Math.round(x * 100)}%`,
 * });
 * ok(svg.includes("SparseGPT"));
 * ```
 *
 * @param options The data and labels.
 * @returns The SVG document.
 * @throws {RangeError} when there is no series or an `x` is not finite.
 */
export function lineChartSvg(options: LineChartOptions): string {
  const { series, logY = false } = options;
  const references = options.referenceLines ?? [];
  if (series.length === 0) throw new RangeError("A line chart needs at least one series.");
  for (const s of series) {
    s.points.forEach((p, i) => {
      if (!Number.isFinite(p.x)) {
        throw new RangeError(
          `Point ${i} of line series "${s.name}" has x = ${p.x}, not a finite number.`,
        );
      }
    });
  }
  const format = options.formatValue ?? ((v: number) => formatNumber(v));
  const formatX = options.formatX;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = [
    ...series.flatMap((s) => s.points.map((p) => p.y)),
    ...references.map((r) => r.y),
  ].filter((y) => drawable(y, logY));
  const xScale = xs.length === 0
    ? linearScale(0, 1)
    : linearScale(Math.min(...xs), Math.max(...xs));
  const yScale = yScaleFor(ys, logY, false);

  const rightMargin = legendWidth(series.map((s) => s.name));
  const leftMargin = 72;
  const width = checkSize("width", options.width, 760);
  const height = checkSize("height", options.height, 420);
  const top = options.title === undefined ? PLOT_TOP_NO_TITLE : PLOT_TOP_TITLE;
  const bottom = 30 + (options.xLabel === undefined ? 0 : 22);
  const plotWidth = width - leftMargin - rightMargin;
  const plotHeight = height - top - bottom;
  if (plotWidth < 20 || plotHeight < 20) {
    throw new RangeError(`The chart size ${width}x${height} leaves no room for the plot.`);
  }
  const frame: Frame = { width, height, left: leftMargin, top, plotWidth, plotHeight };
  const xOf = (v: number) => leftMargin + plotWidth * xScale.fraction(v);
  const yOf = (v: number) => top + plotHeight * (1 - yScale.fraction(v));

  let out = svgOpen(width, height, options.title);
  out += yAxis(frame, yScale, options.yLabel);
  out += xAxisLine(frame, top + plotHeight);
  out += `<g class="x-axis">\n`;
  for (const tick of xScale.ticks) {
    const x = xOf(tick);
    out += `<line${
      attrs({ x1: x, x2: x, y1: top + plotHeight, y2: top + plotHeight + 4, stroke: "#333333" })
    }/>`;
    out += `<text${
      attrs({ class: "tick-label", x, y: top + plotHeight + 18, "text-anchor": "middle" })
    }>${escapeXml(formatX ? formatX(tick) : xScale.label(tick))}</text>\n`;
  }
  out += `</g>\n`;
  out += xAxisLabel(frame, options.xLabel);

  for (const r of references) {
    if (!drawable(r.y, logY)) continue;
    const y = yOf(r.y);
    out += `<g class="reference">`;
    out += `<line${
      attrs({
        x1: leftMargin,
        x2: leftMargin + plotWidth,
        y1: y,
        y2: y,
        stroke: "#777777",
        "stroke-dasharray": "5 4",
      })
    }/>`;
    out += `<text${
      attrs({ x: leftMargin + plotWidth - 4, y: y - 4, "text-anchor": "end", fill: "#555555" })
    }>${escapeXml(r.label)}</text></g>\n`;
  }

  series.forEach((s, si) => {
    const color = colorOf(s.color, si);
    out += `<g${attrs({ class: "series", "data-name": s.name })}>\n`;
    // Runs of drawable points become polylines; a single drawable point is only a marker.
    let run: string[] = [];
    const flush = () => {
      if (run.length >= 2) {
        out += `<polyline${
          attrs({
            class: "line",
            points: run.join(" "),
            fill: "none",
            stroke: color,
            "stroke-width": 2,
            "stroke-linejoin": "round",
          })
        }/>\n`;
      }
      run = [];
    };
    for (const p of s.points) {
      if (drawable(p.y, logY)) run.push(`${num(xOf(p.x))},${num(yOf(p.y))}`);
      else flush();
    }
    flush();
    for (const p of s.points) {
      if (!drawable(p.y, logY)) continue;
      const xText = formatX ? formatX(p.x) : format(p.x);
      out += `<circle${
        attrs({ class: "point", cx: xOf(p.x), cy: yOf(p.y), r: 3.5, fill: color })
      }><title>${escapeXml(`${s.name} at ${xText}: ${format(p.y)}`)}</title></circle>\n`;
    }
    out += `</g>\n`;
  });
  out += legend(
    frame,
    series.map((s, i) => ({ name: s.name, color: colorOf(s.color, i) })),
    "line",
  );
  return out + `</svg>\n`;
}
