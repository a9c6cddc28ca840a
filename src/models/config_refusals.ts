/**
 * Refusals of model configs: the error a config that cannot be used raises (naming the field),
 * zod issues as plain sentences, and the RoPE scaling reader, which refuses the types the
 * forward pass does not implement.
 *
 * @module
 */

import type { z } from "zod";
import type { ModelType, RopeScaling } from "./config.ts";

/**
 * Refuses a model config: throws a `RangeError` that names the config and the detail.
 *
 * @example Refuse a field
 * ```ts
 * import { fail } from "./config_refusals.ts";
 *
 * fail("config.json", "sliding_window 0 is not supported"); // throws RangeError
 * ```
 *
 * @param where Where the config came from (a path).
 * @param detail What is refused, naming the field.
 * @throws {RangeError} Always.
 */
export function fail(where: string, detail: string): never {
  throw new RangeError(`Cannot use model config "${where}": ${detail}`);
}

/**
 * Validates JSON with a zod schema, turning its issues into one plain sentence (a missing field
 * is named as such).
 *
 * @example Read a required number
 * ```ts
 * import { z } from "zod";
 * import { parse } from "./config_refusals.ts";
 *
 * const c = parse(z.object({ hidden_size: z.number() }), { hidden_size: 64 }, "config.json");
 * console.log(c.hidden_size); // 64
 * ```
 *
 * @typeParam T The parsed type.
 * @param schema The zod schema.
 * @param json The parsed JSON.
 * @param where Where it came from (a path), for error messages.
 * @returns The parsed value.
 * @throws {TypeError} Naming each field that is missing or has the wrong type.
 */
export function parse<T>(schema: z.ZodType<T>, json: unknown, where: string): T {
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.length ? i.path.join(".") : "(root)";
    const missing = i.code === "invalid_type" &&
      (json as Record<string, unknown> | null)?.[String(i.path[0])] === undefined &&
      i.path.length === 1;
    return missing ? `field "${path}" is missing` : `field "${path}": ${i.message}`;
  });
  throw new TypeError(`Cannot read model config "${where}": ${issues.join("; ")}`);
}

/**
 * The value when it is a number, else `undefined`.
 *
 * @example Read an optional number of unknown JSON
 * ```ts
 * import { num } from "./config_refusals.ts";
 *
 * num(2); // 2
 * num("2"); // undefined
 * ```
 */
export const num = (v: unknown): number | undefined => typeof v === "number" ? v : undefined;

/**
 * Reads `rope_scaling` (v4 key) or `rope_parameters` (v5 key); refuses what is not implemented.
 *
 * @example Read llama3 rope scaling
 * ```ts
 * import { parseRopeScaling } from "./config_refusals.ts";
 *
 * const s = parseRopeScaling({
 *   rope_scaling: {
 *     rope_type: "llama3",
 *     factor: 32,
 *     low_freq_factor: 1,
 *     high_freq_factor: 4,
 *     original_max_position_embeddings: 8192,
 *   },
 * }, "config.json", "llama");
 * console.log(s.type); // llama3
 * ```
 *
 * @param c The config's rope fields.
 * @param where Where it came from (a path), for error messages.
 * @param type The model type (Phi-3's LongRoPE is refused with a hint).
 * @returns The scaling.
 * @throws {RangeError} When the scaling type is not implemented or lacks a field.
 */
export function parseRopeScaling(
  c: { rope_scaling?: unknown; rope_parameters?: unknown; max_position_embeddings?: number },
  where: string,
  type: ModelType,
): RopeScaling {
  const field = c.rope_parameters !== undefined && c.rope_parameters !== null
    ? "rope_parameters"
    : "rope_scaling";
  const raw = field === "rope_parameters" ? c.rope_parameters : c.rope_scaling;
  if (raw === undefined || raw === null) return { type: "default" };
  if (typeof raw !== "object" || Array.isArray(raw)) {
    fail(where, `${field} ${JSON.stringify(raw)} is not an object`);
  }
  const r = raw as Record<string, unknown>;
  const t = r.rope_type ?? r.type ?? "default";
  const show = JSON.stringify(raw);
  if (t === "default") return { type: "default" };
  if (type === "phi3" && (t === "longrope" || t === "su")) {
    fail(
      where,
      `${field} type "${t}" (Phi-3 long-context LongRoPE) is not supported; use a 4k-context ` +
        `checkpoint such as microsoft/Phi-3-mini-4k-instruct (${show})`,
    );
  }
  const factor = num(r.factor);
  if (t === "linear") {
    if (factor === undefined || !(factor > 0)) {
      fail(where, `${field} of type "linear" needs a positive "factor" (${show})`);
    }
    return { type: "linear", factor };
  }
  if (t === "llama3") {
    const low = num(r.low_freq_factor), high = num(r.high_freq_factor);
    const orig = num(r.original_max_position_embeddings);
    if (
      factor === undefined || low === undefined || high === undefined || orig === undefined ||
      !(factor > 0) || !(orig > 0) || !(high > low)
    ) {
      fail(
        where,
        `${field} of type "llama3" needs a positive "factor", "low_freq_factor" < ` +
          `"high_freq_factor" and a positive "original_max_position_embeddings" (${show})`,
      );
    }
    return {
      type: "llama3",
      factor,
      lowFreqFactor: low,
      highFreqFactor: high,
      originalMaxPositions: orig,
    };
  }
  fail(
    where,
    `${field} type ${JSON.stringify(t)} is not supported (supported: default, linear, llama3) ` +
      `(${show})`,
  );
}
