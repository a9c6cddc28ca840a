import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { formatDuration, ProgressReporter } from "../../../src/app/report/progress.ts";

function fakeClock(): { now: () => number; set: (ms: number) => void } {
  let t = 0;
  return { now: () => t, set: (ms) => (t = ms) };
}

Deno.test("ProgressReporter: one line per completed step when not a terminal", () => {
  const clock = fakeClock();
  const out: string[] = [];
  const p = new ProgressReporter({ sink: (t) => out.push(t), now: clock.now });
  p.start("prune", 4);
  clock.set(2000);
  p.tick("layer 0");
  clock.set(4000);
  p.update(2); // detail carries over
  p.update(2); // no progress, no line
  p.log("note: layer 1 has 3 dead neurons");
  clock.set(9000);
  p.tick("layer 2");
  p.tick("layer 3");
  p.tick(); // past the end: stays at 4/4, prints nothing new
  p.finish();
  p.finish(); // no phase: nothing
  deepStrictEqual(out, [
    "prune 1/4 (25%) elapsed 0:02 eta 0:06 layer 0\n",
    "prune 2/4 (50%) elapsed 0:04 eta 0:04 layer 0\n",
    "note: layer 1 has 3 dead neurons\n",
    "prune 3/4 (75%) elapsed 0:09 eta 0:03 layer 2\n",
    "prune 4/4 (100%) elapsed 0:09 eta 0:00 layer 3\n",
    "prune done: 4 steps in 0:09\n",
  ]);
  ok(out.every((line) => !line.includes("\r")));
});

Deno.test("ProgressReporter: starting a phase finishes the previous one", () => {
  const out: string[] = [];
  const p = new ProgressReporter({ sink: (t) => out.push(t), now: () => 0 });
  p.start("calibrate", 2);
  p.tick();
  p.start("eval", 0);
  p.finish();
  deepStrictEqual(out, [
    "calibrate 1/2 (50%) elapsed 0:00 eta 0:00\n",
    "calibrate done: 1 steps in 0:00\n",
    "eval done: 0 steps in 0:00\n",
  ]);
});

Deno.test("ProgressReporter: a terminal gets one redrawn bar line per phase", () => {
  const clock = fakeClock();
  const out: string[] = [];
  const p = new ProgressReporter({
    sink: (t) => out.push(t),
    isTerminal: true,
    now: clock.now,
    barWidth: 10,
    redrawIntervalMs: 100,
  });
  p.start("eval", 4);
  clock.set(1000);
  p.tick("window 0");
  clock.set(1050); // within the redraw interval: skipped
  p.tick("window 1");
  clock.set(3000);
  p.tick("w2");
  p.log("hello");
  clock.set(4000);
  p.tick("w3"); // completion is always drawn
  p.finish();
  const text = out.join("");
  strictEqual(text.split("\n").length - 1, 2, "only the log line and the finish end a line");
  deepStrictEqual(out, [
    "\reval [..........]   0% 0/4 0:00 eta ?",
    "\reval [##........]  25% 1/4 0:01 eta 0:03 window 0",
    "\reval [#######...]  75% 3/4 0:03 eta 0:01 w2      ",
    "\r" + " ".repeat(43) + "\rhello\n",
    "\reval [#######...]  75% 3/4 0:03 eta 0:01 w2",
    "\reval [##########] 100% 4/4 0:04 w3         ",
    "\n",
  ]);
});

Deno.test("ProgressReporter: writes to a WritableStream and flushes on close", async () => {
  const chunks: Uint8Array[] = [];
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      chunks.push(chunk);
    },
  });
  const p = new ProgressReporter({ sink: stream, now: () => 0 });
  p.start("load", 2);
  p.tick("a");
  p.tick("b");
  p.finish();
  await p.close();
  const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  strictEqual(
    text,
    "load 1/2 (50%) elapsed 0:00 eta 0:00 a\nload 2/2 (100%) elapsed 0:00 eta 0:00 b\n" +
      "load done: 2 steps in 0:00\n",
  );
  // The writer was released: the stream can be used again (and closed by its owner).
  const writer = stream.getWriter();
  await writer.close();
});

Deno.test("ProgressReporter: close() reports a failing stream", async () => {
  const stream = new WritableStream<Uint8Array>({
    write() {
      throw new Error("disk full");
    },
  });
  const p = new ProgressReporter({ sink: stream });
  p.log("one");
  p.log("two");
  await rejects(p.close(), { message: "disk full" });
});

Deno.test("ProgressReporter: errors", () => {
  const p = new ProgressReporter({ sink: () => {} });
  throws(() => p.tick(), { message: "ProgressReporter.tick() was called before start()." });
  throws(() => p.start("eval", -1), {
    name: "RangeError",
    message: 'The step count of phase "eval" must be a non-negative integer, got -1.',
  });
  p.start("eval", 3);
  throws(() => p.update(4), {
    name: "RangeError",
    message: 'Phase "eval" has 3 steps; cannot set 4 steps done.',
  });
  throws(() => new ProgressReporter({ sink: () => {}, barWidth: 0 }), {
    name: "RangeError",
    message: "The progress bar width must be an integer from 1 to 200, got 0.",
  });
});

Deno.test("formatDuration", () => {
  strictEqual(formatDuration(0), "0:00");
  strictEqual(formatDuration(61_400), "1:01");
  strictEqual(formatDuration(3_725_000), "1:02:05");
  strictEqual(formatDuration(NaN), "?");
  strictEqual(formatDuration(-1), "?");
});
