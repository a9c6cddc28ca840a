/**
 * An exclusive claim on an output folder for the length of a run.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { CheckpointError } from "./errors.ts";
import { removeIfExists } from "./_fs.ts";
import { ownerGone, ownerStamp, readOwner, removeEmptyParents, statOrNull } from "./owner.ts";

/**
 * An exclusive claim on an output folder for the length of a run: the file `.<name>.lock` beside
 * it, holding the owner stamp. A second run on the same output is refused up front instead of
 * both writing the same resume state and racing to the final rename; the lock of a run that no
 * longer exists (killed) is taken over.
 *
 * @example
 * ```ts
 * import { OutputLock } from "./output_lock.ts";
 *
 * await using lock = await OutputLock.acquire("out/pruned");
 * console.log(lock.path); // ".../out/.pruned.lock"
 * ```
 */
export class OutputLock {
  /** The lock file, absolute. */
  readonly path: string;
  #createdParents: string[];
  #released = false;

  private constructor(path: string, createdParents: string[]) {
    this.path = path;
    this.#createdParents = createdParents;
  }

  /**
   * Takes the lock of an output folder (creating its parent folders when missing; they are
   * removed again on release when still empty).
   *
   * @param out The output folder.
   * @param onNotice Told when the lock of a killed run was taken over.
   * @returns The held lock.
   * @throws {CheckpointError} When a running process holds it.
   */
  static async acquire(out: string, onNotice?: (message: string) => void): Promise<OutputLock> {
    const path = resolve(out);
    const lockPath = join(dirname(path), `.${basename(path)}.lock`);
    const createdParents: string[] = [];
    for (let p = dirname(path); !(await statOrNull(p)); p = dirname(p)) {
      createdParents.push(p);
      if (dirname(p) === p) break;
    }
    const cannot = (e: unknown): never => {
      throw new CheckpointError(
        `Cannot write the output folder "${out}": its parent "${dirname(path)}" refuses new ` +
          `files (${(e as Error).message.replace(/:? (mkdir|writefile) '.*'$/, "")})`,
        { cause: e },
      );
    };
    await Deno.mkdir(dirname(path), { recursive: true }).catch(cannot);
    for (let attempt = 0;; attempt++) {
      try {
        await Deno.writeTextFile(lockPath, ownerStamp(), { createNew: true });
        return new OutputLock(lockPath, createdParents);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) cannot(e);
        if (attempt > 0) throw e;
      }
      const owner = await readOwner(lockPath);
      if (owner !== null && !(await ownerGone(owner))) {
        throw new CheckpointError(
          `Another run (process ${owner.pid}, started ${
            new Date(Number(owner.started)).toISOString()
          }) is writing the output folder "${out}"; wait for it to end, or remove "${lockPath}" ` +
            `if that process is not sparsellm`,
        );
      }
      await removeIfExists(lockPath);
      onNotice?.(`removed "${lockPath}", the lock of an interrupted earlier run`);
    }
  }

  /** Removes the lock file (and parent folders it created, if empty); idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await removeIfExists(this.path);
    await removeEmptyParents(this.#createdParents);
  }

  /** Releases the lock, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
