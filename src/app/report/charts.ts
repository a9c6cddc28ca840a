/**
 * The pictures of a pruning report: per-layer reconstruction error and sparsity by matrix,
 * and perplexity versus sparsity per method after a sweep.
 *
 * @module
 */

import type { LayerReport } from "../../prune/report.ts";
import { barChartSvg, lineChartSvg, type LineSeries } from "./svg.ts";

function stack(svgs: string[], width: number, heights: number[]): string {
  let y = 0;
  const parts = svgs.map((s, i) => {
    const body = s.replace(/^<\?xml[^>]*>\s*/, "").replace(/^<svg\b/, `<svg y="${y}"`);
    y += heights[i];
    return body;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" ` +
    `viewBox="0 0 ${width} ${y}">\n${parts.join("\n")}\n</svg>\n`;
}

/**
 * Two stacked bar charts: relative reconstruction error (log scale) and achieved sparsity of
 * every pruned matrix, grouped by layer.
 */
export function layerChartSvg(layers: readonly LayerReport[]): string {
  const pruned = layers.filter((l) => l.pruned && l.matrices.length > 0);
  const roles = [...new Set(pruned.flatMap((l) => l.matrices.map((m) => m.role)))];
  const categories = pruned.map((l) => `layer ${l.layer}`);
  const values = (f: (m: LayerReport["matrices"][number]) => number | null) =>
    roles.map((role) => ({
      name: role,
      values: pruned.map((l) => {
        const m = l.matrices.find((x) => x.role === role);
        return m ? f(m) : null;
      }),
    }));
  const width = 900, height = 420;
  const err = barChartSvg({
    title: "Relative reconstruction error ‖WX − ŴX‖² / ‖WX‖² per matrix",
    yLabel: "relative error (log)",
    logY: true,
    width,
    height,
    categories,
    series: values((m) => (Number.isFinite(m.relError) && m.relError > 0 ? m.relError : null)),
  });
  const sp = barChartSvg({
    title: "Achieved sparsity per matrix",
    yLabel: "fraction of zeros",
    width,
    height,
    categories,
    series: values((m) => m.sparsity),
  });
  return stack([err, sp], width, [height, height]);
}

/** One sweep result: a method at a sparsity with its perplexity. */
export interface SweepPoint {
  /** Method name. */
  method: string;
  /** Achieved (or target) sparsity in [0, 1]. */
  sparsity: number;
  /** Perplexity. */
  perplexity: number;
}

/** Perplexity versus sparsity, one line per method, log scale, dense as a reference line. */
export function sweepChartSvg(
  points: readonly SweepPoint[],
  dense?: number,
  title?: string,
): string {
  const methods = [...new Set(points.map((p) => p.method))];
  const series: LineSeries[] = methods.map((m) => ({
    name: m,
    points: points.filter((p) => p.method === m).sort((a, b) => a.sparsity - b.sparsity)
      .map((p) => ({ x: p.sparsity, y: p.perplexity })),
  }));
  return lineChartSvg({
    title: title ?? "Perplexity versus sparsity",
    xLabel: "sparsity",
    yLabel: "perplexity (log)",
    logY: true,
    width: 800,
    height: 480,
    series,
    ...(dense !== undefined ? { referenceLines: [{ y: dense, label: "dense" }] } : {}),
  });
}
