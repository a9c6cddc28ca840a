/**
 * Compute pipelines built from kernel descriptors: the bind group layout follows the kernel's
 * binding kinds, and the `override` constants are set at pipeline creation.
 *
 * @module
 */

import type { Kernel } from "./kernel.ts";

/** A built pipeline and its bind group layout. */
export interface CachedPipeline {
  /** The compute pipeline. */
  pipeline: GPUComputePipeline;
  /** Its bind group layout (group 0). */
  layout: GPUBindGroupLayout;
}

/** The layout entry of one binding of a kernel. */
function layoutEntry(kind: Kernel["bindings"][number], binding: number): GPUBindGroupLayoutEntry {
  const visibility = GPUShaderStage.COMPUTE;
  if (kind === "texture") {
    return {
      binding,
      visibility,
      texture: { sampleType: "unfilterable-float", viewDimension: "2d-array" },
    };
  }
  if (kind === "storage-texture" || kind === "read-storage-texture") {
    return {
      binding,
      visibility,
      storageTexture: {
        access: kind === "storage-texture" ? "write-only" : "read-only",
        format: "rgba32float",
        viewDimension: "2d-array",
      },
    };
  }
  return {
    binding,
    visibility,
    buffer: {
      type: kind === "uniform" ? "uniform" : kind === "read" ? "read-only-storage" : "storage",
    },
  };
}

/** Builds the pipeline of a kernel on a device; `label` names it (the kernel's cache key). */
export function buildPipeline(device: GPUDevice, kernel: Kernel, label: string): CachedPipeline {
  const layout = device.createBindGroupLayout({
    label: kernel.name,
    entries: kernel.bindings.map(layoutEntry),
  });
  const module = device.createShaderModule({ code: kernel.source, label: kernel.name });
  const pipeline = device.createComputePipeline({
    label,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout], label: kernel.name }),
    compute: {
      module,
      entryPoint: kernel.entryPoint ?? "main",
      ...(kernel.constants ? { constants: { ...kernel.constants } } : {}),
    },
  });
  return { pipeline, layout };
}
