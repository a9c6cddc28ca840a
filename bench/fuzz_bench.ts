/**
 * Fuzz benchmark of the checkpoint reader: runs N deterministic mutation cases
 * (see tests/io/_fuzz.ts) and prints cases, seconds, failures and the errors
 * grouped by message class.
 *
 *     deno run -A bench/fuzz_bench.ts [--cases N] [--seed S] [--timeout-ms T]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { describeFailure, FUZZ_SEED, type FuzzSummary, runFuzz } from "../tests/io/_fuzz.ts";

/**
 * Runs `cases` fuzz cases with the default seed.
 *
 * @param cases Number of cases.
 * @returns Cases run, wall-clock seconds and failing cases.
 */
export async function runFuzzBench(
  cases: number,
): Promise<{ cases: number; seconds: number; failures: number }> {
  const s = await runFuzz({ cases });
  return { cases: s.cases, seconds: s.seconds, failures: s.failures };
}

function report(s: FuzzSummary, seed: number): void {
  console.log(`seed: ${seed}`);
  console.log(`cases: ${s.cases}`);
  console.log(`seconds: ${s.seconds.toFixed(2)}`);
  console.log(`failures: ${s.failures}`);
  console.log(`ok (correct reads): ${s.ok}`);
  console.log(`errors (CheckpointError): ${s.errors}`);
  for (const [family, o] of Object.entries(s.byFamily)) {
    console.log(`  ${family}: ok ${o.ok}, error ${o.error}, failure ${o.failure}`);
  }
  console.log("errors by message class:");
  const classes = [...s.errorClasses].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [cls, n] of classes) console.log(`  ${String(n).padStart(6)}  ${cls}`);
  if (s.failures > 0) {
    console.log("failures (first 50):");
    for (const f of s.failed) console.log(`  ${describeFailure(f)}`);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      cases: { type: "string", default: "10000" },
      seed: { type: "string", default: String(FUZZ_SEED) },
      "timeout-ms": { type: "string", default: "10000" },
    },
  });
  const cases = Number(values.cases);
  const seed = Number(values.seed);
  const timeoutMs = Number(values["timeout-ms"]);
  if (!Number.isSafeInteger(cases) || cases < 0) throw new Error(`Bad --cases ${values.cases}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`Bad --seed ${values.seed}`);
  const s = await runFuzz({ cases, seed, timeoutMs });
  report(s, seed);
  if (s.failures > 0) Deno.exitCode = 1;
}
