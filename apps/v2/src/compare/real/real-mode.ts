/**
 * Real-process mode: the numbers a user sees. For each store it starts a
 * local v2 cluster through the interface contract of issue 8,
 *
 *   heck cluster up --nodes <n> --origins <m> --store <crdt|raft|etcd>
 *                   --base-port <p> --interval-ms <t> --json
 *
 * which prints one line `{ "nodes": [ { "id", "pid", "api" } ], "fleet":
 * { "pid", "control" } }` once every agent is up, and then drives it from
 * outside: origin flips through the fleet's control API
 * (`PUT /origins/<i> {"mode":"failing"}`), reads through every agent's
 * `GET /v1/origins?status=unhealthy`, CPU from /proc for every agent pid, and
 * a crash with SIGKILL. Only processes this code started are signalled, by
 * their pid (the cluster-up process group, and agents it reported).
 *
 * When apps/v2 does not offer `heck cluster up` yet, the result says so
 * (available: false, reason) and the report prints the reason.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { summarize, share } from "../analysis/stats.ts";
import type { RealResults, RealStoreResult } from "../types.ts";

/** Settings of real mode. */
export interface RealModeOptions {
  quick: boolean;
  stores: Array<"crdt" | "raft" | "etcd">;
  log: (line: string) => void;
  /** argv prefix that runs the heck CLI (default: node <apps/v2>/bin/heck.js). */
  heck: string[];
  nodes: number;
  origins: number;
  intervalMs: number;
  /** First port of the cluster (v2's range is 18000-19999; each store gets its own slice). */
  basePort: number;
  /** Flips measured per store. */
  flips: number;
  /** Bound on `cluster up` printing its line. */
  startTimeoutMs: number;
  /** Bound on one flip becoming visible everywhere. */
  flipTimeoutMs: number;
}

const HERE = dirname(fileURLToPath(import.meta.url));
/** apps/v2. */
export const V2_DIR = resolve(HERE, "..", "..", "..");

function defaults(quick: boolean): Omit<RealModeOptions, "quick" | "stores" | "log"> {
  return {
    heck: [process.execPath, join(V2_DIR, "bin", "heck.js")],
    nodes: quick ? 3 : 5,
    origins: quick ? 30 : 200,
    intervalMs: 1_000,
    basePort: 18_600,
    flips: quick ? 3 : 20,
    startTimeoutMs: 60_000,
    flipTimeoutMs: 15_000,
  };
}

/** The line `cluster up --json` prints. */
interface ClusterLine {
  nodes: Array<{ id: string; pid: number; api: string }>;
  fleet: { pid: number; control: string };
}

/** Parses and checks the contract line; throws naming the field that is wrong. */
export function parseClusterLine(line: string): ClusterLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`cluster up --json: not JSON: ${line.slice(0, 200)}`);
  }
  const o = v as Partial<ClusterLine>;
  if (!Array.isArray(o.nodes) || o.nodes.length === 0) throw new Error("cluster up --json: nodes must be a non-empty array");
  o.nodes.forEach((n, i) => {
    if (typeof n?.id !== "string") throw new Error(`cluster up --json: nodes[${i}].id must be a string`);
    if (!Number.isInteger(n.pid)) throw new Error(`cluster up --json: nodes[${i}].pid must be an integer`);
    if (typeof n.api !== "string") throw new Error(`cluster up --json: nodes[${i}].api must be a string`);
  });
  if (typeof o.fleet?.control !== "string" || !Number.isInteger(o.fleet.pid)) throw new Error("cluster up --json: fleet must be { pid, control }");
  return o as ClusterLine;
}

function url(base: string, path: string): string {
  return `${base.startsWith("http") ? base : `http://${base}`}${path}`;
}

async function getJson(u: string, timeoutMs = 2_000): Promise<{ ok: boolean; status: number; body: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(u, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* keep text */
    }
    return { ok: res.ok, status: res.status, body, ms: performance.now() - t0 };
  } catch {
    return { ok: false, status: 0, body: null, ms: performance.now() - t0 };
  }
}

async function putJson(u: string, body: unknown): Promise<boolean> {
  try {
    const res = await fetch(u, { method: "PUT", body: JSON.stringify(body), headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(2_000) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** CPU seconds a process has used (utime + stime from /proc), or null when unreadable. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Whether `heck cluster up` exists with the contract's flags; a reason when not. */
export function probeClusterUp(heck: readonly string[]): string | null {
  if (!existsSync(heck[1] ?? "")) return `the heck CLI is missing (${heck[1]})`;
  const r = spawnSync(heck[0]!, [...heck.slice(1), "cluster", "up", "--help"], { encoding: "utf8", timeout: 30_000, cwd: V2_DIR });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0 || !out.includes("--base-port")) {
    return "apps/v2 does not offer `heck cluster up --nodes --origins --store --base-port --interval-ms --json` yet (issue 8's interface contract); `heck cluster up --help` " + (r.status === 0 ? "lacks --base-port" : `exited ${r.status ?? "by a signal"}: ${out.trim().split("\n").slice(-1)[0] ?? ""}`);
  }
  return null;
}

/** Runs real mode for every store; never throws (errors are reported per store). */
export async function runRealMode(partial: Partial<RealModeOptions> & Pick<RealModeOptions, "quick" | "stores" | "log">): Promise<RealResults> {
  const o: RealModeOptions = { ...defaults(partial.quick), ...partial };
  const missing = probeClusterUp(o.heck);
  if (missing !== null) return { available: false, reason: missing, stores: [], machine: null };
  const stores: RealStoreResult[] = [];
  for (let i = 0; i < o.stores.length; i++) {
    const store = o.stores[i]!;
    o.log(`  ${store}: ${o.nodes} agents, ${o.origins} origins`);
    stores.push(await runOneStore(store, { ...o, basePort: o.basePort + i * 200 }));
  }
  return { available: true, reason: null, stores, machine: null };
}

async function runOneStore(store: RealStoreResult["store"], o: RealModeOptions): Promise<RealStoreResult> {
  const result: RealStoreResult = {
    store,
    nodes: o.nodes,
    origins: o.origins,
    intervalMs: o.intervalMs,
    flips: 0,
    flipVisibleMs: summarize([]),
    flipsNotSeen: 0,
    readLatencyMs: summarize([]),
    readOkShare: null,
    cpuPctPerNode: [],
    crash: null,
    error: null,
  };
  const args = [...o.heck.slice(1), "cluster", "up", "--nodes", String(o.nodes), "--origins", String(o.origins), "--store", store, "--base-port", String(o.basePort), "--interval-ms", String(o.intervalMs), "--json"];
  const child = spawn(o.heck[0]!, args, { cwd: V2_DIR, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4_000);
  });
  try {
    const line = await firstJsonLine(child, o.startTimeoutMs);
    const cluster = parseClusterLine(line);
    await waitReady(cluster, o);
    const reads: number[] = [];
    let readsOk = 0;
    let readsTotal = 0;
    const onRead = (ok: boolean, ms: number): void => {
      readsTotal++;
      if (ok) {
        readsOk++;
        reads.push(ms);
      }
    };
    const fleetOrigins = await fleetIndexByOriginId(cluster);
    const cpu0 = cluster.nodes.map((n) => cpuSeconds(n.pid));
    const wall0 = performance.now();
    const visible: number[] = [];
    const ids = [...fleetOrigins.keys()];
    for (let k = 0; k < o.flips && ids.length > 0; k++) {
      const id = ids[(k * 7_919) % ids.length]!;
      const ms = await flip(cluster, cluster.nodes, fleetOrigins.get(id)!, id, "failing", o, onRead);
      result.flips++;
      if (ms === null) result.flipsNotSeen++;
      else visible.push(ms);
      await flip(cluster, cluster.nodes, fleetOrigins.get(id)!, id, "healthy", o, onRead);
    }
    const wallS = (performance.now() - wall0) / 1000;
    result.cpuPctPerNode = cluster.nodes.map((n, i) => {
      const a = cpu0[i];
      const b = cpuSeconds(n.pid);
      return a === null || a === undefined || b === null ? NaN : Number((((b - a) / wallS) * 100).toFixed(1));
    });
    result.flipVisibleMs = summarize(visible);
    result.readLatencyMs = summarize(reads);
    result.readOkShare = share(readsOk, readsTotal);
    // kill -9 one agent (the last), then flip an origin and time it until every survivor reports it.
    const victim = cluster.nodes[cluster.nodes.length - 1]!;
    try {
      process.kill(victim.pid, "SIGKILL");
      const survivors = cluster.nodes.slice(0, -1);
      const id = ids[ids.length - 1];
      if (id !== undefined) {
        const ms = await flip(cluster, survivors, fleetOrigins.get(id)!, id, "failing", { ...o, flipTimeoutMs: o.flipTimeoutMs * 2 }, onRead);
        result.crash = { node: victim.id, flipVisibleAfterCrashMs: ms === null ? null : Number(ms.toFixed(1)) };
      }
    } catch (e) {
      result.crash = { node: victim.id, flipVisibleAfterCrashMs: null };
      o.log(`    crash step failed: ${(e as Error).message}`);
    }
  } catch (e) {
    result.error = `${(e as Error).message}${stderr ? ` (stderr: ${stderr.trim().split("\n").slice(-2).join(" / ")})` : ""}`;
    o.log(`    ${store}: ${result.error}`);
  } finally {
    await stopGroup(child);
  }
  return result;
}

function firstJsonLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`cluster up printed no JSON line within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split("\n")) {
        if (line.trim().startsWith("{") && line.includes('"nodes"')) {
          clearTimeout(timer);
          resolvePromise(line.trim());
          return;
        }
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`cluster up exited (${code}) before printing its JSON line`));
    });
  });
}

async function waitReady(cluster: ClusterLine, o: RealModeOptions): Promise<void> {
  const deadline = performance.now() + o.startTimeoutMs;
  for (;;) {
    const all = await Promise.all(cluster.nodes.map((n) => getJson(url(n.api, "/v1/origins"))));
    if (all.every((r) => r.ok && Array.isArray(r.body) && r.body.length >= o.origins)) return;
    if (performance.now() > deadline) throw new Error(`agents did not list ${o.origins} origins within ${o.startTimeoutMs} ms`);
    await sleep(250);
  }
}

/** Maps v2's origin ids to fleet indices, by URL (fleet origin i listens on base port + i). */
async function fleetIndexByOriginId(cluster: ClusterLine): Promise<Map<string, number>> {
  const fleet = await getJson(url(cluster.fleet.control, "/origins"));
  const agent = await getJson(url(cluster.nodes[0]!.api, "/v1/origins"));
  const byUrl = new Map<string, number>();
  const fo = (fleet.body as { origins?: Array<{ index: number; url: string; port: number }> })?.origins ?? [];
  for (const f of fo) byUrl.set(f.url, f.index);
  const out = new Map<string, number>();
  for (const a of Array.isArray(agent.body) ? (agent.body as Array<{ id: string; url?: string }>) : []) {
    const i = a.url !== undefined ? byUrl.get(a.url) : undefined;
    if (i !== undefined) out.set(a.id, i);
  }
  if (out.size === 0) throw new Error("could not match any v2 origin to a fleet origin by URL (GET /v1/origins items need `url`)");
  return out;
}

/** Sets fleet origin `index` to `mode` and measures until every node in `nodes` reports `id` accordingly. */
async function flip(cluster: ClusterLine, nodes: ClusterLine["nodes"], index: number, id: string, mode: "failing" | "healthy", o: RealModeOptions, onRead: (ok: boolean, ms: number) => void): Promise<number | null> {
  if (!(await putJson(url(cluster.fleet.control, `/origins/${index}`), { mode }))) throw new Error(`fleet control refused PUT /origins/${index}`);
  const t0 = performance.now();
  const seen = new Set<string>();
  while (performance.now() - t0 < o.flipTimeoutMs) {
    await Promise.all(
      nodes.map(async (n) => {
        if (seen.has(n.id)) return;
        const r = await getJson(url(n.api, "/v1/origins?status=unhealthy"));
        onRead(r.ok, r.ms);
        if (!r.ok || !Array.isArray(r.body)) return;
        const listed = (r.body as Array<{ id: string }>).some((x) => x.id === id);
        if (listed === (mode === "failing")) seen.add(n.id);
      }),
    );
    if (seen.size === nodes.length) return performance.now() - t0;
    await sleep(20);
  }
  return null;
}

/** SIGTERM to the cluster-up process group we started; SIGKILL if it lingers. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!done) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}
