/**
 * One replica of the scale bench (bench/scale.ts), in its own process: an
 * embedded KvDriver with the write pattern of one apps/v2 agent at 10 agents
 * x 10,000 origins. Started by the parent with IPC; it reports its figures
 * every window and on "stop".
 *
 *   replica a0 writes the origin list (10,000 keys, batches of 500);
 *   every replica owns origins i with i % n == its index and "checks" each
 *   once per interval (spread uniformly), writing a health record for the
 *   first check, on a status change (a flip) and when its last write is
 *   refreshMs old (v2's rule, apps/v2/src/core/agent-core.ts); the records
 *   of one 5 ms turn are written as one batch, as v2 coalesces them;
 *   replica a0 also writes a probe key every 2 s: the others report when it
 *   arrives, giving propagation delay to all replicas.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { KvDriver } from "../src/io/driver.ts";
import type { Json } from "../src/core/json.ts";

interface Start {
  type: "start";
  index: number;
  n: number;
  port: number;
  peers: string[];
  dataDir: string;
  origins: number;
  intervalMs: number;
  refreshMs: number;
  syncIntervalMs: number;
  batched: boolean;
  flipsPerSecond: number;
  core: Record<string, number>;
}

const send = (m: unknown): void => void process.send!(m);
let driver: KvDriver;
const histogram = monitorEventLoopDelay({ resolution: 10 });
histogram.enable();
let lastCpu = process.cpuUsage();
let lastWindow = performance.now();
let recordsWritten = 0;
let lastBytesSent = 0;
const timers: ReturnType<typeof setInterval>[] = [];

function putBatch(writes: Array<{ key: string; value: Json; ts: number }>, batched: boolean): void {
  if (writes.length === 0) return;
  if (batched) {
    const { results } = driver.putManyAsync(writes);
    for (const r of results) if (!r.ok) throw new Error(r.error);
    return;
  }
  // What apps/v2 did before putMany: the core's put for all but the last, whose step persists them all.
  writes.forEach((w, i) => {
    const r = i < writes.length - 1 ? driver.node.put(w.key, w.value, { ts: w.ts }) : driver.put(w.key, w.value, { ts: w.ts });
    if (!r.ok) throw new Error(r.error);
  });
}

async function start(s: Start): Promise<void> {
  driver = await KvDriver.start({
    id: `a${s.index}`,
    dataDir: s.dataDir,
    port: s.port,
    peers: s.peers,
    syncIntervalMs: s.syncIntervalMs,
    fanout: 3,
    seed: s.index + 1,
    core: s.core,
  });
  const probeSeen = new Map<string, number>();
  driver.subscribe((e) => {
    if (e.key.startsWith("probe/") && !probeSeen.has(e.key) && e.result.exists) {
      probeSeen.set(e.key, Date.now());
      send({ type: "probe", key: e.key, sentAt: e.result.value, seenAt: Date.now() });
    }
  });
  const t0 = Date.now();
  // Origin list, written by a0 (like `heck cluster up` adding origins through one agent).
  if (s.index === 0) {
    for (let i = 0; i < s.origins; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(s.origins, i + 500); j++) batch.push({ key: `heck/origins/o${j}`, value: { id: `o${j}`, url: `http://127.0.0.1:${20000 + (j % 5000)}/o${j}`, intervalMs: s.intervalMs } as Json, ts: Date.now() });
      putBatch(batch, s.batched);
      await new Promise((r) => setImmediate(r));
    }
    send({ type: "log", line: `a0 wrote ${s.origins} origins in ${Date.now() - t0} ms` });
    let probe = 0;
    timers.push(setInterval(() => putBatch([{ key: `probe/${probe++}`, value: Date.now(), ts: Date.now() }], s.batched), 2000));
  }
  // Checks of the owned origins.
  const owned: number[] = [];
  for (let j = s.index; j < s.origins; j += s.n) owned.push(j);
  const next = new Float64Array(owned.length);
  const lastWrite = new Float64Array(owned.length).fill(-Infinity);
  const status = new Uint8Array(owned.length).fill(1);
  const since = new Float64Array(owned.length);
  const startAt = Date.now() + 2000;
  for (let k = 0; k < owned.length; k++) next[k] = startAt + Math.random() * s.intervalMs;
  let hlc = 0;
  const flipP = s.flipsPerSecond / s.n / (owned.length / (s.intervalMs / 1000));
  timers.push(
    setInterval(() => {
      const now = Date.now();
      const batch: Array<{ key: string; value: Json; ts: number }> = [];
      for (let k = 0; k < owned.length; k++) {
        if (next[k]! > now) continue;
        next[k] = next[k]! + s.intervalMs;
        let changed = false;
        if (Math.random() < flipP) {
          status[k] = 1 - status[k]!;
          since[k] = now;
          changed = true;
        }
        if (!changed && now - lastWrite[k]! < s.refreshMs) continue;
        lastWrite[k] = now;
        hlc = Math.max(now, hlc + 1);
        const id = `o${owned[k]}`;
        batch.push({
          key: `heck/health/${id}`,
          value: { id, status: status[k] ? "healthy" : "unhealthy", observer: `a${s.index}`, checkedAtMs: now, sinceMs: since[k]!, hlcMs: hlc, latencyMs: Math.round(Math.random() * 50) / 10, lastError: null },
          ts: hlc,
        });
      }
      putBatch(batch, s.batched);
      recordsWritten += batch.length;
    }, 5),
  );
  timers.push(setInterval(() => send(windowFigures()), 5000));
  send({ type: "up", address: driver.address });
}

function windowFigures(): unknown {
  const cpu = process.cpuUsage(lastCpu);
  const now = performance.now();
  const elapsed = now - lastWindow;
  lastCpu = process.cpuUsage();
  lastWindow = now;
  const st = driver.status();
  const sentKBps = (st.stats.bytesSent - lastBytesSent) / elapsed; // bytes/ms = kB/s
  lastBytesSent = st.stats.bytesSent;
  const fig = {
    type: "window",
    id: driver.node.id,
    cpuPct: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
    loopP99Ms: histogram.percentile(99) / 1e6,
    loopMaxMs: histogram.max / 1e6,
    keys: st.sizes.keys,
    logEntries: st.sizes.logEntries,
    recordsWritten,
    bytesSent: st.stats.bytesSent,
    sentKBps,
    versionsTrimmed: st.stats.versionsTrimmed,
    walFsyncs: st.stats.walFsyncs,
    digestsSent: st.stats.digestsSent,
    fullStatesSent: st.stats.fullStatesSent,
    rssMb: process.memoryUsage().rss / 2 ** 20,
  };
  histogram.reset();
  return fig;
}

process.on("message", (m: { type: string }) => {
  if (m.type === "start") start(m as Start).catch((e) => send({ type: "error", error: String((e as Error).stack) }));
  if (m.type === "stop") {
    for (const t of timers) clearInterval(t);
    send({ ...(windowFigures() as object), type: "final" });
    void driver.close().then(() => process.exit(0));
  }
});
