/**
 * The up-front memory estimate of a pruning run: what grows with the calibration set (README,
 * "Memory"), checked against the machine before any calibration window is sampled, so that an
 * absurd `nsamples` is refused with the estimate instead of growing without limit.
 *
 * @module
 */

import type { ModelConfig } from "../models/config.ts";
import { OptionError, type PruneOptions } from "../prune/options.ts";

/**
 * Bytes that grow with the calibration set N = nsamples × seqlen tokens, for hidden size d and
 * FFN width f: the token windows (4·N), the hidden states, input and output (2 · 4·N·d), and for
 * SparseLLM its FFN inputs and targets (2 · 4·N·d) and auxiliaries (4·N·3f for OPT, 4·N·5f for
 * gated FFNs).
 *
 * @example
 * ```ts
 * import { calibrationBytes } from "./memory_check.ts";
 * import { resolvePruneOptions } from "@sparsellm/sparsellm";
 * import { parseModelConfig } from "../models/config.ts";
 *
 * declare const config: ReturnType<typeof parseModelConfig>;
 * const o = resolvePruneOptions({ method: "sparsegpt", sparsity: 0.5, nsamples: 128 });
 * console.log(calibrationBytes(o, config, 2048) / 2 ** 30, "GiB");
 * ```
 *
 * @param o The resolved options.
 * @param config The model.
 * @param seqlen The calibration window length.
 * @returns The estimate in bytes.
 */
export function calibrationBytes(o: PruneOptions, config: ModelConfig, seqlen: number): number {
  const n = o.nsamples * seqlen;
  const d = config.hiddenSize, f = config.ffnSize;
  let bytes = 4 * n + 2 * 4 * n * d;
  if (o.method === "sparsellm") {
    bytes += 2 * 4 * n * d + 4 * n * (config.modelType === "opt" ? 3 : 5) * f;
  }
  return bytes;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 3 : 1)} GiB`;
}

/**
 * Refuses a calibration set whose data cannot fit in the memory there is (host memory plus the
 * GPU budget, when one is given).
 *
 * @param o The resolved options.
 * @param config The model.
 * @param seqlen The calibration window length.
 * @param available Bytes of memory the run may use.
 * @throws {OptionError} Naming `nsamples`, with the estimate and what is available.
 */
export function assertCalibrationFits(
  o: PruneOptions,
  config: ModelConfig,
  seqlen: number,
  available: number,
): void {
  const need = calibrationBytes(o, config, seqlen);
  if (need > available) {
    throw new OptionError(
      "nsamples",
      `nsamples ${o.nsamples} x seqlen ${seqlen} needs about ${gib(need)} for the calibration ` +
        `data of ${o.method} (hidden size ${config.hiddenSize}; README, "Memory"), more than ` +
        `the ${gib(available)} of memory available; use fewer samples or shorter windows`,
      ["seqlen"],
    );
  }
}
