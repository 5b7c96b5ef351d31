import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openTransport } from "@heck/sim/io";
import type { Stream } from "@heck/sim";
import { RaftKvNode } from "../src/io/kv-node.ts";
import { Wal, WalCorruptionError } from "../src/io/wal.ts";
import { decodeEnvelope } from "../src/core/replica/envelope.ts";
import { TestCluster, tempDir } from "./support/cluster.ts";
import { DEFAULT_KV_STORE_CONFIG, fromUtf8, utf8 } from "../src/core/kv/index.ts";
import { RaftKvHttpClient } from "../src/io/http-client.ts";
import { ServerError } from "../src/core/replica/errors.ts";

// Ports 15210-15249 and 15260-15269 belong to this file (peer listeners), one sub-range per test below.
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  vi.restoreAllMocks();
});

async function cluster(n: number, basePort: number, extra: Parameters<typeof TestCluster.start>[3] = {}): Promise<TestCluster> {
  const t = tempDir();
  const c = await TestCluster.start(n, basePort, t.dir, extra);
  cleanups.push(t.cleanup, () => c.stop());
  return c;
}

describe("persist before send (Raft Figure 2: stable storage before responding)", () => {
  it("every vote and append acknowledgement is in the fsynced WAL before it leaves the node", async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const peers = { n1: "127.0.0.1:15210", n2: "127.0.0.1:15211", n3: "127.0.0.1:15212" };
    const violations: string[] = [];
    let acks = 0;
    // A save that carries entries or a new term/vote leaves the WAL "dirty" until an fsync completes;
    // no acknowledgement may leave a node whose WAL is dirty.
    const lastHard = new Map<string, string>();
    const dirty = new Set<string>();
    const realSave = Wal.prototype.save;
    vi.spyOn(Wal.prototype, "save").mockImplementation(function (this: Wal, hs, entries, sync) {
      const key = hs ? `${hs.term}/${hs.vote}` : undefined;
      const changed = key !== undefined && key !== lastHard.get(this.dir);
      if (key) lastHard.set(this.dir, key);
      realSave.call(this, hs, entries, sync);
      if ((entries.length > 0 || changed) && !sync) dirty.add(this.dir);
    });
    const realSyncAsync = Wal.prototype.syncAsync;
    vi.spyOn(Wal.prototype, "syncAsync").mockImplementation(function (this: Wal, done) {
      const dir = this.dir;
      realSyncAsync.call(this, (error) => {
        if (!error) dirty.delete(dir);
        done(error);
      });
    });
    const checkDurable = (id: string, frame: Uint8Array) => {
      const env = decodeEnvelope(frame);
      if (!env.ok || env.value.kind !== "raft") return;
      const m = env.value.message;
      const isAck = (m.type === "appendResponse" && !m.reject) || (m.type === "voteResponse" && m.granted);
      if (!isAck) return;
      acks++;
      if (dirty.has(path.join(t.dir, id, "wal"))) violations.push(`${id} sent ${m.type} to ${m.to} while its WAL had unsynced entries or votes`);
      // Replay a copy of the WAL as it is on disk right now: it must already hold what the message acknowledges.
      const copy = fs.mkdtempSync(path.join(t.dir, "copy-"));
      fs.cpSync(path.join(t.dir, id, "wal"), copy, { recursive: true });
      const { wal, state } = Wal.open(copy);
      wal.close();
      fs.rmSync(copy, { recursive: true, force: true });
      if (m.type === "voteResponse" && (state.hardState.term !== m.term || state.hardState.vote !== m.to)) violations.push(`${id} granted a vote to ${m.to} in term ${m.term} before persisting it`);
      if (m.type === "appendResponse") {
        const last = state.entries.at(-1)?.index ?? state.snapshot?.index ?? 0;
        if (last < m.index) violations.push(`${id} acknowledged index ${m.index} with only ${last} on disk`);
      }
    };
    const nodes: RaftKvNode[] = [];
    for (const [id, addr] of Object.entries(peers)) {
      const inner = await openTransport({ host: "127.0.0.1", port: Number(addr.split(":")[1]) });
      const wrap = (s: Stream): Stream => ({
        remoteAddress: s.remoteAddress,
        send: (f) => {
          checkDurable(id, f);
          s.send(f);
        },
        onFrame: (h) => s.onFrame(h),
        onClose: (h) => s.onClose(h),
        close: () => s.close(),
      });
      const transport = Object.assign(Object.create(inner) as typeof inner, {
        dial: async (to: string, timeoutMs: number) => wrap(await inner.dial(to, timeoutMs)),
        onStream: (h: (s: Stream) => void) => inner.onStream(h),
        close: () => inner.close(),
      });
      nodes.push(await RaftKvNode.start({ id, peers, dataDir: path.join(t.dir, id), transport, log: () => {} }));
    }
    cleanups.push(() => Promise.all(nodes.map((n) => n.stop())).then(() => undefined));
    const leaderId = await nodes[0]!.waitForLeader();
    const leader = nodes.find((n) => n.id === leaderId)!;
    for (let i = 0; i < 10; i++) await leader.write({ type: "put", key: utf8(`k${i}`), value: utf8(`v${i}`) });
    expect(acks).toBeGreaterThan(10);
    expect(violations).toEqual([]);
  }, 30_000);
});

describe("restart and snapshots", () => {
  it("a restarted member recovers its state from snapshot + WAL, and old segments are released", async () => {
    const c = await cluster(3, 15215, { snapshotEntries: 20, walSegmentBytes: 4096 });
    const leader = await c.leader();
    for (let i = 0; i < 60; i++) await leader.kv.put(`key-${i}`, `value-${i}`);
    const follower = await c.follower();
    const id = follower.id;
    await c.stopNode(id);
    const snaps = fs.readdirSync(path.join(c.dataDir, id, "snap"));
    expect(snaps.length).toBeGreaterThan(0);
    const restarted = await c.startNode(id);
    await c.leader();
    const r = await restarted.kv.range("key-", { linearizable: true });
    expect(r.kvs.length).toBe(60);
    expect(fromUtf8(r.kvs.find((kv) => fromUtf8(kv.key) === "key-59")!.value)).toBe("value-59");
    expect(restarted.node.status().snapshotIndex).toBeGreaterThan(0);
  }, 30_000);

  it("a follower that missed compacted entries catches up through InstallSnapshot", async () => {
    const c = await cluster(3, 15220, { snapshotEntries: 10 });
    const leader = await c.leader();
    const laggerNode = await c.follower();
    const lagger = laggerNode.id;
    const laggerApplied = laggerNode.node.status().appliedIndex;
    await c.stopNode(lagger);
    for (let i = 0; i < 40; i++) await leader.kv.put(`lag-${i}`, String(i));
    // What the test needs: the leader compacted past everything the lagger has. (Snapshot files are written
    // one at a time off the event loop, so under load a later snapshot may be skipped: the index is not
    // necessarily 40, only past the lagger.)
    expect(leader.node.status().snapshotIndex).toBeGreaterThan(laggerApplied);
    const back = await c.startNode(lagger);
    const deadline = Date.now() + 10_000;
    while (back.node.status().appliedIndex < leader.node.status().commitIndex && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const local = await back.kv.range("lag-", { linearizable: false });
    expect(local.kvs.length).toBe(40);
    expect(c.logs.some((l) => l.startsWith(`[${lagger}] installed snapshot`))).toBe(true);
  }, 30_000);
});

describe("bad input on disk and on the wire", () => {
  it("refuses to start on a WAL corrupted in the middle, naming the file; the others keep serving", async () => {
    const c = await cluster(3, 15225);
    const leader = await c.leader();
    for (let i = 0; i < 20; i++) await leader.kv.put(`c${i}`, "x".repeat(100));
    const victim = (await c.follower()).id;
    await c.stopNode(victim);
    const walDir = path.join(c.dataDir, victim, "wal");
    const seg = path.join(walDir, fs.readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort()[0]!);
    const buf = fs.readFileSync(seg);
    const at = Math.floor(buf.length / 3);
    buf[at] = buf[at]! ^ 0x5a;
    fs.writeFileSync(seg, buf);
    const err = await c.startNode(victim).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalCorruptionError);
    expect((err as Error).message).toContain(seg);
    expect(await leader.kv.put("after-corruption", "ok")).toBeGreaterThan(0);
  }, 30_000);

  it("refuses a data dir that belongs to another member", async () => {
    const c = await cluster(3, 15230);
    const leader = await c.leader();
    const other = (await c.follower()).id;
    const err = await RaftKvNode.start({ id: "n9", peers: { n9: "127.0.0.1:15239" }, dataDir: path.join(c.dataDir, other), transport: await openTransport({ port: 15239 }), log: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as Error).message).toMatch(/belongs to node n\d/);
    expect(await leader.kv.put("still", "fine")).toBeGreaterThan(0);
  }, 30_000);

  it("drops malformed peer frames, counts them, and keeps working", async () => {
    const c = await cluster(3, 15235);
    const leader = await c.leader();
    const attacker = await openTransport({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => attacker.close());
    const s = await attacker.dial(c.peers[leader.id]!, 1000);
    for (const junk of [new Uint8Array([]), new Uint8Array([1, 99, 0]), new Uint8Array([2, 200, 200, 200]), new Uint8Array([1, 1, 1, 0x80]), utf8("GET / HTTP/1.1")]) s.send(junk);
    const deadline = Date.now() + 5_000;
    while (leader.node.status().malformedFrames < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(leader.node.status().malformedFrames).toBe(5);
    expect(await leader.kv.put("after-junk", "ok")).toBeGreaterThan(0);
  }, 30_000);
});

describe("partitions through the transport fault layer", () => {
  it("a partitioned leader serves no stale linearizable read; the majority elects a new leader; healing reconverges", async () => {
    const c = await cluster(3, 15240, { requestTimeoutMs: 1_500 });
    const old = await c.leader();
    await old.kv.put("p", "before");
    const others = [...c.servers.values()].filter((s) => s.id !== old.id);
    old.node.block(others.map((s) => s.id));
    for (const s of others) s.node.block([old.id]);
    // The majority side moves on.
    let newLeader: string | null = null;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      newLeader = others[0]!.node.leader;
      if (newLeader && newLeader !== old.id && others.every((s) => s.node.leader === newLeader)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(newLeader).not.toBe(old.id);
    await others[0]!.kv.put("p", "after");
    // The old leader cannot confirm its leadership (ReadIndex needs a quorum), so it never returns "before".
    const stale = await old.node.range({ key: utf8("p") }, true).then((r) => fromUtf8(r.response.kvs[0]!.value), (e: unknown) => (e instanceof ServerError ? e.code : String(e)));
    expect(["timeout", "no_leader"]).toContain(stale);
    old.node.unblock();
    for (const s of others) s.node.unblock();
    const heal = Date.now() + 10_000;
    while (Date.now() < heal && !(old.node.leader === newLeader && old.node.status().appliedIndex >= others[0]!.node.status().appliedIndex)) await new Promise((r) => setTimeout(r, 50));
    expect(await old.kv.getText("p")).toBe("after");
  }, 40_000);
});

describe("membership", () => {
  it("adds a member as a learner, promotes it once caught up, then removes it", async () => {
    const c = await cluster(3, 15245);
    const leader = await c.leader();
    for (let i = 0; i < 30; i++) await leader.kv.put(`m${i}`, String(i));
    // As `heck-raft server --join`: an empty member that waits for the leader to add it.
    c.peers.n4 = "127.0.0.1:15248";
    c.extra.join = true;
    const n4 = await c.startNode("n4");
    c.extra.join = false;
    expect(n4.node.status().members).toEqual([]);
    const members = await leader.node.addMember("n4", "127.0.0.1:15248");
    expect(members.map((m) => [m.id, m.learner])).toEqual([["n1", false], ["n2", false], ["n3", false], ["n4", false]]);
    const r = await n4.kv.range("m", { linearizable: true });
    expect(r.kvs.length).toBe(30);
    const after = await (await c.leader()).node.removeMember("n4");
    expect(after.map((m) => m.id)).toEqual(["n1", "n2", "n3"]);
    await expect(leader.node.removeMember("n42")).rejects.toMatchObject({ code: "unknown_member" });
  }, 40_000);
  it("a member removed while it could not hear of it is told so by the others, and stops instead of campaigning forever", async () => {
    const c = await cluster(3, 15264);
    const leader = await c.leader();
    await leader.kv.put("before", "n4"); // the bootstrap configuration is applied: one membership change at a time (§4.1)
    c.peers.n4 = "127.0.0.1:15267";
    c.extra.join = true;
    let removedCalls = 0;
    c.extra.onRemoved = () => removedCalls++;
    const n4 = await c.startNode("n4");
    c.extra.join = false;
    await leader.node.addMember("n4", "127.0.0.1:15267");
    await n4.kv.range("", { linearizable: true });
    // Cut n4 off, then remove it: the removal commits on the majority, and n4 never hears of it.
    const others = [...c.servers.values()].filter((s) => s.id !== "n4");
    n4.node.block(others.map((s) => s.id));
    for (const s of others) s.node.block(["n4"]);
    const leaderOfOthers = async () => {
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
        const l = others.find((s) => s.node.isLeader);
        if (l !== undefined) return l;
      }
      throw new Error("the three others lost their leader");
    };
    const after = await (await leaderOfOthers()).node.removeMember("n4");
    expect(after.map((m) => m.id)).toEqual(["n1", "n2", "n3"]);
    expect(n4.node.status().role).not.toBe("removed");
    // Healed, n4 campaigns from its old configuration; the others answer that it was removed.
    n4.node.unblock();
    for (const s of others) s.node.unblock();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && removedCalls === 0) await new Promise((r) => setTimeout(r, 50));
    expect(removedCalls).toBe(1);
    expect(n4.node.status().role).toBe("removed");
    expect(c.logs.some((l) => /^\[n4\] n\d reports that this node was removed from the cluster/.test(l))).toBe(true);
    // The others kept a leader throughout: the removed member disrupted nothing.
    await leaderOfOthers();
  }, 40_000);
});

describe("client sessions expire by the log's clock (dissertation §6.3)", () => {
  it("a client whose session expired while idle registers again by itself, and each write applies once", async () => {
    // Ports 15260-15262. A 1 s session TTL: long enough that the two first writes, one after the
    // other, both find their sessions alive on a busy machine; once both have been idle past it, the
    // next write's own timestamp expires them.
    const ttlMs = 1_000;
    const c = await cluster(1, 15260, { kvConfig: { ...DEFAULT_KV_STORE_CONFIG, sessionTtlMs: ttlMs } });
    const s = c.server("n1");
    const http = new RaftKvHttpClient({ endpoints: [s.httpAddress!] });
    await s.kv.put("embedded", "1");
    await http.put("http", "1");
    expect(s.node.status().sessions).toBe(2);
    // Sessions expire by the clock, so the wait is for time itself to pass the TTL.
    await new Promise((r) => setTimeout(r, ttlMs + 100));
    // Both writes find their session gone (session_expired, certainly not applied), register again and succeed.
    await s.kv.put("embedded", "2");
    await http.put("http", "2");
    expect(await s.kv.getText("embedded")).toBe("2");
    expect(await s.kv.getText("http")).toBe("2");
    // version 2: each write applied exactly once; only the two new sessions are left.
    expect((await s.kv.get("embedded"))?.version).toBe(2);
    expect((await s.kv.get("http"))?.version).toBe(2);
    expect(s.node.status().sessions).toBe(2);
  });
});

describe("embedded transactions (EmbeddedKv.txn)", () => {
  it("applies all or nothing in one entry under the client session, answers the failure branch, and refuses too many ops naming the field", async () => {
    // Port 15263.
    const c = await cluster(1, 15263);
    const s = c.server("n1");
    const put = (key: string, value: string) => ({ type: "put" as const, key: utf8(key), value: utf8(value) });
    const range = (key: string) => ({ type: "range" as const, key: utf8(key) });
    expect(s.node.status().sessions).toBe(0);
    // Both compares hold (both keys absent = version 0): both puts land at one revision.
    const ok = await s.kv.txn({
      compare: [
        { key: utf8("t/a"), target: "version", result: "equal", value: 0 },
        { key: utf8("t/b"), target: "version", result: "equal", value: 0 },
      ],
      success: [put("t/a", "1"), put("t/b", "1")],
      failure: [range("t/a"), range("t/b")],
    });
    expect(ok.response.type === "txn" && ok.response.succeeded).toBe(true);
    expect((await s.kv.get("t/a"))?.modRevision).toBe(ok.revision);
    expect((await s.kv.get("t/b"))?.modRevision).toBe(ok.revision);
    // The transaction was the client's first write and went through a client session (§6.3), not around it.
    expect(s.node.status().sessions).toBe(1);
    const a = await s.kv.put("t/a", "2");
    // A stale compare: nothing is written, and the failure branch reads the current pair.
    const stale = await s.kv.txn({ compare: [{ key: utf8("t/a"), target: "mod", result: "equal", value: a - 1 }], success: [put("t/a", "3"), put("t/c", "1")], failure: [range("t/a")] });
    expect(stale.response.type === "txn" && stale.response.succeeded).toBe(false);
    const cur = stale.response.type === "txn" ? stale.response.responses[0] : undefined;
    expect(cur?.type === "range" ? fromUtf8(cur.kvs[0]!.value) : undefined).toBe("2");
    expect(await s.kv.get("t/c")).toBeUndefined();
    expect(s.node.status().sessions).toBe(1);
    const tooMany = Array.from({ length: 200 }, (_, i) => put(`t/x${i}`, "v"));
    const err = await s.kv.txn({ compare: [], success: tooMany, failure: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as Error).message).toMatch(/^txn/);
  });
});
