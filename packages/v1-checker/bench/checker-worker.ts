// One benchmark run of the checker, in its own process so that the CPU and
// RSS it reports are the checker's alone (the fleet runs in other processes,
// and so does whoever scrapes its API). It runs exactly what `heck-v1 run`
// runs: a CheckEngine plus the API server with its Prometheus metrics, and
// the V8 heap growing factor `heck-v1 run` sets (its default, or
// `heapGrowingPercent`, or HECK_V1_HEAP_GROWING_PERCENT, as the CLI reads
// them; 0 = Node's own heuristic), through the same function. Arguments come
// as one JSON object in argv[2]; progress lines go to stdout, the result is
// the last line (JSON).
import { performance } from "node:perf_hooks";
import { ApiServer, BUILTIN_DEFAULTS, CheckEngine, DEFAULT_HEAP_GROWING_PERCENT, OUTCOMES, setHeapGrowingPercent } from "../src/index.ts";
import { liveHeapMb, measureWindow } from "./measure.ts";

interface WorkerArgs {
  origins: number;
  /** Origin i is http://<host>:<basePort + i % perHost>/health on host hosts[floor(i / perHost)]. */
  hosts: string[];
  perHost: number;
  basePort: number;
  intervalMs: number;
  timeoutMs: number;
  warmupS: number;
  durationS: number;
  seed: number;
  /** As `heck-v1 run --heap-growing-percent`; defaults as there. */
  heapGrowingPercent?: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as WorkerArgs;
const envGrowing = process.env["HECK_V1_HEAP_GROWING_PERCENT"];
const heapGrowingPercent = args.heapGrowingPercent ?? (envGrowing !== undefined ? Number(envGrowing) : DEFAULT_HEAP_GROWING_PERCENT);
setHeapGrowingPercent(heapGrowingPercent);
// The live heap before any target: what the process costs with none.
const baselineHeapMb = liveHeapMb();
const engine = new CheckEngine({
  seed: args.seed,
  defaults: { ...BUILTIN_DEFAULTS, intervalMs: args.intervalMs, timeoutMs: args.timeoutMs, rise: 2, fall: 3 },
});
const api = await ApiServer.start(engine, "127.0.0.1", 0);
for (let i = 0; i < args.origins; i++) {
  const host = args.hosts[Math.floor(i / args.perHost)]!;
  engine.add({ id: `o${i}`, url: `http://${host}:${args.basePort + (i % args.perHost)}/health`, bodyContains: '"status":"ok"' });
}
process.stdout.write(`api ${api.url}\n`);

// Nothing listens to per-check events: the checker runs exactly as
// `heck-v1 run` does, and the figures come from the engine's own
// histograms (1% resolution), read as differences over the window.
const stats = engine.checkStats;
const checkedOnce = (): number => {
  let k = 0;
  engine.forEachTarget((t) => {
    if (t.lastOutcome !== -1) k++;
  });
  return k;
};

// Warm-up ends when every target has been checked once (its connection is
// open) and at least warmupS has passed: the measured window is steady state.
const started = performance.now();
engine.start();
await new Promise((r) => setTimeout(r, args.warmupS * 1000));
let firstPassS = NaN;
let seenCount = checkedOnce();
for (let waited = 0; seenCount < args.origins && waited < 120_000; waited += 250) {
  await new Promise((r) => setTimeout(r, 250));
  seenCount = checkedOnce();
}
if (seenCount === args.origins) firstPassS = (performance.now() - started) / 1000;
// Then let the backlog of the connection storm drain: wait (up to 20 s) for a
// second in which the median lag is under 10 ms.
let settled = false;
for (let k = 0; k < 20 && !settled; k++) {
  const before = stats.lagMs.copy();
  await new Promise((r) => setTimeout(r, 1000));
  const second = stats.lagMs.since(before);
  settled = second.count > 0 && second.quantile(0.5) < 10;
}
process.stdout.write(
  `warm-up done after ${((performance.now() - started) / 1000).toFixed(1)} s: ${seenCount} of ${args.origins} targets checked at least once, ${settled ? "lag settled" : "lag never settled (overloaded)"}\n`,
);

const lag0 = stats.lagMs.copy();
const latency0 = stats.latencyMs.copy();
const outcomes0 = stats.latency.map((h) => h.count);
const checks0 = engine.stats().checks;
const t0 = performance.now();
process.stdout.write(`window-start ${Date.now()}\n`);
const window = await measureWindow(args.durationS);
process.stdout.write(`window-end ${Date.now()}\n`);
const engineStats = engine.stats();
const n = engineStats.checks - checks0;
const lag = stats.lagMs.since(lag0);
const latency = stats.latencyMs.since(latency0);
const failureKinds: Record<string, number> = {};
OUTCOMES.forEach((o, i) => {
  const k = stats.latency[i]!.count - outcomes0[i]!;
  if (o !== "ok" && k > 0) failureKinds[o] = k;
});
const failures = Object.values(failureKinds).reduce((a, b) => a + b, 0);
const warmupS = (t0 - started) / 1000;
// Right after the window, still running (connections open, checks in
// flight): what the process holds per target once garbage is gone.
const liveHeapRunningMb = liveHeapMb();
await api.close();
await engine.stop();
const result = {
  origins: args.origins,
  intervalMs: args.intervalMs,
  elapsedS: window.elapsedS,
  checks: n,
  checksPerSec: n / window.elapsedS,
  expectedChecksPerSec: (args.origins * 1000) / args.intervalMs,
  failures,
  failureKinds,
  lagP50Ms: lag.quantile(0.5),
  lagP99Ms: lag.quantile(0.99),
  lagMaxMs: lag.quantile(1),
  latencyP50Ms: latency.quantile(0.5),
  latencyP99Ms: latency.quantile(0.99),
  cpuCores: window.cpuS / window.elapsedS,
  cpuUsPerCheck: (window.cpuS * 1e6) / Math.max(1, n),
  rssMb: window.rssMaxMb,
  heapTotalMaxMb: window.heapTotalMaxMb,
  baselineHeapMb,
  liveHeapMb: liveHeapRunningMb,
  bytesPerTarget: ((liveHeapRunningMb - baselineHeapMb) * 2 ** 20) / args.origins,
  eventLoopDelayP99Ms: window.eventLoopDelayP99Ms,
  eventLoopDelayMaxMs: window.eventLoopDelayMaxMs,
  gc: window.gc,
  stalls: window.stalls,
  byStatus: engineStats.byStatus,
  overruns: engineStats.overruns,
  warmupS,
  firstPassS,
  heapGrowingPercent,
};
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
