// The stage 1 benchmark: can one process hold 10,000 origins at a 1 s interval?
//
//   pnpm --filter @heck/v1-checker bench
//
// 1. Starts `heck-fleet` (10,000 origins on 127.0.1.1:20000-29999) in its own processes.
// 2. Runs the checker (engine + API + metrics, as `heck-v1 run`) in another
//    process, compiled with esbuild so its RSS is the checker's and not the
//    TypeScript loader's, for 30 s at 1 s: checks/s, schedule lag p50/p99,
//    check latency p50/p99, CPU cores, RSS, CPU microseconds per check.
// 3. Finds the knee: the most origins held at 1 s with lag p99 under 100 ms
//    (fleets on 127.0.1.2 serve targets beyond 10,000).
// 4. Measures the machine's ceiling with wrk against the same fleet: requests/s
//    and wrk's CPU microseconds per request.
// 5. Prints the reference points (blackbox_exporter, Uptime Kuma) as ratios,
//    and a last line of JSON.
//
// Environment: HECK_BENCH_QUICK=1 (short runs, for a smoke test),
// HECK_BENCH_ORIGINS (default 10000), HECK_BENCH_DURATION_S (default 30).
// Ports: 20000-29999 (origins), 31000-31001 (fleet control): the benchmark range.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const QUICK = process.env["HECK_BENCH_QUICK"] === "1";
const ORIGINS = Number(process.env["HECK_BENCH_ORIGINS"] ?? 10_000);
const DURATION_S = Number(process.env["HECK_BENCH_DURATION_S"] ?? (QUICK ? 8 : 30));
const PROBE_DURATION_S = QUICK ? 5 : 10;
const WARMUP_S = QUICK ? 3 : 6;
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 1000;
const LAG_GOAL_MS = 100;
const RSS_GOAL_MB = 256;
const BASE_PORT = 20_000;
const PER_HOST = 10_000; // origins per loopback address (ports 20000-29999); 127.0.1.2 serves the next 10,000
/**
 * Origins listen on 127.0.1.x rather than 127.0.0.1: the benchmark port range
 * is shared with other packages' benchmarks and experiments, which bind
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
/**
 * The checker's V8 old-space cap for n targets, in MB: about twice the live
 * heap measured after a full GC (about 30 MB plus 5 KB per target). Without a
 * cap, V8 lets the old space grow to several times the live heap before it
 * collects (a throughput choice), which at 10,000 targets means about 450 MB
 * of RSS for 80 MB of live objects. The README shows how to set it:
 * NODE_OPTIONS=--max-old-space-size=<mb>. HECK_BENCH_HEAP_CAP=0 disables it.
 */
function heapCapMb(n: number): number {
  const env = process.env["HECK_BENCH_HEAP_CAP"];
  if (env === "0") return 0;
  return env !== undefined ? Number(env) : Math.round(32 + 0.013 * n);
}
const KNEE_MAX = 18_000; // below the checker's 20,000 file descriptors (one connection per origin)
const FLEET_BIN = fileURLToPath(new URL("../../fleet/bin/heck-fleet.js", import.meta.url));
const WORKER_SRC = fileURLToPath(new URL("./checker-worker.ts", import.meta.url));

interface WorkerResult {
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
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  gc: { minor: number; minorMs: number; major: number; majorMs: number; maxPauseMs: number };
  heapUsedMb: number;
  elapsedS: number;
  warmupS: number;
  firstPassS: number;
}

interface RunResult extends WorkerResult {
  /** The --max-old-space-size the checker ran with (0: Node's default). */
  heapCapMb: number;
  fleetCpuCores: number;
  fleetCpuUsPerRequest: number;
  loadBefore: number;
  loadAfter: number;
}

const log = (s = ""): void => void process.stdout.write(s + "\n");
const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "-");
const clkTck = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clkTck; // utime + stime
}

function held(r: WorkerResult): boolean {
  return r.lagP99Ms < LAG_GOAL_MS && r.checksPerSec >= 0.95 * r.expectedChecksPerSec;
}

/** Makes sure wrk is installed (the issue: "installed by the bench script"). */
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

async function runChecker(workerJs: string, origins: number, durationS: number, fleets: Array<{ pid: number; control: string }>, capMb = heapCapMb(origins)): Promise<RunResult> {
  const loadBefore = loadavg()[0]!;
  const hosts = [`${HOST_PREFIX}1`, `${HOST_PREFIX}2`].slice(0, Math.ceil(origins / PER_HOST));
  const args = { origins, hosts, perHost: PER_HOST, basePort: BASE_PORT, intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, warmupS: WARMUP_S, durationS, seed: 1 };
  const nodeArgs = capMb > 0 ? [`--max-old-space-size=${capMb}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, workerJs, JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"] });
  let fleetCpu0 = 0;
  let fleetReq0 = 0;
  let fleetCpu = 0;
  let fleetReq = 0;
  let windowS = 0;
  let windowStart = 0;
  let last = "";
  let pending: Promise<void> = Promise.resolve();
  await new Promise<void>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("window-start")) {
          windowStart = performance.now();
          fleetCpu0 = fleets.reduce((a, f) => a + cpuSecondsOf(f.pid), 0);
          pending = Promise.all(fleets.map((f) => fleetRequests(f.control))).then((v) => void (fleetReq0 = v.reduce((a, b) => a + b, 0)));
        } else if (line.startsWith("window-end")) {
          windowS = (performance.now() - windowStart) / 1000;
          fleetCpu = fleets.reduce((a, f) => a + cpuSecondsOf(f.pid), 0) - fleetCpu0;
          pending = pending.then(() => Promise.all(fleets.map((f) => fleetRequests(f.control))).then((v) => void (fleetReq = v.reduce((a, b) => a + b, 0) - fleetReq0)));
        } else if (line.startsWith("warm-up")) log(`    ${line}`);
        else if (line.trim() !== "") last = line;
      }
    });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`checker worker exited with ${code}`))));
  });
  await pending;
  const r = JSON.parse(last) as WorkerResult;
  return { ...r, heapCapMb: capMb, fleetCpuCores: fleetCpu / windowS, fleetCpuUsPerRequest: (fleetCpu * 1e6) / Math.max(1, fleetReq), loadBefore, loadAfter: loadavg()[0]! };
}

function describeRun(label: string, r: RunResult): void {
  const verdict = held(r) ? "held" : "NOT held";
  log(
    `  ${label}: ${r.origins} origins -> ${fmt(r.checksPerSec, 0)} checks/s (of ${fmt(r.expectedChecksPerSec, 0)}), lag p50 ${fmt(r.lagP50Ms, 2)} ms p99 ${fmt(r.lagP99Ms, 1)} ms, ` +
      `latency p50 ${fmt(r.latencyP50Ms, 2)} ms p99 ${fmt(r.latencyP99Ms, 1)} ms, checker ${fmt(r.cpuCores, 2)} cores ${fmt(r.rssMb, 0)} MB (${r.heapCapMb > 0 ? `heap cap ${r.heapCapMb} MB` : "no heap cap"}), fleet ${fmt(r.fleetCpuCores, 2)} cores; ` +
      `event loop delay p99 ${fmt(r.eventLoopDelayP99Ms, 1)} ms max ${fmt(r.eventLoopDelayMaxMs, 0)} ms; GC ${fmt((r.gc.minorMs + r.gc.majorMs) / r.elapsedS / 10, 1)}% of the time, longest pause ${fmt(r.gc.maxPauseMs, 0)} ms; ` +
      `every origin checked once after ${fmt(r.firstPassS, 1)} s; failures ${r.failures}${r.failures ? ` ${JSON.stringify(r.failureKinds)}` : ""}; load ${fmt(r.loadBefore, 1)}->${fmt(r.loadAfter, 1)} [${verdict}]`,
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
    latencyP50: /50%\s+(\S+)/.exec(out)?.[1] ?? "-",
    latencyP99: /99%\s+(\S+)/.exec(out)?.[1] ?? "-",
  };
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
  try {
    log(`heck-v1 benchmark: ${ORIGINS} origins at ${INTERVAL_MS} ms for ${DURATION_S} s${QUICK ? " (quick)" : ""}`);
    log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GB, node ${process.version}; load average now ${loadavg().map((l) => fmt(l, 2)).join(" ")} (shared machine: other jobs compete for the same cores)`);
    const haveWrk = ensureWrk();

    // The checker runs compiled (as it would be deployed); the TypeScript loader alone costs tens of MB.
    const workerJs = join(dir, "checker-worker.mjs");
    await build({
      entryPoints: [WORKER_SRC],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: workerJs,
      logLevel: "warning",
      banner: { js: "import { createRequire as __heckRequire } from 'node:module'; const require = __heckRequire(import.meta.url);" },
    });
    const tsxOverheadMb = (() => {
      const probe = "setTimeout(() => console.log(process.memoryUsage.rss()), 200)";
      const plain = Number(execFileSync(process.execPath, ["-e", probe], { encoding: "utf8" }));
      const withTsx = Number(execFileSync(process.execPath, ["--import", "tsx", "-e", probe], { encoding: "utf8", cwd: fileURLToPath(new URL("..", import.meta.url)) }));
      return (withTsx - plain) / 2 ** 20;
    })();

    const shards: FleetShard[] = [];
    const t0 = performance.now();
    const fleets = await ensureFleet(shards, ORIGINS);
    for (const f of shards) children.push(f.child);
    log(`\nheck-fleet: ${fleets.length} process${fleets.length === 1 ? "" : "es"} of up to ${SHARD} origins (${HOST_PREFIX}1:${BASE_PORT}-${BASE_PORT + Math.min(ORIGINS, PER_HOST) - 1}${ORIGINS > PER_HOST ? `, ${HOST_PREFIX}2:...` : ""}), ready in ${fmt((performance.now() - t0) / 1000, 1)} s`);

    log(`\nmain run (warm-up: at least ${WARMUP_S} s and until every origin was checked once; then ${DURATION_S} s measured):`);
    const main = await runChecker(workerJs, ORIGINS, DURATION_S, fleets);
    describeRun("main", main);
    // The same load with Node's default heap sizing, for the RSS it costs.
    let uncapped: RunResult | undefined;
    if (main.heapCapMb > 0) {
      log(`\nsame origins, Node's default heap sizing (no --max-old-space-size), ${PROBE_DURATION_S} s:`);
      uncapped = await runChecker(workerJs, ORIGINS, PROBE_DURATION_S, fleets, 0);
      describeRun("default heap", uncapped);
    }

    // Knee: the most origins held at 1 s with lag p99 < 100 ms.
    log(`\nknee search (${PROBE_DURATION_S} s per step; held = lag p99 < ${LAG_GOAL_MS} ms and >= 95% of the expected checks/s):`);
    let lo = 0;
    let hi = Infinity;
    if (held(main)) lo = main.origins;
    else hi = main.origins;
    const steps: RunResult[] = [];
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
      const r = await runChecker(workerJs, n, PROBE_DURATION_S, used);
      steps.push(r);
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

    const probesPerCore = main.checksPerSec / Math.max(main.cpuCores, 1e-9);
    log(`\nresults beside their references (same run, same machine; load average ${fmt(loadavg()[0]!, 2)}):`);
    const rows: Array<[string, string, string]> = [
      ["origins held at 1 s (knee)", String(kneeOrigins), `goal 10,000: ${kneeOrigins >= 10_000 ? "met" : "not met"}; Uptime Kuma struggles beyond 500 monitors: x${fmt(kneeOrigins / 500, 1)}`],
      ["checks/s achieved", fmt(main.checksPerSec, 0), `expected ${fmt(main.expectedChecksPerSec, 0)}`],
      ["schedule lag p50 / p99", `${fmt(main.lagP50Ms, 2)} / ${fmt(main.lagP99Ms, 1)} ms`, `goal p99 < ${LAG_GOAL_MS} ms: ${main.lagP99Ms < LAG_GOAL_MS ? "met" : "not met"}`],
      ["check latency p50 / p99", `${fmt(main.latencyP50Ms, 2)} / ${fmt(main.latencyP99Ms, 1)} ms`, "loopback, keep-alive"],
      ["checker CPU", `${fmt(main.cpuCores, 2)} cores`, `${fmt(probesPerCore, 0)} checks/s per core; blackbox_exporter ~1,000 probes/s per core: x${fmt(probesPerCore / 1000, 1)}`],
      [
        "checker RSS (compiled)",
        `${fmt(main.rssMb, 0)} MB`,
        `goal < ${RSS_GOAL_MB} MB: ${main.rssMb < RSS_GOAL_MB ? "met" : "not met"} (${main.heapCapMb > 0 ? `--max-old-space-size=${main.heapCapMb}` : "Node's default heap"}${uncapped ? `; ${fmt(uncapped.rssMb, 0)} MB with Node's default heap sizing` : ""}); under tsx add ~${fmt(tsxOverheadMb, 0)} MB`,
      ],
      ["CPU per check", `${fmt(main.cpuUsPerCheck, 1)} µs`, wrk ? `wrk: ${fmt(wrk.cpuUsPerRequest, 1)} µs per request (x${fmt(main.cpuUsPerCheck / wrk.cpuUsPerRequest, 1)})` : "wrk unavailable"],
      ["fleet CPU per request", `${fmt(main.fleetCpuUsPerRequest, 1)} µs (checker traffic)`, wrk ? `${fmt(wrk.fleetCpuUsPerRequest, 1)} µs under wrk (keep-alive, 64 connections)` : "-"],
      ["ceiling (wrk, one origin)", wrk ? `${fmt(wrk.requestsPerSec, 0)} req/s` : "-", wrk ? `checker achieved ${fmt((100 * main.checksPerSec) / wrk.requestsPerSec, 1)}% of it` : "-"],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    for (const [a, b, c] of rows) log(`  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);

    const summary = {
      origins: main.origins,
      intervalMs: INTERVAL_MS,
      durationS: DURATION_S,
      checksPerSec: Math.round(main.checksPerSec),
      lagP50Ms: Number(fmt(main.lagP50Ms, 2)),
      lagP99Ms: Number(fmt(main.lagP99Ms, 2)),
      latencyP50Ms: Number(fmt(main.latencyP50Ms, 2)),
      latencyP99Ms: Number(fmt(main.latencyP99Ms, 2)),
      cpuCores: Number(fmt(main.cpuCores, 3)),
      rssMb: Math.round(main.rssMb),
      heapCapMb: main.heapCapMb,
      rssMbDefaultHeap: uncapped ? Math.round(uncapped.rssMb) : null,
      kneeOrigins,
      cpuUsPerCheck: Number(fmt(main.cpuUsPerCheck, 1)),
      wrkRequestsPerSec: wrk ? Math.round(wrk.requestsPerSec) : null,
      wrkCpuUsPerRequest: wrk ? Number(fmt(wrk.cpuUsPerRequest, 1)) : null,
      fleetCpuUsPerRequest: Number(fmt(main.fleetCpuUsPerRequest, 1)),
      firstPassS: Number(fmt(main.firstPassS, 1)),
      failures: main.failures,
      goalMet: main.lagP99Ms < LAG_GOAL_MS && main.rssMb < RSS_GOAL_MB && held(main),
      loadAverage1m: Number(fmt(loadavg()[0]!, 2)),
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
