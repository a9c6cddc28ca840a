import { resolvePruneOptions } from "../src/prune/options.ts";
for (const input of [{ method: "wanda", pattern: "5:4" }, { method: "wanda", pattern: "2:4", spasity: 0.5 }, { method: "wanda", sparsity: 0.5, seed: 2 ** 32 }, {method:"sparsegpt", sparsity:0.5, blocksize: 1e9}, {method:"wanda", pattern: 7}]) {
  try { const r = resolvePruneOptions(input as never); console.log("ok", JSON.stringify(r).slice(0, 80)); } catch (e) { console.log((e as Error).constructor.name, (e as any).option, (e as Error).message); }
}
