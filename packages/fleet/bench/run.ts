// The fleet benchmark: what does it cost to hold 10,000 origins in one process?
//
//   pnpm --filter @heck/fleet bench
//
// Starts `heck-fleet --count 10000` in its own process and reports start-up
// time, RSS and descriptors; the control API's flip latency (one origin, and
// all 10,000 at once); and requests/s with wrk against one origin, beside a
// bare `http.createServer` hello-world on the same machine (the reference:
// what Node's HTTP server does with nothing else in the process).
// Ports 20000-29999 (origins), 31000 (control), 30500 (bare server): the benchmark range.
// HECK_BENCH_QUICK=1 shortens the wrk runs.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { readyLine } from "./ready-line.ts";

const QUICK = process.env["HECK_BENCH_QUICK"] === "1";
const COUNT = Number(process.env["HECK_BENCH_ORIGINS"] ?? 10_000);
const WRK_S = QUICK ? 3 : 10;
const BIN = fileURLToPath(new URL("../bin/heck-fleet.js", import.meta.url));
const log = (s = ""): void => void process.stdout.write(s + "\n");
const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "-");
const clkTck = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clkTck;
}

function rssMbOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function wrk(url: string, pid: number): { rps: number; usPerRequest: number } | undefined {
  const c0 = cpuSecondsOf(pid);
  const r = spawnSync("wrk", ["-t2", "-c64", `-d${WRK_S}s`, url], { encoding: "utf8", timeout: (WRK_S + 20) * 1000 });
  if (r.status !== 0) return undefined;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const total = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
  return { rps, usPerRequest: ((cpuSecondsOf(pid) - c0) * 1e6) / total };
}

async function main(): Promise<void> {
  log(`heck-fleet benchmark: ${COUNT} origins; ${cpus().length} cores, load average ${loadavg().map((l) => fmt(l, 2)).join(" ")} (shared machine)`);
  const haveWrk = spawnSync("sh", ["-c", "command -v wrk"]).status === 0;
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [BIN, "--count", String(COUNT), "--base-port", "20000", "--control", "127.0.0.1:31000", "--json"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const line = await readyLine(child);
    const startupMs = performance.now() - t0;
    const ready = JSON.parse(line) as { pid: number; control: string; maxConnections: number };
    const pid = ready.pid;
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const rssMb = rssMbOf(pid);
    log(`start-up: ${fmt(startupMs, 0)} ms to listen on ${COUNT} ports (including Node and tsx start), RSS ${fmt(rssMb, 0)} MB, ${fds} descriptors, connection budget ${ready.maxConnections}`);

    const put = async (path: string, body: unknown): Promise<number> => {
      const s = performance.now();
      const res = await fetch(`http://${ready.control}${path}`, { method: "PUT", body: JSON.stringify(body) });
      await res.text();
      if (!res.ok) throw new Error(`PUT ${path}: ${res.status}`);
      return performance.now() - s;
    };
    const one: number[] = [];
    for (let k = 0; k < 200; k++) one.push(await put(`/origins/${k % COUNT}`, { mode: k % 2 === 0 ? "failing" : "healthy" }));
    const bulk: number[] = [];
    for (let k = 0; k < 5; k++) bulk.push(await put("/origins", { all: true, mode: k % 2 === 0 ? "failing" : "healthy" }));
    const closeAll = await put("/origins", { all: true, mode: "closed" });
    const reopenAll = await put("/origins", { all: true, mode: "healthy" });
    log(`control API: flip one origin p50 ${fmt(median(one), 2)} ms; flip all ${COUNT} p50 ${fmt(median(bulk), 1)} ms; close all ${fmt(closeAll, 0)} ms, reopen all ${fmt(reopenAll, 0)} ms`);

    let fleetWrk: ReturnType<typeof wrk>;
    let bareWrk: ReturnType<typeof wrk>;
    if (haveWrk) {
      fleetWrk = wrk("http://127.0.0.1:20000/health", pid);
      // The reference: a bare Node HTTP server in its own process, same body
      // (not in this one: wrk runs synchronously here and would block it).
      const bareSrc =
        "require('node:http').createServer((q, s) => { s.writeHead(200, { 'content-type': 'application/json', 'content-length': 27 }); " +
        "s.end('{\"status\":\"ok\",\"origin\":0}\\n'); }).listen(30500, '127.0.0.1', () => console.log('ready'));";
      const bare = spawn(process.execPath, ["-e", bareSrc], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => bare.stdout!.once("data", () => resolve()));
      bareWrk = wrk("http://127.0.0.1:30500/health", bare.pid!);
      bare.kill("SIGTERM");
      log(
        `wrk -t2 -c64 -d${WRK_S}s, one origin: fleet ${fmt(fleetWrk?.rps ?? NaN, 0)} req/s (${fmt(fleetWrk?.usPerRequest ?? NaN, 1)} CPU µs/request); ` +
          `bare Node server ${fmt(bareWrk?.rps ?? NaN, 0)} req/s (${fmt(bareWrk?.usPerRequest ?? NaN, 1)} µs/request): ratio ${fmt((fleetWrk?.rps ?? NaN) / (bareWrk?.rps ?? NaN), 2)}`,
      );
    } else log("wrk not installed: skipping the throughput comparison (apt-get install wrk)");
    const summary = {
      origins: COUNT,
      startupMs: Math.round(startupMs),
      rssMb: Math.round(rssMb),
      fds,
      maxConnections: ready.maxConnections,
      flipOneP50Ms: Number(fmt(median(one), 2)),
      flipAllP50Ms: Number(fmt(median(bulk), 1)),
      wrkRequestsPerSec: fleetWrk ? Math.round(fleetWrk.rps) : null,
      bareNodeRequestsPerSec: bareWrk ? Math.round(bareWrk.rps) : null,
      ratioToBareNode: fleetWrk && bareWrk ? Number(fmt(fleetWrk.rps / bareWrk.rps, 2)) : null,
      loadAverage1m: Number(fmt(loadavg()[0]!, 2)),
    };
    log(JSON.stringify(summary));
  } finally {
    child.kill("SIGTERM");
  }
}

await main();
