/**
 * The embeddable API as apps/v2 uses it: two replicas in one process, one
 * with a static peer list set at runtime and one with a peer provider;
 * subscriptions see remote changes; the newest observation by (check time,
 * observer) wins whatever order the writes arrive in.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ChangeEvent } from "../src/core/store/node.ts";
import { startCrdtNode, type CrdtNode } from "../src/io/embed.ts";
import { eventually } from "./support/procs.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-embed-"));
const nodes: CrdtNode[] = [];
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("startCrdtNode", () => {
  it("replicates between embedded nodes, notifies subscribers, and keeps the newest observation", async () => {
    let bPeers: string[] = [];
    const a = await startCrdtNode({ id: "agent-a", dataDir: path.join(dir, "a"), syncIntervalMs: 50 });
    const b = await startCrdtNode({ id: "agent-b", dataDir: path.join(dir, "b"), syncIntervalMs: 50, peers: () => bPeers });
    nodes.push(a, b);
    a.setPeers([b.address]);
    bPeers = [a.address];
    const seen: ChangeEvent[] = [];
    const unsubscribe = b.subscribe((e) => seen.push(e));

    // Two observers report on the same target; agent-a's check is newer.
    expect(a.put("health/web-1", { status: "down" }, { ts: 2_000 }).ok).toBe(true);
    expect(b.put("health/web-1", { status: "up" }, { ts: 1_000 }).ok).toBe(true);
    expect(await eventually(async () => JSON.stringify(b.get("health/web-1").value) === '{"status":"down"}', 5000, 20)).toBe(true);
    expect(a.get("health/web-1").value).toEqual({ status: "down" });
    // Now that b knows the newer observation, its stale one is refused outright.
    const stale = b.put("health/web-1", { status: "up" }, { ts: 1_500 });
    expect(stale.ok && !stale.applied).toBe(true);
    expect(seen.some((e) => e.key === "health/web-1" && e.origin === a.address)).toBe(true);
    unsubscribe();

    // The fault switches cut replication; unblocking resumes it.
    a.faults.block([b.address]);
    b.faults.block([a.address]);
    a.put("only-a", 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.get("only-a").exists).toBe(false);
    a.faults.unblock();
    b.faults.unblock();
    expect(await eventually(async () => b.get("only-a").value === 1, 5000, 20)).toBe(true);
    // b has a's write; a learns of b's own write on one of its next sync rounds.
    expect(await eventually(async () => sameVector(a.versionVector(), b.versionVector()), 5000, 20)).toBe(true);
    expect(a.versionVector()).toEqual(b.versionVector());
    expect(b.stats().stats.bytesSent).toBeGreaterThan(0);
    expect(b.list("health/")).toEqual(["health/web-1"]);
  });
});

/** Two version vectors with the same counters, whatever their key order. */
function sameVector(x: Record<string, number>, y: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  return [...keys].every((k) => x[k] === y[k]);
}
