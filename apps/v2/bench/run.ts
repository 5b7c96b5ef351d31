/**
 * v2 benchmark (`pnpm --filter @heck/v2 bench`).
 *
 * 1. Simulation: 100 agents x 100,000 origins (the real AgentCore and
 *    rendezvous hashing, modelled SWIM and gossip): checks per origin per
 *    interval in steady state, coverage after a crash, flip visibility.
 * 2. Real processes on loopback, once per store (crdt, raft, etcd): 10
 *    agents and a heck-fleet of 10,000 origins, started like `heck cluster
 *    up`. Measured at the fleet and through the agents' APIs:
 *    - checks per origin per interval in steady state (goal 1.00 +/- 0.02; the
 *      naive design where every agent checks every origin gives 10);
 *    - failover: kill -9 of one agent to the moment every one of its origins
 *      has been checked again;
 *    - flip visibility: an origin starts failing at the fleet -> every agent
 *      reports it unhealthy (includes fall x interval to detect it);
 *    - CPU per agent (utime+stime from /proc over the steady window).
 * 3. v1 on the same fleet (one process checking everything): the baseline.
 *
 * Environment: HECK_BENCH_QUICK=1 for a small run (4 agents x 1,000 origins,
 * 20 x 10,000 in simulation); HECK_BENCH_STORES=crdt,raft,etcd;
 * HECK_BENCH_INTERVAL_MS (default 2000, v1's default interval);
 * HECK_BENCH_SIM=0 skips the simulation, HECK_BENCH_REAL=0 runs only it.
 * Ports from HECK_BENCH_BASE_PORT (default 20000) up to about +10,300, inside
 * the benchmark range 20000-31999 (benchmarks run one at a time). The last
 * line is JSON.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPrng } from "@heck/sim";
import { ownersOf } from "@heck/ownership";
import { FleetClient } from "@heck/fleet";
import { clusterUp, stopChild, type RunningCluster } from "../src/io/cluster.ts";
import { AgentClient } from "../src/io/client.ts";
import { TAKEOVER_FIRST_CHECK_MS } from "../src/core/agent-core.ts";
import { runClusterSim } from "../src/sim/cluster-sim.ts";
import { memoizeScheme } from "../src/sim/memo-scheme.ts";

const QUICK = process.env.HECK_BENCH_QUICK === "1";
const NODES = QUICK ? 4 : 10;
const ORIGINS = QUICK ? 1_000 : 10_000;
const INTERVAL_MS = Number(process.env.HECK_BENCH_INTERVAL_MS ?? 2000);
const STORES = (process.env.HECK_BENCH_STORES ?? "crdt,raft,etcd").split(",").map((s) => s.trim()) as ("crdt" | "raft" | "etcd")[];
const FLIPS = QUICK ? 10 : 20;
const BASE_PORT = Number(process.env.HECK_BENCH_BASE_PORT ?? 20_000);
const say = (line: string) => process.stdout.write(line + "\n");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const median = (xs: number[]) => percentile(xs, 50);
const round = (x: number, d = 0) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Waits until nothing listens on 127.0.0.1 in [from, to): other benchmarks
 * and tests on the same machine may use the same port range.
 */
async function waitPortsFree(from: number, to: number, maxWaitMs = 15 * 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const busy = execFileSync("ss", ["-ltnH"], { encoding: "utf8" })
      .split("\n")
      .map((l) => /127\.0\.0\.1:(\d+)\s/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined)
      .map(Number)
      .filter((p) => p >= from && p < to);
    if (busy.length === 0) return;
    if (Date.now() - t0 > maxWaitMs) throw new Error(`ports ${from}-${to} stayed busy (e.g. ${busy.slice(0, 3).join(", ")})`);
    if (Date.now() - t0 < 1000) say(`  waiting for ports ${from}-${to} (in use: ${busy.length}, e.g. ${busy[0]})`);
    await sleep(5_000);
  }
}

/** Several heck-fleet processes seen as one fleet (origin i = global index i). */
class MultiFleet {
  private readonly parts: { client: FleetClient; firstIndex: number; count: number }[];
  constructor(parts: { control: string; firstIndex: number; count: number }[]) {
    this.parts = parts.map((p) => ({ client: new FleetClient(`http://${p.control}`), firstIndex: p.firstIndex, count: p.count }));
  }
  async requestCounts(): Promise<number[]> {
    return (await Promise.all(this.parts.map((p) => p.client.requestCounts()))).flat();
  }
  async resetCounts(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.client.resetCounts()));
  }
  async reset(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.client.reset()));
  }
  async setMode(i: number, behaviour: Record<string, unknown>): Promise<void> {
    const p = this.parts.find((x) => i >= x.firstIndex && i < x.firstIndex + x.count)!;
    await p.client.setMode(i - p.firstIndex, behaviour);
  }
}

interface StoreFigures {
  checksPerOriginPerInterval: number;
  maxChecksPerOriginPerInterval: number;
  failoverCoverageMs: number;
  flipVisibleAllP50Ms: number;
  flipVisibleAllP99Ms: number;
  /** From the first agent reporting the flip to the last: the store's share. */
  flipSpreadP50Ms: number;
  flipSpreadP99Ms: number;
  cpuPctPerAgent: number;
  rssMbPerAgent: number;
  startupMs: number;
  /** 1-minute load average at the start and the end of the steady window: how shared the machine was. */
  loadAverage: [number, number];
}

const load1 = (): number => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

/** Steady-state load at the fleet and CPU per process over `windowMs`. */
async function steady(fleet: MultiFleet, pids: number[], windowMs: number) {
  await fleet.resetCounts();
  const cpu0 = pids.map(cpuSeconds);
  const t0 = Date.now();
  await sleep(windowMs);
  const counts = await fleet.requestCounts();
  const elapsed = Date.now() - t0;
  const cpu1 = pids.map(cpuSeconds);
  const intervals = elapsed / INTERVAL_MS;
  const per = counts.map((c) => c / intervals);
  return {
    mean: per.reduce((a, b) => a + b, 0) / per.length,
    max: Math.max(...per),
    cpuPct: median(cpu1.map((c, i) => (100 * (c - cpu0[i]!)) / (elapsed / 1000))),
    rss: median(pids.map(rssMb)),
  };
}

async function measureStore(store: "crdt" | "raft" | "etcd"): Promise<StoreFigures> {
  await waitPortsFree(BASE_PORT, BASE_PORT + 10 * (NODES + 10) + 20 + ORIGINS);
  const t0 = Date.now();
  const cluster: RunningCluster = await clusterUp({
    nodes: NODES,
    origins: ORIGINS,
    store,
    basePort: BASE_PORT,
    intervalMs: INTERVAL_MS,
    host: "127.0.0.1",
    replicas: 1,
    swimPreset: "local",
    agentArgs: ["--crdt-sync-interval-ms", process.env.HECK_BENCH_CRDT_SYNC_MS ?? "200"],
    log: (l) => say(`  ${l}`),
  });
  const startupMs = Date.now() - t0;
  try {
    const fleet = new MultiFleet(cluster.fleets);
    // Warm-up: the first checks spread over one interval, records written, hand-offs settled.
    await sleep(3 * INTERVAL_MS);
    const loadBefore = load1();
    const s = await steady(
      fleet,
      cluster.nodes.map((n) => n.pid),
      10 * INTERVAL_MS,
    );
    const loadAverage: [number, number] = [loadBefore, load1()];
    say(`  steady: ${s.mean.toFixed(3)} checks/origin/interval (max ${s.max.toFixed(2)}), ${s.cpuPct.toFixed(1)}% CPU and ${s.rss.toFixed(0)} MB RSS per agent; load average ${loadAverage.join(" -> ")}`);

    // Flip visibility: origins start failing one by one; poll every agent.
    const clients = cluster.nodes.map((n) => new AgentClient(n.api, "", 10_000));
    const flipped = Array.from({ length: FLIPS }, (_, i) => 1 + i * Math.floor(ORIGINS / FLIPS));
    const flippedAt = new Map<number, number>();
    const seenAll = new Map<number, number>();
    const seenFirst = new Map<number, number>();
    const seenBy = new Map<number, Set<number>>(flipped.map((i) => [i, new Set()]));
    const flipping = (async () => {
      for (const i of flipped) {
        await fleet.setMode(i, { mode: "failing", status: 503 });
        flippedAt.set(i, Date.now());
        await sleep(200);
      }
    })();
    const deadline = Date.now() + 12 * INTERVAL_MS + 30_000;
    while (seenAll.size < flipped.length && Date.now() < deadline) {
      await Promise.all(
        clients.map(async (c, k) => {
          const list = await c.get<{ id: string }[]>("/v1/origins?status=unhealthy").catch(() => []);
          const now = Date.now();
          for (const o of list) {
            const i = Number(o.id.slice(1));
            const set = seenBy.get(i);
            if (set === undefined || !flippedAt.has(i)) continue;
            set.add(k);
            if (!seenFirst.has(i)) seenFirst.set(i, now - flippedAt.get(i)!);
            if (set.size === clients.length && !seenAll.has(i)) seenAll.set(i, now - flippedAt.get(i)!);
          }
        }),
      );
      await sleep(100);
    }
    await flipping;
    const vis = flipped.map((i) => seenAll.get(i) ?? Infinity);
    // Detection (the owner's engine meeting `fall`) vs spreading (the store carrying the record to everyone).
    const spread = flipped.map((i) => (seenAll.get(i) ?? Infinity) - (seenFirst.get(i) ?? 0));
    say(`  flip visible on all ${NODES} agents: p50 ${median(vis)} ms, p99 ${percentile(vis, 99)} ms (fall 3 x ${INTERVAL_MS} ms interval included); first agent to all: p50 ${median(spread)} ms, p99 ${percentile(spread, 99)} ms`);
    await fleet.reset();
    await sleep(2 * INTERVAL_MS);

    // Failover: kill -9 one agent; coverage = every one of its origins checked again.
    const victim = cluster.nodes[1]!;
    const table = await clients[0]!.get<{ origins: { id: string; owners: string[] }[] }>("/v1/ownership");
    const mine = table.origins.filter((o) => o.owners[0] === victim.id).map((o) => Number(o.id.slice(1)));
    process.kill(victim.pid, "SIGKILL");
    const killedAt = Date.now();
    await sleep(50);
    const base = await fleet.requestCounts();
    const pending = new Set(mine);
    let coveredMs = Infinity;
    while (Date.now() - killedAt < 60_000) {
      const counts = await fleet.requestCounts();
      for (const i of [...pending]) if (counts[i]! > base[i]!) pending.delete(i);
      if (pending.size === 0) {
        coveredMs = Date.now() - killedAt;
        break;
      }
      await sleep(50);
    }
    say(`  failover: ${mine.length} origins of ${victim.id} all checked again ${coveredMs} ms after kill -9`);
    return {
      checksPerOriginPerInterval: round(s.mean, 3),
      maxChecksPerOriginPerInterval: round(s.max, 2),
      failoverCoverageMs: coveredMs,
      flipVisibleAllP50Ms: median(vis),
      flipVisibleAllP99Ms: percentile(vis, 99),
      flipSpreadP50Ms: median(spread),
      flipSpreadP99Ms: percentile(spread, 99),
      cpuPctPerAgent: round(s.cpuPct, 1),
      rssMbPerAgent: round(s.rss),
      startupMs,
      loadAverage,
    };
  } finally {
    await cluster.stop();
  }
}

/** v1: one process checking every origin of a fleet of the same size. */
async function measureV1(): Promise<{ checksPerOriginPerInterval: number; cpuPct: number; rssMb: number; flipVisibleP50Ms: number; flipVisibleP99Ms: number; loadAverage: [number, number] }> {
  const dir = mkdtempSync(join(tmpdir(), "heck-v2-bench-v1-"));
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  const procs: ChildProcess[] = [];
  await waitPortsFree(BASE_PORT, BASE_PORT + 110 + ORIGINS);
  try {
    const originBase = BASE_PORT + 100;
    // The same fleet shape as `heck cluster up`: one process per 5,000 origins.
    const parts: { control: string; firstIndex: number; count: number }[] = [];
    for (let k = 0; k * 5_000 < ORIGINS; k++) {
      const firstIndex = k * 5_000;
      const count = Math.min(5_000, ORIGINS - firstIndex);
      const control = `127.0.0.1:${BASE_PORT + 10 + k}`;
      procs.push(spawn(process.execPath, [join(root, "packages/fleet/bin/heck-fleet.js"), "--count", String(count), "--base-port", String(originBase + firstIndex), "--control", control, "--json"], { stdio: ["ignore", "pipe", "inherit"] }));
      parts.push({ control, firstIndex, count });
    }
    for (const p of parts) await new FleetClient(`http://${p.control}`).waitReady(60_000);
    const fleet = new MultiFleet(parts);
    const config = join(dir, "v1.json");
    writeFileSync(config, JSON.stringify({ defaults: { intervalMs: INTERVAL_MS, timeoutMs: 1000 }, targets: Array.from({ length: ORIGINS }, (_, i) => ({ id: `o${i}`, url: `http://127.0.0.1:${originBase + i}/health` })) }));
    const v1 = spawn(process.execPath, [join(root, "packages/v1-checker/bin/heck-v1.js"), "run", "--config", config, "--listen", `127.0.0.1:${BASE_PORT + 1}`], { stdio: ["ignore", "ignore", "inherit"] });
    procs.push(v1);
    const api = new AgentClient(`127.0.0.1:${BASE_PORT + 1}`, "", 10_000);
    for (let t = Date.now(); ; ) {
      if (await api.get("/healthz").then(() => true, () => false)) break;
      if (Date.now() - t > 60_000) throw new Error("v1 did not start");
      await sleep(200);
    }
    await sleep(3 * INTERVAL_MS);
    const loadBefore = load1();
    const s = await steady(fleet, [v1.pid!], 10 * INTERVAL_MS);
    const flipped = Array.from({ length: FLIPS }, (_, i) => 1 + i * Math.floor(ORIGINS / FLIPS));
    const at = new Map<number, number>();
    const seen = new Map<number, number>();
    const flipping = (async () => {
      for (const i of flipped) {
        await fleet.setMode(i, { mode: "failing", status: 503 });
        at.set(i, Date.now());
        await sleep(200);
      }
    })();
    const deadline = Date.now() + 12 * INTERVAL_MS + 30_000;
    while (seen.size < flipped.length && Date.now() < deadline) {
      const list = await api.get<{ id: string }[]>("/v1/targets?status=unhealthy").catch(() => []);
      for (const o of list) {
        const i = Number(o.id.slice(1));
        if (at.has(i) && !seen.has(i)) seen.set(i, Date.now() - at.get(i)!);
      }
      await sleep(100);
    }
    await flipping;
    const vis = flipped.map((i) => seen.get(i) ?? Infinity);
    const loadAverage: [number, number] = [loadBefore, load1()];
    say(`  v1: ${s.mean.toFixed(3)} checks/origin/interval, ${s.cpuPct.toFixed(1)}% CPU, ${s.rss.toFixed(0)} MB RSS, flip visible p50 ${median(vis)} ms p99 ${percentile(vis, 99)} ms, failover: none (one process); load average ${loadAverage.join(" -> ")}`);
    return { checksPerOriginPerInterval: round(s.mean, 3), cpuPct: round(s.cpuPct, 1), rssMb: round(s.rss), flipVisibleP50Ms: median(vis), flipVisibleP99Ms: percentile(vis, 99), loadAverage };
  } finally {
    for (const p of procs.reverse()) await stopChild(p, "SIGTERM", 10_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

function simulate() {
  const nodes = QUICK ? 20 : 100;
  const origins = QUICK ? 10_000 : 100_000;
  const intervalMs = 1000;
  const t0 = performance.now();
  const r = runClusterSim({
    prng: createPrng(1),
    scheme: memoizeScheme({ ownersOf: (o, m, k) => ownersOf(o, m, k) }),
    nodes,
    origins,
    intervalMs,
    detectionBoundMs: 3000,
    gossipBoundMs: 1000,
    replicationMinMs: 5,
    replicationMaxMs: 150,
    replicationBatchMs: 200,
    checkLatencyMs: 5,
    // The agent passes v1 firstCheckWithinMs = min(interval, 250 ms) for origins taken over from a gone member.
    takeoverSpreadMs: Math.min(intervalMs, TAKEOVER_FIRST_CHECK_MS),
    durationMs: 24_000,
    actions: [
      { atMs: 8_000, type: "flip", origin: "o7", status: "unhealthy" },
      { atMs: 8_100, type: "flip", origin: "o77", status: "unhealthy" },
      { atMs: 8_200, type: "flip", origin: "o777", status: "unhealthy" },
      { atMs: 12_000, type: "crash", node: "n5" },
    ],
    core: { refreshMs: 10 * intervalMs },
  });
  const wallMs = performance.now() - t0;
  return { nodes, origins, wallMs: Math.round(wallMs), violations: r.violations.length, checksPerOriginPerInterval: round(r.steadyChecksPerOriginPerInterval, 3), failoverCoverageMs: r.failoverCoverageMs[0]!, flipVisibleAllMaxMs: Math.max(...r.flipVisibleAllMs), maxGapMs: r.maxGapMs };
}

say(`heck v2 bench: ${NODES} agents x ${ORIGINS} origins at ${INTERVAL_MS} ms on loopback (${QUICK ? "quick" : "full"}), stores ${STORES.join(", ")}; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
say(`\n1. simulation`);
// HECK_BENCH_SIM=0 skips it (about 4 GB and 2-3 minutes), for runs that only compare stores.
const sim = process.env.HECK_BENCH_SIM === "0" ? undefined : simulate();
if (sim === undefined) say("  skipped (HECK_BENCH_SIM=0)");
else say(`  ${sim.nodes} agents x ${sim.origins} origins, 24 s simulated in ${(sim.wallMs / 1000).toFixed(1)} s: ${sim.checksPerOriginPerInterval} checks/origin/interval, coverage after a crash ${sim.failoverCoverageMs} ms (detection 3000 + take-over window ${Math.min(1000, TAKEOVER_FIRST_CHECK_MS)} + gossip batch 200 + latency), flip visible everywhere within ${sim.flipVisibleAllMaxMs} ms, ${sim.violations} invariant violations`);

const stores: Record<string, StoreFigures> = {};
// HECK_BENCH_REAL=0: the simulation only (no processes, no ports).
const REAL = process.env.HECK_BENCH_REAL !== "0";
for (const store of REAL ? STORES : []) {
  say(`\n2. real processes, --store ${store}`);
  try {
    stores[store] = await measureStore(store);
  } catch (e) {
    say(`  failed: ${(e as Error).message}`);
  }
}
say(`\n3. v1 on the same fleet`);
let v1: Awaited<ReturnType<typeof measureV1>> | undefined;
try {
  if (REAL) v1 = await measureV1();
  else say("  skipped (HECK_BENCH_REAL=0)");
} catch (e) {
  say(`  failed: ${(e as Error).message}`);
}

say(`\nsummary (same machine, same run):`);
const row = (name: string, f: Partial<StoreFigures> & { cpu?: number }) =>
  say(`  ${name.padEnd(12)} ${String(f.checksPerOriginPerInterval ?? "-").padStart(8)} ${String(f.failoverCoverageMs ?? "-").padStart(10)} ${String(f.flipVisibleAllP50Ms ?? "-").padStart(9)} ${String(f.flipVisibleAllP99Ms ?? "-").padStart(9)} ${String(f.cpuPctPerAgent ?? f.cpu ?? "-").padStart(9)}`);
say(`  ${"".padEnd(12)} ${"chk/o/int".padStart(8)} ${"failoverMs".padStart(10)} ${"flipP50".padStart(9)} ${"flipP99".padStart(9)} ${"cpu%/proc".padStart(9)}`);
for (const [k, f] of Object.entries(stores)) row(`v2 ${k}`, f);
if (v1) row("v1 (1 proc)", { checksPerOriginPerInterval: v1.checksPerOriginPerInterval, flipVisibleAllP50Ms: v1.flipVisibleP50Ms, flipVisibleAllP99Ms: v1.flipVisibleP99Ms, cpu: v1.cpuPct });
say(`  naive design (every agent checks every origin): ${NODES}.00 checks/origin/interval`);
const main = stores.crdt ?? Object.values(stores)[0];
say(
  JSON.stringify({
    agents: NODES,
    origins: ORIGINS,
    intervalMs: INTERVAL_MS,
    checksPerOriginPerInterval: main?.checksPerOriginPerInterval ?? null,
    failoverCoverageMs: main?.failoverCoverageMs ?? null,
    flipVisibleAllP50Ms: main?.flipVisibleAllP50Ms ?? null,
    flipVisibleAllP99Ms: main?.flipVisibleAllP99Ms ?? null,
    cpuPctPerAgent: main?.cpuPctPerAgent ?? null,
    naiveChecksPerOriginPerInterval: NODES,
    stores,
    v1: v1 ?? null,
    sim: sim ?? null,
    loadAverageEnd: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number),
  }),
);
