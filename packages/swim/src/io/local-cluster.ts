/**
 * `heck-swim cluster up`: n `heck-swim agent` processes, either all on
 * loopback (member i gossips on basePort + i and serves HTTP on
 * basePort + 100 + i) or, with `netns`, each on a host of its own in a
 * network lab (`@heck/net`: the same ports on the host's own address, and
 * partitions or loss between members made by the kernel). Each agent's
 * events go to `<dataDir>/<name>.log`; "up" means every member sees every
 * other alive.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { labPlacement, loopbackPlacement, type NetLab, type Placement } from "@heck/net";

const BIN = fileURLToPath(new URL("../../bin/heck-swim.js", import.meta.url));

/** Options of {@link swimClusterUp}. */
export interface SwimClusterOptions {
  nodes: number;
  /** Member i gossips on basePort + i and serves HTTP on basePort + 100 + i. */
  basePort: number;
  /** Where each agent's event log goes. */
  dataDir: string;
  /** Each member on its own network-lab host (needs root). */
  netns?: boolean;
  /** Extra `heck-swim agent` flags for every member (timing, keys). */
  agentArgs?: string[];
  /** Wait at most this long for every member to see every other alive. Default 60 s. */
  upTimeoutMs?: number;
}

/** One member process. */
export interface SwimClusterNode {
  name: string;
  pid: number;
  /** Gossip address (UDP + TCP). */
  addr: string;
  /** HTTP API (`/v1/members`). */
  http: string;
  netns: string | null;
  host: string;
  child: ChildProcess;
}

/** A running cluster. */
export interface SwimCluster {
  nodes: SwimClusterNode[];
  lab: NetLab | null;
  /** Starts member `name` again with its original command (after a kill). */
  restart(name: string): Promise<SwimClusterNode>;
  /** Stops every member (SIGTERM: a graceful leave), then the lab. */
  stop(): Promise<void>;
}

/** Member names a1..an (the names the stage's README uses). */
export function swimMemberNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `a${i + 1}`);
}

/** Starts the members and resolves once each sees all the others alive. */
export async function swimClusterUp(o: SwimClusterOptions): Promise<SwimCluster> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 64) throw new RangeError(`nodes: must be 1-64, got ${o.nodes}`);
  if (o.basePort < 1024 || o.basePort + 100 + o.nodes > 65535) throw new RangeError(`basePort: must leave room for ports up to basePort + 100 + nodes, got ${o.basePort}`);
  fs.mkdirSync(o.dataDir, { recursive: true });
  const names = swimMemberNames(o.nodes);
  const placement: Placement = o.netns ? await labPlacement(names) : loopbackPlacement();
  const addrOf = (i: number) => `${placement.addressOf(names[i]!)}:${o.basePort + i}`;
  const httpOf = (i: number) => `${placement.addressOf(names[i]!)}:${o.basePort + 100 + i}`;
  const nodes: SwimClusterNode[] = [];

  const start = async (i: number): Promise<SwimClusterNode> => {
    const name = names[i]!;
    const args = [BIN, "agent", "--name", name, "--bind", addrOf(i), "--http", httpOf(i), "--json", ...(i > 0 ? ["--join", addrOf(0)] : []), ...(o.agentArgs ?? [])];
    const log = fs.openSync(path.join(o.dataDir, `${name}.log`), "a");
    const child = placement.spawn(name, process.execPath, args, { stdio: ["ignore", "pipe", log] });
    fs.closeSync(log);
    const logStream = fs.createWriteStream(path.join(o.dataDir, `${name}.log`), { flags: "a" });
    // Every line goes to the log; the first "ready" event resolves (once: later lines only log).
    child.stdout!.on("data", (c: Buffer) => logStream.write(c));
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      const onData = (c: Buffer) => {
        buf += c.toString();
        if (buf.includes('"event":"ready"')) done();
      };
      const onExit = (code: number | null) => done(new Error(`${name} exited (${code}) before it was ready (see ${o.dataDir}/${name}.log)`));
      const timer = setTimeout(() => done(new Error(`${name}: no ready line within 30 s (see ${o.dataDir}/${name}.log)`)), 30_000);
      function done(err?: Error): void {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        child.off("exit", onExit);
        if (err) reject(err);
        else resolve();
      }
      child.stdout!.on("data", onData);
      child.once("exit", onExit);
    });
    child.once("exit", () => logStream.end());
    return { name, pid: child.pid!, addr: addrOf(i), http: httpOf(i), netns: placement.netnsOf(name), host: placement.addressOf(name), child };
  };

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(
        nodes.map(
          (n) =>
            new Promise<void>((resolve) => {
              if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
              const t = setTimeout(() => n.child.kill("SIGKILL"), 8_000);
              n.child.once("exit", () => {
                clearTimeout(t);
                resolve();
              });
              n.child.kill("SIGCONT");
              n.child.kill("SIGTERM");
            }),
        ),
      );
      await placement.close();
    })());

  try {
    nodes.push(await start(0));
    nodes.push(...(await Promise.all(names.slice(1).map((_, k) => start(k + 1)))));
    await waitForAllAlive(nodes, o.upTimeoutMs ?? 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    nodes,
    lab: placement.lab,
    restart: async (name) => {
      const i = names.indexOf(name);
      if (i < 0) throw new RangeError(`no member ${name}`);
      const n = await start(i);
      nodes[i] = n;
      return n;
    },
    stop,
  };
}

/** The members `http` sees, with their states. */
export async function membersSeenBy(http: string, timeoutMs = 2_000): Promise<Array<{ name: string; state: string; incarnation: number }>> {
  const res = await fetch(`http://${http}/v1/members`, { signal: AbortSignal.timeout(timeoutMs) });
  return (await res.json()) as Array<{ name: string; state: string; incarnation: number }>;
}

async function waitForAllAlive(nodes: SwimClusterNode[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(nodes.map((n) => membersSeenBy(n.http).then((ms) => ms.filter((m) => m.state === "alive").length, () => 0)));
    if (counts.every((c) => c === nodes.length)) return;
    if (Date.now() > end) throw new Error(`members did not all see each other alive within ${timeoutMs} ms (alive counts ${counts.join(",")})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
