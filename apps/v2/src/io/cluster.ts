/**
 * `heck cluster up`: a local cluster of separate agent processes plus a
 * heck-fleet of origins (and, for `--store etcd` without endpoints, a local
 * etcd), for the demo, the tests and the benchmark. Prints where everything
 * is once every agent is up and sees every other, stays in the foreground,
 * and stops everything cleanly on SIGINT/SIGTERM.
 *
 * Port layout from --base-port p, for n agents (agent i = 0..n-1):
 *   p+10i    SWIM (UDP+TCP)        p+10i+1  HTTP API + dashboard
 *   p+10i+2  crdt gossip           p+10i+3  raft peer   p+10i+4  raft gRPC
 * with s = n + 10 slots (room for agents added at runtime):
 *   p+10s    fleet control API     p+10s+1/2 etcd client/peer (when started here)
 *   p+10s+3+k                      control API of extra fleet k (k >= 1)
 *   p+10s+10 ... p+10s+9+m         the m origins (origin i = fleet index i)
 *
 * Origins are split over one heck-fleet process per 5,000: a process has
 * 20,000 file descriptors (a hard limit here), one per listening origin and
 * one per client connection, and n checkers keep about one connection per
 * origin open; a single fleet of 10,000 would run out and start refusing.
 * Each process serves its origins from one worker per 1,000 (`heck-fleet
 * --workers`) and answers its control API from a process of its own: one
 * process serving 2,000 checks a second on a busy machine answered its
 * control API seconds late, and the soak reads its counters every 250 ms.
 *
 * With `netns`, each agent runs on a host of its own in a network lab
 * (`@heck/net`): agent ni binds its host's address (the same ports), and the
 * fleet and etcd listen on this namespace's address on the lab, which every
 * host reaches. The agents are then off loopback, so the cluster gives them
 * a random API token and gossip key (through the environment, not their
 * command lines) and reports the token.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { generateKey } from "@heck/sim/io";
import { labPlacement, loopbackPlacement, netnsFields, type NetLab, type Placement } from "@heck/net";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AgentClient } from "./client.ts";

/** Options of {@link clusterUp}. */
export interface ClusterOptions {
  nodes: number;
  origins: number;
  store: "crdt" | "raft" | "etcd";
  basePort: number;
  intervalMs: number;
  host: string;
  /** Where agents keep data and logs; a temp dir (removed at stop) when absent. */
  dataDir?: string;
  /**
   * With a temp dir: keep the agents' logs (`<id>.log`) when stopping and
   * remove only their data, so a learner can still read what happened after
   * Ctrl-C. The CLI sets it; tests leave it off.
   */
  keepLogs?: boolean;
  etcdEndpoints?: string[];
  replicas: number;
  swimPreset: "lan" | "wan" | "local";
  /** Extra flags passed to every agent. */
  agentArgs?: string[];
  /** Raft members (first k agents); default min(3, nodes). */
  raftMembers?: number;
  /** Each agent on its own network-lab host (needs root); `host` is then the lab's address of this namespace. */
  netns?: boolean;
  /** How long one agent (or fleet) may take to start. Default 60 s; a busy machine starting many at once needs more. */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

/** One agent process of the cluster. */
export interface ClusterNode {
  id: string;
  pid: number;
  api: string;
  gossip: string;
  /** The lab namespace it runs in (`ip netns exec <netns> ...`), or null on loopback. */
  netns: string | null;
  /** Its host's address. */
  host: string;
  child: ChildProcess;
}

/** The `--json` contract line: nodes, the fleet, and the API token when the agents have one. */
export interface ClusterContract {
  nodes: { id: string; pid: number; api: string; netns: string | null; host: string }[];
  fleet: { pid: number; control: string };
  token?: string;
}

/** A running local cluster. */
export interface RunningCluster {
  nodes: ClusterNode[];
  /** The first (or only) fleet process: the contract's `fleet`. */
  fleet: { pid: number; control: string; child: ChildProcess; firstPort: number };
  /** Every fleet process, in origin order: fleet k serves origins [firstIndex, firstIndex + count). */
  fleets: { pid: number; control: string; child: ChildProcess; firstPort: number; firstIndex: number; count: number }[];
  etcd?: { pid: number; endpoint: string; child: ChildProcess };
  dataDir: string;
  /** The network lab the agents run in (`netns`), for kernel faults between them; null on loopback. */
  lab: NetLab | null;
  /** The agents' API token ("" on loopback, where none is needed). */
  token: string;
  /** The exact contract line of `--json`. */
  contract(): ClusterContract;
  /** Starts one more agent (joining the cluster) with the next free slot; resolves when it is up. */
  addNode(): Promise<ClusterNode>;
  /** Starts agent `id` again after it exited (kill -9), on its ports and data dir, joining the others; resolves when it is up. */
  restartNode(id: string): Promise<ClusterNode>;
  /**
   * Stops everything (agents gracefully, then the fleet and etcd) and removes
   * the temp dir, or with `keepLogs` everything in it but the agents' logs.
   */
  stop(): Promise<void>;
}

const HECK_BIN = fileURLToPath(new URL("../../bin/heck.js", import.meta.url));

function fleetBin(): string {
  // The package's entry is src/index.ts; its bin shim sits in ../bin.
  const entry = fileURLToPath(import.meta.resolve("@heck/fleet"));
  return join(entry, "..", "..", "bin", "heck-fleet.js");
}

/** Reads the first line of a child's stdout as JSON (rejects if the child exits first or after `timeoutMs`). */
function firstJsonLine(child: ChildProcess, what: string, timeoutMs: number, stderrTail: () => string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => done(new Error(`${what}: not up within ${timeoutMs} ms; ${stderrTail()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      try {
        done(undefined, JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch {
        done(new Error(`${what}: unexpected output ${JSON.stringify(buf.slice(0, nl))}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) => done(new Error(`${what} exited (${code ?? signal}) before it was up; ${stderrTail()}`));
    function done(err?: Error, v?: Record<string, unknown>) {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve(v!);
    }
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
}

function tail(): { push: (c: Buffer) => void; get: () => string } {
  let s = "";
  return { push: (c) => (s = (s + c.toString()).slice(-2000)), get: () => (s.trim() === "" ? "no stderr" : `stderr: ${s.trim()}`) };
}

/** Sends `signal` and waits up to `ms` for the exit, then SIGKILLs. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
    } catch {
      // gone
    }
  }, ms);
  await exited;
  clearTimeout(timer);
}

/** Starts the cluster; see the file comment for the port layout. */
export async function clusterUp(o: ClusterOptions): Promise<RunningCluster> {
  const log = o.log ?? (() => undefined);
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), "heck-cluster-"));
  mkdirSync(dataDir, { recursive: true });
  const p = o.basePort;
  const slots = Math.max(o.nodes, 1) + 10; // room for nodes added at runtime
  const shared = p + 10 * slots;
  const originBase = shared + 10;
  if (originBase + o.origins > 65535) throw new RangeError(`--base-port ${p}: ${o.nodes} agents and ${o.origins} origins run past port 65535`);
  const initialIds = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const placement: Placement = o.netns ? await labPlacement(initialIds, { log }) : loopbackPlacement(o.host);
  // Shared services (fleet, etcd) listen here; with a lab, on this namespace's address on the lab's bridge.
  const h = placement.rootAddress;
  // Off loopback the agents refuse to start without a token and a gossip key (see config.ts): make them.
  const token = o.netns ? randomBytes(24).toString("base64url") : "";
  const agentEnv = o.netns ? { ...process.env, HECK_TOKEN: token, HECK_GOSSIP_KEY: generateKey() } : process.env;
  const children: ChildProcess[] = [];
  const nodes: ClusterNode[] = [];
  let etcd: RunningCluster["etcd"];
  let stopping: Promise<void> | undefined;

  const stop = () =>
    (stopping ??= (async () => {
      // Agents first (SIGTERM = graceful leave, bounded), then what they depend on.
      await Promise.all(nodes.map((n) => stopChild(n.child, "SIGTERM", 3 * o.intervalMs + 5_000)));
      await Promise.all(fleets.map((f) => stopChild(f.child, "SIGTERM", 5_000)));
      if (etcd !== undefined) await stopChild(etcd.child, "SIGTERM", 5_000);
      for (const c of children) await stopChild(c, "SIGKILL", 1_000);
      await placement.close();
      if (ownDir && o.keepLogs === true) {
        for (const entry of readdirSync(dataDir)) if (!entry.endsWith(".log")) rmSync(join(dataDir, entry), { recursive: true, force: true });
      } else if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    })());

  // 1. The fleet(s) of origins.
  const FLEET_SIZE = 5_000;
  const FLEET_ORIGINS_PER_WORKER = 1_000;
  const fleets: RunningCluster["fleets"] = [];
  const fleetCount = Math.max(1, Math.ceil(o.origins / FLEET_SIZE));
  try {
    await Promise.all(
      Array.from({ length: fleetCount }, async (_, k) => {
        const firstIndex = k * FLEET_SIZE;
        const count = Math.max(1, Math.min(FLEET_SIZE, o.origins - firstIndex));
        const control = `${h}:${k === 0 ? shared : shared + 3 + k}`;
        const t = tail();
        const workers = Math.ceil(count / FLEET_ORIGINS_PER_WORKER);
        const child = spawn(process.execPath, [fleetBin(), "--count", String(count), "--base-port", String(originBase + firstIndex), "--host", h, "--control", control, "--workers", String(workers), "--json"], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        children.push(child);
        child.stderr!.on("data", t.push);
        const line = await firstJsonLine(child, "heck-fleet", o.startTimeoutMs ?? 60_000, t.get);
        fleets[k] = { pid: child.pid!, control, child, firstPort: Number(line.firstPort ?? originBase + firstIndex), firstIndex, count };
      }),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  const fleet = fleets[0]!;
  const workerCount = fleets.reduce((n, f) => n + Math.ceil(f.count / FLEET_ORIGINS_PER_WORKER), 0);
  const workersSaid = workerCount > fleets.length ? ` serving from ${workerCount} workers` : "";
  log(`fleet: ${o.origins} origins on ${h}:${fleet.firstPort}.. (${fleets.length} process${fleets.length > 1 ? "es" : ""}${workersSaid}), control http://${fleet.control}`);

  // 2. A local etcd for --store etcd without endpoints.
  let etcdEndpoints = o.etcdEndpoints ?? [];
  if (o.store === "etcd" && etcdEndpoints.length === 0) {
    if (!existsSync("/usr/bin/etcd")) {
      await stop();
      throw new Error("--store etcd: give --etcd-endpoints, or install etcd-server so a local etcd can be started");
    }
    const client = `http://${h}:${shared + 1}`;
    const peer = `http://${h}:${shared + 2}`;
    const child = spawn(
      "/usr/bin/etcd",
      ["--name", "etcd0", "--data-dir", join(dataDir, "etcd"), "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `etcd0=${peer}`, "--logger", "zap", "--log-level", "error"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    children.push(child);
    const t = tail();
    child.stderr!.on("data", t.push);
    etcd = { pid: child.pid!, endpoint: `${h}:${shared + 1}`, child };
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        if ((await fetch(`${client}/health`, { signal: AbortSignal.timeout(1_000) })).ok) break;
      } catch {
        // not yet
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`local etcd did not start: ${t.get()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    etcdEndpoints = [etcd.endpoint];
    log(`etcd: ${etcd.endpoint} (pid ${etcd.pid})`);
  }

  // 3. Agents. Raft members (the first k) start together: none can serve before a quorum exists.
  const raftMembers = o.store === "raft" ? Math.min(o.raftMembers ?? 3, o.nodes) : 0;
  const raftPeers = Array.from({ length: raftMembers }, (_, i) => `n${i + 1}=${placement.addressOf(`n${i + 1}`)}:${p + 10 * i + 3}`).join(",");
  const raftEndpoints = Array.from({ length: raftMembers }, (_, i) => `${placement.addressOf(`n${i + 1}`)}:${p + 10 * i + 4}`).join(",");
  let nextIndex = 0;
  const startAgent = async (i: number, seeds: string[]): Promise<ClusterNode> => {
    const id = `n${i + 1}`;
    await placement.add(id);
    const ha = placement.addressOf(id);
    const b = p + 10 * i;
    const args = [
      HECK_BIN, "agent", "--json",
      "--id", id, "--bind", `${ha}:${b}`, "--api", `${ha}:${b + 1}`, "--crdt-port", String(b + 2),
      "--store", o.store, "--data-dir", join(dataDir, id),
      "--interval-ms", String(o.intervalMs), "--replicas", String(o.replicas), "--swim-preset", o.swimPreset,
      ...(seeds.length > 0 ? ["--join", seeds.join(",")] : []),
      ...(o.store === "raft" ? (i < raftMembers ? ["--raft-peers", raftPeers, "--raft-grpc", `${ha}:${b + 4}`] : ["--raft-endpoints", raftEndpoints]) : []),
      ...(o.store === "etcd" ? ["--etcd-endpoints", etcdEndpoints.join(",")] : []),
      ...(o.agentArgs ?? []),
    ];
    const logFile = createWriteStream(join(dataDir, `${id}.log`), { flags: "a" });
    const child = placement.spawn(id, process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: agentEnv });
    children.push(child);
    const t = tail();
    child.stderr!.on("data", (c: Buffer) => {
      t.push(c);
      logFile.write(c);
    });
    child.once("exit", () => logFile.end());
    const line = await firstJsonLine(child, `agent ${id}`, o.startTimeoutMs ?? 60_000, t.get);
    return { id, pid: child.pid!, api: String(line.api), gossip: String(line.gossip), ...netnsFields(placement, id), child };
  };
  try {
    const seed = [`${placement.addressOf("n1")}:${p}`];
    if (o.store === "raft") {
      const first = await Promise.all(Array.from({ length: raftMembers }, (_, i) => startAgent(i, i === 0 ? [] : seed)));
      nodes.push(...first);
      nextIndex = raftMembers;
    } else {
      nodes.push(await startAgent(0, []));
      nextIndex = 1;
    }
    const rest = await Promise.all(Array.from({ length: o.nodes - nextIndex }, (_, k) => startAgent(nextIndex + k, seed)));
    nodes.push(...rest);
    nextIndex = o.nodes;
    nodes.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
    // "Up" means every agent sees every other alive.
    await waitForMembers(nodes, token, Math.max(30_000, o.startTimeoutMs ?? 0));
    // The origin list, added once through the first agent; it replicates to all.
    log(`agents up`);
    if (o.origins > 0) {
      const client = new AgentClient(nodes[0]!.api, token, 120_000);
      const list = Array.from({ length: o.origins }, (_, i) => ({ id: `o${i}`, url: `http://${h}:${originBase + i}/health` }));
      // A store write can time out on a busy machine (raft-kv gives a proposal 5 s) with its outcome
      // unknown: post again only what the agent does not list yet, a few times.
      for (let attempt = 1; ; attempt++) {
        const listed = attempt === 1 ? new Set<string>() : new Set(((await client.call("GET", "/v1/origins")) as Array<{ id: string }>).map((x) => x.id));
        const missing = list.filter((x) => !listed.has(x.id));
        if (missing.length === 0) break;
        try {
          for (let i = 0; i < missing.length; i += 2000) await client.call("POST", "/v1/origins", missing.slice(i, i + 2000));
          break;
        } catch (e) {
          if (attempt >= 5) throw e;
          log(`posting origins failed (${(e as Error).message}); posting the ones not listed yet again`);
        }
      }
      // Scaled with the list: every origin is one replicated write (and, for crdt, one fsync per node).
      log(`origins posted`);
      const postedAt = Date.now();
      await waitForOrigins(nodes, token, o.origins, ORIGIN_LIST_STALL_MS);
      log(`origin list on every agent ${Date.now() - postedAt} ms after it was posted`);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  const running: RunningCluster = {
    nodes,
    fleet,
    fleets,
    ...(etcd ? { etcd } : {}),
    dataDir,
    lab: placement.lab,
    token,
    contract: () => ({
      nodes: nodes.map((n) => ({ id: n.id, pid: n.pid, api: n.api, netns: n.netns, host: n.host })),
      fleet: { pid: fleet.pid, control: fleet.control },
      ...(token !== "" ? { token } : {}),
    }),
    addNode: async () => {
      const i = nextIndex++;
      if (i >= slots) throw new RangeError("addNode: no free port slot left");
      const alive = nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
      const node = await startAgent(i, alive.slice(0, 3).map((n) => n.gossip));
      nodes.push(node);
      return node;
    },
    restartNode: async (id) => {
      const k = nodes.findIndex((n) => n.id === id);
      if (k < 0) throw new RangeError(`restartNode: no agent ${id}`);
      const old = nodes[k]!;
      if (old.child.exitCode === null && old.child.signalCode === null) throw new Error(`restartNode: ${id} is still running (pid ${old.pid})`);
      const seeds = nodes.filter((n) => n !== old && n.child.exitCode === null && n.child.signalCode === null).slice(0, 3).map((n) => n.gossip);
      const node = await startAgent(Number(id.slice(1)) - 1, seeds);
      nodes[k] = node;
      return node;
    },
    stop,
  };
  return running;
}

/**
 * What to tell a learner whose machine is already busy before the cluster
 * starts (one-minute load average at least 4 per core), or undefined: every
 * agent and the fleet will then wait for CPU, checks answer late and time
 * out, and healthy origins show red, which reads like a bug unless said.
 * The hint keeps the same nodes and store with a fifth of the origins.
 */
export function busyMachineNote(load1: number, cores: number, o: { nodes: number; origins: number; store: string }): string | undefined {
  if (!(cores > 0) || load1 / cores < 4) return undefined;
  const fewer = Math.max(50, Math.round(o.origins / 5 / 10) * 10);
  const hint = o.origins > fewer ? `; a smaller fleet asks less of it: pnpm heck cluster up --nodes ${o.nodes} --origins ${fewer} --store ${o.store}` : "";
  return `this machine is busy (load average ${load1.toFixed(1)} on ${cores} cores): the agents and the fleet will wait for CPU, so checks may time out and healthy origins show red${hint}`;
}

/**
 * What `heck cluster up` prints once the cluster is up: where everything
 * is, and steps that break something with an effect the learner can see,
 * each saying what to expect. The steps touch different agents, in an
 * order where none undoes another: an origin fails and recovers; the last
 * agent is cut off from all the others and healed (a cut between two agents
 * that both still hear a third changes nothing visible: SWIM's indirect
 * probes route around it, §4.3); then a different agent is killed. On a
 * network lab the cut is made in the kernel (heck-net), and off loopback
 * every command carries the API token.
 * Timings follow v1's default rise 2 / fall 3 and the `local` SWIM preset
 * (1 s probes, suspicion 3-18 s under Lifeguard, reconnect every 15 s).
 */
export function clusterBanner(c: RunningCluster, o: { store: string; origins: number; intervalMs: number }): string {
  const nodes = c.nodes;
  const n1 = nodes[0]!;
  const lab = c.lab;
  const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  // Off loopback the API wants the token: every hint carries it.
  const auth = c.token ? ` -H "authorization: Bearer $HECK_TOKEN"` : "";
  const faults = (node: ClusterNode, body: string) => `curl -X POST http://${node.api}/v1/admin/faults -H 'content-type: application/json'${auth} -d '${body}'`;
  const lines = [
    `heck cluster: ${nodes.length} agents (store ${o.store}) checking ${o.origins} origins every ${o.intervalMs} ms${lab ? `, each on its own host (${lab.name})` : ""}`,
    ``,
    `  dashboard   http://${n1.api}/${c.token ? `?token=${c.token}` : ""}      (every agent serves one; its legend says how to read it)`,
    ...nodes.map((n) => `  agent ${n.id.padEnd(4)}  http://${n.api}  pid ${n.pid}${n.netns ? `  netns ${n.netns}` : ""}`),
    `  fleet       http://${c.fleet.control}  pid ${c.fleet.pid}`,
    `  logs        ${c.dataDir}/<id>.log   (kept after Ctrl-C)`,
    ...(c.token ? [``, `The agents are off loopback, so their API wants a token:`, `  export HECK_TOKEN=${c.token}`] : []),
    ``,
    `Break things and watch the dashboard:`,
  ];
  if (o.origins > 0) {
    const i = Math.min(3, o.origins - 1);
    const other = nodes[1] ?? n1;
    lines.push(
      `  1. An origin fails: o${i} turns red in every column within about ${secs(3 * o.intervalMs + 1000)} (3 failed checks in a row); any agent answers.`,
      `     curl -X PUT http://${c.fleet.control}/origins/${i} -d '{"mode":"failing"}'`,
      `     pnpm heck origins ls --api ${other.api} --status unhealthy`,
      `     curl -X PUT http://${c.fleet.control}/origins/${i} -d '{"mode":"healthy"}'    # back to green after 2 good checks`,
    );
  }
  if (nodes.length >= 2) {
    const cut = nodes[nodes.length - 1]!;
    const others = nodes.filter((n) => n !== cut).map((n) => n.id);
    lines.push(
      `  2. A partition cuts ${cut.id} off: the others mark it dead within about 10 s and take its origins, ${cut.id} marks them dead`,
      `     within about 25 s and checks every origin; both sides answer, and the dashboard shows ${cut.id} "cut off", not crashed.`,
      ...(lab
        ? [`     pnpm heck-net partition ${cut.id} ${others.join(",")}`, `     pnpm heck-net heal    # heal: one view again within about 20 s`, `     pnpm heck-net loss 20%    # then lose 20% of packets between agents (pnpm heck-net heal ends it)`]
        : [`     ${faults(cut, `{"block":[${others.map((id) => `"${id}"`).join(",")}]}`)}`, `     ${faults(cut, '{"unblock":"all"}')}    # heal: one view again within about 20 s`]),
    );
  }
  if (nodes.length >= 2) {
    const victim = nodes[1]!;
    lines.push(
      `  3. A crash: ${victim.id} turns suspect, then dead, within about 10 s; only its origins move, each to its second-ranked agent.`,
      `     kill -9 ${victim.pid}`,
    );
  }
  lines.push(``, `Ctrl-C stops everything.`, ``);
  return lines.join("\n");
}

async function waitForMembers(nodes: ClusterNode[], token: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(
      nodes.map(async (n) => {
        try {
          const ms = await new AgentClient(n.api, token, 2_000).get<{ state: string }[]>("/v1/members");
          return ms.filter((m) => m.state === "alive").length;
        } catch {
          return 0;
        }
      }),
    );
    if (counts.every((c) => c === nodes.length)) return;
    if (Date.now() > end) throw new Error(`agents did not all see each other within ${timeoutMs} ms (alive counts ${counts.join(",")})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * How long the origin list may stop spreading before start-up gives up. It
 * bounds a stall, not the whole spread: on a machine short of CPU a large
 * list reaches the last agent long after it was posted, and that is slow,
 * not stuck.
 */
const ORIGIN_LIST_STALL_MS = 60_000;

/**
 * Waits until every agent has listed all `count` origins. While the cluster
 * starts nothing removes an origin, so an agent that once listed them all
 * has them, even when a later poll of it (busy, or short of CPU) goes
 * unanswered; agents that have them all are not asked again. Fails when no
 * agent's list grew for `stallMs`, naming what each agent last listed.
 */
async function waitForOrigins(nodes: ClusterNode[], token: string, count: number, stallMs: number): Promise<void> {
  const listed: (number | null)[] = nodes.map(() => null);
  let grewAt = Date.now();
  for (;;) {
    const counts = await Promise.all(
      nodes.map(async (n, i) => {
        if (listed[i] === count) return count;
        try {
          return (await new AgentClient(n.api, token, 5_000).get<{ origins: number }>("/healthz")).origins;
        } catch {
          // No answer in time is not an empty list: the message below keeps them apart.
          return null;
        }
      }),
    );
    counts.forEach((c, i) => {
      if (c !== null && c > (listed[i] ?? -1)) {
        listed[i] = c;
        grewAt = Date.now();
      }
    });
    if (listed.every((c) => c === count)) return;
    if (Date.now() - grewAt > stallMs) {
      const said = nodes.map((n, i) => `${n.id}: ${listed[i] === null ? "never answered within 5 s" : listed[i]}`).join(", ");
      throw new Error(`the origin list did not reach every agent: no agent's list grew for ${stallMs} ms (${said}; of ${count})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
