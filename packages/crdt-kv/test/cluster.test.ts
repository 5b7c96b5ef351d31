/**
 * Real processes on loopback, started through the CLI exactly as the README
 * tells a learner: `cluster up --nodes 5`, `partition n1,n2 n3,n4,n5`
 * (through each node's transport fault layer), writes on both sides, `heal`,
 * and every node converges: same version vector, same values, and the
 * concurrent MV writes kept as siblings on every node. Garbage at a node's
 * gossip and HTTP ports is counted in its status and changes nothing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { request } from "undici";
import { spawn } from "node:child_process";
import * as dgram from "node:dgram";
import { afterAll, describe, expect, it } from "vitest";
import { pnpmCommand, REPO_ROOT, sendRawTcp } from "@heck/cli-kit/testing";
import { eventually, runCli, startCli, stop } from "./support/procs.ts";

// Ports 17400-17419 and 17500-17519 belong to this file: HTTP 17400-17406, gossip 17500-17506.
const BASE = 17400;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-cluster-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Node = { id: string; pid: number; http: string };
const hostOf = (address: string) => address.slice(0, address.lastIndexOf(":"));
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));

const get = async (n: Node, key: string) => (await (await request(`http://${n.http}/v1/kv/${encodeURIComponent(key)}`)).body.json()) as { exists: boolean; value?: string; values: string[]; context: string };
const put = async (n: Node, key: string, value: string, q = "") => {
  const r = await request(`http://${n.http}/v1/kv/${encodeURIComponent(key)}${q}`, { method: "PUT", body: value });
  expect(r.statusCode).toBe(200);
  return (await r.body.json()) as { context: string };
};
const vector = async (n: Node) => JSON.stringify(((await (await request(`http://${n.http}/v1/status`)).body.json()) as { vector: unknown }).vector);

// The two suites use their own ports and data directories and share nothing; most of their time is
// process start-up and gossip rounds, so they run concurrently.
describe.concurrent("a five-node cluster of real processes", () => {
  it("partitions through the fault layer, accepts writes on both sides, and converges after heal", async () => {
    const up = await startCli(["cluster", "up", "--nodes", "5", "--base-port", String(BASE), "--data-dir", dir, "--sync-interval-ms", "150", "--json"], 60_000);
    const { nodes } = JSON.parse(up.line) as { nodes: Node[] };
    try {
      expect(nodes.map((n) => n.id)).toEqual(["n1", "n2", "n3", "n4", "n5"]);
      // Addresses are host:port in every stage's --json line.
      expect(nodes.every((n) => Number.isInteger(n.pid) && /^127\.0\.0\.1:\d+$/.test(n.http))).toBe(true);
      const [n1, n2, n3, n4, n5] = nodes as [Node, Node, Node, Node, Node];

      await put(n1, "shared", "before");
      expect(await eventually(async () => (await get(n5, "shared")).value === "before", 10_000)).toBe(true);

      const cut = await runCli(["partition", "n1,n2", "n3,n4,n5", "--data-dir", dir]);
      expect(cut.code, cut.stderr).toBe(0);
      // Both sides write: distinct keys, the same LWW key, and the same MV key from a common read.
      const ctx = (await get(n2, "doc")).context;
      await put(n1, "left", "L");
      await put(n4, "right", "R");
      const now = Date.now();
      await put(n2, "shared", "from-left", `?ts=${now + 1000}`);
      await put(n5, "shared", "from-right", `?ts=${now + 2000}`);
      await put(n2, "doc", "left-edit", `?mode=mv&context=${ctx}`);
      await put(n3, "doc", "right-edit", `?mode=mv&context=${ctx}`);
      await new Promise((r) => setTimeout(r, 1200)); // many gossip rounds: nothing may cross the cut
      expect((await get(n1, "right")).exists).toBe(false);
      expect((await get(n5, "left")).exists).toBe(false);
      expect((await get(n4, "left")).exists).toBe(false);
      expect((await get(n2, "left")).value).toBe("L"); // but within a side, writes spread

      const heal = await runCli(["heal", "--data-dir", dir]);
      expect(heal.code, heal.stderr).toBe(0);
      const converged = await eventually(async () => {
        const vs = await Promise.all(nodes.map(vector));
        return new Set(vs).size === 1 && (await Promise.all(nodes.map((n) => get(n, "right")))).every((r) => r.value === "R");
      }, 20_000);
      expect(converged).toBe(true);
      for (const n of nodes) {
        expect((await get(n, "left")).value).toBe("L");
        expect((await get(n, "shared")).value).toBe("from-right"); // the later timestamp wins everywhere
        expect((await get(n, "doc")).values.sort()).toEqual(["left-edit", "right-edit"]); // concurrent: both kept
      }
      // A write with the merged context replaces exactly both siblings, everywhere.
      await put(n4, "doc", "merged", `?mode=mv&context=${(await get(n4, "doc")).context}`);
      expect(await eventually(async () => (await Promise.all(nodes.map((n) => get(n, "doc")))).every((r) => r.values.length === 1 && r.values[0] === "merged"), 10_000)).toBe(true);
      // --node takes the line's host:port as it is, and the older http:// form too.
      const [status, viaUrl] = await Promise.all([runCli(["status", "--node", n3.http, "--json"]), runCli(["status", "--node", `http://${n3.http}/`, "--json"])]);
      expect(viaUrl.code).toBe(0);
      const s = JSON.parse(status.stdout) as { stats: { bytesSent: number }; peers: unknown[] };
      expect(s.stats.bytesSent).toBeGreaterThan(0);
      expect(s.peers).toHaveLength(4);

      // Garbage at each of a node's doors is dropped, counted in /v1/status's malformed, and the node keeps serving.
      const statusOf = async (n: Node) => (await (await request(`http://${n.http}/v1/status`)).body.json()) as { address: string; malformed: { gossip: number; api: number } };
      const { address: gossip, malformed: before } = await statusOf(n3);
      const udp = dgram.createSocket("udp4");
      await new Promise((r) => udp.send(Buffer.from("{nope"), portOf(gossip), hostOf(gossip), r));
      udp.close();
      await sendRawTcp(gossip, Buffer.from([0xee, 0x00, 0x00, 0x00, 0x01, 0x7b]));
      await sendRawTcp(n3.http, Buffer.from("\x16\x03\x01garbage\r\n\r\n"));
      const bad = await request(`http://${n3.http}/v1/kv/x`, { method: "PUT", body: "{not json", headers: { "content-type": "application/json" } });
      expect(bad.statusCode).toBe(400);
      await bad.body.dump();
      expect(await eventually(async () => (await statusOf(n3)).malformed.gossip >= before.gossip + 2, 5_000)).toBe(true);
      expect((await statusOf(n3)).malformed).toEqual({ gossip: before.gossip + 2, api: before.api + 2 });
      await put(n3, "after-garbage", "ok");
      expect(await eventually(async () => (await get(n1, "after-garbage")).value === "ok", 10_000)).toBe(true);
    } finally {
      expect(await stop(up.child, "SIGINT")).toBe(0);
    }
    for (const n of nodes) expect(() => process.kill(n.pid, 0)).toThrow(); // every node process is gone
  }, 90_000);
});

describe.concurrent("the command line's promises to scripts", () => {
  it("a write that lost to a newer version exits 1; a node restarted by hand from cluster.json's command records its new pid there", async () => {
    const small = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-restart-"));
    const up = await startCli(["cluster", "up", "--nodes", "2", "--base-port", String(BASE + 5), "--data-dir", small, "--sync-interval-ms", "150", "--json"], 60_000);
    const { nodes } = JSON.parse(up.line) as { nodes: Node[] };
    const [n1, n2] = nodes as [Node, Node];
    let restarted: number | undefined;
    try {
      expect((await runCli(["put", "greeting", "hello", "--node", n1.http])).code).toBe(0);
      const [late, missing] = await Promise.all([runCli(["put", "greeting", "too late", "--ts", "1000", "--node", n1.http]), runCli(["get", "nothing-here", "--node", n1.http])]);
      expect(late.stdout).toBe("not applied: superseded: a version with a later timestamp is already stored\n");
      expect(late.code).toBe(1);
      expect([missing.code, missing.stdout]).toEqual([1, "nothing-here: not found\n"]);

      // kill -9 n2, then start it again exactly as cluster.json says, from the repository root.
      const file = path.join(small, "cluster.json");
      const recorded = (JSON.parse(fs.readFileSync(file, "utf8")) as { nodes: Array<Node & { command: string[] }> }).nodes[1]!;
      expect(recorded.command.slice(0, 3)).toEqual(["pnpm", "heck-crdt", "node"]);
      process.kill(n2.pid, "SIGKILL");
      const pnpm = pnpmCommand();
      const child = spawn(pnpm.command, [...pnpm.args, ...recorded.command.slice(1)], { cwd: REPO_ROOT, stdio: "ignore", detached: true });
      restarted = child.pid!;
      // The restarted process records its own pid (pnpm runs it as a child, so it is not pnpm's).
      const newPid = await eventually(async () => {
        const now = (JSON.parse(fs.readFileSync(file, "utf8")) as { nodes: Node[] }).nodes[1]!.pid;
        return now !== n2.pid;
      }, 30_000);
      expect(newPid).toBe(true);
      const pid = (JSON.parse(fs.readFileSync(file, "utf8")) as { nodes: Node[] }).nodes[1]!.pid;
      expect(() => process.kill(pid, 0)).not.toThrow();
      expect(await eventually(async () => (await get(n2, "greeting")).value === "hello", 20_000)).toBe(true);
    } finally {
      if (restarted !== undefined) {
        try {
          process.kill(-restarted, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await stop(up.child, "SIGINT");
      fs.rmSync(small, { recursive: true, force: true });
    }
  }, 90_000);

  it("a malformed cluster.json is named in the error, exit 1", async () => {
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-broken-"));
    try {
      fs.writeFileSync(path.join(broken, "cluster.json"), '{"nodes": [');
      const r = await runCli(["partition", "n1", "n2", "--data-dir", broken]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^heck-crdt: ${path.join(broken, "cluster.json").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: not valid JSON \\(.*\\); it is written by "pnpm heck-crdt cluster up"\\n$`));
      fs.writeFileSync(path.join(broken, "cluster.json"), '{"nodes": [{"id": "n1"}]}');
      expect((await runCli(["heal", "--data-dir", broken])).stderr).toMatch(/cluster\.json: nodes\[0\]\.http: expected a string/);
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  }, 30_000);
});
