/**
 * Encrypted peer traffic (`keys` on startServer, `--key` on the CLI): members
 * sharing a key elect and replicate, keys rotate live, and a member with
 * another key is shut out of the quorum and counted, never crashing anyone.
 * Ports 15600-15619 belong to this file: in-process on 15600-15605, real
 * processes (`cluster up --key`) on 15610-15618.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { generateKey, keyFingerprint, Keyring, openTransport, parseKey } from "@heck/sim/io";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../src/core/kv/index.ts";
import { EmbeddedKv, startServer, type RaftKvServer, type ServerOptions } from "../src/io/embed.ts";
import { CLI_BIN } from "../src/io/local-cluster.ts";
import { http, tempDir, TestCluster } from "./support/cluster.ts";
import { firstStdoutLine } from "./support/first-line.ts";

const exec = promisify(execFile);
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function eventually(cond: () => boolean | Promise<boolean>, maxMs: number, what: string): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${maxMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const fp = (k: string): string => keyFingerprint(parseKey(k));

describe("peer encryption, in process", () => {
  it("3 members with a key elect and replicate, rotate keys live, and count an outsider's frames", async () => {
    const t = tempDir();
    const k1 = generateKey();
    const k2 = generateKey();
    const c = await TestCluster.start(3, 15600, t.dir, { keys: [k1] });
    cleanups.push(t.cleanup, () => c.stop());
    const leader = await c.leader();
    expect(await leader.kv.put("a", "1")).toBeGreaterThan(0);
    const follower = await c.follower();
    await eventually(async () => (await follower.kv.getText("a", { linearizable: false })) === "1", 5000, "the write on a follower");

    const status = await http(leader.httpAddress!, "GET", "/v1/status");
    expect(status.body.encryption).toEqual({ enabled: true, keys: [fp(k1)], decryptFailures: 0 });
    expect(JSON.stringify(status.body)).not.toContain(k1);

    // Rotation, one step at a time on every member, as an operator would: install, use, remove.
    const all = [...c.servers.values()];
    for (const s of all) s.keyring!.install(parseKey(k2));
    for (const s of all) s.keyring!.use(parseKey(k2));
    expect(await leader.kv.put("b", "2")).toBeGreaterThan(0);
    for (const s of all) s.keyring!.remove(parseKey(k1));
    expect(await leader.kv.put("c", "3")).toBeGreaterThan(0);
    await eventually(async () => (await follower.kv.getText("c", { linearizable: false })) === "3", 5000, "the write after rotation on a follower");
    expect(all.map((s) => s.encryption.keys)).toEqual([[fp(k2)], [fp(k2)], [fp(k2)]]);
    expect(all.reduce((n, s) => n + s.encryption.decryptFailures, 0)).toBe(0);

    // An outsider on the old key (or plaintext) reaches nothing: its frames are counted, not parsed.
    for (const keyring of [undefined, parseKey(k1)]) {
      const outsider = await openTransport({ host: "127.0.0.1", port: 0, ...(keyring ? { keyring: new Keyring([keyring]) } : {}) });
      cleanups.push(() => outsider.close());
      const before = leader.encryption.decryptFailures;
      const s = await outsider.dial(leader.peerAddress, 1000);
      s.send(new Uint8Array([1, 2, 3]));
      await eventually(() => leader.encryption.decryptFailures === before + 1, 5000, "the outsider's frame to be counted");
    }
    expect(leader.node.status().malformedFrames).toBe(0);
    expect(await leader.kv.put("d", "4")).toBeGreaterThan(0);
  }, 30_000);

  it("a member with the wrong key cannot join the quorum and is counted; with the right key it catches up", async () => {
    const t = tempDir();
    const good = generateKey();
    const wrong = generateKey();
    const peers = { n1: "127.0.0.1:15603", n2: "127.0.0.1:15604", n3: "127.0.0.1:15605" };
    const servers = new Map<string, RaftKvServer>();
    const logs: string[] = [];
    const start = async (id: string, keys: string[]): Promise<RaftKvServer> => {
      const opts: ServerOptions = { id, peers, dataDir: path.join(t.dir, id), http: null, grpc: null, keys, requestTimeoutMs: 1000, log: (l) => logs.push(`[${id}] ${l}`) };
      const s = await startServer(opts);
      servers.set(id, s);
      return s;
    };
    cleanups.push(t.cleanup, async () => {
      for (const s of servers.values()) await s.stop();
    });
    await Promise.all([start("n1", [good]), start("n2", [good]), start("n3", [wrong])]);
    const n3 = servers.get("n3")!;
    // n1 and n2 are a majority of 3: they elect one of themselves and commit without n3.
    await eventually(() => ["n1", "n2"].some((id) => servers.get(id)!.node.isLeader), 10_000, "a leader among n1, n2");
    const leader = [...servers.values()].find((s) => s.node.isLeader)!;
    const other = servers.get(leader.id === "n1" ? "n2" : "n1")!;
    expect(await leader.kv.put("k", "v")).toBeGreaterThan(0);
    await eventually(() => leader.encryption.decryptFailures > 0 && other.encryption.decryptFailures > 0 && n3.encryption.decryptFailures > 0, 10_000, "every side to count the others' frames");
    expect(n3.node.isLeader).toBe(false);
    expect(n3.node.leader).not.toBe(leader.id);
    expect(await n3.kv.getText("k", { linearizable: false })).toBeUndefined();
    // n3's campaigns never reached the majority: the leader kept its term.
    expect(leader.node.isLeader).toBe(true);

    // Without `other`, the leader and n3 are not a quorum: nothing commits.
    await other.stop();
    servers.delete(other.id);
    const short = new EmbeddedKv(leader.node, DEFAULT_LIMITS, 2500);
    await expect(short.put("lost", "x")).rejects.toThrow();

    // n3 restarted with the right key joins the quorum and catches up.
    await n3.stop();
    servers.delete("n3");
    const fixed = await start("n3", [good]);
    await eventually(async () => (await fixed.kv.getText("k", { linearizable: false })) === "v", 10_000, "n3 to catch up");
    await eventually(() => [...servers.values()].some((s) => s.node.isLeader), 10_000, "a leader of n3 and the old leader");
    const again = [...servers.values()].find((s) => s.node.isLeader)!;
    expect(await again.kv.put("after", "fixed")).toBeGreaterThan(0);
  }, 45_000);

  it("refuses bad keys by name", async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const base = { id: "n1", peers: { n1: "127.0.0.1:0" }, dataDir: t.dir, http: null, grpc: null };
    await expect(startServer({ ...base, keys: ["not base64!"] })).rejects.toThrow(/keys\[0\]: key: must be base64/);
    await expect(startServer({ ...base, keys: ["c2hvcnQ="] })).rejects.toThrow(/keys\[0\]: key: must decode to 32 bytes/);
    await expect(startServer({ ...base, keys: [] })).rejects.toThrow(/at least one/);
  });
});

describe("heck-raft cluster up --key (real processes)", () => {
  it("elects and replicates with encrypted peers, keeps the key out of the servers' command lines, names a bad --key", async () => {
    const t = tempDir();
    const key = generateKey();
    const child = spawn(process.execPath, [CLI_BIN, "cluster", "up", "--nodes", "3", "--base-port", "15610", "--data-dir", t.dir, "--key", key, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await firstStdoutLine(child);
      const nodes = (JSON.parse(line) as { nodes: Array<{ id: string; pid: number; http: string }> }).nodes;
      const endpoints = nodes.map((n) => n.http).join(",");
      const { stdout } = await exec(process.execPath, [CLI_BIN, "--endpoints", endpoints, "--json", "put", "enc-key", "v"]);
      expect(JSON.parse(stdout).revision).toBeGreaterThan(1);
      // Replicated to every member, not only a majority.
      const { stdout: got } = await exec(process.execPath, [CLI_BIN, "--endpoints", endpoints, "--json", "get", "enc-key"]);
      expect(JSON.parse(got).value).toBe("v");
      for (const n of nodes) {
        await eventually(async () => {
          const r = await exec(process.execPath, [CLI_BIN, "--endpoints", n.http, "--json", "get", "--serializable", "enc-key"]).catch(() => ({ stdout: "{}" }));
          return (JSON.parse(r.stdout) as { value?: string }).value === "v";
        }, 10_000, `enc-key on ${n.id}`);
        const status = await http(n.http, "GET", "/v1/status");
        expect(status.body.encryption).toEqual({ enabled: true, keys: [fp(key)], decryptFailures: 0 });
        expect(fs.readFileSync(`/proc/${n.pid}/cmdline`, "utf8")).not.toContain(key);
      }
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      t.cleanup();
    }
    const bad = await exec(process.execPath, [CLI_BIN, "server", "--id", "n1", "--peers", "n1=127.0.0.1:15619", "--data-dir", "/tmp/x", "--key", "short"]).then(
      () => "exit 0",
      (e: { stderr: string; code: number }) => `exit ${e.code}: ${e.stderr}`,
    );
    expect(bad).toMatch(/exit 2: .*--key: must be base64|exit 2: .*--key: must decode to 32 bytes/);
  }, 60_000);
});
