/**
 * Grouped bar charts as standalone SVG documents (see `svg.ts`).
 *
 * @module
 */

import { attrs, escapeXml, num } from "./_xml.ts";
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
  textWidth,
  xAxisLabel,
  xAxisLine,
  yAxis,
  yScaleFor,
} from "./_chart_frame.ts";

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

/**
 * Draws a grouped bar chart: for each category, one bar per series side by
 * side, e.g. the relative reconstruction error of each weight matrix (series)
 * in each layer (category). Bars start at zero on a linear axis and at the
 * bottom of the axis when `logY` is set.
 *
 * @example Reconstruction error per layer
 * ```ts
 * import { barChartSvg } from "./bar_chart.ts";
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
