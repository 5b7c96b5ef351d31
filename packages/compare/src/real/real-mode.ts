/**
 * Real-process mode: the numbers a user sees. For each store it starts a
 * local v2 cluster through `heck cluster up`'s interface contract,
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
 * The comparison does not depend on apps/v2 (apps/v2 depends on it, to
 * offer `heck compare`), so the caller says how to start `heck`: the
 * `heck` option, an argv prefix such as `[node, <apps/v2>/bin/heck.js]`.
 * When there is none, or it does not offer `heck cluster up`, the result
 * says so (available: false, reason) and the report prints the reason.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { median, summarize, share } from "../analysis/stats.ts";
import type { FlipFigures, RealResults, RealSide, RealStoreResult } from "../types.ts";

/** Settings of real mode. */
export interface RealModeOptions {
  quick: boolean;
  stores: Array<"crdt" | "raft" | "etcd">;
  log: (line: string) => void;
  /** argv prefix that runs the heck CLI, e.g. `[process.execPath, "<apps/v2>/bin/heck.js"]`; required for real mode. */
  heck: string[];
  /** Working directory of the heck processes (default: the current one). */
  cwd?: string;
  nodes: number;
  origins: number;
  intervalMs: number;
  /** Lowest port to use; each store gets the next free block above it (a benchmark's range, 20000-31999). */
  basePort: number;
  /** Flips measured in the steady phase (each to failing and back); the loss and partition phases do half. */
  flips: number;
  /** Bound on `cluster up` printing its line. */
  startTimeoutMs: number;
  /** Bound on one flip becoming visible everywhere. */
  flipTimeoutMs: number;
}

function defaults(quick: boolean): Omit<RealModeOptions, "quick" | "stores" | "log" | "heck"> {
  return {
    nodes: quick ? 3 : 5,
    origins: quick ? 30 : 200,
    intervalMs: 1_000,
    // A benchmark's range (20000-31999): real mode is a benchmark and must not collide with v2's tests.
    // The first free block from here up is used (another benchmark may hold the lower ports).
    basePort: 24_000,
    flips: quick ? 2 : 8,
    startTimeoutMs: 90_000,
    flipTimeoutMs: 20_000,
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

async function postJson(u: string, body: unknown): Promise<boolean> {
  return putJson(u, body, "POST");
}

async function putJson(u: string, body: unknown, method = "PUT"): Promise<boolean> {
  try {
    const res = await fetch(u, { method, body: JSON.stringify(body), headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(2_000) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

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
export function probeClusterUp(heck: readonly string[], cwd?: string): string | null {
  if (heck.length === 0) return "no heck CLI to start the agents with (real mode needs the `heck` option: the argv that runs `heck`)";
  if (!existsSync(heck[1] ?? "")) return `the heck CLI is missing (${heck[1]})`;
  const r = spawnSync(heck[0]!, [...heck.slice(1), "cluster", "up", "--help"], { encoding: "utf8", timeout: 30_000, ...(cwd !== undefined ? { cwd } : {}) });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0 || !out.includes("--base-port")) {
    return "apps/v2 does not offer `heck cluster up --nodes --origins --store --base-port --interval-ms --json` (its interface contract); `heck cluster up --help` " + (r.status === 0 ? "lacks --base-port" : `exited ${r.status ?? "by a signal"}: ${out.trim().split("\n").slice(-1)[0] ?? ""}`);
  }
  return null;
}

/** Runs real mode for every store; never throws (errors are reported per store). */
export async function runRealMode(partial: Partial<RealModeOptions> & Pick<RealModeOptions, "quick" | "stores" | "log">): Promise<RealResults> {
  const o: RealModeOptions = { heck: [], ...defaults(partial.quick), ...partial };
  const missing = probeClusterUp(o.heck, o.cwd);
  if (missing !== null) return { available: false, reason: missing, stores: [], machine: null };
  const stores: RealStoreResult[] = [];
  // cluster up's layout: 10 ports per agent slot (n + 10 slots), then the fleet control, etcd, and the origins.
  const span = 10 * (o.nodes + 10) + 10 + o.origins + 10;
  let from = o.basePort;
  for (const store of o.stores) {
    const base = await findFreeRange(from, span, 31_999);
    if (base === null) {
      stores.push({ ...emptyResult(store, o), error: `no free block of ${span} loopback ports between ${from} and 31999` });
      continue;
    }
    o.log(`  ${store}: ${o.nodes} agents, ${o.origins} origins, ports ${base}-${base + span - 1}`);
    stores.push(await runOneStore(store, { ...o, basePort: base }));
    from = base + span;
    if (from + span > 31_999) from = o.basePort;
  }
  return { available: true, reason: null, stores, machine: null };
}

/** Whether a TCP and a UDP socket can bind `port` on 127.0.0.1 right now. */
async function portFree(port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolvePort) => {
    const srv = createServer();
    srv.once("error", () => resolvePort(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolvePort(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((resolvePort) => {
    const sock = createSocket("udp4");
    sock.once("error", () => {
      sock.close();
      resolvePort(false);
    });
    sock.bind(port, "127.0.0.1", () => sock.close(() => resolvePort(true)));
  });
}

/** The first base >= `from` (in steps of 500) whose `span` ports are all free, below `limit`. */
export async function findFreeRange(from: number, span: number, limit: number): Promise<number | null> {
  for (let base = from; base + span <= limit; base += 500) {
    let ok = true;
    for (let p = base; p < base + span && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  return null;
}

/** Reads made while measuring: latency and success, for the whole run. */
class ReadLog {
  latencies: number[] = [];
  ok = 0;
  total = 0;
  add(ok: boolean, ms: number): void {
    this.total++;
    if (ok) {
      this.ok++;
      this.latencies.push(ms);
    }
  }
}

function emptyResult(store: RealStoreResult["store"], o: RealModeOptions): RealStoreResult {
  return {
    store,
    nodes: o.nodes,
    origins: o.origins,
    intervalMs: o.intervalMs,
    steady: { flips: 0, visibleMs: summarize([]), spreadMs: summarize([]), notSeen: 0 },
    readLatencyMs: summarize([]),
    readOkShare: null,
    cpuPctPerNode: [],
    loss: null,
    partition: null,
    crash: null,
    error: null,
  };
}

async function runOneStore(store: RealStoreResult["store"], o: RealModeOptions): Promise<RealStoreResult> {
  const result = emptyResult(store, o);
  const args = [...o.heck.slice(1), "cluster", "up", "--nodes", String(o.nodes), "--origins", String(o.origins), "--store", store, "--base-port", String(o.basePort), "--interval-ms", String(o.intervalMs), "--json"];
  const child = spawn(o.heck[0]!, args, { ...(o.cwd !== undefined ? { cwd: o.cwd } : {}), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4_000);
  });
  const reads = new ReadLog();
  const tStart = performance.now();
  const since = (): string => `${((performance.now() - tStart) / 1000).toFixed(1)} s`;
  try {
    const cluster = parseClusterLine(await firstJsonLine(child, o.startTimeoutMs));
    await waitReady(cluster, o);
    o.log(`    up and ready after ${since()}`);
    const fleet = await fleetIndexByOriginId(cluster);
    const ids = [...fleet.keys()].sort((a, b) => Number(a.replace(/\D/g, "")) - Number(b.replace(/\D/g, "")));
    const pick = (k: number): string => ids[(k * 7_919 + 11) % ids.length]!;
    let k = 0;

    // 1. Steady state, with CPU measured over it.
    const cpu0 = cluster.nodes.map((n) => cpuSeconds(n.pid));
    const wall0 = performance.now();
    result.steady = await flipPhase(cluster, fleet, () => pick(k++), o.flips, o, reads);
    const wallS = (performance.now() - wall0) / 1000;
    result.cpuPctPerNode = cluster.nodes.map((n, i) => {
      const a = cpu0[i];
      const b = cpuSeconds(n.pid);
      return a === null || a === undefined || b === null ? NaN : Number((((b - a) / wallS) * 100).toFixed(1));
    });
    o.log(`    steady: flip visible p50 ${result.steady.visibleMs.p50} ms, p99 ${result.steady.visibleMs.p99} ms (${since()})`);

    // 2. Message loss through every agent's fault layer (not in the quick version).
    if (!o.quick) {
      const dropRate = 0.1;
      await Promise.all(cluster.nodes.map((n) => postJson(url(n.api, "/v1/admin/faults"), { dropRate })));
      result.loss = { dropRate, ...(await flipPhase(cluster, fleet, () => pick(k++), Math.max(1, Math.ceil(o.flips / 2)), o, reads)) };
      await Promise.all(cluster.nodes.map((n) => postJson(url(n.api, "/v1/admin/faults"), { dropRate: 0 })));
      o.log(`    loss ${dropRate}: flip visible p50 ${result.loss.visibleMs.p50} ms (${since()})`);
    }

    // 3. Partition: the first agent and the last floor((n-1)/2) - 1 others against the rest.
    // n1 is a raft member in --store raft (the first agents are), so the raft group loses one member.
    const ids2 = cluster.nodes.map((n) => n.id);
    const minority = [ids2[0]!, ...ids2.slice(ids2.length - Math.max(0, Math.floor((ids2.length - 1) / 2) - 1))];
    const majority = ids2.filter((id) => !minority.includes(id));
    const side = (id: string) => (minority.includes(id) ? majority : minority);
    await Promise.all(cluster.nodes.map((n) => postJson(url(n.api, "/v1/admin/faults"), { block: side(n.id) })));
    // Let failure detection split the views before flipping (each side then owns every origin).
    const split = await until(async () => {
      const views = await Promise.all(cluster.nodes.map((n) => getJson(url(n.api, "/v1/ownership"))));
      return views.every((v, i) => {
        const members = (v.body as { members?: string[] })?.members ?? [];
        return members.every((m) => !side(cluster.nodes[i]!.id).includes(m));
      });
    }, 30_000);
    o.log(`    partition ${minority.join(",")} | ${majority.join(",")}: ${split ? "views split" : "views did not split within 30 s"}`);
    const perNode = new Map<string, number[]>();
    const missed = new Map<string, number>();
    for (let f = 0; f < Math.max(1, Math.ceil(o.flips / 2)); f++) {
      const id = pick(k++);
      for (const mode of ["failing", "healthy"] as const) {
        const seen = await flip(cluster, cluster.nodes, fleet.get(id)!, id, mode, { ...o, flipTimeoutMs: Math.min(o.flipTimeoutMs, 8_000) }, reads);
        for (const n of cluster.nodes) {
          const t = seen.get(n.id);
          if (t === undefined) missed.set(n.id, (missed.get(n.id) ?? 0) + 1);
          else (perNode.get(n.id) ?? perNode.set(n.id, []).get(n.id)!).push(t);
        }
      }
    }
    const sideFigures = (nodes: string[]): RealSide => {
      const times = nodes.flatMap((id) => perNode.get(id) ?? []);
      const miss = nodes.reduce((a, id) => a + (missed.get(id) ?? 0), 0);
      return { nodes, sawShare: share(times.length, times.length + miss), visibleMs: summarize(times) };
    };
    const t0 = performance.now();
    await Promise.all(cluster.nodes.map((n) => postJson(url(n.api, "/v1/admin/faults"), { unblock: "all" })));
    const agree = await untilAgree(cluster, o.flipTimeoutMs * 2, reads);
    result.partition = { cut: `${minority.join(",")} | ${majority.join(",")}`, sides: { minority: sideFigures(minority), majority: sideFigures(majority) }, healAgreeMs: agree ? Number((performance.now() - t0).toFixed(1)) : null };
    o.log(`    partition ${result.partition.cut}: minority saw ${result.partition.sides.minority!.sawShare}, majority saw ${result.partition.sides.majority!.sawShare}; agree after heal ${result.partition.healAgreeMs} ms (${since()})`);

    // 4. kill -9 the first agent (a raft member with --store raft), then flip up to three origins it owned, at once.
    // First wait until every view holds every member again, so the ownership read below is the whole cluster's.
    const rejoined = await until(async () => {
      const views = await Promise.all(cluster.nodes.map((n) => getJson(url(n.api, "/v1/ownership"))));
      return views.every((v) => ((v.body as { members?: string[] })?.members ?? []).length === cluster.nodes.length);
    }, 60_000);
    if (!rejoined) o.log("    views did not hold every member again within 60 s");
    const victim = cluster.nodes[0]!;
    const owned = (await ownedBy(cluster.nodes[1]!, victim.id)).filter((id) => fleet.has(id)).slice(0, 3);
    process.kill(victim.pid, "SIGKILL");
    const survivors = cluster.nodes.slice(1);
    const targets = owned.length > 0 ? owned : [pick(k++)];
    const seen = await Promise.all(targets.map((id) => flip(cluster, survivors, fleet.get(id)!, id, "failing", { ...o, flipTimeoutMs: o.flipTimeoutMs * 2 }, reads)));
    const times = seen.filter((m) => survivors.every((n) => m.has(n.id))).map((m) => Math.max(...m.values()));
    result.crash = { node: victim.id, flips: targets.length, visibleMs: times.length === 0 ? null : Number(median(times).toFixed(1)), notSeen: targets.length - times.length };
    o.log(`    kill -9 ${victim.id}: ${targets.length} of its origins flipped; visible on every survivor after ${result.crash.visibleMs} ms (median; ${since()})`);
  } catch (e) {
    result.error = `${(e as Error).message}${stderr ? ` (stderr: ${stderr.trim().split("\n").slice(-2).join(" / ")})` : ""}`;
    o.log(`    ${store}: ${result.error}`);
  } finally {
    result.readLatencyMs = summarize(reads.latencies);
    result.readOkShare = share(reads.ok, reads.total);
    await stopGroup(child);
    o.log(`    stopped after ${since()}`);
  }
  return result;
}

/** `count` flips, each to failing and back: per flip and direction, until the last node reports it. */
async function flipPhase(cluster: ClusterLine, fleet: Map<string, number>, next: () => string, count: number, o: RealModeOptions, reads: ReadLog): Promise<FlipFigures> {
  const visible: number[] = [];
  const spread: number[] = [];
  let notSeen = 0;
  let flips = 0;
  for (let i = 0; i < count; i++) {
    const id = next();
    for (const mode of ["failing", "healthy"] as const) {
      const seen = await flip(cluster, cluster.nodes, fleet.get(id)!, id, mode, o, reads);
      flips++;
      if (seen.size === cluster.nodes.length) {
        visible.push(Math.max(...seen.values()));
        spread.push(Math.max(...seen.values()) - Math.min(...seen.values()));
      } else notSeen++;
    }
  }
  return { flips, visibleMs: summarize(visible), spreadMs: summarize(spread), notSeen };
}

/** Origins the given node's ownership table assigns to `owner`. */
async function ownedBy(node: ClusterLine["nodes"][number], owner: string): Promise<string[]> {
  const r = await getJson(url(node.api, "/v1/ownership"));
  const origins = (r.body as { origins?: Array<{ id: string; owners: string[] }> })?.origins ?? [];
  return origins.filter((x) => x.owners[0] === owner).map((x) => x.id);
}

/** Waits until every node lists the same status for every origin. */
async function untilAgree(cluster: ClusterLine, timeoutMs: number, reads: ReadLog): Promise<boolean> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const views = await Promise.all(cluster.nodes.map((n) => getJson(url(n.api, "/v1/origins"))));
    for (const v of views) reads.add(v.ok, v.ms);
    const key = (b: unknown) => (Array.isArray(b) ? (b as Array<{ id: string; status: string }>).map((x) => `${x.id}:${x.status}`).sort().join(",") : "");
    if (views.every((v) => v.ok) && views.every((v) => key(v.body) === key(views[0]!.body))) return true;
    await sleep(50);
  }
  return false;
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

/**
 * Sets fleet origin `index` to `mode` and polls `GET /v1/origins?status=unhealthy`
 * on every node in `nodes` until each reports `id` accordingly (or the bound
 * passes). Returns, per node that did, the ms it took.
 */
async function flip(cluster: ClusterLine, nodes: ClusterLine["nodes"], index: number, id: string, mode: "failing" | "healthy", o: RealModeOptions, reads: ReadLog): Promise<Map<string, number>> {
  if (!(await putJson(url(cluster.fleet.control, `/origins/${index}`), { mode }))) throw new Error(`fleet control refused PUT /origins/${index}`);
  const t0 = performance.now();
  const seen = new Map<string, number>();
  while (performance.now() - t0 < o.flipTimeoutMs && seen.size < nodes.length) {
    await Promise.all(
      nodes.map(async (n) => {
        if (seen.has(n.id)) return;
        const r = await getJson(url(n.api, "/v1/origins?status=unhealthy"));
        reads.add(r.ok, r.ms);
        if (!r.ok || !Array.isArray(r.body)) return;
        const listed = (r.body as Array<{ id: string }>).some((x) => x.id === id);
        if (listed === (mode === "failing")) seen.set(n.id, Number((performance.now() - t0).toFixed(1)));
      }),
    );
    if (seen.size < nodes.length) await sleep(20);
  }
  return seen;
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
