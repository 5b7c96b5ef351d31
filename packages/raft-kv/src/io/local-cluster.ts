/**
 * A local cluster of raft-kv server processes on loopback, for `heck-raft
 * cluster up`, the real-process tests and the benchmark. Each member is a
 * separate OS process (so `kill -9` and SIGSTOP hit one node only) started
 * through the CLI, with its log in `<dataDir>/<id>.log`.
 *
 * Ports: member i (0-based) uses basePort + 3i for peers, + 1 for the JSON
 * HTTP API and + 2 for the etcd gRPC API.
 *
 * With `netns`, each member runs on a host of its own in a network lab
 * (`@heck/net`): its own address, the same ports, and partitions or loss
 * between members made by the kernel (`cluster.lab`). Clients in this
 * namespace still reach every member's HTTP and gRPC address.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import { labPlacement, loopbackPlacement, type NetLab, type Placement } from "@heck/net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TlsFetch } from "./tls-fetch.ts";

/** Where the CLI shim lives (spawned with the current node binary). */
export const CLI_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/heck-raft.js");

/** Options of {@link LocalCluster.up}. */
export interface LocalClusterOptions {
  nodes: number;
  basePort: number;
  dataDir: string;
  host?: string;
  /** Extra `heck-raft server` flags for every member (e.g. ["--tick-ms", "50"]). */
  serverArgs?: string[];
  /** Wait at most this long for a leader. Default 30 s (a loaded machine starts processes slowly). */
  leaderTimeoutMs?: number;
  /** Each member on its own network-lab host (needs root); `host` is then ignored. */
  netns?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
  /**
   * When the members serve TLS (their `serverArgs` carry --cert-file...):
   * how the cluster checks on them. `ca` verifies their certificates;
   * `cert` and `key` are shown where they ask for a client certificate.
   */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

/** One member process. */
export interface LocalNode {
  id: string;
  pid: number;
  /** JSON HTTP API host:port. */
  http: string;
  /** etcd gRPC API host:port. */
  grpc: string;
  /** Raft peer host:port. */
  peer: string;
  /** The lab namespace it runs in (`ip netns exec <netns> ...`), or null on loopback. */
  netns: string | null;
  /** Its host's address. */
  host: string;
  process: ChildProcess | null;
}

/** Member ids n1..nN. */
export function memberIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

/** A set of member processes; start with {@link LocalCluster.up}, stop with {@link LocalCluster.down}. */
export class LocalCluster {
  private stopping = false;
  private readonly tls: TlsFetch | undefined;

  private constructor(
    readonly options: Required<Omit<LocalClusterOptions, "log" | "tls">> & { log: (line: string) => void; tls?: LocalClusterOptions["tls"] },
    readonly nodes: LocalNode[],
    private readonly placement: Placement,
  ) {
    const tls = options.tls;
    this.tls = tls ? new TlsFetch(tls) : undefined;
  }

  /** The network lab the members run in (`netns`), for kernel faults between them; null on loopback. */
  get lab(): NetLab | null {
    return this.placement.lab;
  }

  /** Spawns every member and resolves once they all follow one leader. */
  static async up(options: LocalClusterOptions): Promise<LocalCluster> {
    if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 9) throw new RangeError(`nodes: must be 1-9, got ${options.nodes}`);
    if (!Number.isInteger(options.basePort) || options.basePort < 1024 || options.basePort + 3 * options.nodes > 65535) throw new RangeError(`basePort: must leave room for ${3 * options.nodes} ports below 65536, got ${options.basePort}`);
    const host = options.host ?? "127.0.0.1";
    const opts = { host, serverArgs: [], leaderTimeoutMs: 30_000, log: () => {}, netns: false, ...options };
    fs.mkdirSync(opts.dataDir, { recursive: true });
    const ids = memberIds(options.nodes);
    const placement = opts.netns ? await labPlacement(ids, { log: opts.log }) : loopbackPlacement(host);
    const nodes: LocalNode[] = ids.map((id, i) => {
      const h = placement.addressOf(id);
      return {
        id,
        pid: 0,
        peer: `${h}:${options.basePort + 3 * i}`,
        http: `${h}:${options.basePort + 3 * i + 1}`,
        grpc: `${h}:${options.basePort + 3 * i + 2}`,
        netns: placement.netnsOf(id),
        host: h,
        process: null,
      };
    });
    const cluster = new LocalCluster(opts, nodes, placement);
    for (const n of nodes) cluster.spawn(n);
    try {
      await cluster.waitForLeader(opts.leaderTimeoutMs);
    } catch (error) {
      await cluster.down();
      throw error;
    }
    return cluster;
  }

  /** The `--peers` value every member gets. */
  get peersFlag(): string {
    return this.nodes.map((n) => `${n.id}=${n.peer}`).join(",");
  }

  /** The member with this id. */
  node(id: string): LocalNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no member ${id}`);
    return n;
  }

  /** The `heck-raft server` arguments that (re)start member `id`. */
  serverArgs(id: string): string[] {
    const n = this.node(id);
    return ["server", "--id", n.id, "--peers", this.peersFlag, "--data-dir", path.join(this.options.dataDir, n.id), "--http", n.http, "--grpc", n.grpc, ...this.options.serverArgs];
  }

  private spawn(n: LocalNode): void {
    const logFile = path.join(this.options.dataDir, `${n.id}.log`);
    const out = fs.openSync(logFile, "a");
    const args = [CLI_BIN, ...this.serverArgs(n.id)];
    // HECK_RAFT_NODE_ARGS passes flags to node itself (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile members).
    const nodeArgs = (process.env.HECK_RAFT_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const child = this.placement.spawn(n.id, process.execPath, [...nodeArgs, ...args], { stdio: ["ignore", out, out], detached: false });
    fs.closeSync(out);
    n.process = child;
    n.pid = child.pid ?? 0;
    child.on("exit", (code, signal) => {
      if (n.process === child) n.process = null;
      const where = n.netns === null ? "" : `ip netns exec ${n.netns} `;
      if (!this.stopping) this.options.log(`${n.id} (pid ${child.pid}) exited: ${signal ?? `code ${code}`}; restart it with: ${where}pnpm heck-raft ${this.serverArgs(n.id).join(" ")} >> ${logFile} 2>&1 &`);
    });
  }

  /** Starts a member again (after a kill), on the same ports and data dir. */
  restart(id: string): LocalNode {
    const n = this.node(id);
    if (n.process) throw new Error(`${id} is still running`);
    this.spawn(n);
    return n;
  }

  /** Sends a signal to a member process (SIGKILL, SIGSTOP, SIGCONT...). */
  signal(id: string, signal: NodeJS.Signals): void {
    const n = this.node(id);
    if (n.process?.pid) process.kill(n.process.pid, signal);
  }

  /** Kills a member with SIGKILL and waits for it to be gone. */
  async kill9(id: string): Promise<void> {
    const n = this.node(id);
    const child = n.process;
    if (!child) return;
    const gone = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGKILL");
    await gone;
  }

  /** Status of one member, or null if it does not answer within `timeoutMs`. */
  async status(id: string, timeoutMs = 1_000): Promise<{ role: string; leader: string | null; term: number; appliedIndex: number; commitIndex: number } | null> {
    try {
      const url = `${this.tls ? "https" : "http"}://${this.node(id).http}/v1/status`;
      const res = this.tls ? await this.tls.fetch(url, { signal: AbortSignal.timeout(timeoutMs) }) : await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return null;
      return (await res.json()) as { role: string; leader: string | null; term: number; appliedIndex: number; commitIndex: number };
    } catch {
      return null;
    }
  }

  /** Resolves with the leader once every running member follows the same one. */
  async waitForLeader(timeoutMs = 30_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const running = this.nodes.filter((n) => n.process);
      const statuses = await Promise.all(running.map((n) => this.status(n.id, 500)));
      const leaders = new Set(statuses.map((s) => s?.leader ?? null));
      const leader = statuses[0]?.leader ?? null;
      if (running.length > 0 && leader && leaders.size === 1 && statuses.every((s) => s !== null)) {
        const leaderStatus = statuses[running.findIndex((n) => n.id === leader)];
        if (leaderStatus?.role === "leader") return leader;
      }
      if (performance.now() > deadline || this.nodes.every((n) => !n.process)) {
        const logs = this.nodes.map((n) => `${n.id}: ${tail(path.join(this.options.dataDir, `${n.id}.log`))}`).join("\n");
        throw new Error(`no leader${this.nodes.every((n) => !n.process) ? " (every member exited)" : ` within ${timeoutMs} ms`}; last statuses ${JSON.stringify(statuses)}\n${logs}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops every member (SIGTERM, then SIGKILL after `graceMs`), resuming paused ones first; then tears down the lab, if any. */
  async down(graceMs = 3_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.nodes.map(async (n) => {
        const child = n.process;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise<void>((r) => child.once("exit", () => r()));
        try {
          child.kill("SIGCONT");
          child.kill("SIGTERM");
        } catch {
          return;
        }
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await gone;
        clearTimeout(timer);
      }),
    );
    await this.tls?.close();
    await this.placement.close();
  }
}

function tail(file: string, lines = 5): string {
  try {
    return fs.readFileSync(file, "utf8").trim().split("\n").slice(-lines).join(" | ");
  } catch {
    return "(no log)";
  }
}
