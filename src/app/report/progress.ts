/**
 * A small progress reporter for command-line tools, independent of the
 * runtime: the caller provides the output and says whether it is a terminal.
 *
 * @module
 */

/**
 * Where progress text goes: a byte stream (e.g. `Deno.stderr.writable`), or
 * a function that receives the text exactly as it should appear, line
 * terminators and carriage returns included.
 */
export type ProgressSink = WritableStream<Uint8Array> | ((text: string) => void);

/** Options of {@linkcode ProgressReporter}. */
export interface ProgressReporterOptions {
  /** The output. */
  sink: ProgressSink;
  /**
   * `true` when the output is an interactive terminal (e.g.
   * `Deno.stderr.isTerminal()`): each phase then redraws one line with `\r`.
   * Otherwise every completed step prints its own line. Default `false`.
   */
  isTerminal?: boolean;
  /** Clock in milliseconds. Default `performance.now`. */
  now?: () => number;
  /** Width of the terminal bar in characters. Default 24. */
  barWidth?: number;
  /** Minimum time between two terminal redraws, in milliseconds. Default 100. */
  redrawIntervalMs?: number;
}

/**
 * Formats a duration as `m:ss` or `h:mm:ss`.
 *
 * @param ms Milliseconds; negative or non-finite values read `?`.
 * @returns The formatted duration.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const total = Math.round(ms / 1000);
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

interface Phase {
  name: string;
  total: number;
  done: number;
  started: number;
  detail: string;
}

/**
 * Reports the progress of named phases (e.g. `calibrate`, `prune`, `eval`),
 * each with a known number of steps.
 *
 * In terminal mode a phase is one line redrawn in place:
 * `prune [##########..............]  42% 10/24 0:12 eta 0:17 layer 9`, and
 * the final draw ends the line. Otherwise each completed step prints
 * `prune 10/24 (42%) elapsed 0:12 eta 0:17 layer 9` and the end of the phase
 * prints `prune done: 24 steps in 0:29`.
 *
 * @example Collecting non-terminal output
 * ```ts
 * import { ProgressReporter } from "./progress.ts";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * let clock = 0;
 * const out: string[] = [];
 * const progress = new ProgressReporter({ sink: (t) => out.push(t), now: () => clock });
 * progress.start("eval", 2);
 * clock = 1000;
 * progress.tick("window 0");
 * clock = 2000;
 * progress.tick("window 1");
 * progress.finish();
 * deepStrictEqual(out, [
 *   "eval 1/2 (50%) elapsed 0:01 eta 0:01 window 0\n",
 *   "eval 2/2 (100%) elapsed 0:02 eta 0:00 window 1\n",
 *   "eval done: 2 steps in 0:02\n",
 * ]);
 * ```
 */
export class ProgressReporter {
  readonly #write: (text: string) => void;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  readonly #isTerminal: boolean;
  readonly #now: () => number;
  readonly #barWidth: number;
  readonly #interval: number;
  #phase: Phase | null = null;
  #lastDraw = -Infinity;
  #lastLength = 0;
  #lastLine = "";
  #pending: Promise<void> = Promise.resolve();
  #writeError: unknown = undefined;

  /**
   * Creates a reporter.
   *
   * @param options The output and its kind.
   * @throws {RangeError} when `barWidth` or `redrawIntervalMs` is invalid.
   */
  constructor(options: ProgressReporterOptions) {
    const barWidth = options.barWidth ?? 24;
    if (!Number.isInteger(barWidth) || barWidth < 1 || barWidth > 200) {
      throw new RangeError(
        `The progress bar width must be an integer from 1 to 200, got ${barWidth}.`,
      );
    }
    const interval = options.redrawIntervalMs ?? 100;
    if (!(interval >= 0)) {
      throw new RangeError(
        `The redraw interval must be a non-negative number of milliseconds, got ${interval}.`,
      );
    }
    this.#isTerminal = options.isTerminal ?? false;
    this.#now = options.now ?? (() => performance.now());
    this.#barWidth = barWidth;
    this.#interval = interval;
    const sink = options.sink;
    if (typeof sink === "function") {
      this.#write = sink;
    } else {
      const writer = sink.getWriter();
      const encoder = new TextEncoder();
      this.#writer = writer;
      this.#write = (text) => {
        // A stream completes writes in order, so waiting for the last one is enough;
        // each write gets its handler at once so that a failure is never unhandled.
        this.#pending = writer.write(encoder.encode(text)).catch((error) => {
          this.#writeError ??= error;
        });
      };
    }
  }

  /**
   * Starts a phase (finishing the current one, if any).
   *
   * @param name Phase name shown at the start of each line.
   * @param total Number of steps, a non-negative integer.
   * @throws {RangeError} when `total` is not a non-negative integer.
   */
  start(name: string, total: number): void {
    if (!Number.isInteger(total) || total < 0) {
      throw new RangeError(
        `The step count of phase "${name}" must be a non-negative integer, got ${total}.`,
      );
    }
    if (this.#phase !== null) this.finish();
    this.#phase = { name, total, done: 0, started: this.#now(), detail: "" };
    this.#lastDraw = -Infinity;
    this.#lastLength = 0;
    this.#lastLine = "";
    if (this.#isTerminal) this.#draw(true);
  }

  /**
   * Records one completed step.
   *
   * @param detail Optional text about the step, e.g. `layer 3`.
   * @throws {Error} when no phase is running.
   */
  tick(detail?: string): void {
    const phase = this.#requirePhase("tick");
    this.update(Math.min(phase.done + 1, phase.total), detail);
  }

  /**
   * Sets the number of completed steps.
   *
   * @param done Completed steps, an integer from the current count to the total.
   * @param detail Optional text about the latest step.
   * @throws {Error} when no phase is running.
   * @throws {RangeError} when `done` is out of range.
   */
  update(done: number, detail?: string): void {
    const phase = this.#requirePhase("update");
    if (!Number.isInteger(done) || done < 0 || done > phase.total) {
      throw new RangeError(
        `Phase "${phase.name}" has ${phase.total} steps; cannot set ${done} steps done.`,
      );
    }
    const advanced = done !== phase.done;
    phase.done = done;
    if (detail !== undefined) phase.detail = detail;
    if (this.#isTerminal) this.#draw(done === phase.total);
    else if (advanced) this.#write(this.#plainLine(phase) + "\n");
  }

  /** Ends the current phase; does nothing when no phase is running. */
  finish(): void {
    const phase = this.#phase;
    if (phase === null) return;
    const elapsed = formatDuration(this.#now() - phase.started);
    if (this.#isTerminal) {
      this.#draw(true);
      this.#write("\n");
    } else {
      this.#write(`${phase.name} done: ${phase.done} steps in ${elapsed}\n`);
    }
    this.#phase = null;
  }

  /**
   * Prints a message on its own line without garbling a terminal bar.
   *
   * @param message One line of text.
   */
  log(message: string): void {
    if (this.#isTerminal && this.#phase !== null && this.#lastLength > 0) {
      this.#write(`\r${" ".repeat(this.#lastLength)}\r${message}\n`);
      this.#lastLength = 0;
      this.#lastLine = "";
      this.#draw(true);
    } else {
      this.#write(message + "\n");
    }
  }

  /**
   * Waits until everything written to a stream sink has been accepted, then
   * releases the stream's writer (the stream itself stays open). Do not use
   * the reporter afterwards.
   *
   * @returns Resolves when the output is flushed.
   * @throws {unknown} the first error the stream reported, if any.
   */
  async close(): Promise<void> {
    await this.#pending;
    this.#writer?.releaseLock();
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  #requirePhase(method: string): Phase {
    if (this.#phase === null) {
      throw new Error(`ProgressReporter.${method}() was called before start().`);
    }
    return this.#phase;
  }

  #timing(phase: Phase): { elapsed: string; eta: string; percent: number } {
    const elapsedMs = this.#now() - phase.started;
    const percent = phase.total === 0 ? 100 : Math.floor((100 * phase.done) / phase.total);
    const etaMs = phase.done === 0 ? NaN : (elapsedMs / phase.done) * (phase.total - phase.done);
    return { elapsed: formatDuration(elapsedMs), eta: formatDuration(etaMs), percent };
  }

  #plainLine(phase: Phase): string {
    const { elapsed, eta, percent } = this.#timing(phase);
    const detail = phase.detail === "" ? "" : ` ${phase.detail}`;
    return `${phase.name} ${phase.done}/${phase.total} (${percent}%) elapsed ${elapsed} eta ${eta}${detail}`;
  }

  #draw(force: boolean): void {
    const phase = this.#phase;
    if (phase === null) return;
    const now = this.#now();
    if (!force && now - this.#lastDraw < this.#interval) return;
    this.#lastDraw = now;
    const { elapsed, eta, percent } = this.#timing(phase);
    const filled = phase.total === 0
      ? this.#barWidth
      : Math.floor((this.#barWidth * phase.done) / phase.total);
    const bar = "#".repeat(filled) + ".".repeat(this.#barWidth - filled);
    const detail = phase.detail === "" ? "" : ` ${phase.detail}`;
    const time = phase.done === phase.total ? elapsed : `${elapsed} eta ${eta}`;
    const line = `${phase.name} [${bar}] ${
      String(percent).padStart(3)
    }% ${phase.done}/${phase.total} ${time}${detail}`;
    if (line === this.#lastLine) return;
    const length = [...line].length;
    this.#write(`\r${line}${" ".repeat(Math.max(0, this.#lastLength - length))}`);
    this.#lastLength = length;
    this.#lastLine = line;
  }
}
