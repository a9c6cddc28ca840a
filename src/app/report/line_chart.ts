/**
 * Line charts with numeric axes as standalone SVG documents (see `svg.ts`).
 *
 * @module
 */

import { attrs, escapeXml, num } from "./_xml.ts";
import { linearScale } from "./_scale.ts";
import { formatNumber } from "./format_number.ts";
import {
  type ChartOptions,
  checkSize,
  colorOf,
  drawable,
  type Frame,
  legend,
  legendWidth,
  PLOT_TOP_NO_TITLE,
  PLOT_TOP_TITLE,
  svgOpen,
  xAxisLabel,
  xAxisLine,
  yAxis,
  yScaleFor,
} from "./_chart_frame.ts";

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

/**
 * Draws a line chart with numeric axes, e.g. perplexity (y, optionally
 * logarithmic) against sparsity (x), one line per pruning method, with
 * markers at the points. A point whose `y` cannot be drawn (non-finite, or
 * not positive on a log axis) breaks its line.
 *
 * @example Perplexity against sparsity
 * ```ts
 * import { lineChartSvg } from "./line_chart.ts";
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
