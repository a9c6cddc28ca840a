// Shared helpers for the CLI and checkpoint-level tests: running `cli.ts` as a subprocess,
// hashing folders, copying fixtures, and looking for leftovers of an output folder.

import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the folder holding `cli.ts`). */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The fixture model folders, relative to {@linkcode ROOT}. */
export const OPT_TINY = "testdata/models/opt-tiny";
/** The bf16 variant of opt-tiny. */
export const OPT_TINY_BF16 = "testdata/models/opt-tiny-bf16";
/** The calibration split. */
export const TRAIN_TXT = "testdata/kjv/train.txt";
/** The evaluation split. */
export const TEST_TXT = "testdata/kjv/test.txt";

/** What a CLI run printed and returned. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Runs `deno run -A cli.ts ...args` in the repository root. */
export async function runCli(args: string[]): Promise<CliResult> {
  const xdg = Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp/xdg";
  await Deno.mkdir(xdg, { recursive: true });
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", ...args],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: xdg, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** A readable description of a CLI result for assertion messages. */
export function describe(r: CliResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/**
 * The `error: ...` lines of a CLI run's stderr. A failing run must print exactly one, so this
 * throws (with the whole output) when there is not exactly one; returns it without the prefix.
 */
export function errorLine(r: CliResult): string {
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
  if (lines.length !== 1) {
    throw new Error(`expected exactly one "error: " line on stderr\n${describe(r)}`);
  }
  return lines[0].slice("error: ".length);
}

/** SHA-256 of bytes, hex. */
export async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Hashes every regular file under `path` (or `path` itself when it is a file): relative name
 * to SHA-256. Folders are recorded too (as `"<dir>"`), so an added empty folder shows up.
 */
export async function hashTree(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const info = await Deno.stat(path);
  if (info.isFile) {
    out[basename(path)] = await sha256(await Deno.readFile(path));
    return out;
  }
  const walk = async (dir: string, rel: string) => {
    const entries = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        out[r] = "<dir>";
        await walk(join(dir, e.name), r);
      } else {
        out[r] = await sha256(await Deno.readFile(join(dir, e.name)));
      }
    }
  };
  await walk(path, "");
  return out;
}

/** Copies a flat folder (files only, like the fixtures) into `dst`, created if needed. */
export async function copyDir(src: string, dst: string): Promise<void> {
  await Deno.mkdir(dst, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    if (e.isFile) await Deno.copyFile(join(src, e.name), join(dst, e.name));
  }
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "sparsellm_cli_test_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Entries beside `out` that belong to it: `out` itself when it exists, its temporary or
 * backup siblings `.NAME.tmp-*` / `.NAME.old-*`, and the resume state `.NAME.resume`.
 */
export async function outputLeftovers(out: string): Promise<string[]> {
  const name = basename(out);
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dirname(out))) {
      if (
        e.name === name || e.name.startsWith(`.${name}.tmp-`) ||
        e.name.startsWith(`.${name}.old-`) || e.name === `.${name}.resume`
      ) {
        found.push(e.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found.sort();
}
