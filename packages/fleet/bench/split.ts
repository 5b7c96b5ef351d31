// One fleet process against the split fleet (--workers k): what each serves,
// and how soon its control API answers while it serves.
//
//   pnpm --filter @heck/fleet bench:split
//
// For each fleet shape (HECK_BENCH_WORKERS, default "1,2": one process, then
// two workers behind a control process) and each load, a checker process
// (bench/check-load.ts) cycles over HECK_BENCH_ORIGINS (default 2,000)
// origins on keep-alive connections for HECK_BENCH_SECONDS (default 10),
// while this process reads the counters (GET /origins/counts, what a soak
// polls) and flips an origin (PUT) in turn every 50 ms, each answer awaited
// up to 10 s. The loads: 2,000 checks/s paced (7 agents checking 2,000
// origins every second); the same with the fleet's processes confined to
// HECK_BENCH_FLEET_CPU_PCT (default 10) % of one core (@heck/net's CpuLimit,
// a cgroup; needs root), a busy machine's share, below what 2,000 checks/s
// cost; and as fast as 64 loops in flight go. Served req/s comes from the
// fleet's own counters; CPU is the fleet's processes' (control + workers).
// Bounded: each run is its seconds plus start-up. Ports 20000-29999
// (origins) and 31000 (control).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { CpuLimit } from "@heck/net";
import { readyLine } from "./ready-line.ts";

const COUNT = Number(process.env["HECK_BENCH_ORIGINS"] ?? 2_000);
const SECONDS = Number(process.env["HECK_BENCH_SECONDS"] ?? 10);
const SHAPES = (process.env["HECK_BENCH_WORKERS"] ?? "1,2").split(",").map(Number);
const FLEET_CPU_PCT = Number(process.env["HECK_BENCH_FLEET_CPU_PCT"] ?? 10);
const BIN = fileURLToPath(new URL("../bin/heck-fleet.js", import.meta.url));
const LOAD = fileURLToPath(new URL("./check-load.ts", import.meta.url));
const log = (s = ""): void => void process.stdout.write(s + "\n");
const fmt = (n: number | null, d = 1): string => (n !== null && Number.isFinite(n) ? n.toFixed(d) : "-");
const clkTck = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function cpuSecondsOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(fields[11]) + Number(fields[12])) / clkTck;
    } catch {
      // exited
    }
  }
  return total;
}

function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

interface Row {
  workers: number;
  load: string;
  servedPerSec: number;
  answeredPerSec: number;
  checkerErrors: number;
  controlP50Ms: number | null;
  controlP99Ms: number | null;
  controlMaxMs: number | null;
  controlUnanswered: number;
  fleetCpuPct: number;
}

async function startFleet(workers: number): Promise<{ child: ChildProcess; pids: number[]; control: string }> {
  const child = spawn(process.execPath, [BIN, "--count", String(COUNT), "--base-port", "20000", "--control", "127.0.0.1:31000", "--workers", String(workers), "--json"], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await readyLine(child);
  const ready = JSON.parse(line) as { pid: number; control: string; workerPids?: number[] };
  return { child, pids: [ready.pid, ...(ready.workerPids ?? [])], control: `http://${ready.control}` };
}

type Load = { rate: string; confinedPct?: number };

async function measure(workers: number, load: Load): Promise<Row> {
  const fleet = await startFleet(workers);
  const cgroup = load.confinedPct === undefined ? undefined : CpuLimit.create(`fleet-bench-${process.pid}`, load.confinedPct);
  try {
    // Warm-up: one cycle opens the checker's connection to every origin.
    const warm = spawn(process.execPath, ["--import", "tsx", LOAD, "127.0.0.1", "20000", String(COUNT), "max", "64", "2"], { stdio: ["ignore", "ignore", "inherit"] });
    await new Promise((r) => warm.on("exit", r));
    for (const pid of fleet.pids) cgroup?.add(pid);
    const checker = spawn(process.execPath, ["--import", "tsx", LOAD, "127.0.0.1", "20000", String(COUNT), load.rate, "64", String(SECONDS)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const started = new Promise<void>((resolve) =>
      checker.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.startsWith("start\n")) resolve();
      }),
    );
    const done = new Promise<void>((r) => checker.on("exit", () => r()));
    let running = true;
    void done.then(() => (running = false));
    await started;
    const cpu0 = cpuSecondsOf(fleet.pids);
    const t0 = performance.now();
    const latencies: number[] = [];
    let unanswered = 0;
    let before: { count: number; atMs: number } | undefined;
    let last = { count: 0, atMs: 0 };
    for (let k = 0; running; k++) {
      const s = performance.now();
      try {
        if (k % 2 === 0) {
          const res = await fetch(`${fleet.control}/origins/counts`, { signal: AbortSignal.timeout(10_000) });
          last = { count: ((await res.json()) as { totalRequests: number }).totalRequests, atMs: performance.now() };
          before ??= last;
        } else {
          const res = await fetch(`${fleet.control}/origins/${k % COUNT}`, { method: "PUT", body: JSON.stringify({ mode: "healthy" }), signal: AbortSignal.timeout(10_000) });
          await res.text();
        }
        latencies.push(performance.now() - s);
      } catch {
        unanswered += 1;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 50 - (performance.now() - s))));
    }
    await done;
    const elapsedS = (performance.now() - t0) / 1000;
    const cpu = cpuSecondsOf(fleet.pids) - cpu0;
    const result = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { answered?: number; errors?: number; ranMs?: number };
    return {
      workers,
      load: load.rate === "max" ? "as fast as 64 in flight go" : `${load.rate} checks/s paced${load.confinedPct !== undefined ? `, fleet confined to ${load.confinedPct} % of a core` : ""}`,
      servedPerSec: before === undefined || last.atMs === before.atMs ? 0 : Math.round((1000 * (last.count - before.count)) / (last.atMs - before.atMs)),
      answeredPerSec: Math.round((result.answered ?? 0) / ((result.ranMs ?? SECONDS * 1000) / 1000)),
      checkerErrors: result.errors ?? 0,
      controlP50Ms: quantile(latencies, 0.5),
      controlP99Ms: quantile(latencies, 0.99),
      controlMaxMs: latencies.length > 0 ? Math.max(...latencies) : null,
      controlUnanswered: unanswered,
      fleetCpuPct: Math.round((100 * cpu) / elapsedS),
    };
  } finally {
    cgroup?.remove();
    const exited = new Promise((r) => fleet.child.on("exit", r));
    fleet.child.kill("SIGTERM");
    await exited;
  }
}

log(`heck-fleet split benchmark: ${COUNT} origins, ${SECONDS} s per run; ${cpus().length} cores, load average ${loadavg().map((l) => fmt(l, 2)).join(" ")}`);
const rows: Row[] = [];
const loads: Load[] = [{ rate: "2000" }];
try {
  CpuLimit.create(`fleet-bench-probe-${process.pid}`, 100).remove();
  loads.push({ rate: "2000", confinedPct: FLEET_CPU_PCT });
} catch (e) {
  log(`skipping the confined runs: ${(e as Error).message}`);
}
loads.push({ rate: "max" });
for (const load of loads) for (const w of SHAPES) rows.push(await measure(w, load));
log("| fleet | load | served req/s (fleet's counters; checker's answers) | control API p50 / p99 / max | unanswered within 10 s | fleet CPU |");
log("|---|---|---|---|---|---|");
for (const r of rows) {
  log(`| ${r.workers === 1 ? "one process" : `control + ${r.workers} workers`} | ${r.load} | ${r.servedPerSec}; ${r.answeredPerSec} | ${fmt(r.controlP50Ms)} / ${fmt(r.controlP99Ms)} / ${fmt(r.controlMaxMs)} ms | ${r.controlUnanswered} | ${r.fleetCpuPct} % |`);
}
for (const load of ["confined", "as fast"]) {
  const one = rows.find((r) => r.workers === 1 && r.load.includes(load));
  const split = rows.find((r) => r.workers !== 1 && r.load.includes(load));
  if (one && split) log(`split / one process, ${load === "confined" ? "confined" : "as fast as it goes"}: served ${fmt(split.servedPerSec / one.servedPerSec, 2)}x; control API p99 ${fmt((split.controlP99Ms ?? NaN) / (one.controlP99Ms ?? NaN), 2)}x`);
}
log(JSON.stringify({ origins: COUNT, seconds: SECONDS, loadAverage1m: Number(fmt(loadavg()[0]!, 2)), rows }));
