/**
 * `heck-crdt cluster up --netns --json`: each node on its own network-lab
 * host. The contract line keeps its fields and adds, per node, the namespace
 * (`ip netns exec` takes it) and the host's address; the HTTP APIs stay
 * reachable from this namespace, and a write on one host reaches the others
 * across the lab's bridge. Ports 17440-17459 and 17540-17559 belong to this
 * file: HTTP 17440-17442, gossip 17540-17542 on each host's own address.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { request } from "undici";
import { afterAll, expect, it } from "vitest";
import { describeWithLab, runsInNetns } from "@heck/net/testing";
import { eventually, startCli, stop } from "./support/procs.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-netns-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describeWithLab("heck-crdt cluster up --netns", () => {
  it("prints each node's namespace and host; a write on one host is read on the others", async () => {
    const up = await startCli(["cluster", "up", "--nodes", "3", "--base-port", "17440", "--data-dir", dir, "--sync-interval-ms", "150", "--netns", "--json"], 90_000);
    try {
      const { nodes } = JSON.parse(up.line) as { nodes: Array<{ id: string; pid: number; http: string; netns: string; host: string }> };
      expect(nodes.map((n) => Object.keys(n))).toEqual(Array.from({ length: 3 }, () => ["id", "pid", "http", "netns", "host"]));
      expect(new Set(nodes.map((n) => n.host)).size).toBe(3);
      for (const n of nodes) {
        expect(n.http.startsWith(`${n.host}:`)).toBe(true); // host:port, as every stage's --json line prints it
        expect(runsInNetns(n.pid, n.netns), `${n.id} (pid ${n.pid}) runs in ${n.netns}`).toBe(true);
      }
      const w = await request(`http://${nodes[0]!.http}/v1/kv/across`, { method: "PUT", body: "the-bridge" });
      expect(w.statusCode).toBe(200);
      await w.body.dump();
      for (const n of nodes.slice(1)) {
        const seen = await eventually(async () => ((await (await request(`http://${n.http}/v1/kv/across`)).body.json()) as { value?: string }).value === "the-bridge", 20_000);
        expect(seen, `${n.id} read the write made on ${nodes[0]!.id}`).toBe(true);
      }
    } finally {
      expect(await stop(up.child)).toBe(0);
    }
  }, 150_000);
});
