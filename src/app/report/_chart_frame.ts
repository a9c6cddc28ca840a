// Shared parts of the SVG charts (bar_chart.ts, line_chart.ts): palette, options, plot frame,
// axes and legend. Internal to src/app/report.

import { attrs, escapeXml, num } from "./_xml.ts";
import { linearScale, logScale, type Scale } from "./_scale.ts";

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

export const FONT_SIZE = 12;
export const CHAR_WIDTH = 6.6; // average advance of a 12px sans-serif glyph
export const PLOT_TOP_NO_TITLE = 16;
export const PLOT_TOP_TITLE = 40;

export function textWidth(text: string): number {
  return [...text].length * CHAR_WIDTH;
}

export function checkSize(what: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 100 || value > 100_000) {
    throw new RangeError(`The chart ${what} must be from 100 to 100000 pixels, got ${value}.`);
  }
  return value;
}

export interface Frame {
  width: number;
  height: number;
  left: number;
  top: number;
  plotWidth: number;
  plotHeight: number;
}

export function yScaleFor(values: number[], logY: boolean, includeZero: boolean): Scale {
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

export function drawable(value: number | null | undefined, logY: boolean): value is number {
  return typeof value === "number" && Number.isFinite(value) && (!logY || value > 0);
}

export function svgOpen(width: number, height: number, title: string | undefined): string {
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
export function yAxis(frame: Frame, scale: Scale, yLabel: string | undefined): string {
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

export function xAxisLine(frame: Frame, y: number): string {
  const { left, plotWidth } = frame;
  return `<line${
    attrs({ class: "axis", x1: left, x2: left + plotWidth, y1: y, y2: y, stroke: "#333333" })
  }/>\n`;
}

export function xAxisLabel(frame: Frame, xLabel: string | undefined): string {
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
export function legend(
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

export function legendWidth(names: readonly string[]): number {
  return names.length === 0 ? 16 : 56 + Math.max(...names.map(textWidth));
}

export function colorOf(color: string | undefined, index: number): string {
  return color ?? DEFAULT_COLORS[index % DEFAULT_COLORS.length];
}
