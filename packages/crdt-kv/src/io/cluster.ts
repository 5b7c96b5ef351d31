/**
 * `heck-crdt cluster up`: starts n node processes on loopback, each with its
 * own data directory, all peers of each other, and reports them as one JSON
 * line once every one answers. Ports: node i (0-based) serves HTTP on
 * base-port + i and gossips (UDP+TCP) on base-port + 100 + i.
 *
 * It also writes `<data-dir>/cluster.json`, which `heck-crdt partition` and
 * `heck-crdt heal` read to find every node's HTTP and gossip address.
 *
 * With `netns`, each node runs on a host of its own in a network lab
 * (`@heck/net`), on its host's address with the same ports; `heck-net`
 * then cuts and impairs the links between them in the kernel, and the
 * nodes' own fault endpoints keep working beside it.
 */
import type { ChildProcess } from "node:child_process";
import { labPlacement, loopbackPlacement, type NetLab } from "@heck/net";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { hostPortOf } from "@heck/sim/http";
import { call, nodeBase } from "./client.ts";

/** One node of a running cluster, as written to cluster.json. */
export interface ClusterNode {
  id: string;
  pid: number;
  /** HTTP API, `host:port` (older cluster.json files hold `http://host:port`; both are read). */
  http: string;
  gossip: string;
  /** The lab namespace it runs in, or null on loopback. */
  netns: string | null;
  /** Its host's address. */
  host: string;
  /** The command line that started it (to restart it by hand after killing it). */
  command?: string[];
}

/** Options for {@link clusterUp}. */
export interface ClusterOptions {
  nodes: number;
  basePort: number;
  dataDir: string;
  host?: string;
  syncIntervalMs?: number;
  fanout?: number;
  /** Extra arguments for every `node` process. */
  nodeArgs?: string[];
  /** How long to wait for every node to come up. Default 60 s. */
  startTimeoutMs?: number;
  /** Each node on its own network-lab host (needs root); `host` is then ignored. */
  netns?: boolean;
}

const BIN = fileURLToPath(new URL("../../bin/heck-crdt.js", import.meta.url));

/** The gossip port of node i. */
export function gossipPort(basePort: number, i: number): number {
  return basePort + 100 + i;
}

/** Reads `<dataDir>/cluster.json`; a missing or malformed file is an error naming the file. */
export function readCluster(dataDir: string): ClusterNode[] {
  const file = path.join(dataDir, "cluster.json");
  if (!fs.existsSync(file)) throw new Error(`${file} not found: start a cluster with "pnpm heck-crdt cluster up --data-dir ${dataDir}" first`);
  const nodes = parseClusterFile(fs.readFileSync(file, "utf8"));
  if (!nodes.ok) throw new Error(`${file}: ${nodes.error}; it is written by "pnpm heck-crdt cluster up"`);
  // Files written before addresses became host:port hold URLs: read both forms.
  return nodes.value.map((n) => ({ ...n, http: hostPortOf(n.http) ?? n.http }));
}

/** Validates cluster.json's text: `{ "nodes": [ { "id", "pid", "http", "gossip", "command"? } ] }`. */
export function parseClusterFile(text: string): { ok: true; value: ClusterNode[] } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not valid JSON (${(e as Error).message})` };
  }
  const nodes = (json as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(nodes)) return { ok: false, error: "nodes: expected an array" };
  for (const [i, n] of nodes.entries()) {
    const o = n as Record<string, unknown> | null;
    for (const field of ["id", "http", "gossip"]) if (typeof o?.[field] !== "string") return { ok: false, error: `nodes[${i}].${field}: expected a string` };
    if (typeof o?.pid !== "number") return { ok: false, error: `nodes[${i}].pid: expected a number` };
  }
  return { ok: true, value: nodes as ClusterNode[] };
}

/**
 * A node started by hand in a `cluster up` data directory (its own data dir
 * is `<cluster dir>/<id>`) records its new PID in cluster.json, so the file
 * does not keep the PID of the process it replaced. Does nothing outside
 * such a directory, or for a node the file does not list at these addresses.
 */
export function recordRestart(nodeDataDir: string, node: Pick<ClusterNode, "id" | "pid" | "http" | "gossip">): void {
  const file = path.join(path.dirname(path.resolve(nodeDataDir)), "cluster.json");
  if (!fs.existsSync(file)) return;
  const parsed = parseClusterFile(fs.readFileSync(file, "utf8"));
  if (!parsed.ok) return;
  const entry = parsed.value.find((n) => n.id === node.id && (hostPortOf(n.http) ?? n.http) === node.http && n.gossip === node.gossip);
  if (entry === undefined || entry.pid === node.pid) return;
  entry.pid = node.pid;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ nodes: parsed.value }, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

/** Starts the processes; resolves with them once all are up. Stops them all if any fails to start. */
export async function clusterUp(o: ClusterOptions): Promise<{ nodes: ClusterNode[]; children: ChildProcess[]; lab: NetLab | null; stop(): Promise<void> }> {
  fs.mkdirSync(o.dataDir, { recursive: true });
  const ids = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const placement = o.netns ? await labPlacement(ids) : loopbackPlacement(o.host ?? "127.0.0.1");
  const gossip = ids.map((id, i) => `${placement.addressOf(id)}:${gossipPort(o.basePort, i)}`);
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill("SIGKILL"), 5000);
            c.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
            c.kill("SIGTERM");
          }),
      ),
    );
    await placement.close();
  };
  try {
    const nodes = await Promise.all(
      ids.map(async (id, i) => {
        const dir = path.join(o.dataDir, id);
        fs.mkdirSync(dir, { recursive: true });
        const args = [
          BIN,
          "node",
          "--id",
          id,
          "--host",
          placement.addressOf(id),
          "--port",
          String(gossipPort(o.basePort, i)),
          "--http-port",
          String(o.basePort + i),
          "--data-dir",
          dir,
          "--peers",
          gossip.filter((_, j) => j !== i).join(","),
          "--json",
          ...(o.syncIntervalMs !== undefined ? ["--sync-interval-ms", String(o.syncIntervalMs)] : []),
          ...(o.fanout !== undefined ? ["--fanout", String(o.fanout)] : []),
          ...(o.nodeArgs ?? []),
        ];
        const log = fs.openSync(path.join(dir, "node.log"), "a");
        const child = placement.spawn(id, process.execPath, args, { stdio: ["ignore", "pipe", log] });
        children.push(child);
        const ready = await new Promise<ClusterNode>((resolve, reject) => {
          let buf = "";
          const timer = setTimeout(() => reject(new Error(`${id} did not start within ${o.startTimeoutMs ?? 60_000} ms (see ${dir}/node.log)`)), o.startTimeoutMs ?? 60_000);
          child.once("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`${id} exited with code ${code} before it was up (see ${dir}/node.log)`));
          });
          child.stdout!.on("data", (chunk: Buffer) => {
            buf += chunk.toString("utf8");
            const nl = buf.indexOf("\n");
            if (nl < 0) return;
            clearTimeout(timer);
            child.stdout!.removeAllListeners("data");
            child.stdout!.on("data", (c: Buffer) => fs.writeSync(log, c));
            try {
              const line = JSON.parse(buf.slice(0, nl)) as { http: string; gossip: string };
              const netns = placement.netnsOf(id);
              // The command that restarts it, run from the directory `cluster up` ran in, as every command here is run.
              const command = ["pnpm", "heck-crdt", ...args.slice(1)];
              resolve({ id, pid: child.pid!, http: hostPortOf(line.http) ?? line.http, gossip: line.gossip, netns, host: placement.addressOf(id), command: netns === null ? command : ["ip", "netns", "exec", netns, ...command] });
            } catch {
              reject(new Error(`${id} printed an unexpected first line: ${buf.slice(0, nl)}`));
            }
          });
        });
        // Up means answering HTTP, not only listening.
        const health = await call("GET", `${nodeBase(ready.http)}/v1/health`);
        if (health.status !== 200) throw new Error(`${id} is not healthy: ${JSON.stringify(health.body)}`);
        return ready;
      }),
    );
    fs.writeFileSync(path.join(o.dataDir, "cluster.json"), JSON.stringify({ nodes }, null, 2) + "\n");
    return { nodes, children, lab: placement.lab, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Cuts the cluster into groups through every node's fault layer: each node
 * blocks the gossip addresses of every node outside its group (nodes not
 * listed form one more group). Replaces any earlier partition.
 */
export async function partitionCluster(nodes: readonly ClusterNode[], groups: readonly string[][]): Promise<Record<string, string[]>> {
  const known = new Set(nodes.map((n) => n.id));
  const groupOf = new Map<string, number>();
  groups.forEach((g, i) => {
    for (const id of g) {
      if (!known.has(id)) throw new Error(`unknown node ${JSON.stringify(id)}; the cluster has ${[...known].join(", ")}`);
      if (groupOf.has(id)) throw new Error(`node ${id} is in two groups`);
      groupOf.set(id, i);
    }
  });
  const result: Record<string, string[]> = {};
  await Promise.all(
    nodes.map(async (n) => {
      const mine = groupOf.get(n.id) ?? -1;
      const block = nodes.filter((m) => (groupOf.get(m.id) ?? -1) !== mine).map((m) => m.gossip);
      const res = await call("POST", `${nodeBase(n.http)}/v1/admin/faults`, JSON.stringify({ unblockAll: true, block }));
      if (res.status !== 200) throw new Error(`${n.id}: ${JSON.stringify(res.body)}`);
      result[n.id] = block;
    }),
  );
  return result;
}

/** Removes every block on every node. */
export async function healCluster(nodes: readonly ClusterNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      const res = await call("POST", `${nodeBase(n.http)}/v1/admin/faults`, JSON.stringify({ unblockAll: true, dropRate: 0 }));
      if (res.status !== 200) throw new Error(`${n.id}: ${JSON.stringify(res.body)}`);
    }),
  );
}
