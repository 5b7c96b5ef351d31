/**
 * `pnpm --filter @heck/swim bench:bound`: checks the no-loss detection bound
 * (config.ts `detectionBoundNoLossMs`) against many seeded crashes, beyond
 * the few seeds the test sweep runs. For each N: a converged cluster, a
 * seeded warm-up (so the crash lands anywhere in the probe rounds), one
 * member crashed, and the time until every live member declared it dead,
 * against the config's bound and against the tighter bound given the
 * accusation times actually seen (`deadlineAfterAccusationsMs`).
 *
 * Env: BOUND_SIZES (default 3,5,8,10,30,100), BOUND_SEEDS (default 2000; N = 100
 * runs a tenth of them). The last line is one JSON object.
 */
import { createPrng } from "@heck/sim";
import { deadlineAfterAccusationsMs, detectionBoundNoLossMs, lanConfig, suspicionTimeoutMs } from "../src/core/config.ts";
import { SwimCluster } from "../src/sim/cluster.ts";

const sizes = (process.env.BOUND_SIZES ?? "3,5,8,10,30,100").split(",").map(Number);
const seedCount = Number(process.env.BOUND_SEEDS ?? 2000);
const config = lanConfig();
const quantile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const out: Record<string, unknown> = {};

console.log("N      runs   bound    median   p99      p99.9    max      over bound  over given-accusations  min slack  health>0  stalled queries/crash");
for (const n of sizes) {
  const runs = n >= 100 ? Math.max(1, Math.floor(seedCount / 10)) : seedCount;
  const bound = detectionBoundNoLossMs(config, n);
  const totals: number[] = [];
  let over = 0;
  let overGiven = 0;
  let minSlack = Infinity;
  let unhealthy = 0;
  let queries = 0;
  for (let seed = 1; seed <= runs; seed++) {
    const c = new SwimCluster({ nodes: n, seed, config, forbidFalseDeaths: true, codec: false, traceLimit: 0 });
    const pick = createPrng(seed).fork("bound");
    c.runFor(3000 + pick.nextInt(0, 30_000));
    const victim = `n${pick.nextInt(1, n)}`;
    const killedAt = c.nowMs;
    const queriesBefore = c.live.reduce((s, id) => s + c.node(id).stats().stalledQueries, 0);
    c.kill(victim);
    c.runUntil(() => c.seenDeadByAll(victim), 3 * bound, 50);
    const deadAt = c.deadByAllAtMs(victim) ?? Infinity;
    const given = deadlineAfterAccusationsMs(config, n, c.accusationTimes(victim));
    totals.push(deadAt - killedAt);
    if (deadAt - killedAt > bound) over++;
    if (deadAt > given) overGiven++;
    minSlack = Math.min(minSlack, given - deadAt);
    if (c.live.some((id) => c.node(id).healthScore > 0)) unhealthy++;
    queries += c.live.reduce((s, id) => s + c.node(id).stats().stalledQueries, 0) - queriesBefore;
  }
  totals.sort((a, b) => a - b);
  const row = {
    runs,
    boundMs: bound,
    suspicionMinMs: suspicionTimeoutMs(config, n),
    medianMs: Math.round(quantile(totals, 0.5)),
    p99Ms: Math.round(quantile(totals, 0.99)),
    p999Ms: Math.round(quantile(totals, 0.999)),
    maxMs: Math.round(totals[totals.length - 1]!),
    overBound: over,
    overGivenAccusations: overGiven,
    minSlackGivenAccusationsMs: Math.round(minSlack),
    runsWithHealthAboveZero: unhealthy,
    stalledQueriesPerCrash: Number((queries / runs).toFixed(2)),
  };
  out[String(n)] = row;
  const s = (v: number): string => `${(v / 1000).toFixed(2)} s`.padEnd(9);
  console.log(
    `${String(n).padEnd(7)}${String(runs).padEnd(7)}${s(bound)}${s(row.medianMs)}${s(row.p99Ms)}${s(row.p999Ms)}${s(row.maxMs)}${String(over).padEnd(12)}${String(overGiven).padEnd(24)}${s(row.minSlackGivenAccusationsMs)}  ${String(unhealthy).padEnd(10)}${row.stalledQueriesPerCrash}`,
  );
}
console.log(JSON.stringify({ bench: "swim-detection-bound", epsilon: 1e-6, sizes: out }));
