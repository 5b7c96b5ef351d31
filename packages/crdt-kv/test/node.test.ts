/**
 * The replica state machine by example, on a hand-driven network (deliver
 * every outbox until quiet): writes and reads in both modes, delta-interval
 * acknowledgements, the lagging-peer fallbacks, persistence round trips,
 * and a peer that comes back with an empty disk.
 */
import { createPrng } from "@heck/sim";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../src/core/json.ts";
import { encodeDelta } from "../src/core/store/kv-state.ts";
import { wireOf } from "../src/core/store/messages.ts";
import { KvNode, parseContextToken, contextToken, type KvNodeConfig } from "../src/core/store/node.ts";
import { receiveWire } from "../src/core/store/wire-input.ts";
import { diskOf, readyOf, takeMessages } from "./support/drain.ts";

function cluster(ids: string[], extra: Partial<KvNodeConfig> = {}) {
  const nodes = new Map<string, KvNode>();
  const make = (id: string, seed = 1) =>
    new KvNode({ id, address: id, peers: ids.filter((x) => x !== id), prng: createPrng(seed).fork(id), syncIntervalMs: 100, fanout: 8, ...extra });
  for (const id of ids) nodes.set(id, make(id));
  let now = 0;
  const settle = (rounds = 5): void => {
    for (let r = 0; r < rounds; r++) {
      now += 100;
      for (const n of nodes.values()) n.tick(now);
      for (let guard = 0; guard < 100; guard++) {
        let moved = false;
        for (const n of nodes.values()) {
          for (const o of takeMessages(n)) {
            moved = true;
            const to = nodes.get(o.to);
            if (to !== undefined) receiveWire(to, n.id, wireOf(o.message), o.channel ?? "packet", now);
          }
        }
        if (!moved) break;
      }
    }
  };
  return { nodes, make, settle, get: (id: string) => nodes.get(id)! };
}
const text = (n: KvNode) => canonicalJson(encodeDelta(n.state()));

describe("KvNode", () => {
  it("replicates LWW and MV writes, and an MV write with a read's context replaces exactly what was read", () => {
    const c = cluster(["a", "b", "c"]);
    c.get("a").put("x", 1, { ts: 10 });
    c.get("b").put("doc", "b1", { mode: "mv" });
    c.get("c").put("doc", "c1", { mode: "mv" });
    c.settle();
    expect(c.get("c").get("x").value).toBe(1);
    const read = c.get("a").get("doc");
    expect(read.values).toEqual(["b1", "c1"]);
    // The context survives the HTTP token form.
    const ctx = parseContextToken(contextToken(read.context))!;
    c.get("b").put("doc", "b2", { mode: "mv" }); // concurrent with a's merge, not in a's read
    c.get("a").put("doc", "merged", { context: ctx });
    c.settle();
    for (const n of c.nodes.values()) expect(n.get("doc").values.sort()).toEqual(["b2", "merged"]);
    expect(new Set([...c.nodes.values()].map(text)).size).toBe(1);
  });

  it("stops sending deltas once everything is acknowledged (heartbeats aside) and garbage-collects the log", () => {
    const c = cluster(["a", "b", "c"], { heartbeatEveryRounds: 4 });
    for (let i = 0; i < 10; i++) c.get("a").put(`k${i}`, i);
    c.settle(3);
    for (const n of c.nodes.values()) expect(n.sizes().logEntries).toBe(0);
    const before = { ...c.get("a").stats };
    c.settle(8);
    const after = c.get("a").stats;
    expect(after.payloadBytesSent).toBe(before.payloadBytesSent);
    expect(after.messagesSent - before.messagesSent).toBe(2 * 2); // two heartbeat rounds, two peers each
  });

  it("a peer that falls behind the log gets the full state when small, a digest exchange when large", () => {
    for (const [fullStateMaxBytes, expectDigest] of [
      [1 << 20, false],
      [0, true],
    ] as const) {
      const c = cluster(["a", "b"], { maxLogEntries: 4, fullStateMaxBytes });
      const b = c.nodes.get("b")!;
      c.nodes.delete("b"); // b is away
      for (let i = 0; i < 20; i++) c.get("a").put(`k${i}`, i);
      c.get("a").delete("k3");
      c.settle(2);
      c.nodes.set("b", b);
      c.settle(4);
      expect(text(b)).toBe(text(c.get("a")));
      expect(c.get("a").stats.digestsSent > 0).toBe(expectDigest);
      expect(c.get("a").stats.fullStatesSent > 0).toBe(!expectDigest);
    }
  });

  it("a digest exchange completes when its round trip outlasts the digest timeout while the asker keeps writing", () => {
    // Each message arrives two rounds after it is sent: a round trip of 400 ms against the default
    // digest timeout of two sync intervals (200 ms), as on a machine whose event loops run late. The
    // asker writes every round, so each retry carries a new sequence number; an answer to an earlier
    // digest must still complete it, or the lagging peer never gets the state.
    const ids = ["a", "b"];
    const nodes = new Map<string, KvNode>();
    for (const id of ids) nodes.set(id, new KvNode({ id, address: id, peers: ids.filter((x) => x !== id), prng: createPrng(1).fork(id), syncIntervalMs: 100, fanout: 8, maxLogEntries: 4, fullStateMaxBytes: 0 }));
    const a = nodes.get("a")!;
    const b = nodes.get("b")!;
    const inFlight: Array<{ at: number; from: string; to: string; wire: ReturnType<typeof wireOf>; channel: "packet" | "stream" }> = [];
    let now = 0;
    const round = (withB: boolean): void => {
      now += 100;
      a.put(`w${now}`, now);
      for (const n of withB ? [a, b] : [a]) n.tick(now);
      for (const n of withB ? [a, b] : [a]) for (const o of takeMessages(n)) inFlight.push({ at: now + 200, from: n.id, to: o.to, wire: wireOf(o.message), channel: o.channel ?? "packet" });
      for (let i = 0; i < inFlight.length; ) {
        const m = inFlight[i]!;
        if (m.at > now) {
          i++;
          continue;
        }
        inFlight.splice(i, 1);
        if (!withB && m.to === "b") continue;
        receiveWire(nodes.get(m.to)!, m.from, m.wire, m.channel, now);
        for (const o of takeMessages(nodes.get(m.to)!)) inFlight.push({ at: now + 200, from: m.to, to: o.to, wire: wireOf(o.message), channel: o.channel ?? "packet" });
      }
    };
    for (let i = 0; i < 20; i++) a.put(`k${i}`, i);
    for (let r = 0; r < 3; r++) round(false); // b is away: a's log passes it by
    for (let r = 0; r < 40 && b.get("k19").value !== 19; r++) round(true);
    expect(a.stats.digestsSent).toBeGreaterThan(0);
    expect(b.get("k0").value).toBe(0);
    expect(b.get("k19").value).toBe(19);
  });

  it("restarts from its persisted snapshot and WAL with the same state, log and sequence", () => {
    const c = cluster(["a", "b"], { snapshotEveryRecords: 7 });
    for (let i = 0; i < 20; i++) c.get("a").put(`k${i}`, i, { mode: i % 2 === 0 ? "lww" : "mv" });
    c.settle(2);
    const a = c.get("a");
    const p = diskOf(a);
    expect(p.snapshot).not.toBeNull();
    const again = new KvNode({ id: "a", address: "a", peers: ["b"], prng: createPrng(9), snapshotEveryRecords: 7 }, 0, p);
    expect(text(again)).toBe(text(a));
    expect(again.sizes().seq).toBe(a.sizes().seq);
    expect(again.incarnation).toBe(a.incarnation);
    expect(again.put("new", 1).ok && again.get("new").versions[0]!.dot.counter).toBe(21);
    expect(() => new KvNode({ id: "z", address: "z", peers: [], prng: createPrng(1) }, 0, p)).toThrow(/belongs to replica a/);
  });

  it("a peer back at the same address with an empty disk (a new incarnation) gets everything again", () => {
    const c = cluster(["a", "b"], { heartbeatEveryRounds: 2 });
    for (let i = 0; i < 5; i++) c.get("a").put(`k${i}`, i);
    c.settle(3);
    expect(c.get("a").peers()[0]!.acked).toBe(5);
    c.nodes.set("b", c.make("b", 2)); // same id and address, nothing on disk
    c.settle(4);
    expect(c.get("b").list()).toEqual(["k0", "k1", "k2", "k3", "k4"]);
  });

  it("reports changes to subscribers when events are on", () => {
    const a = new KvNode({ id: "a", address: "a", peers: [], prng: createPrng(1), emitEvents: true });
    a.put("k", "v");
    a.delete("k");
    const r = readyOf(a);
    expect(r.events.map((e) => [e.key, e.result.exists, e.origin])).toEqual([
      ["k", true, "local"],
      ["k", false, "local"],
    ]);
    expect(r.records).toHaveLength(2);
  });

  it("validates configuration with the field named", () => {
    expect(() => new KvNode({ id: "a:b", address: "a", peers: [], prng: createPrng(1) })).toThrow(/config\.id/);
    expect(() => new KvNode({ id: "a", address: "a", peers: [], prng: createPrng(1), fanout: 0 })).toThrow(/config\.fanout/);
  });
});
