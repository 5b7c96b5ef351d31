/** Test helpers: in-process raft-kv clusters on loopback and temp dirs. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type RaftKvServer, type ServerOptions } from "../../src/io/embed.ts";

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix = "heck-raft-test-"): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** An in-process cluster: n servers with fixed peer ports basePort.. and HTTP/gRPC on free ports. */
export class TestCluster {
  readonly servers = new Map<string, RaftKvServer>();
  readonly logs: string[] = [];

  constructor(
    readonly peers: Record<string, string>,
    readonly dataDir: string,
    readonly extra: Partial<ServerOptions> = {},
  ) {}

  static async start(n: number, basePort: number, dataDir: string, extra: Partial<ServerOptions> = {}): Promise<TestCluster> {
    const peers: Record<string, string> = {};
    for (let i = 1; i <= n; i++) peers[`n${i}`] = `127.0.0.1:${basePort + i - 1}`;
    const c = new TestCluster(peers, dataDir, extra);
    await Promise.all(Object.keys(peers).map((id) => c.startNode(id)));
    await c.leader();
    return c;
  }

  async startNode(id: string): Promise<RaftKvServer> {
    const s = await startServer({
      id,
      peers: this.peers,
      dataDir: path.join(this.dataDir, id),
      http: "127.0.0.1:0",
      grpc: "127.0.0.1:0",
      log: (l) => this.logs.push(`[${id}] ${l}`),
      ...this.extra,
    });
    this.servers.set(id, s);
    return s;
  }

  async stopNode(id: string): Promise<void> {
    await this.servers.get(id)?.stop();
    this.servers.delete(id);
  }

  server(id: string): RaftKvServer {
    const s = this.servers.get(id);
    if (!s) throw new Error(`no running server ${id}`);
    return s;
  }

  /** Waits until every running server follows the same leader; returns it. */
  async leader(timeoutMs = 15_000): Promise<RaftKvServer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leaders = new Set([...this.servers.values()].map((s) => s.node.leader));
      const id = [...leaders][0];
      if (leaders.size === 1 && id && this.servers.get(id)?.node.isLeader) return this.servers.get(id)!;
      if (Date.now() > deadline) throw new Error(`no leader: ${JSON.stringify([...this.servers.values()].map((s) => [s.id, s.node.leader]))}\n${this.logs.slice(-20).join("\n")}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async follower(): Promise<RaftKvServer> {
    const l = await this.leader();
    return [...this.servers.values()].find((s) => s.id !== l.id)!;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((id) => this.stopNode(id)));
  }
}

/** fetch + JSON for the HTTP API. Bodies are loosely typed: tests read fields they assert on. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function http(address: string, method: string, pathAndQuery: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://${address}${pathAndQuery}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}
