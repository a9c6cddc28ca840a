/**
 * Owner stamps: which process writes a temporary output folder or holds an output lock, so that a
 * later run can tell a killed run's leftovers from a live run's.
 *
 * @module
 */

import { isNotFound } from "./_fs.ts";

/** `Deno.stat`, or `null` when the path does not exist or cannot be a file. */
export async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** Marks a temporary folder as this library's, with the process that writes it. */
export const OWNER_FILE = ".sparsellm-owner.json";

export function ownerStamp(): string {
  return JSON.stringify({ pid: Deno.pid, host: Deno.hostname(), started: Date.now() });
}

/** An owner stamp: the process that writes a temporary folder or holds a lock. */
export interface Owner {
  pid?: unknown;
  host?: unknown;
  started?: unknown;
}

/** Reads an owner stamp; `null` when the file is missing or not a stamp. */
export async function readOwner(path: string): Promise<Owner | null> {
  try {
    const owner = JSON.parse(await Deno.readTextFile(path));
    return typeof owner === "object" && owner !== null ? owner : null;
  } catch (e) {
    if (!isNotFound(e) && !(e instanceof SyntaxError)) throw e;
    return null;
  }
}

/** Whether the process of a stamp is known to be gone (same host, no longer running). */
export async function ownerGone(owner: Owner): Promise<boolean> {
  if (owner.host !== Deno.hostname() || typeof owner.pid !== "number") return false;
  if (owner.pid === Deno.pid) return false;
  // Linux: a running process has /proc/<pid>; without /proc nothing is known to be gone.
  if (!(await statOrNull("/proc/self"))) return false;
  return (await statOrNull(`/proc/${owner.pid}`)) === null;
}

/** Removes folders a run created (innermost first) while they are still empty. */
export async function removeEmptyParents(parents: readonly string[]): Promise<void> {
  for (const p of parents) {
    try {
      await Deno.remove(p);
    } catch {
      break;
    }
  }
}
