/**
 * An output folder that appears all at once: files are written into a hidden
 * temporary sibling folder that is renamed into place on commit.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { CheckpointError } from "./errors.ts";
import { isInsideDir, isNotFound, pathProblem, removeIfExists } from "./_fs.ts";
import {
  OWNER_FILE,
  ownerGone,
  ownerStamp,
  readOwner,
  removeEmptyParents,
  statOrNull,
} from "./owner.ts";

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

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (isNotFound(e) || pathProblem(e) !== null) return null;
    throw e;
  }
}

/** Whether a temporary folder was left by a process that is gone (see `removeStale`). */
async function isStale(tmp: string): Promise<boolean> {
  const owner = await readOwner(join(tmp, OWNER_FILE));
  if (owner === null) {
    const info = await statOrNull(tmp);
    return info?.mtime != null && Date.now() - info.mtime.getTime() > 10 * 60_000;
  }
  return await ownerGone(owner);
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
  #inPlace: boolean;

  private constructor(
    path: string,
    tmpPath: string,
    force: boolean,
    createdParents: string[],
    inPlace: boolean,
  ) {
    this.path = path;
    this.tmpPath = tmpPath;
    this.#force = force;
    this.#createdParents = createdParents;
    this.#inPlace = inPlace;
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
    const { inPlace } = await AtomicOutputDir.check(out, modelDir, options);
    const path = resolve(out);
    // Remember which parent folders we create, so that abort() can remove them again.
    const createdParents: string[] = [];
    for (let p = dirname(path); !(await statOrNull(p)); p = dirname(p)) {
      createdParents.push(p);
      if (dirname(p) === p) break;
    }
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmpPath = inPlace
      ? join(path, `.${basename(path)}.tmp-${randomTag()}`)
      : join(dirname(path), `.${basename(path)}.tmp-${randomTag()}`);
    await Deno.mkdir(tmpPath);
    await Deno.writeTextFile(join(tmpPath, OWNER_FILE), ownerStamp());
    return new AtomicOutputDir(path, tmpPath, options.force ?? false, createdParents, inPlace);
  }

  /**
   * Checks, without creating anything, that an output folder can be written and later put in
   * place: everything {@linkcode AtomicOutputDir.prepare} refuses is refused here, so a caller
   * can decide before any work.
   *
   * @param out The output folder.
   * @param modelDir The model folder being read, which must not be overwritten.
   * @param options `force` to replace a non-empty output folder; other `inputs` to protect.
   * @returns `inPlace: true` when `out` is a mount point, which cannot be renamed over: the
   * output is then assembled in a hidden folder inside it.
   * @throws {CheckpointError} When `out` overlaps the model folder or contains another input,
   * is a symbolic link, lies under a file, is an existing file, or is a non-empty folder
   * without `force`.
   */
  static async check(
    out: string,
    modelDir: string,
    options: AtomicOutputDirOptions = {},
  ): Promise<{ inPlace: boolean }> {
    const path = resolve(out);
    // An ancestor that is a file (or a loop) makes the folder impossible to create.
    for (let p = dirname(path); dirname(p) !== p; p = dirname(p)) {
      let info: Deno.FileInfo | null;
      try {
        info = await statOrNull(p);
      } catch (e) {
        const problem = pathProblem(e);
        if (problem === null) throw e;
        continue; // an ancestor further up names the culprit
      }
      if (info && !info.isDirectory) {
        throw new CheckpointError(
          `Output folder "${out}" cannot be created: "${p}" is a file, not a folder`,
        );
      }
    }
    let realOut: string, realModel: string;
    try {
      [realOut, realModel] = await Promise.all([realPathLoose(out), realPathLoose(modelDir)]);
    } catch (e) {
      const problem = pathProblem(e);
      if (problem === null) throw e;
      throw new CheckpointError(`Output folder "${out}" cannot be created: the path ${problem}`);
    }
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
    // A symbolic link as the output would be replaced by a real folder on commit, its target
    // left empty (or, dangling, fail at the end): refuse it up front.
    const link = await lstatOrNull(path);
    if (link?.isSymlink) {
      let target = "?";
      try {
        target = await Deno.readLink(path);
      } catch { /* keep "?" */ }
      const dangling = (await statOrNull(path).catch(() => null)) === null;
      throw new CheckpointError(
        `Output path "${out}" is a symbolic link to "${target}"${
          dangling ? ", which does not exist" : ""
        }; give the folder itself (a real path) as the output`,
      );
    }
    const info = await statOrNull(path);
    if (info && !info.isDirectory) {
      throw new CheckpointError(`Output path "${out}" exists and is not a folder`);
    }
    if (info && !options.force && !(await isEmptyDir(path))) {
      throw new CheckpointError(
        `Output folder "${out}" is not empty; use force: true to replace it`,
      );
    }
    // A mount point cannot be renamed over (EBUSY): write inside it instead.
    const parent = info ? await statOrNull(dirname(path)) : null;
    const inPlace = info !== null && parent !== null && info.dev !== parent.dev;
    return { inPlace };
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
    if (this.#inPlace) return await this.#commitInPlace();
    await Deno.remove(join(this.tmpPath, OWNER_FILE));
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

  /** Moves the files of the temporary folder inside a mount point up into it. */
  async #commitInPlace(): Promise<void> {
    const tmpName = basename(this.tmpPath);
    const others: string[] = [];
    for await (const e of Deno.readDir(this.path)) if (e.name !== tmpName) others.push(e.name);
    if (others.length > 0 && !this.#force) {
      throw new CheckpointError(
        `Output folder "${this.path}" is not empty; use force: true to replace it`,
      );
    }
    for (const name of others) await Deno.remove(join(this.path, name), { recursive: true });
    await Deno.remove(join(this.tmpPath, OWNER_FILE));
    for await (const e of Deno.readDir(this.tmpPath)) {
      await Deno.rename(join(this.tmpPath, e.name), join(this.path, e.name));
    }
    await Deno.remove(this.tmpPath);
    this.#done = true;
  }

  /**
   * Removes temporary folders `.<name>.tmp-*` that killed runs left beside `out` (or inside it,
   * when it is a mount point): those whose owner stamp names a process of this host that no
   * longer runs, and unstamped ones older than ten minutes. A concurrent run's folder stays.
   *
   * @param out The output folder.
   * @returns The removed folders, absolute.
   */
  static async removeStale(out: string): Promise<string[]> {
    const path = resolve(out);
    const prefix = `.${basename(path)}.tmp-`;
    const removed: string[] = [];
    for (const dir of [dirname(path), path]) {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch (e) {
        if (isNotFound(e) || pathProblem(e) !== null) continue;
        throw e;
      }
      for (const e of entries) {
        if (!e.isDirectory || !e.name.startsWith(prefix)) continue;
        const tmp = join(dir, e.name);
        if (await isStale(tmp)) {
          await removeIfExists(tmp);
          removed.push(tmp);
        }
      }
    }
    return removed;
  }

  /** Removes the temporary folder; does nothing after a commit or an earlier abort. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await removeIfExists(this.tmpPath);
    // Parent folders created by prepare(), innermost first, if still empty.
    await removeEmptyParents(this.#createdParents);
  }

  /** Aborts unless committed, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }
}
