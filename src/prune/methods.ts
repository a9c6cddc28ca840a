/**
 * The registry of pruning methods and layer solvers: the one place that lists them.
 *
 * @module
 */

import { admmMethod, admmSolver } from "./admm.ts";
import { magnitude } from "./magnitude.ts";
import type { PruneOptions } from "./options.ts";
import type { PruneMethod } from "./method.ts";
import type { MatrixSolver } from "./solver.ts";
import { sparsegptMethod, sparsegptSolver } from "./sparsegpt_solver.ts";
import { sparsellm } from "./sparsellm/method.ts";
import type { MethodName } from "./types.ts";
import { wanda } from "./wanda.ts";

const METHODS: Record<MethodName, PruneMethod> = {
  magnitude,
  wanda,
  sparsegpt: sparsegptMethod,
  admm: admmMethod,
  sparsellm,
};

/** The method of that name. */
export function methodFor(name: MethodName): PruneMethod {
  const m = METHODS[name];
  if (!m) throw new RangeError(`Unknown pruning method ${JSON.stringify(name)}`);
  return m;
}

/** The layer solver SparseLLM uses for these options. */
export function solverFor(o: PruneOptions): MatrixSolver {
  return o.solver === "admm"
    ? admmSolver({ iterations: o.admmIters, rho: o.admmRho })
    : sparsegptSolver;
}
