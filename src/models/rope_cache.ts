/**
 * Uploaded rotary cos/sin tables, one per device, base and head dimension, grown on demand.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { ropeTable } from "../kernels/rope.ts";
import type { RopeScaling } from "./config.ts";

/** An uploaded table and the positions it covers. */
export interface RopeTable {
  /** The table (cosines then sines). */
  tensor: GpuTensor;
  /** Positions covered. */
  rows: number;
}

/**
 * The rotary table for `theta`, `headDim` and a frequency scaling covering at least `positions`
 * positions. Tables
 * are kept for the device's lifetime (a grown table replaces the old one, which stays alive
 * for work already recorded).
 */
export function ropeTableFor(
  gpu: Gpu,
  theta: number,
  headDim: number,
  positions: number,
  scaling: RopeScaling = { type: "default" },
): RopeTable {
  const m = gpu.cached("models/rope-tables", () => new Map<string, RopeTable>());
  const key = `${theta}:${headDim}:${JSON.stringify(scaling)}`;
  const have = m.get(key);
  if (have && have.rows >= positions) return have;
  const data = ropeTable(positions, headDim, theta, scaling);
  const buffer = gpu.device.createBuffer({
    size: Math.ceil(data.byteLength / 256) * 256,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    label: `rope/${key}`,
  });
  gpu.device.queue.writeBuffer(buffer, 0, data);
  const t: RopeTable = {
    tensor: { buffer, shape: [2, positions, headDim / 2], dtype: "f32", size: data.length },
    rows: positions,
  };
  m.set(key, t);
  return t;
}
