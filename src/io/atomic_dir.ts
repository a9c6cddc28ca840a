/**
 * An output folder that appears all at once: files are written into a hidden
 * temporary sibling folder that is renamed into place on commit.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { CheckpointError } from "./errors.ts";
import { isInsideDir, isNotFound, removeIfExists } from "./_fs.ts";

/**
 * Options of {@linkcode AtomicOutputDir.prepare}.
 *
 * @example Replace an earlier output
 * ```ts
 * import { AtomicOutputDir, type AtomicOutputDirOptions } from "@sparsellm/sparsellm/io";
 *
 * const options: AtomicOutputDirOptions = { force: true };
 * const model = "testdata/models/opt-tiny";
 * await using out = await AtomicOutputDir.prepare("out/pruned", model, options);
 * await Deno.writeTextFile(`${out.tmpPath}/config.json`, "{}");
 * await out.commit();
 * ```
 */
export interface AtomicOutputDirOptions {
  /** Replace an existing non-empty output folder on commit. Default `false`. */
  force?: boolean;
  /**
   * Other inputs of the run (files or folders, such as the calibration and evaluation texts)
   * that the output folder must neither be nor contain, so that `force` can never delete them.
   */
  inputs?: readonly { path: string; what: string }[];
}

/** Real path of `path`, which need not exist: its deepest existing ancestor is resolved. */
async function realPathLoose(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await Deno.realPath(abs);
  } catch (e) {
    if (!isNotFound(e) || dirname(abs) === abs) throw e;
    return join(await realPathLoose(dirname(abs)), basename(abs));
  }
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

async function isEmptyDir(path: string): Promise<boolean> {
  for await (const _ of Deno.readDir(path)) return false;
  return true;
}

function randomTag(): string {
  return crypto.randomUUID().slice(0, 8);
}

/**
 * A temporary folder `.<name>.tmp-<random>` beside the output folder `<name>`;
 * {@linkcode AtomicOutputDir.commit} renames it into place, and
 * {@linkcode AtomicOutputDir.abort} (or disposal before commit) removes it.
 *
 * @example Writing an output folder
 * ```ts ignore
 * import { AtomicOutputDir } from "./atomic_dir.ts";
 *
 * await using out = await AtomicOutputDir.prepare("out/pruned", "models/opt");
 * await Deno.writeTextFile(`${out.tmpPath}/config.json`, "{}");
 * await out.commit();
 * ```
 */
export class AtomicOutputDir {
  /** The final output folder, absolute. */
  readonly path: string;
  /** The temporary folder to write into, absolute. */
  readonly tmpPath: string;
  #force: boolean;
  #done = false;
  #createdParents: string[];

  private constructor(path: string, tmpPath: string, force: boolean, createdParents: string[]) {
    this.path = path;
    this.tmpPath = tmpPath;
    this.#force = force;
    this.#createdParents = createdParents;
  }

  /**
   * Checks the output path and creates the temporary folder (and the parent
   * folder of `out` when missing).
   *
   * @param out The output folder.
   * @param modelDir The model folder being read, which must not be overwritten.
   * @param options `force` to replace a non-empty output folder.
   * @returns The prepared output.
   * @throws {CheckpointError} When `out` is the model folder, inside it or
   * contains it (compared by real path), is an existing file, or is a
   * non-empty folder without `force`.
   */
  static async prepare(
    out: string,
    modelDir: string,
    options: AtomicOutputDirOptions = {},
  ): Promise<AtomicOutputDir> {
    const [realOut, realModel] = await Promise.all([realPathLoose(out), realPathLoose(modelDir)]);
    if (isInsideDir(realOut, realModel)) {
      throw new CheckpointError(
        `Output folder "${out}" is the model folder "${modelDir}" or inside it; choose another folder`,
      );
    }
    if (isInsideDir(realModel, realOut)) {
      throw new CheckpointError(
        `Output folder "${out}" contains the model folder "${modelDir}"; choose another folder`,
      );
    }
    for (const input of options.inputs ?? []) {
      const realInput = await realPathLoose(input.path);
      if (isInsideDir(realInput, realOut)) {
        throw new CheckpointError(
          `Output folder "${out}" is or contains the ${input.what} "${input.path}", which ` +
            `replacing it would delete; choose another folder`,
        );
      }
    }
    const path = resolve(out);
    const info = await statOrNull(path);
    if (info && !info.isDirectory) {
      throw new CheckpointError(`Output path "${out}" exists and is not a folder`);
    }
    if (info && !options.force && !(await isEmptyDir(path))) {
      throw new CheckpointError(
        `Output folder "${out}" is not empty; use force: true to replace it`,
      );
    }
    // Remember which parent folders we create, so that abort() can remove them again.
    const createdParents: string[] = [];
    for (let p = dirname(path); !(await statOrNull(p)); p = dirname(p)) {
      createdParents.push(p);
      if (dirname(p) === p) break;
    }
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmpPath = join(dirname(path), `.${basename(path)}.tmp-${randomTag()}`);
    await Deno.mkdir(tmpPath);
    return new AtomicOutputDir(path, tmpPath, options.force ?? false, createdParents);
  }

  /**
   * Moves the temporary folder into place. With `force`, an existing output
   * folder is first renamed to a backup name, then removed after the move
   * (and restored if the move fails).
   *
   * @throws {CheckpointError} When the output folder became non-empty since
   * {@linkcode AtomicOutputDir.prepare} and `force` is off, or when already
   * committed or aborted.
   */
  async commit(): Promise<void> {
    if (this.#done) {
      throw new CheckpointError(`Output folder "${this.path}" was already committed or aborted`);
    }
    const info = await statOrNull(this.path);
    if (info && !info.isDirectory) {
      throw new CheckpointError(`Output path "${this.path}" exists and is not a folder`);
    }
    if (!info) {
      await Deno.rename(this.tmpPath, this.path);
    } else if (await isEmptyDir(this.path)) {
      await Deno.remove(this.path);
      await Deno.rename(this.tmpPath, this.path);
    } else if (!this.#force) {
      throw new CheckpointError(
        `Output folder "${this.path}" is not empty; use force: true to replace it`,
      );
    } else {
      const backup = join(dirname(this.path), `.${basename(this.path)}.old-${randomTag()}`);
      await Deno.rename(this.path, backup);
      try {
        await Deno.rename(this.tmpPath, this.path);
      } catch (e) {
        await Deno.rename(backup, this.path);
        throw e;
      }
      await Deno.remove(backup, { recursive: true });
    }
    this.#done = true;
  }

  /**
   * Removes temporary folders `.<name>.tmp-*` that killed runs left beside `out` (used when
   * resuming such a run).
   *
   * @param out The output folder.
   * @returns The removed folders' names.
   */
  static async removeStale(out: string): Promise<string[]> {
    const path = resolve(out);
    const prefix = `.${basename(path)}.tmp-`;
    const removed: string[] = [];
    try {
      for await (const e of Deno.readDir(dirname(path))) {
        if (e.isDirectory && e.name.startsWith(prefix)) {
          await Deno.remove(join(dirname(path), e.name), { recursive: true });
          removed.push(e.name);
        }
      }
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return removed;
  }

  /** Removes the temporary folder; does nothing after a commit or an earlier abort. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await removeIfExists(this.tmpPath);
    // Parent folders created by prepare(), innermost first, if still empty.
    for (const p of this.#createdParents) {
      try {
        await Deno.remove(p);
      } catch {
        break;
      }
    }
  }

  /** Aborts unless committed, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }
}
