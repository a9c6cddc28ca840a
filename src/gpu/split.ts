/**
 * Splitting work so that every tensor it touches fits one binding: the helper the kernel
 * wrappers use for matrices larger than {@linkcode Gpu.bindingLimit}.
 *
 * @module
 */

import type { Gpu } from "./device.ts";

/**
 * Calls `fn(a, b)` on consecutive ranges `[a, b)` covering `[start, end)` (rows, layers or
 * columns of some work) such that `span(a, b)`, the number of elements from the lowest to the
 * highest element the range touches in any one tensor, fits one window
 * ({@linkcode Gpu.windowElements}). The whole range is used when it fits, so work on tensors
 * within the binding limit is dispatched exactly as before. Throws when a single step does not
 * fit.
 *
 * @example Row blocks of a large matrix
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { forEachFitting } from "./split.ts";
 *
 * const gpu = await getGpu();
 * const cols = 11008;
 * forEachFitting(gpu, 0, 11008, (a, b) => (b - a) * cols, (a, b) => {
 *   console.log(`rows ${a} to ${b}`); // each block binds at most gpu.windowElements elements
 * });
 * ```
 */
export function forEachFitting(
  gpu: Gpu,
  start: number,
  end: number,
  span: (a: number, b: number) => number,
  fn: (a: number, b: number) => void,
): void {
  for (const [a, b] of fittingRanges(gpu, start, end, span)) fn(a, b);
}

/**
 * The ranges {@linkcode forEachFitting} calls its function on, as a list (for work that visits
 * them several times, e.g. once per pass).
 *
 * @example Row blocks to revisit
 * ```ts
 * import { getGpu } from "./device.ts";
 * import { fittingRanges } from "./split.ts";
 *
 * const gpu = await getGpu();
 * const blocks: [number, number][] = fittingRanges(gpu, 0, 11008, (a, b) => (b - a) * 11008);
 * ```
 */
export function fittingRanges(
  gpu: Gpu,
  start: number,
  end: number,
  span: (a: number, b: number) => number,
): [number, number][] {
  const n = end - start;
  if (n <= 0) return [];
  const room = gpu.windowElements;
  const fits = (step: number) => {
    for (let a = start; a < end; a += step) {
      if (span(a, Math.min(end, a + step)) > room) return false;
    }
    return true;
  };
  let step = n;
  if (!fits(n)) {
    if (!fits(1)) {
      let a = start;
      while (span(a, a + 1) <= room) a++;
      throw new RangeError(
        `Cannot split the work to fit the binding limit of ${gpu.bindingLimit} bytes: ` +
          `one step (${a} to ${a + 1}) touches ${span(a, a + 1)} elements`,
      );
    }
    // the longest step that fits (spans grow with the range), then steps of equal length
    let lo = 1, hi = n;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    const even = Math.ceil(n / Math.ceil(n / lo));
    step = fits(even) ? even : lo;
  }
  const out: [number, number][] = [];
  for (let a = start; a < end; a += step) out.push([a, Math.min(end, a + step)]);
  return out;
}
