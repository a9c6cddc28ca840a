/**
 * Transitional re-export: {@linkcode Temps} now lives in `src/gpu/temps.ts`. Import it from
 * there; this file goes once `src/prune/sparsegpt.ts` does.
 *
 * @module
 */

export { Temps, withTemps } from "../gpu/temps.ts";
