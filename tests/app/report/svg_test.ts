import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { barChartSvg, DEFAULT_COLORS, lineChartSvg } from "../../../src/app/report/svg.ts";
import { byTag, findAll, parseXml, textOf, type XmlElement } from "./_xml_check.ts";

const N = (e: XmlElement, attr: string): number => Number(e.attrs[attr]);
const texts = (root: XmlElement, cls: string): string[] => byTag(root, "text", cls).map(textOf);

const NASTY = `q<proj> & "fc1" 'x'`;

Deno.test("barChartSvg: well-formed, one bar per finite value, labels and legend", () => {
  const svg = barChartSvg({
    title: "Reconstruction <error> & friends",
    categories: ["layer 0", "layer 1", "layer 2"],
    series: [
      { name: "q_proj", values: [0.1, 0.2, 0.3] },
      { name: NASTY, values: [0.4, null, NaN] },
    ],
    xLabel: "layer",
    yLabel: "relative error",
  });
  const root = parseXml(svg);
  strictEqual(root.name, "svg");
  strictEqual(root.attrs.xmlns, "http://www.w3.org/2000/svg");
  strictEqual(byTag(root, "rect", "bar").length, 4);
  deepStrictEqual(texts(root, "title"), ["Reconstruction <error> & friends"]);
  strictEqual(textOf(byTag(root, "title")[0]), "Reconstruction <error> & friends");
  deepStrictEqual(texts(root, "legend-label"), ["q_proj", NASTY]);
  deepStrictEqual(texts(root, "axis-label"), ["relative error", "layer"]);
  const tickLabels = texts(root, "tick-label");
  for (const c of ["layer 0", "layer 1", "layer 2"]) ok(tickLabels.includes(c));
  ok(tickLabels.includes("0") && tickLabels.includes("0.4"), tickLabels.join(","));
  // Escaping: the raw text never contains the unescaped forms.
  ok(!svg.includes("<proj>") && !svg.includes("<error>") && !svg.includes(`"fc1"`));
  ok(svg.includes("q&lt;proj&gt; &amp; &quot;fc1&quot; &apos;x&apos;"));
  // Series groups carry their names and default colours.
  const groups = findAll(root, (e) => e.attrs.class === "series");
  deepStrictEqual(groups.map((g) => g.attrs["data-name"]), ["q_proj", NASTY]);
  deepStrictEqual(groups.map((g) => g.attrs.fill), DEFAULT_COLORS.slice(0, 2));
  // Tooltips name category, series and value.
  deepStrictEqual(textOf(byTag(root, "rect", "bar")[3]), `layer 0 / ${NASTY}: 0.4000`);
});

Deno.test("barChartSvg: bar heights are proportional on a linear axis", () => {
  const root = parseXml(
    barChartSvg({ categories: ["a", "b"], series: [{ name: "s", values: [1, 3] }] }),
  );
  const [a, b] = byTag(root, "rect", "bar");
  const bottom = N(a, "y") + N(a, "height");
  ok(Math.abs(bottom - (N(b, "y") + N(b, "height"))) < 0.02, "bars share the baseline");
  ok(Math.abs(N(b, "height") / N(a, "height") - 3) < 0.01);
  ok(N(a, "x") < N(b, "x"));
});

Deno.test("barChartSvg: negative values hang below zero", () => {
  const root = parseXml(
    barChartSvg({ categories: ["a", "b"], series: [{ name: "s", values: [2, -1] }] }),
  );
  const [pos, neg] = byTag(root, "rect", "bar");
  ok(Math.abs(N(pos, "y") + N(pos, "height") - N(neg, "y")) < 0.02, "both touch the zero line");
  ok(Math.abs(N(pos, "height") / N(neg, "height") - 2) < 0.01);
});

Deno.test("barChartSvg: log scale drops non-positive values and uses decade ticks", () => {
  const root = parseXml(barChartSvg({
    categories: ["a", "b", "c", "d"],
    series: [{ name: "s", values: [1e-4, 0.5, 0, -2] }],
    logY: true,
  }));
  const bars = byTag(root, "rect", "bar");
  strictEqual(bars.length, 2);
  ok(N(bars[1], "height") > N(bars[0], "height"));
  const ticks = texts(root, "tick-label");
  for (const t of ["1e-4", "0.001", "0.01", "0.1", "1"]) ok(ticks.includes(t), ticks.join(","));
});

Deno.test("barChartSvg: 32 layers x 7 matrices stay readable", () => {
  const matrices = ["q", "k", "v", "o", "gate", "up", "down"];
  const categories = Array.from({ length: 32 }, (_, i) => `model.layers.${i}`);
  const svg = barChartSvg({
    categories,
    series: matrices.map((m, j) => ({
      name: m,
      values: categories.map((_, i) => (i + 1) * (j + 1)),
    })),
  });
  const root = parseXml(svg);
  strictEqual(byTag(root, "rect", "bar").length, 224);
  strictEqual(byTag(root, "g", "legend-item").length, 7);
  ok(
    byTag(root, "text", "tick-label").some((t) =>
      (t.attrs.transform ?? "").startsWith("rotate(-45")
    ),
  );
  const width = N(root, "width");
  for (const bar of byTag(root, "rect", "bar")) ok(N(bar, "x") + N(bar, "width") <= width);
});

Deno.test("barChartSvg: errors", () => {
  throws(() => barChartSvg({ categories: [], series: [{ name: "s", values: [] }] }), {
    name: "RangeError",
    message: "A bar chart needs at least one category.",
  });
  throws(() => barChartSvg({ categories: ["a"], series: [] }), {
    message: "A bar chart needs at least one series.",
  });
  throws(() => barChartSvg({ categories: ["a", "b"], series: [{ name: "fc1", values: [1] }] }), {
    message: 'Bar series "fc1" has 1 values, but there are 2 categories.',
  });
  throws(() => barChartSvg({ categories: ["a"], series: [{ name: "s", values: [1] }], width: 5 }), {
    message: "The chart width must be from 100 to 100000 pixels, got 5.",
  });
});

Deno.test("lineChartSvg: one polyline per series, markers, legend, reference line", () => {
  const sparsities = [0.5, 0.6, 0.7, 0.8];
  const svg = lineChartSvg({
    title: "opt-small on KJV test",
    xLabel: "sparsity",
    yLabel: "perplexity",
    logY: true,
    series: [
      { name: "magnitude", points: sparsities.map((x, i) => ({ x, y: 6 * 3 ** i })) },
      { name: "SparseGPT", points: sparsities.map((x, i) => ({ x, y: 5.4 + i })) },
      {
        name: "SparseLLM",
        points: sparsities.map((x, i) => ({ x, y: 5.3 + i })),
        color: "#123456",
      },
    ],
    referenceLines: [{ y: 5.139, label: "dense & <fp32>" }],
    formatX: (x) => `${Math.round(x * 100)}%`,
  });
  const root = parseXml(svg);
  const series = findAll(root, (e) => e.attrs.class === "series");
  deepStrictEqual(series.map((s) => s.attrs["data-name"]), ["magnitude", "SparseGPT", "SparseLLM"]);
  for (const s of series) {
    strictEqual(byTag(s, "polyline", "line").length, 1);
    strictEqual(byTag(s, "circle", "point").length, 4);
    strictEqual(byTag(s, "polyline")[0].attrs.points.split(" ").length, 4);
  }
  strictEqual(byTag(series[2], "polyline")[0].attrs.stroke, "#123456");
  deepStrictEqual(texts(root, "legend-label"), ["magnitude", "SparseGPT", "SparseLLM"]);
  const ticks = texts(root, "tick-label");
  for (const t of ["50%", "60%", "70%", "80%", "5", "10", "100"]) {
    ok(ticks.includes(t), ticks.join(","));
  }
  const reference = findAll(root, (e) => e.attrs.class === "reference");
  strictEqual(reference.length, 1);
  strictEqual(textOf(reference[0]), "dense & <fp32>");
  strictEqual(textOf(byTag(series[0], "circle")[1]), "magnitude at 60%: 18");
  // Higher perplexity is drawn higher up (smaller y).
  const [p0, p1] = byTag(series[0], "circle");
  ok(N(p1, "cy") < N(p0, "cy"));
  ok(N(p1, "cx") > N(p0, "cx"));
});

Deno.test("lineChartSvg: missing points break the line", () => {
  const root = parseXml(lineChartSvg({
    series: [{
      name: "diverged",
      points: [{ x: 0, y: 1 }, { x: 1, y: 2 }, { x: 2, y: Infinity }, { x: 3, y: 4 }, {
        x: 4,
        y: 5,
      }, {
        x: 5,
        y: NaN,
      }, { x: 6, y: 3 }],
    }],
  }));
  const lines = byTag(root, "polyline", "line");
  strictEqual(lines.length, 2);
  strictEqual(byTag(root, "circle", "point").length, 5);
});

Deno.test("lineChartSvg: control characters become U+FFFD", () => {
  const svg = lineChartSvg({ series: [{ name: "a\u0000b\u001bc", points: [{ x: 0, y: 1 }] }] });
  const root = parseXml(svg);
  deepStrictEqual(texts(root, "legend-label"), ["a\ufffdb\ufffdc"]);
});

Deno.test("lineChartSvg: errors", () => {
  throws(() => lineChartSvg({ series: [] }), {
    name: "RangeError",
    message: "A line chart needs at least one series.",
  });
  throws(
    () => lineChartSvg({ series: [{ name: "m", points: [{ x: 0, y: 1 }, { x: NaN, y: 2 }] }] }),
    {
      message: 'Point 1 of line series "m" has x = NaN, not a finite number.',
    },
  );
});
