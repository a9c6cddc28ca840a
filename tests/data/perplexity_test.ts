import { ok, strictEqual, throws } from "node:assert/strict";
import {
  meanNll,
  PerplexityAccumulator,
  perplexityFromNll,
  perplexityFromWindowMeans,
} from "../../src/data/perplexity.ts";
import * as windows from "../../src/data/windows.ts";

const reference = JSON.parse(
  await Deno.readTextFile(
    new URL("../../testdata/models/opt-small/reference.json", import.meta.url),
  ),
) as { first_window_nll: number[] };

function close(actual: number, expected: number, tol = 1e-12): void {
  ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${actual} != ${expected}`,
  );
}

Deno.test("perplexityFromNll: exp of the mean NLL", () => {
  close(perplexityFromNll([Math.log(2), Math.log(8)]), 4);
  close(perplexityFromNll(new Float32Array([0, 0, 0])), 1);
  const nll = reference.first_window_nll;
  strictEqual(nll.length, 255);
  const sum = nll.reduce((a, b) => a + b, 0);
  close(perplexityFromNll(nll), Math.exp(sum / 255));
  close(meanNll(nll), sum / 255);
});

Deno.test("perplexity: window means equal token means for equal windows", () => {
  const a = [1, 2, 3];
  const b = [0.5, 0.5, 2];
  const acc = new PerplexityAccumulator();
  ok(Number.isNaN(acc.perplexity));
  acc.add(a);
  acc.add(new Float32Array(b));
  strictEqual(acc.windows, 2);
  strictEqual(acc.tokens, 6);
  close(acc.meanNll, 1.5);
  close(acc.perplexity, perplexityFromNll([...a, ...b]));
  close(perplexityFromWindowMeans([meanNll(a), meanNll(b)]), acc.perplexity);
});

Deno.test("perplexity: windows.ts re-exports the helpers", () => {
  strictEqual(windows.perplexityFromNll, perplexityFromNll);
  strictEqual(windows.PerplexityAccumulator, PerplexityAccumulator);
});

Deno.test("perplexity: rejects empty and non-finite input", () => {
  throws(() => perplexityFromNll([]), {
    name: "RangeError",
    message: "Cannot average an empty list of NLL values.",
  });
  throws(() => perplexityFromNll([1, NaN]), {
    name: "RangeError",
    message: "The NLL value at index 1 is NaN, not a finite number.",
  });
  const acc = new PerplexityAccumulator();
  acc.add([1]);
  throws(() => acc.add([1, Infinity]), {
    name: "RangeError",
    message: "The NLL value of window 1 at index 1 is Infinity, not a finite number.",
  });
  strictEqual(acc.tokens, 1);
});
