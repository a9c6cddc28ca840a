/**
 * What an interrupted `prune` leaves behind so that `prune --resume` can continue: a hidden
 * folder `.<out>.resume` beside the output folder holding, after every finished decoder layer,
 * that layer's pruned tensors (in their output dtype), its quantization grids (`--wbits`), the
 * next layer's calibration inputs, and `state.json` (which layer comes next, the layer reports, and a fingerprint of the run).
 * Every file is written under a temporary name and renamed, `state.json` last, so a kill at any
 * moment leaves the previous consistent state.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import type { LayerReport } from "../prune/report.ts";
import { CheckpointError } from "../io/errors.ts";
import { isNotFound, isResourceError, removeIfExists, sha256File } from "../io/_fs.ts";
import { SafetensorsFile } from "../io/safetensors_file.ts";
import { SafetensorsWriter } from "../io/safetensors_writer.ts";
import type { QuantSpec } from "../quant/grid.ts";
import type { QuantOutcome } from "../quant/recorder.ts";

/**
 * One pruned tensor as it will be written to the output checkpoint.
 *
 * @example List the tensors saved for layer 0
 * ```ts
 * import { ResumeState, type StateTensor } from "./resume_state.ts";
 *
 * const state = new ResumeState("out/pruned");
 * const tensors: StateTensor[] = await state.readLayer(0);
 * for (const t of tensors) console.log(t.name, t.dtype, t.shape, t.bytes.length);
 * ```
 */
export interface StateTensor {
  /** Tensor name. */
  name: string;
  /** Output dtype. */
  dtype: string;
  /** Shape. */
  shape: number[];
  /** Encoded bytes. */
  bytes: Uint8Array;
}

/**
 * The contents of `state.json`.
 *
 * @example Where an interrupted run stopped
 * ```ts
 * import { ResumeState, type ResumeStateData } from "./resume_state.ts";
 *
 * declare const fingerprint: Record<string, unknown>;
 * const state = new ResumeState("out/pruned");
 * if (await state.exists()) {
 *   const saved: ResumeStateData = await state.load(fingerprint);
 *   console.log(`resuming at layer ${saved.nextLayer} after ${saved.pruneSeconds} s`);
 * }
 * ```
 */
export interface ResumeStateData {
  /** Format version. */
  version: 1;
  /** Identifies the run: model, options, calibration. A resumed run must match it exactly. */
  fingerprint: Record<string, unknown>;
  /** The first layer that is not finished. */
  nextLayer: number;
  /** Reports of the finished layers. */
  layers: LayerReport[];
  /** Dense perplexity, when it was measured before pruning. */
  densePerplexity?: number;
  /** The evaluation text and window count the dense perplexity was measured with. */
  denseEvalKey?: string;
  /** Seconds spent in the pruning pipeline by earlier (interrupted) attempts. */
  pruneSeconds: number;
  /**
   * SHA-256 of every saved tensor file of the folder (filled in by
   * {@linkcode ResumeState.saveLayer}); each file is checked against it before it is read.
   */
  files?: Record<string, string>;
}

/**
 * The quantization grids saved for one finished layer (`--wbits`): per matrix, the tensor of
 * its grids and a small JSON-safe record of what rounding did.
 */
export interface StateGrids {
  /** Grid tensors (F32 [rows·groups, 2]), named by their weight. */
  tensors: StateTensor[];
  /** Per weight name: anything the caller needs back with the grids (stored as JSON). */
  info: Record<string, unknown>;
}

/** A layer's grids as the state saves them (see {@linkcode gridsFromState}). */
export function gridsToState(grids: ReadonlyMap<string, QuantOutcome>): StateGrids {
  const tensors: StateTensor[] = [];
  const info: Record<string, unknown> = {};
  for (const [name, o] of grids) {
    const g = o.grid;
    tensors.push({
      name,
      dtype: "F32",
      shape: [g.length / 2, 2],
      bytes: new Uint8Array(g.buffer, g.byteOffset, g.byteLength).slice(),
    });
    info[name] = {
      mode: o.mode,
      keptZeros: o.keptZeros,
      relError: o.relError,
      keptNorm: o.keptNorm,
    };
  }
  return { tensors, info };
}

/** The grids of a layer saved by {@linkcode gridsToState}, quantized with `spec`. */
export function gridsFromState(saved: StateGrids, spec: QuantSpec): Map<string, QuantOutcome> {
  const out = new Map<string, QuantOutcome>();
  for (const t of saved.tensors) {
    const i = (saved.info[t.name] ?? {}) as Partial<QuantOutcome>;
    const grid = new Float32Array(t.bytes.slice().buffer);
    out.set(t.name, {
      spec,
      mode: i.mode === "rtn" ? "rtn" : "joint",
      grid,
      keptZeros: Number(i.keptZeros ?? 0),
      relError: Number(i.relError ?? 0),
      ...(i.keptNorm !== undefined ? { keptNorm: Number(i.keptNorm) } : {}),
    });
  }
  return out;
}

/**
 * The saved calibration inputs of the next layer, chunk by chunk.
 *
 * @example Read the saved inputs of layer 3
 * ```ts
 * import { type HiddenChunks, ResumeState } from "./resume_state.ts";
 *
 * const hidden: HiddenChunks = await new ResumeState("out/pruned").readHidden(3);
 * console.log(hidden.length, hidden[0]?.length);
 * ```
 */
export type HiddenChunks = Float32Array[];

function describeDifference(a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const diff = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return diff.map((k) => `${k}: saved ${JSON.stringify(a[k])}, now ${JSON.stringify(b[k])}`)
    .join("; ");
}

/** Removes a file, ignoring every failure (used while another error is being reported). */
async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch {
    // Already gone, or the file system refuses: the original error matters more.
  }
}

/**
 * The resume folder of one output folder.
 *
 * @example Saving and loading the state after a layer
 * ```ts ignore
 * import { ResumeState } from "./resume_state.ts";
 *
 * const state = new ResumeState("out/pruned");
 * await state.saveLayer(0, tensors, report, hidden, { version: 1, fingerprint, nextLayer: 1, layers: [report], pruneSeconds: 3 });
 * const saved = await state.load(); // { nextLayer: 1, ... }
 * ```
 */
export class ResumeState {
  /** The resume folder, absolute. */
  readonly path: string;
  /** SHA-256 of the saved tensor files, by name. */
  #hashes: Record<string, string> = {};

  /**
   * Names the resume folder of an output folder (nothing is read or created).
   *
   * @param out The output folder the state belongs to.
   */
  constructor(out: string) {
    const abs = resolve(out);
    this.path = join(dirname(abs), `.${basename(abs)}.resume`);
  }

  /** Whether a saved state exists. */
  async exists(): Promise<boolean> {
    try {
      await Deno.stat(join(this.path, "state.json"));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /**
   * Reads `state.json` and checks that it belongs to this run.
   *
   * @param fingerprint The current run's fingerprint.
   * @returns The saved state.
   * @throws {CheckpointError} When the state is unreadable or was made by a different run.
   */
  async load(fingerprint: Record<string, unknown>): Promise<ResumeStateData> {
    const file = join(this.path, "state.json");
    let data: ResumeStateData;
    try {
      data = JSON.parse(await Deno.readTextFile(file));
    } catch (e) {
      throw new CheckpointError(`Cannot read the saved state "${file}": ${(e as Error).message}`);
    }
    if (
      data?.version !== 1 || typeof data.nextLayer !== "number" ||
      typeof data.files !== "object" || data.files === null
    ) {
      throw new CheckpointError(`The saved state "${file}" is not a sparsellm state (version 1)`);
    }
    const diff = describeDifference(data.fingerprint ?? {}, fingerprint);
    if (diff) {
      throw new CheckpointError(
        `The saved state "${file}" belongs to a different run (${diff}); use force: true ` +
          `instead of resume: true to start over`,
      );
    }
    this.#hashes = { ...data.files };
    return data;
  }

  /** Opens a saved tensor file after checking its contents against the hash in `state.json`. */
  async #open(name: string): Promise<SafetensorsFile> {
    const path = join(this.path, name);
    const want = this.#hashes[name];
    let have: string | undefined;
    try {
      have = await sha256File(path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (want === undefined || have !== want) {
      throw new CheckpointError(
        `The saved state file "${path}" is ${
          have === undefined ? "missing" : "not the one this state saved (changed or corrupted)"
        }; use force: true instead of resume: true to start over`,
      );
    }
    return await SafetensorsFile.open(path);
  }

  /** Reads the pruned tensors saved for one finished layer. */
  async readLayer(layer: number): Promise<StateTensor[]> {
    const f = await this.#open(`layer-${layer}.safetensors`);
    try {
      const out: StateTensor[] = [];
      for (const t of f.tensors()) {
        out.push({
          name: t.name,
          dtype: t.dtype,
          shape: [...t.shape],
          bytes: await f.readRaw(t.name),
        });
      }
      return out;
    } finally {
      f.close();
    }
  }

  /**
   * Reads the quantization grids saved for one finished layer (none when the run saved none for
   * it: no `--wbits`, or a layer that was not pruned).
   */
  async readGrids(layer: number): Promise<StateGrids> {
    const name = `grids-${layer}.safetensors`;
    if (this.#hashes[name] === undefined) return { tensors: [], info: {} };
    const f = await this.#open(name);
    try {
      const tensors: StateTensor[] = [];
      for (const t of f.tensors()) {
        tensors.push({
          name: t.name,
          dtype: t.dtype,
          shape: [...t.shape],
          bytes: await f.readRaw(t.name),
        });
      }
      let info: Record<string, unknown>;
      try {
        info = JSON.parse(f.metadata.info ?? "{}");
      } catch (e) {
        throw new CheckpointError(
          `The saved state file "${join(this.path, name)}" has unreadable metadata: ` +
            `${(e as Error).message}; use force: true instead of resume: true to start over`,
        );
      }
      return { tensors, info };
    } finally {
      f.close();
    }
  }

  /** Reads the calibration inputs saved for layer `layer`. */
  async readHidden(layer: number): Promise<HiddenChunks> {
    const f = await this.#open(`hidden-${layer}.safetensors`);
    try {
      const out: HiddenChunks = [];
      for (let i = 0; f.has(`hidden.${i}`); i++) out.push(await f.readF32(`hidden.${i}`));
      return out;
    } finally {
      f.close();
    }
  }

  /**
   * Saves one finished layer: its tensors, the next layer's inputs, then `state.json`.
   *
   * @param layer The finished layer.
   * @param tensors Its pruned tensors (empty when the layer was not pruned).
   * @param hidden The next layer's calibration inputs (`[]` without calibration).
   * @param hiddenWidth Columns of each hidden chunk.
   * @param data The new `state.json` (its `nextLayer` is `layer + 1`).
   * @param grids The layer's quantization grids (`--wbits`), saved when there are any.
   */
  async saveLayer(
    layer: number,
    tensors: StateTensor[],
    hidden: HiddenChunks,
    hiddenWidth: number,
    data: ResumeStateData,
    grids?: StateGrids,
  ): Promise<void> {
    try {
      await this.#saveLayer(layer, tensors, hidden, hiddenWidth, data, grids);
    } catch (e) {
      if (!isResourceError(e)) throw e;
      throw new Error(
        `Cannot save the state of layer ${layer} in "${this.path}": ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  async #saveLayer(
    layer: number,
    tensors: StateTensor[],
    hidden: HiddenChunks,
    hiddenWidth: number,
    data: ResumeStateData,
    grids?: StateGrids,
  ): Promise<void> {
    await Deno.mkdir(this.path, { recursive: true });
    await this.#writeFile(`layer-${layer}.safetensors`, tensors);
    if (grids && grids.tensors.length > 0) {
      await this.#writeFile(`grids-${layer}.safetensors`, grids.tensors, {
        info: JSON.stringify(grids.info),
      });
    }
    const next = data.nextLayer;
    if (hidden.length > 0) {
      await this.#writeFile(
        `hidden-${next}.safetensors`,
        hidden.map((h, i) => ({
          name: `hidden.${i}`,
          dtype: "F32",
          shape: [h.length / hiddenWidth, hiddenWidth],
          bytes: new Uint8Array(h.buffer, h.byteOffset, h.byteLength),
        })),
      );
    }
    delete this.#hashes[`hidden-${layer}.safetensors`];
    const tmp = join(this.path, "state.json.tmp");
    try {
      await Deno.writeTextFile(tmp, JSON.stringify({ ...data, files: { ...this.#hashes } }));
    } catch (e) {
      await removeQuietly(tmp);
      throw e;
    }
    await Deno.rename(tmp, join(this.path, "state.json"));
    await removeIfExists(join(this.path, `hidden-${layer}.safetensors`));
  }

  async #writeFile(
    name: string,
    tensors: StateTensor[],
    metadata?: Record<string, string>,
  ): Promise<void> {
    const tmp = join(this.path, `${name}.tmp`);
    const w = await SafetensorsWriter.create(
      tmp,
      tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
      metadata,
    );
    try {
      try {
        for (const t of tensors) await w.write(t.name, t.bytes);
      } catch (e) {
        // A failed write (disk full) must surface as itself, not as the "tensors were not
        // written" complaint of closing a half-written file.
        await w.close().catch(() => {});
        throw e;
      }
      await w.close();
      const f = await Deno.open(tmp, { read: true, write: true });
      try {
        await f.syncData();
      } finally {
        f.close();
      }
    } catch (e) {
      await removeQuietly(tmp);
      throw e;
    }
    this.#hashes[name] = await sha256File(tmp);
    await Deno.rename(tmp, join(this.path, name));
  }

  /** Removes the resume folder. */
  async remove(): Promise<void> {
    await removeIfExists(this.path);
  }
}
