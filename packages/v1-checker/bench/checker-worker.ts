// One benchmark run of the checker, in its own process so that the CPU and
// RSS it reports are the checker's alone (the fleet runs in another process).
// It runs exactly what `heck-v1 run` runs: a CheckEngine plus the API server
// with its Prometheus metrics. Arguments come as one JSON object in argv[2];
// progress lines go to stdout, the result is the last line (JSON).
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks";
import { ApiServer, BUILTIN_DEFAULTS, CheckEngine, percentile, type ResultEvent } from "../src/index.ts";

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
}

const args = JSON.parse(process.argv[2] ?? "{}") as WorkerArgs;
const engine = new CheckEngine({
  seed: args.seed,
  defaults: { ...BUILTIN_DEFAULTS, intervalMs: args.intervalMs, timeoutMs: args.timeoutMs, rise: 2, fall: 3 },
});
for (let i = 0; i < args.origins; i++) {
  const host = args.hosts[Math.floor(i / args.perHost)]!;
  engine.add({ id: `o${i}`, url: `http://${host}:${args.basePort + (i % args.perHost)}/health`, bodyContains: '"status":"ok"' });
}
const api = await ApiServer.start(engine, "127.0.0.1", 0);

// Samples are kept in preallocated arrays: the measuring must not allocate per check.
const capacity = Math.ceil(((args.origins * 1000) / args.intervalMs) * args.durationS * 1.2) + 1000;
const lag = new Float64Array(capacity);
const latency = new Float64Array(capacity);
let n = 0;
let failures = 0;
const failureKinds: Record<string, number> = {};
let measuring = false;
// Warm-up ends when every target has been checked once (its connection is
// open) and at least warmupS has passed: the measured window is steady state.
const seen = new Uint8Array(args.origins);
let seenCount = 0;
let warmLags: number[] = [];
engine.on("result", (e: ResultEvent) => {
  if (!measuring) {
    const i = Number(e.id.slice(1));
    if (seen[i] === 0) {
      seen[i] = 1;
      seenCount++;
    }
    if (warmLags.length < 100_000) warmLags.push(e.lagMs);
    return;
  }
  if (n < capacity) {
    lag[n] = e.lagMs;
    latency[n] = e.result.latencyMs;
  }
  n++;
  if (!e.result.ok) {
    failures++;
    const k = e.result.error?.kind ?? "?";
    failureKinds[k] = (failureKinds[k] ?? 0) + 1;
  }
});

const started = performance.now();
engine.start();
await new Promise((r) => setTimeout(r, args.warmupS * 1000));
let firstPassS = NaN;
for (let waited = 0; seenCount < args.origins && waited < 120_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
if (seenCount === args.origins) firstPassS = (performance.now() - started) / 1000;
// Then let the backlog of the connection storm drain: wait (up to 20 s) for a
// second in which the median lag is under 10 ms.
let settled = false;
for (let k = 0; k < 20 && !settled; k++) {
  warmLags = [];
  await new Promise((r) => setTimeout(r, 1000));
  settled = warmLags.length > 0 && percentile(warmLags, 50) < 10;
}
process.stdout.write(
  `warm-up done after ${((performance.now() - started) / 1000).toFixed(1)} s: ${seenCount} of ${args.origins} targets checked at least once, ${settled ? "lag settled" : "lag never settled (overloaded)"}\n`,
);

// Garbage collection during the window: pauses by kind (minor = scavenge, major = mark-compact).
const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0, maxPauseMs: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.major++;
      gc.majorMs += e.duration;
    } else {
      gc.minor++;
      gc.minorMs += e.duration;
    }
    gc.maxPauseMs = Math.max(gc.maxPauseMs, e.duration);
  }
});
gcObserver.observe({ entryTypes: ["gc"] });
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let rssMaxBytes = 0;
const rssTimer = setInterval(() => (rssMaxBytes = Math.max(rssMaxBytes, process.memoryUsage.rss())), 250);
measuring = true;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
process.stdout.write(`window-start ${Date.now()}\n`);
await new Promise((r) => setTimeout(r, args.durationS * 1000));
measuring = false;
const elapsedS = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`window-end ${Date.now()}\n`);
clearInterval(rssTimer);
gcObserver.disconnect();
loopDelay.disable();
rssMaxBytes = Math.max(rssMaxBytes, process.memoryUsage.rss());

const mem = process.memoryUsage();
const m = Math.min(n, capacity);
const lags = Array.from(lag.subarray(0, m));
const lats = Array.from(latency.subarray(0, m));
const stats = engine.stats();
const cpuS = (cpu.user + cpu.system) / 1e6;
const result = {
  origins: args.origins,
  intervalMs: args.intervalMs,
  elapsedS,
  checks: n,
  checksPerSec: n / elapsedS,
  expectedChecksPerSec: (args.origins * 1000) / args.intervalMs,
  failures,
  failureKinds,
  lagP50Ms: percentile(lags, 50),
  lagP99Ms: percentile(lags, 99),
  lagMaxMs: percentile(lags, 100),
  latencyP50Ms: percentile(lats, 50),
  latencyP99Ms: percentile(lats, 99),
  cpuCores: cpuS / elapsedS,
  cpuUsPerCheck: (cpuS * 1e6) / Math.max(1, n),
  rssMb: rssMaxBytes / 1024 / 1024,
  heapTotalMb: mem.heapTotal / 2 ** 20,
  heapUsedMb: mem.heapUsed / 2 ** 20,
  externalMb: mem.external / 2 ** 20,
  eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  eventLoopDelayMaxMs: loopDelay.max / 1e6,
  gc,
  byStatus: stats.byStatus,
  overruns: stats.overruns,
  warmupS: (t0 - started) / 1000,
  firstPassS,
};
await api.close();
await engine.stop();
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
