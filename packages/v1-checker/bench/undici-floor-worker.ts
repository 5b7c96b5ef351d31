// The reference the checker is measured against on the same machine, at the
// same moment: bare undici doing the same traffic with nothing on top. One
// undici Client per origin with the checker's keep-alive settings, requests
// paced at the same rate (origins / interval, round robin, released every
// millisecond as the checker's timer does), and a handler that only counts.
// Whatever the checker costs beyond these figures (CPU per request, RSS, live
// heap per origin) is the checker's own; what these figures cost is what any
// undici-based checker pays, whatever the load on the machine.
import { performance } from "node:perf_hooks";
import { Client, type Dispatcher } from "undici";
import { liveHeapMb, measureWindow, percentileOf } from "./measure.ts";

interface FloorArgs {
  origins: number;
  hosts: string[];
  perHost: number;
  basePort: number;
  intervalMs: number;
  warmupS: number;
  durationS: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as FloorArgs;
const baselineHeapMb = liveHeapMb();
const clients: Client[] = [];
for (let i = 0; i < args.origins; i++) {
  const host = args.hosts[Math.floor(i / args.perHost)]!;
  clients.push(new Client(`http://${host}:${args.basePort + (i % args.perHost)}`, { pipelining: 1, keepAliveTimeout: 4000, headersTimeout: 0, bodyTimeout: 0 }));
}
const opts: Dispatcher.DispatchOptions = { path: "/health", method: "GET", headers: ["user-agent", "heck-v1 bench (bare undici)"] };

const capacity = Math.ceil(((args.origins * 1000) / args.intervalMs) * args.durationS * 1.2) + 1000;
const latency = new Float64Array(capacity);
const lag = new Float64Array(capacity);
let n = 0;
let done = 0;
let errors = 0;
let skipped = 0;
const errorKinds: Record<string, number> = {};
let measuring = false;
/** At most one request per origin in flight, as the checker runs at most one check per target. */
const busy = new Uint8Array(args.origins);

/** The least a request can carry: undici's callback protocol, counting and timing only. */
class CountingHandler {
  constructor(
    private readonly origin: number,
    private readonly startedMs: number,
  ) {}
  onConnect(): void {}
  onHeaders(): boolean {
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    busy[this.origin] = 0;
    done++;
    if (measuring && n < capacity) latency[n++] = performance.now() - this.startedMs;
  }
  onError(err: Error & { code?: string }): void {
    busy[this.origin] = 0;
    errors++;
    if (!measuring) return;
    const k = err.code ?? err.name;
    errorKinds[k] = (errorKinds[k] ?? 0) + 1;
  }
}

// Pacing: request k is due at t0 + k * interval / origins; every millisecond,
// release every request that is due (as the checker's single timer does).
const t0 = performance.now();
const perMs = args.origins / args.intervalMs;
let issued = 0;
let next = 0;
let lagN = 0;
const pacer = setInterval(() => {
  const now = performance.now();
  const due = Math.floor((now - t0) * perMs);
  while (issued < due) {
    // An origin still busy from its previous slot skips this one (the checker
    // would start it late instead; either way no second request is queued).
    if (busy[next] === 1) skipped++;
    else {
      if (measuring && lagN < capacity) lag[lagN++] = now - (t0 + issued / perMs);
      busy[next] = 1;
      clients[next]!.dispatch(opts, new CountingHandler(next, now) as unknown as Dispatcher.DispatchHandler);
    }
    next = next + 1 === clients.length ? 0 : next + 1;
    issued++;
  }
}, 1);

// Warm-up: at least warmupS and until every origin answered once.
await new Promise((r) => setTimeout(r, args.warmupS * 1000));
for (let waited = 0; done < args.origins && waited < 60_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
process.stdout.write(`warm-up done after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${done} requests answered\n`);
const done0 = done;
const skipped0 = skipped;
const errors0 = errors;
measuring = true;
process.stdout.write(`window-start ${Date.now()}\n`);
const window = await measureWindow(args.durationS);
measuring = false;
process.stdout.write(`window-end ${Date.now()}\n`);
const requests = done - done0;
const windowErrors = errors - errors0;
const windowSkipped = skipped - skipped0;
const liveHeapRunningMb = liveHeapMb();
clearInterval(pacer);
await Promise.all(clients.map((c) => c.destroy().catch(() => undefined)));
const result = {
  origins: args.origins,
  elapsedS: window.elapsedS,
  requests,
  requestsPerSec: requests / window.elapsedS,
  errors: windowErrors,
  errorKinds,
  skipped: windowSkipped,
  lagP99Ms: percentileOf(lag, lagN, 99),
  latencyP50Ms: percentileOf(latency, Math.min(n, capacity), 50),
  latencyP99Ms: percentileOf(latency, Math.min(n, capacity), 99),
  cpuCores: window.cpuS / window.elapsedS,
  cpuUsPerRequest: (window.cpuS * 1e6) / Math.max(1, requests),
  rssMb: window.rssMaxMb,
  heapTotalMaxMb: window.heapTotalMaxMb,
  liveHeapMb: liveHeapRunningMb,
  bytesPerOrigin: ((liveHeapRunningMb - baselineHeapMb) * 2 ** 20) / args.origins,
  eventLoopDelayP99Ms: window.eventLoopDelayP99Ms,
  eventLoopDelayMaxMs: window.eventLoopDelayMaxMs,
  gc: window.gc,
  stalls: window.stalls,
};
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
