// Internal axis scales of the SVG writers: domain, tick positions, tick labels.

/** An axis: its value range, its ticks and the map from value to [0, 1]. */
export interface Scale {
  /** Lowest and highest value on the axis. */
  domain: [number, number];
  /** Tick values, ascending, inside the domain. */
  ticks: number[];
  /** Whether the axis is logarithmic. */
  log: boolean;
  /** Position of `value` along the axis: 0 at `domain[0]`, 1 at `domain[1]`. */
  fraction(value: number): number;
  /** Label of a tick value. */
  label(value: number): string;
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw * (1 - 1e-9)) return m * power;
  return 10 * power;
}

/** Short label for a tick value that is a multiple of `step` (or of a power of ten). */
function tickLabel(value: number, step: number): string {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6 || magnitude < 1e-3) {
    return value.toExponential(
      Math.max(0, Math.floor(Math.log10(magnitude)) - Math.floor(Math.log10(step))),
    )
      .replace(/\.?0+e/, "e").replace("e+", "e");
  }
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(decimals);
}

/**
 * A linear axis with 1-2-5 ticks covering `[min, max]`.
 *
 * @param min Smallest data value.
 * @param max Largest data value.
 * @param targetTicks About how many ticks to draw.
 * @returns The scale.
 */
export function linearScale(min: number, max: number, targetTicks = 6): Scale {
  if (!(Number.isFinite(min) && Number.isFinite(max))) [min, max] = [0, 1];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    [min, max] = [min - pad, max + pad];
  }
  const step = niceStep((max - min) / targetTicks);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  const count = Math.round((hi - lo) / step);
  for (let i = 0; i <= count; i++) ticks.push(Number((lo + i * step).toPrecision(12)));
  return {
    domain: [lo, hi],
    ticks,
    log: false,
    fraction: (v) => (v - lo) / (hi - lo),
    label: (v) => tickLabel(v, step),
  };
}

/**
 * A base-10 logarithmic axis covering `[min, max]` (both positive). Ticks
 * are 1, 1.5, 2, 3, ..., 9 times powers of ten when the data spans at most
 * half a decade, 1, 2, 3 and 5 times powers of ten up to 1.2 decades, 1, 2 and
 * 5 times powers of ten up to 2.5 decades, else powers of ten (every second,
 * third, ... one when there are many).
 *
 * @param min Smallest data value, positive.
 * @param max Largest data value, positive.
 * @returns The scale.
 */
export function logScale(min: number, max: number): Scale {
  if (!(min > 0 && max > 0 && Number.isFinite(min) && Number.isFinite(max))) [min, max] = [1, 10];
  if (min === max) [min, max] = [min / 2, max * 2];
  const lo = Math.floor(Math.log10(min) + 1e-9);
  let hi = Math.ceil(Math.log10(max) - 1e-9);
  if (hi === lo) hi = lo + 1;
  let ticks: number[];
  let domain: [number, number];
  const span = Math.log10(max / min);
  if (span <= 2.5) {
    const mantissas = span <= 0.5
      ? [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]
      : span <= 1.2
      ? [1, 2, 3, 5]
      : [1, 2, 5];
    const candidates: number[] = [];
    for (let k = lo; k <= hi; k++) {
      for (const m of mantissas) candidates.push(Number((m * 10 ** k).toPrecision(12)));
    }
    const below = candidates.filter((c) => c <= min * (1 + 1e-9));
    const above = candidates.filter((c) => c >= max * (1 - 1e-9));
    domain = [below[below.length - 1] ?? 10 ** lo, above[0] ?? 10 ** hi];
    if (domain[0] === domain[1]) domain = [10 ** lo, 10 ** hi];
    ticks = candidates.filter((c) => c >= domain[0] && c <= domain[1]);
  } else {
    const every = Math.ceil((hi - lo) / 8);
    hi = lo + Math.ceil((hi - lo) / every) * every;
    ticks = [];
    for (let k = lo; k <= hi; k += every) ticks.push(Number((10 ** k).toPrecision(12)));
    domain = [ticks[0], ticks[ticks.length - 1]];
  }
  const [l0, l1] = [Math.log10(domain[0]), Math.log10(domain[1])];
  return {
    domain,
    ticks,
    log: true,
    fraction: (v) => (Math.log10(v) - l0) / (l1 - l0),
    label: (v) =>
      v >= 1e-3 && v < 1e6
        ? String(Number(v.toPrecision(6)))
        : v.toExponential().replace(/\.?0+e/, "e").replace("e+", "e"),
  };
}
