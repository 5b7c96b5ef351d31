/**
 * Runs a simulation in slices of `everyMs` until `predicate` holds, checking
 * it before each slice, or until `budgetMs` of simulated time has passed.
 * Returns the simulated time it first held at (a multiple of the slice from
 * the start: the granularity an experiment reports), or undefined.
 *
 * `Simulation.runUntil` checks before every step instead, which finds the
 * exact instant but costs a predicate call per event; experiments that read
 * a whole cluster's views (does everyone see everyone?) poll this way.
 */
export function pollUntil(runner: { readonly nowMs: number; runFor(ms: number): void }, predicate: () => boolean, budgetMs: number, everyMs: number): number | undefined {
  if (!(everyMs > 0) || !Number.isFinite(everyMs)) throw new RangeError(`pollUntil: everyMs must be a finite number > 0, got ${everyMs}`);
  const end = runner.nowMs + budgetMs;
  for (;;) {
    if (predicate()) return runner.nowMs;
    if (runner.nowMs >= end) return undefined;
    runner.runFor(Math.min(everyMs, end - runner.nowMs));
  }
}
