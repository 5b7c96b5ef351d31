// The stage 1 benchmark: can one process hold 10,000 origins at a 1 s interval?
//
//   pnpm --filter @heck/v1-checker bench
//
// 1. Starts `heck-fleet` (10,000 origins on 127.0.1.1:20000-29999, two
//    processes of 5,000) in processes of its own.
// 2. Rounds, alternating on the same fleet (other processes may load the machine, so the
//    two see the same load):
//    - the checker (engine + API + metrics, exactly as `heck-v1 run`: its
//      default V8 heap growing factor, set by the same function; compiled
//      with esbuild) for 30 s at 1 s: checks/s, schedule lag p50/p99, check
//      latency p50/p99, CPU, RSS, live heap per target. Meanwhile this
//      process scrapes its /metrics every 10 s and lists all targets once,
//      as Prometheus and an operator would;
//    - the same checker on Node's own heap heuristic
//      (`heck-v1 run --heap-growing-percent 0`), for what the default buys;
//    - bare undici (one Client per origin, same rate, a handler that only
//      counts) for as long: the floor any undici-based checker stands on.
//    The order turns round every round (A B C, C B A, ...). Figures are
//    medians over the rounds; ratios to the floor do not depend on the
//    machine's load the way absolute figures do.
// 3. Runs the product itself, `heck-v1 run --config <file>` through its bin
//    with its default settings, on the same targets, measured from outside
//    (/proc for CPU and RSS, its own /metrics for checks and lag).
// 4. Finds the knee: the most origins held at 1 s with lag p99 under 100 ms
//    (fleets on 127.0.1.2 serve targets beyond 10,000).
// 5. Measures the machine's ceiling with wrk against the same fleet.
// 6. Prints the reference points (blackbox_exporter, Uptime Kuma) as ratios,
//    and a last line of JSON.
//
// Environment: HECK_BENCH_QUICK=1 (one short round, for a smoke test),
// HECK_BENCH_ORIGINS (default 10000), HECK_BENCH_DURATION_S (default 30),
// HECK_BENCH_ROUNDS (default 3), HECK_BENCH_FLEET_SHARD (origins per fleet process, default 5000).
// Ports: 20000-29999 (origins), 31000-31003 (fleet control): the benchmark range.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
// The workers report these as measure.ts defines them.
import type { GcFigures, StallFigures } from "./measure.ts";

const QUICK = process.env["HECK_BENCH_QUICK"] === "1";
const ORIGINS = Number(process.env["HECK_BENCH_ORIGINS"] ?? 10_000);
const DURATION_S = Number(process.env["HECK_BENCH_DURATION_S"] ?? (QUICK ? 8 : 30));
const ROUNDS = Number(process.env["HECK_BENCH_ROUNDS"] ?? (QUICK ? 1 : 3));

const PROBE_DURATION_S = QUICK ? 5 : 10;
const WARMUP_S = QUICK ? 3 : 6;
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 1000;
const LAG_GOAL_MS = 100;
const RSS_GOAL_MB = 256;
const SCRAPE_EVERY_S = 10;
const BASE_PORT = 20_000;
const PER_HOST = 10_000; // origins per loopback address (ports 20000-29999); 127.0.1.2 serves the next 10,000
/**
 * Origins listen on 127.0.1.x rather than 127.0.0.1: the benchmark port range
 * is also used by other packages' benchmarks and tests, which bind
 * 127.0.0.1, and a different loopback address keeps the two from colliding.
 */
const HOST_PREFIX = process.env["HECK_BENCH_HOST_PREFIX"] ?? "127.0.1.";
/**
 * Origins per heck-fleet process. One process can serve 10,000 (the fleet
 * benchmark shows it), but then it may hold only 9,744 connections under the
 * 20,000-descriptor limit and closes the rest, so 2.5% of checks would
 * reconnect every second: a cost of the test rig, not of the checker. Two
 * processes of 5,000 keep every connection open. HECK_BENCH_FLEET_SHARD=10000
 * measures the single-process fleet instead.
 */
const SHARD = Number(process.env["HECK_BENCH_FLEET_SHARD"] ?? 5000);
const KNEE_MAX = 18_000; // below the checker's 20,000 file descriptors (one connection per origin)
const FLEET_BIN = fileURLToPath(new URL("../../fleet/bin/heck-fleet.js", import.meta.url));
const CHECKER_SRC = fileURLToPath(new URL("./checker-worker.ts", import.meta.url));
const FLOOR_SRC = fileURLToPath(new URL("./undici-floor-worker.ts", import.meta.url));
const HECK_V1_BIN = fileURLToPath(new URL("../bin/heck-v1.js", import.meta.url));

/** What the real `heck-v1 run` process showed (from /proc and its own /metrics). */
interface ProductRun {
  origins: number;
  checksPerSec: number;
  /** Upper bound of the Prometheus lag bucket holding the 99th percentile. */
  lagP99BucketMs: number;
  /** Share of checks started within 100 ms of their due time. */
  within100msPct: number;
  cpuCores: number;
  cpuUsPerCheck: number;
  rssMb: number;
  loadBefore: number;
  loadAfter: number;
}

function lagBuckets(metrics: string): { buckets: Array<[number, number]>; count: number } {
  const buckets: Array<[number, number]> = [];
  for (const m of metrics.matchAll(/^heck_v1_schedule_lag_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  const count = Number(/^heck_v1_schedule_lag_seconds_count (\d+)/m.exec(metrics)?.[1] ?? NaN);
  return { buckets, count };
}

function rssMbOf(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  return kb / 1024;
}

/**
 * Runs the product itself, `heck-v1 run --config <file>` through its bin
 * (as `pnpm heck-v1 run` does, with its default settings), on the same
 * targets as the worker, and measures it from outside: CPU and RSS from
 * /proc, checks and schedule lag from its own /metrics (Prometheus buckets,
 * so the lag p99 is a bucket bound).
 */
async function runProduct(dir: string, origins: number, durationS: number): Promise<ProductRun> {
  const config = join(dir, "heck-v1-bench.json");
  const targets = Array.from({ length: origins }, (_, i) => ({ id: `o${i}`, url: `http://${hostsFor(origins)[Math.floor(i / PER_HOST)]!}:${BASE_PORT + (i % PER_HOST)}/health` }));
  writeFileSync(config, JSON.stringify({ defaults: { intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, rise: 2, fall: 3, bodyContains: '"status":"ok"' }, targets }));
  const loadBefore = load1();
  const child = spawn(process.execPath, [HECK_V1_BIN, "run", "--config", config, "--listen", "127.0.0.1:0", "--quiet", "--seed", "1"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const api = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /API on (http:\/\/[\d.]+:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on("exit", (code) => reject(new Error(`heck-v1 run exited with ${code}: ${out}`)));
    });
    const metrics = async (): Promise<string> => (await timedGet(`${api}/metrics`)).body;
    // Warm-up as the worker's: every target checked (none unknown any more), then a few seconds to settle.
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    for (let waited = 0; waited < 60_000; waited += 500) {
      if (/^heck_v1_targets\{status="unknown"\} 0$/m.test(await metrics())) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 3000));
    const m0 = lagBuckets(await metrics());
    const cpu0 = cpuSecondsOf(child.pid!);
    const t0 = performance.now();
    let rssMax = 0;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMbOf(child.pid!))), 250);
    await new Promise((r) => setTimeout(r, durationS * 1000));
    clearInterval(sampler);
    const cpuS = cpuSecondsOf(child.pid!) - cpu0;
    const m1 = lagBuckets(await metrics());
    const elapsedS = (performance.now() - t0) / 1000;
    const n = m1.count - m0.count;
    const delta = m1.buckets.map(([le, c], i) => [le, c - (m0.buckets[i]?.[1] ?? 0)] as [number, number]);
    const p99 = delta.find(([, c]) => c >= 0.99 * n)?.[0] ?? NaN;
    const within = delta.find(([le]) => le === 0.1)?.[1] ?? NaN;
    return {
      origins,
      checksPerSec: n / elapsedS,
      lagP99BucketMs: p99 * 1000,
      within100msPct: (100 * within) / n,
      cpuCores: cpuS / elapsedS,
      cpuUsPerCheck: (cpuS * 1e6) / Math.max(1, n),
      rssMb: rssMax,
      loadBefore,
      loadAfter: load1(),
    };
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  }
}

interface CheckerResult {
  origins: number;
  checks: number;
  checksPerSec: number;
  expectedChecksPerSec: number;
  failures: number;
  failureKinds: Record<string, number>;
  lagP50Ms: number;
  lagP99Ms: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuCores: number;
  cpuUsPerCheck: number;
  rssMb: number;
  heapTotalMaxMb: number;
  liveHeapMb: number;
  bytesPerTarget: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  gc: GcFigures;
  stalls: StallFigures;
  elapsedS: number;
  warmupS: number;
  firstPassS: number;
  /** The heap growing percent the worker ran with (0 = Node's own heuristic). */
  heapGrowingPercent: number;
}

interface FloorResult {
  origins: number;
  requestsPerSec: number;
  errors: number;
  errorKinds: Record<string, number>;
  skipped: number;
  lagP99Ms: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuCores: number;
  cpuUsPerRequest: number;
  rssMb: number;
  liveHeapMb: number;
  bytesPerOrigin: number;
  eventLoopDelayMaxMs: number;
  gc: GcFigures;
  elapsedS: number;
}

/** What the parent measures around a worker's window. */
interface Around {
  fleetCpuCores: number;
  fleetCpuUsPerRequest: number;
  loadBefore: number;
  loadAfter: number;
  /** Wall time of each /metrics scrape and of the full target list (checker runs only). */
  scrapeMs: number[];
  scrapeBytes: number;
  listMs: number;
  listTargets: number;
}

type RunResult = CheckerResult & Around;
type FloorRun = FloorResult & Around;

const log = (s = ""): void => void process.stdout.write(s + "\n");
const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "-");
const clkTck = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
const load1 = (): number => loadavg()[0]!;

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clkTck; // utime + stime
}

function held(r: CheckerResult): boolean {
  return r.lagP99Ms < LAG_GOAL_MS && r.checksPerSec >= 0.95 * r.expectedChecksPerSec;
}

/** Makes sure wrk is installed: the benchmark installs what it needs rather than asking the reader to. */
function ensureWrk(): boolean {
  if (spawnSync("sh", ["-c", "command -v wrk"]).status === 0) return true;
  log("wrk not found; installing it from Debian (flock /tmp/heck-apt.lock apt-get install -y wrk)");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const r = spawnSync("flock", ["/tmp/heck-apt.lock", ...sudo, "apt-get", "install", "-y", "-qq", "wrk"], { stdio: "inherit" });
  return r.status === 0;
}

interface FleetShard {
  child: ChildProcess;
  pid: number;
  control: string;
  /** Index of this shard's first origin. */
  first: number;
}

async function startFleet(host: string, basePort: number, count: number, controlPort: number): Promise<Omit<FleetShard, "first">> {
  const child = spawn(process.execPath, [FLEET_BIN, "--count", String(count), "--base-port", String(basePort), "--host", host, "--control", `127.0.0.1:${controlPort}`, "--json"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on("exit", (code) => reject(new Error(`heck-fleet exited with ${code} before it was ready`)));
  });
  const ready = JSON.parse(line) as { pid: number; control: string };
  return { child, pid: ready.pid, control: ready.control };
}

/** Starts fleet shards until origins 0..n-1 are served. Origin i is 127.0.1.(1 + i / 10,000) port 20000 + i % 10,000. */
async function ensureFleet(shards: FleetShard[], n: number): Promise<FleetShard[]> {
  while (shards.length * SHARD < n) {
    const first = shards.length * SHARD;
    const host = `${HOST_PREFIX}${1 + Math.floor(first / PER_HOST)}`;
    const basePort = BASE_PORT + (first % PER_HOST);
    const shard = await startFleet(host, basePort, Math.min(SHARD, PER_HOST - (first % PER_HOST)), 31_000 + shards.length);
    shards.push({ ...shard, first });
  }
  return shards.filter((s) => s.first < n);
}

async function fleetRequests(control: string): Promise<number> {
  const s = (await (await fetch(`${control}/stats`)).json()) as { totalRequests: number };
  return s.totalRequests;
}

/** A timed GET against the worker's API (from this process, so the client's cost is not the checker's). */
async function timedGet(url: string): Promise<{ ms: number; bytes: number; body: string }> {
  const t = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  return { ms: performance.now() - t, bytes: body.length, body };
}

/**
 * Runs one worker process to the end. Around its window, measures the
 * fleet's CPU and requests (from /proc and the control API) and, for the
 * checker, scrapes its API on a schedule.
 */
async function runWorker<R>(js: string, args: object, fleets: Array<{ pid: number; control: string }>, nodeArgs: string[], scrape: boolean): Promise<R & Around> {
  const loadBefore = load1();
  const child = spawn(process.execPath, [...nodeArgs, js, JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"] });
  let fleetCpu0 = 0;
  let fleetReq0 = 0;
  let fleetCpu = 0;
  let fleetReq = 0;
  let windowS = 0;
  let windowStart = 0;
  let last = "";
  let apiUrl = "";
  const scrapeMs: number[] = [];
  let scrapeBytes = 0;
  let listMs = NaN;
  let listTargets = 0;
  const timers: NodeJS.Timeout[] = [];
  let pending: Promise<unknown> = Promise.resolve();
  const schedule = (afterS: number, fn: () => Promise<void>): void => {
    timers.push(setTimeout(() => (pending = Promise.all([pending, fn().catch(() => undefined)])), afterS * 1000));
  };
  await new Promise<void>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("api ")) apiUrl = line.slice(4).trim();
        else if (line.startsWith("window-start")) {
          windowStart = performance.now();
          fleetCpu0 = fleets.reduce((a, f) => a + cpuSecondsOf(f.pid), 0);
          pending = Promise.all(fleets.map((f) => fleetRequests(f.control))).then((v) => void (fleetReq0 = v.reduce((a, b) => a + b, 0)));
          if (scrape && apiUrl !== "") {
            for (let s = SCRAPE_EVERY_S / 2; s < durationOf(args); s += SCRAPE_EVERY_S) {
              schedule(s, async () => {
                const r = await timedGet(`${apiUrl}/metrics`);
                scrapeMs.push(r.ms);
                scrapeBytes = r.bytes;
              });
            }
            schedule(durationOf(args) * 0.6, async () => {
              const r = await timedGet(`${apiUrl}/v1/targets`);
              listMs = r.ms;
              listTargets = (JSON.parse(r.body) as unknown[]).length;
            });
          }
        } else if (line.startsWith("window-end")) {
          windowS = (performance.now() - windowStart) / 1000;
          fleetCpu = fleets.reduce((a, f) => a + cpuSecondsOf(f.pid), 0) - fleetCpu0;
          for (const t of timers) clearTimeout(t);
          pending = pending.then(() => Promise.all(fleets.map((f) => fleetRequests(f.control))).then((v) => void (fleetReq = v.reduce((a, b) => a + b, 0) - fleetReq0)));
        } else if (line.startsWith("warm-up")) log(`    ${line}`);
        else if (line.trim() !== "") last = line;
      }
    });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`benchmark worker exited with ${code}`))));
  });
  await pending;
  const r = JSON.parse(last) as R;
  return {
    ...r,
    fleetCpuCores: fleetCpu / windowS,
    fleetCpuUsPerRequest: (fleetCpu * 1e6) / Math.max(1, fleetReq),
    loadBefore,
    loadAfter: load1(),
    scrapeMs,
    scrapeBytes,
    listMs,
    listTargets,
  };
}

function durationOf(args: object): number {
  return (args as { durationS: number }).durationS;
}

function hostsFor(n: number): string[] {
  return [`${HOST_PREFIX}1`, `${HOST_PREFIX}2`].slice(0, Math.ceil(n / PER_HOST));
}

/** The checker as `heck-v1 run` runs it; `heapGrowingPercent: 0` for `--heap-growing-percent 0` (Node's own heuristic). */
function runChecker(js: string, origins: number, durationS: number, fleets: FleetShard[], scrape = true, heapGrowingPercent?: number): Promise<RunResult> {
  const args = { origins, hosts: hostsFor(origins), perHost: PER_HOST, basePort: BASE_PORT, intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, warmupS: WARMUP_S, durationS, seed: 1, heapGrowingPercent };
  return runWorker<CheckerResult>(js, args, fleets, [], scrape);
}

function runFloor(js: string, origins: number, durationS: number, fleets: FleetShard[]): Promise<FloorRun> {
  const args = { origins, hosts: hostsFor(origins), perHost: PER_HOST, basePort: BASE_PORT, intervalMs: INTERVAL_MS, warmupS: WARMUP_S, durationS };
  return runWorker<FloorResult>(js, args, fleets, [], false);
}

function describeRun(label: string, r: RunResult): void {
  const verdict = held(r) ? "held" : "NOT held";
  const scrapes = r.scrapeMs.length > 0 ? `; /metrics ${r.scrapeMs.map((m) => fmt(m, 0)).join("/")} ms (${fmt(r.scrapeBytes / 1e6, 1)} MB), /v1/targets ${fmt(r.listMs, 0)} ms (${r.listTargets})` : "";
  log(
    `  ${label}: ${r.origins} origins -> ${fmt(r.checksPerSec, 0)} checks/s (of ${fmt(r.expectedChecksPerSec, 0)}), lag p50 ${fmt(r.lagP50Ms, 2)} ms p99 ${fmt(r.lagP99Ms, 1)} ms, ` +
      `latency p50 ${fmt(r.latencyP50Ms, 2)} ms p99 ${fmt(r.latencyP99Ms, 1)} ms, checker ${fmt(r.cpuCores, 2)} cores (${fmt(r.cpuUsPerCheck, 1)} µs/check), RSS ${fmt(r.rssMb, 0)} MB ` +
      `(heap growing ${r.heapGrowingPercent > 0 ? `${r.heapGrowingPercent}%` : "by Node's heuristic"}; live heap ${fmt(r.liveHeapMb, 0)} MB = ${fmt(r.bytesPerTarget / 1024, 1)} KB/target), fleet ${fmt(r.fleetCpuCores, 2)} cores (${fmt(r.fleetCpuUsPerRequest, 1)} µs/request); ` +
      `event loop delay max ${fmt(r.eventLoopDelayMaxMs, 0)} ms, stalls > 100 ms: ${r.stalls.over100} (${fmt(r.stalls.over100WallMs, 0)} ms, process CPU meanwhile ${fmt(r.stalls.over100CpuMs, 0)} ms; longest ${fmt(r.stalls.longestMs, 0)} ms with ${fmt(r.stalls.longestCpuMs, 0)} ms CPU, ${fmt(r.stalls.longestGcMs, 0)} ms GC); GC ${fmt((r.gc.minorMs + r.gc.majorMs) / r.elapsedS / 10, 1)}% of the time, longest pause ${fmt(r.gc.maxPauseMs, 0)} ms${scrapes}; ` +
      `every origin checked once after ${fmt(r.firstPassS, 1)} s; failures ${r.failures}${r.failures ? ` ${JSON.stringify(r.failureKinds)}` : ""}; load ${fmt(r.loadBefore, 1)}->${fmt(r.loadAfter, 1)} [${verdict}]`,
  );
}

function describeFloor(label: string, r: FloorRun): void {
  log(
    `  ${label}: ${fmt(r.requestsPerSec, 0)} requests/s, latency p50 ${fmt(r.latencyP50Ms, 2)} ms p99 ${fmt(r.latencyP99Ms, 1)} ms, pacing lag p99 ${fmt(r.lagP99Ms, 1)} ms, ` +
      `${fmt(r.cpuCores, 2)} cores (${fmt(r.cpuUsPerRequest, 1)} µs/request), RSS ${fmt(r.rssMb, 0)} MB (live heap ${fmt(r.liveHeapMb, 0)} MB = ${fmt(r.bytesPerOrigin / 1024, 1)} KB/origin), ` +
      `fleet ${fmt(r.fleetCpuCores, 2)} cores; GC ${fmt((r.gc.minorMs + r.gc.majorMs) / r.elapsedS / 10, 1)}%, longest pause ${fmt(r.gc.maxPauseMs, 0)} ms; errors ${r.errors}${r.errors ? ` ${JSON.stringify(r.errorKinds)}` : ""}, slots skipped (origin still busy) ${r.skipped}; load ${fmt(r.loadBefore, 1)}->${fmt(r.loadAfter, 1)}`,
  );
}

function runWrk(url: string, durationS: number, fleetPid: number): { requestsPerSec: number; requests: number; cpuUsPerRequest: number; fleetCpuUsPerRequest: number; latencyP50: string; latencyP99: string } | undefined {
  const f0 = cpuSecondsOf(fleetPid);
  const r = spawnSync("sh", ["-c", `wrk -t2 -c64 -d${durationS}s --latency ${url}; times`], { encoding: "utf8", timeout: (durationS + 30) * 1000 });
  const fleetCpu = cpuSecondsOf(fleetPid) - f0;
  if (r.status !== 0) return undefined;
  const out = r.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const total = Number(/(\d+) requests in/.exec(out)?.[1]);
  // `times` prints the shell's, then its children's, user and system time.
  const timesLines = out.trim().split("\n").slice(-2);
  const child = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(timesLines[1] ?? "");
  const cpuS = child ? Number(child[1]) * 60 + Number(child[2]) + Number(child[3]) * 60 + Number(child[4]) : NaN;
  return {
    requestsPerSec: rps,
    requests: total,
    cpuUsPerRequest: (cpuS * 1e6) / total,
    fleetCpuUsPerRequest: (fleetCpu * 1e6) / total,
    // The "Latency Distribution" lines ("     50%  749.00us"), not the "+/- Stdev" column ("91.50%").
    latencyP50: /^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? "-",
    latencyP99: /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? "-",
  };
}

async function compile(src: string, out: string): Promise<void> {
  await build({
    entryPoints: [src],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    logLevel: "warning",
    banner: { js: "import { createRequire as __heckRequire } from 'node:module'; const require = __heckRequire(import.meta.url);" },
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "heck-v1-bench-"));
  const children: ChildProcess[] = [];
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  const loadStart = loadavg();
  try {
    log(`heck-v1 benchmark: ${ORIGINS} origins at ${INTERVAL_MS} ms, ${ROUNDS} round${ROUNDS === 1 ? "" : "s"} of ${DURATION_S} s${QUICK ? " (quick)" : ""}`);
    log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GB, node ${process.version}`);
    log(`load average at start: ${loadStart.map((l) => fmt(l, 2)).join(" ")} (1, 5, 15 min; above the core count, other processes compete for the same cores)`);
    const haveWrk = ensureWrk();

    // The workers run compiled (as the checker would be deployed); the TypeScript loader alone costs tens of MB.
    const checkerJs = join(dir, "checker-worker.mjs");
    const floorJs = join(dir, "undici-floor-worker.mjs");
    await compile(CHECKER_SRC, checkerJs);
    await compile(FLOOR_SRC, floorJs);

    const shards: FleetShard[] = [];
    const t0 = performance.now();
    const fleets = await ensureFleet(shards, ORIGINS);
    for (const f of shards) children.push(f.child);
    log(`\nheck-fleet: ${fleets.length} process${fleets.length === 1 ? "" : "es"} of up to ${SHARD} origins (${HOST_PREFIX}1:${BASE_PORT}-${BASE_PORT + Math.min(ORIGINS, PER_HOST) - 1}${ORIGINS > PER_HOST ? `, ${HOST_PREFIX}2:...` : ""}), ready in ${fmt((performance.now() - t0) / 1000, 1)} s`);

    log(`\nrounds (checker: warm-up of at least ${WARMUP_S} s until every origin was checked once, then ${DURATION_S} s measured, /metrics scraped every ${SCRAPE_EVERY_S} s, all targets listed once; bare undici: the same)`);
    const runs: RunResult[] = [];
    const floors: FloorRun[] = [];
    const nodeDefaults: RunResult[] = [];
    for (let k = 1; k <= ROUNDS; k++) {
      const steps: Array<() => Promise<void>> = [
        async () => {
          const r = await runChecker(checkerJs, ORIGINS, DURATION_S, fleets);
          runs.push(r);
          describeRun(`round ${k} checker (heck-v1 run)`, r);
        },
        async () => {
          const r = await runChecker(checkerJs, ORIGINS, DURATION_S, fleets, true, 0);
          nodeDefaults.push(r);
          describeRun(`round ${k} checker, --heap-growing-percent 0`, r);
        },
        async () => {
          const f = await runFloor(floorJs, ORIGINS, DURATION_S, fleets);
          floors.push(f);
          describeFloor(`round ${k} bare undici`, f);
        },
      ];
      for (const step of k % 2 === 1 ? steps : steps.reverse()) await step();
    }
    const med = (f: (r: RunResult) => number): number => median(runs.map(f));
    const fmed = (f: (r: FloorRun) => number): number => median(floors.map(f));
    const main: CheckerResult = {
      ...runs[0]!,
      checksPerSec: med((r) => r.checksPerSec),
      lagP50Ms: med((r) => r.lagP50Ms),
      lagP99Ms: med((r) => r.lagP99Ms),
      latencyP50Ms: med((r) => r.latencyP50Ms),
      latencyP99Ms: med((r) => r.latencyP99Ms),
      cpuCores: med((r) => r.cpuCores),
      cpuUsPerCheck: med((r) => r.cpuUsPerCheck),
      rssMb: med((r) => r.rssMb),
      liveHeapMb: med((r) => r.liveHeapMb),
      bytesPerTarget: med((r) => r.bytesPerTarget),
      eventLoopDelayMaxMs: med((r) => r.eventLoopDelayMaxMs),
    };
    const floor = {
      cpuUsPerRequest: fmed((r) => r.cpuUsPerRequest),
      rssMb: fmed((r) => r.rssMb),
      bytesPerOrigin: fmed((r) => r.bytesPerOrigin),
      liveHeapMb: fmed((r) => r.liveHeapMb),
    };
    const fleetCores = med((r) => r.fleetCpuCores);
    const fleetUs = med((r) => r.fleetCpuUsPerRequest);
    const scrapeMs = median(runs.flatMap((r) => r.scrapeMs));
    const listMs = med((r) => r.listMs);
    const roundsHeld = runs.filter(held).length;
    log(`  medians of ${ROUNDS}: ${fmt(main.checksPerSec, 0)} checks/s, lag p99 ${fmt(main.lagP99Ms, 1)} ms, ${fmt(main.cpuUsPerCheck, 1)} µs/check (bare undici ${fmt(floor.cpuUsPerRequest, 1)}), RSS ${fmt(main.rssMb, 0)} MB (bare undici ${fmt(floor.rssMb, 0)}); held in ${roundsHeld} of ${ROUNDS} rounds`);

    const nmed = (f: (r: RunResult) => number): number => median(nodeDefaults.map(f));
    const v8 = {
      rssMb: nmed((r) => r.rssMb),
      lagP99Ms: nmed((r) => r.lagP99Ms),
      cpuUsPerCheck: nmed((r) => r.cpuUsPerCheck),
      gcPercent: nmed((r) => (r.gc.minorMs + r.gc.majorMs) / r.elapsedS / 10),
      roundsHeld: nodeDefaults.filter(held).length,
    };
    const gcPercent = med((r) => (r.gc.minorMs + r.gc.majorMs) / r.elapsedS / 10);
    log(
      `  Node's own heap heuristic (--heap-growing-percent 0), medians of ${ROUNDS}: lag p99 ${fmt(v8.lagP99Ms, 1)} ms, ${fmt(v8.cpuUsPerCheck, 1)} µs/check, RSS ${fmt(v8.rssMb, 0)} MB, GC ${fmt(v8.gcPercent, 1)}% of the time; held in ${v8.roundsHeld} of ${ROUNDS} rounds`,
    );

    // Knee: the most origins held at 1 s with lag p99 < 100 ms.
    log(`\nthe product itself: \`heck-v1 run --config <${ORIGINS} targets>\` through its bin, default settings, ${DURATION_S} s measured from outside (/proc, its /metrics):`);
    const product = await runProduct(dir, ORIGINS, DURATION_S);
    log(
      `  ${fmt(product.checksPerSec, 0)} checks/s, lag p99 <= ${fmt(product.lagP99BucketMs, 0)} ms (bucket bound; ${fmt(product.within100msPct, 2)}% of checks within 100 ms), ` +
        `${fmt(product.cpuCores, 2)} cores (${fmt(product.cpuUsPerCheck, 1)} µs/check), RSS ${fmt(product.rssMb, 0)} MB; load ${fmt(product.loadBefore, 1)}->${fmt(product.loadAfter, 1)}`,
    );

    log(`\nknee search (${PROBE_DURATION_S} s per step; held = lag p99 < ${LAG_GOAL_MS} ms and >= 95% of the expected checks/s):`);
    let lo = 0;
    let hi = Infinity;
    if (held(main)) lo = main.origins;
    else hi = main.origins;
    for (let k = 0; k < (QUICK ? 2 : 4); k++) {
      let n: number;
      if (hi === Infinity) {
        n = Math.min(KNEE_MAX, lo * 1.4);
        if (n <= lo) break;
      } else n = (lo + hi) / 2;
      n = Math.round(n / 250) * 250;
      if (n <= lo || n >= hi || n < 250) break;
      const before = shards.length;
      const used = await ensureFleet(shards, n);
      for (const f of shards.slice(before)) children.push(f.child);
      const r = await runChecker(checkerJs, n, PROBE_DURATION_S, used, false);
      describeRun(`step ${k + 1}`, r);
      if (held(r)) lo = n;
      else hi = n;
    }
    const kneeOrigins = lo;
    log(`  knee: ${kneeOrigins > 0 ? `${kneeOrigins} origins held${hi === Infinity ? ` (not bounded above: the search stopped at ${KNEE_MAX})` : `, ${hi} not`}` : `none held down to ${hi}`}`);

    // The machine's ceiling: wrk against the same fleet.
    let wrk: ReturnType<typeof runWrk>;
    if (haveWrk) {
      log(`\nceiling: wrk -t2 -c64 -d${PROBE_DURATION_S}s against origin 0 of the same fleet`);
      wrk = runWrk(`http://${HOST_PREFIX}1:${BASE_PORT}/health`, PROBE_DURATION_S, shards[0]!.pid);
      if (wrk) log(`  ${fmt(wrk.requestsPerSec, 0)} requests/s, latency p50 ${wrk.latencyP50} p99 ${wrk.latencyP99}; wrk ${fmt(wrk.cpuUsPerRequest, 1)} CPU µs/request, fleet ${fmt(wrk.fleetCpuUsPerRequest, 1)} CPU µs/request`);
      else log("  wrk failed");
    }

    const loadEnd = loadavg();
    const probesPerCore = 1e6 / main.cpuUsPerCheck;
    log(`\nresults beside their references (medians of ${ROUNDS} rounds; load average ${loadStart.map((l) => fmt(l, 1)).join(" ")} at start, ${loadEnd.map((l) => fmt(l, 1)).join(" ")} at end):`);
    const rows: Array<[string, string, string]> = [
      ["origins held at 1 s (knee)", String(kneeOrigins), `goal 10,000: ${kneeOrigins >= 10_000 ? "met" : "not met"}; Uptime Kuma struggles beyond 500 monitors: x${fmt(kneeOrigins / 500, 1)}`],
      ["checks/s achieved", fmt(main.checksPerSec, 0), `expected ${fmt(main.expectedChecksPerSec, 0)}; held (lag p99 < ${LAG_GOAL_MS} ms) in ${roundsHeld} of ${ROUNDS} rounds`],
      ["schedule lag p50 / p99", `${fmt(main.lagP50Ms, 2)} / ${fmt(main.lagP99Ms, 1)} ms`, `goal p99 < ${LAG_GOAL_MS} ms: ${main.lagP99Ms < LAG_GOAL_MS ? "met" : "not met"}`],
      ["check latency p50 / p99", `${fmt(main.latencyP50Ms, 2)} / ${fmt(main.latencyP99Ms, 1)} ms`, "loopback, keep-alive"],
      ["checker CPU", `${fmt(main.cpuCores, 2)} cores`, `${fmt(probesPerCore, 0)} checks/s per core; blackbox_exporter ~1,000 probes/s per core: x${fmt(probesPerCore / 1000, 1)}`],
      ["CPU per check", `${fmt(main.cpuUsPerCheck, 1)} µs`, `bare undici: ${fmt(floor.cpuUsPerRequest, 1)} µs per request (x${fmt(main.cpuUsPerCheck / floor.cpuUsPerRequest, 2)})${wrk ? `; wrk: ${fmt(wrk.cpuUsPerRequest, 1)} µs (x${fmt(main.cpuUsPerCheck / wrk.cpuUsPerRequest, 1)})` : ""}`],
      [
        `checker RSS (heap growing ${main.heapGrowingPercent}%, heck-v1 run's default)`,
        `${fmt(main.rssMb, 0)} MB`,
        `goal < ${RSS_GOAL_MB} MB: ${main.rssMb < RSS_GOAL_MB ? "met" : "not met"}; bare undici: ${fmt(floor.rssMb, 0)} MB (x${fmt(main.rssMb / floor.rssMb, 2)}); on Node's own heuristic (--heap-growing-percent 0): ${fmt(v8.rssMb, 0)} MB`,
      ],
      [
        "live heap per target",
        `${fmt(main.bytesPerTarget / 1024, 2)} KB`,
        `bare undici: ${fmt(floor.bytesPerOrigin / 1024, 2)} KB per origin, so the checker's own state is ${fmt((main.bytesPerTarget - floor.bytesPerOrigin) / 1024, 2)} KB per target`,
      ],
      ["fleet CPU", `${fmt(fleetCores, 2)} cores, ${fmt(fleetUs, 1)} µs/request`, wrk ? `${fmt(wrk.fleetCpuUsPerRequest, 1)} µs/request under wrk (keep-alive, 64 connections)` : "-"],
      [
        "heck-v1 run itself (one run)",
        `${fmt(product.rssMb, 0)} MB RSS, ${fmt(product.cpuCores, 2)} cores`,
        `${fmt(product.checksPerSec, 0)} checks/s, lag p99 <= ${fmt(product.lagP99BucketMs, 0)} ms (bucket bound), ${fmt(product.within100msPct, 2)}% of checks within 100 ms`,
      ],
      ["API under load", `/metrics ${fmt(scrapeMs, 0)} ms, /v1/targets ${fmt(listMs, 0)} ms`, `wall time seen by the client, ${ORIGINS} targets, during the measured window`],
      ["ceiling (wrk, one origin)", wrk ? `${fmt(wrk.requestsPerSec, 0)} req/s` : "-", wrk ? `checker achieved ${fmt((100 * main.checksPerSec) / wrk.requestsPerSec, 1)}% of it` : "-"],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    for (const [a, b, c] of rows) log(`  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);

    const summary = {
      origins: main.origins,
      intervalMs: INTERVAL_MS,
      durationS: DURATION_S,
      rounds: ROUNDS,
      roundsHeld,
      checksPerSec: Math.round(main.checksPerSec),
      lagP50Ms: Number(fmt(main.lagP50Ms, 2)),
      lagP99Ms: Number(fmt(main.lagP99Ms, 2)),
      latencyP50Ms: Number(fmt(main.latencyP50Ms, 2)),
      latencyP99Ms: Number(fmt(main.latencyP99Ms, 2)),
      cpuCores: Number(fmt(main.cpuCores, 3)),
      cpuUsPerCheck: Number(fmt(main.cpuUsPerCheck, 1)),
      rssMb: Math.round(main.rssMb),
      liveHeapMb: Number(fmt(main.liveHeapMb, 1)),
      bytesPerTarget: Math.round(main.bytesPerTarget),
      kneeOrigins,
      undiciCpuUsPerRequest: Number(fmt(floor.cpuUsPerRequest, 1)),
      undiciRssMb: Math.round(floor.rssMb),
      undiciBytesPerOrigin: Math.round(floor.bytesPerOrigin),
      heapGrowingPercent: main.heapGrowingPercent,
      gcPercent: Number(fmt(gcPercent, 1)),
      nodeHeuristicRssMb: Math.round(v8.rssMb),
      nodeHeuristicLagP99Ms: Number(fmt(v8.lagP99Ms, 2)),
      nodeHeuristicCpuUsPerCheck: Number(fmt(v8.cpuUsPerCheck, 1)),
      nodeHeuristicGcPercent: Number(fmt(v8.gcPercent, 1)),
      nodeHeuristicRoundsHeld: v8.roundsHeld,
      heckV1RunRssMb: Math.round(product.rssMb),
      heckV1RunCpuCores: Number(fmt(product.cpuCores, 3)),
      heckV1RunChecksPerSec: Math.round(product.checksPerSec),
      heckV1RunLagP99BucketMs: product.lagP99BucketMs,
      heckV1RunWithin100msPct: Number(fmt(product.within100msPct, 2)),
      fleetCpuCores: Number(fmt(fleetCores, 3)),
      fleetCpuUsPerRequest: Number(fmt(fleetUs, 1)),
      metricsScrapeMs: Number(fmt(scrapeMs, 1)),
      listTargetsMs: Number(fmt(listMs, 1)),
      wrkRequestsPerSec: wrk ? Math.round(wrk.requestsPerSec) : null,
      wrkCpuUsPerRequest: wrk ? Number(fmt(wrk.cpuUsPerRequest, 1)) : null,
      firstPassS: Number(fmt(med((r) => r.firstPassS), 1)),
      failures: runs.reduce((a, r) => a + r.failures, 0),
      goalMet: main.lagP99Ms < LAG_GOAL_MS && main.rssMb < RSS_GOAL_MB && held(main),
      loadStart: Number(fmt(loadStart[0]!, 2)),
      loadEnd: Number(fmt(loadEnd[0]!, 2)),
      cores: cpus().length,
    };
    log(JSON.stringify(summary));
  } finally {
    cleanup();
  }
}

await main().catch((err: unknown) => {
  process.stderr.write(`\nbenchmark failed: ${(err as Error).message}\n(if a port was in use: the benchmark range 20000-31999 is shared, and one benchmark runs at a time)\n`);
  process.exit(1);
});
