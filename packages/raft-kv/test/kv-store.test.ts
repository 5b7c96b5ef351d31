import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { KvStore, decodeCommand, encodeCommand, fromByteString, fromUtf8, prefixRangeEnd, toByteString, utf8, type KvCommand, type WriteOp } from "../src/core/kv/index.ts";

const b = utf8;
function write(store: KvStore, op: WriteOp, session?: { clientId: number; seq: number; firstUnackedSeq: number }) {
  const cmd: KvCommand = session ? { type: "write", requestId: `r${store.appliedIndex + 1}`, session, op } : { type: "write", requestId: `r${store.appliedIndex + 1}`, op };
  // Round-trip through the codec, as every command does through the log.
  const decoded = decodeCommand(encodeCommand(cmd));
  if (!decoded.ok) throw new Error(decoded.error);
  return store.apply(store.appliedIndex + 1, decoded.value);
}
const put = (s: KvStore, k: string, v: string) => write(s, { type: "put", key: b(k), value: b(v) });

describe("byte strings", () => {
  it("hold one char per byte, sort like the bytes and convert back, short keys and keys past 4 KiB alike", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const sa = toByteString(a);
        expect(sa.length).toBe(a.length);
        expect(fromByteString(sa)).toEqual(a);
        expect(Math.sign(sa < toByteString(b) ? -1 : sa > toByteString(b) ? 1 : 0)).toBe(Math.sign(Buffer.compare(a, b)));
      }),
    );
    const big = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7) & 0xff);
    expect(fromByteString(toByteString(big))).toEqual(big);
  });
});

describe("KvStore revisions (etcd semantics)", () => {
  it("starts at revision 1 and advances by one per put", () => {
    const s = new KvStore();
    expect(s.revision).toBe(1);
    put(s, "a", "1");
    put(s, "b", "2");
    expect(s.revision).toBe(3);
    const a = s.get(b("a"))!;
    expect([a.createRevision, a.modRevision, a.version]).toEqual([2, 2, 1]);
  });

  it("keeps create_revision and bumps version and mod_revision on overwrite", () => {
    const s = new KvStore();
    put(s, "a", "1");
    put(s, "a", "2");
    const a = s.get(b("a"))!;
    expect(fromUtf8(a.value)).toBe("2");
    expect([a.createRevision, a.modRevision, a.version]).toEqual([2, 3, 2]);
  });

  it("resets version after a delete and a re-create", () => {
    const s = new KvStore();
    put(s, "a", "1");
    write(s, { type: "delete", key: b("a") });
    expect(s.get(b("a"))).toBeUndefined();
    put(s, "a", "again");
    const a = s.get(b("a"))!;
    expect([a.createRevision, a.modRevision, a.version]).toEqual([4, 4, 1]);
  });

  it("does not advance the revision for a delete that deletes nothing", () => {
    const s = new KvStore();
    const r = write(s, { type: "delete", key: b("nothing") });
    expect(r.ok && "response" in r && r.response.type === "delete" && r.response.deleted).toBe(0);
    expect(s.revision).toBe(1);
  });
});

describe("KvStore ranges", () => {
  it("ranges by prefix in byte order with limit and more", () => {
    const s = new KvStore();
    for (const k of ["app/b", "app/a", "apq", "ap", "app/c"]) put(s, k, k);
    const r = s.range({ key: b("app/"), rangeEnd: prefixRangeEnd(b("app/")) });
    expect(r.ok && r.response.kvs.map((kv) => fromUtf8(kv.key))).toEqual(["app/a", "app/b", "app/c"]);
    const lim = s.range({ key: b("app/"), rangeEnd: prefixRangeEnd(b("app/")), limit: 2 });
    expect(lim.ok && [lim.response.kvs.length, lim.response.more, lim.response.count]).toEqual([2, true, 3]);
  });

  it("treats rangeEnd \\0 as every key from key on", () => {
    const s = new KvStore();
    for (const k of ["a", "b", "c"]) put(s, k, k);
    const r = s.range({ key: b("b"), rangeEnd: new Uint8Array([0]) });
    expect(r.ok && r.response.kvs.map((kv) => fromUtf8(kv.key))).toEqual(["b", "c"]);
  });

  it("sorts descending by mod revision and honours keysOnly and countOnly", () => {
    const s = new KvStore();
    put(s, "x", "1");
    put(s, "y", "2");
    put(s, "x", "3");
    const r = s.range({ key: b("a"), rangeEnd: new Uint8Array([0]), sortOrder: "descend", sortTarget: "mod", keysOnly: true });
    expect(r.ok && r.response.kvs.map((kv) => [fromUtf8(kv.key), kv.value.length])).toEqual([["x", 0], ["y", 0]]);
    const c = s.range({ key: b("a"), rangeEnd: new Uint8Array([0]), countOnly: true });
    expect(c.ok && [c.response.kvs.length, c.response.count]).toEqual([0, 2]);
  });

  it("refuses reads at an old or a future revision with a named error", () => {
    const s = new KvStore();
    put(s, "a", "1");
    put(s, "a", "2");
    const old = s.range({ key: b("a"), revision: 2 });
    expect(!old.ok && old.error.code).toBe("compacted");
    const future = s.range({ key: b("a"), revision: 99 });
    expect(!future.ok && future.error.code).toBe("future_revision");
  });
});

describe("KvStore transactions (etcd Txn compares)", () => {
  it("compare-and-set on value succeeds once", () => {
    const s = new KvStore();
    put(s, "lock", "free");
    const cas = (expect_: string, next: string) =>
      write(s, { type: "txn", compare: [{ key: b("lock"), target: "value", result: "equal", value: b(expect_) }], success: [{ type: "put", key: b("lock"), value: b(next) }], failure: [{ type: "range", key: b("lock") }] });
    const first = cas("free", "held");
    const second = cas("free", "held-again");
    expect(first.ok && "response" in first && first.response.type === "txn" && first.response.succeeded).toBe(true);
    expect(second.ok && "response" in second && second.response.type === "txn" && second.response.succeeded).toBe(false);
    expect(fromUtf8(s.get(b("lock"))!.value)).toBe("held");
  });

  it("compares version 0 / create_revision 0 to mean 'does not exist'", () => {
    const s = new KvStore();
    const create = () =>
      write(s, { type: "txn", compare: [{ key: b("k"), target: "create", result: "equal", value: 0 }], success: [{ type: "put", key: b("k"), value: b("v") }], failure: [] });
    const r1 = create();
    const r2 = create();
    expect(r1.ok && "response" in r1 && r1.response.type === "txn" && r1.response.succeeded).toBe(true);
    expect(r2.ok && "response" in r2 && r2.response.type === "txn" && r2.response.succeeded).toBe(false);
  });

  it("fails a value compare on a missing key, as etcd does", () => {
    const s = new KvStore();
    expect(s.compare({ key: b("missing"), target: "value", result: "not_equal", value: b("x") })).toBe(false);
    expect(s.compare({ key: b("missing"), target: "version", result: "equal", value: 0 })).toBe(true);
  });

  it("gives all writes of one txn one revision, and reads inside see earlier writes", () => {
    const s = new KvStore();
    const r = write(s, { type: "txn", compare: [], success: [{ type: "put", key: b("a"), value: b("1") }, { type: "put", key: b("b"), value: b("2") }, { type: "range", key: b("a") }], failure: [] });
    expect(s.revision).toBe(2);
    expect(s.get(b("a"))!.modRevision).toBe(2);
    expect(s.get(b("b"))!.modRevision).toBe(2);
    const inner = r.ok && "response" in r && r.response.type === "txn" ? r.response.responses[2] : undefined;
    expect(inner?.type === "range" && inner.kvs.length).toBe(1);
  });

  it("refuses a txn that puts one key twice, applying nothing", () => {
    const s = new KvStore();
    const r = write(s, { type: "txn", compare: [], success: [{ type: "put", key: b("a"), value: b("1") }, { type: "put", key: b("a"), value: b("2") }], failure: [] });
    expect(!r.ok && r.error.code).toBe("invalid_request");
    expect(s.get(b("a"))).toBeUndefined();
    expect(s.revision).toBe(1);
  });

  it("refuses ignoreValue on a missing key", () => {
    const s = new KvStore();
    const r = write(s, { type: "put", key: b("a"), value: new Uint8Array(0), ignoreValue: true });
    expect(!r.ok && r.error.code).toBe("key_not_found");
  });
});

describe("KvStore client sessions (dissertation §6.3)", () => {
  it("applies a retried write once and answers the retry from the cache", () => {
    const s = new KvStore();
    const reg = s.apply(s.appliedIndex + 1, { type: "register", requestId: "reg" });
    const clientId = reg.ok && "registered" in reg ? reg.registered : -1;
    const tag = { clientId, seq: 1, firstUnackedSeq: 1 };
    const first = write(s, { type: "txn", compare: [], success: [{ type: "put", key: b("n"), value: b("1") }], failure: [] }, tag);
    const retry = write(s, { type: "txn", compare: [], success: [{ type: "put", key: b("n"), value: b("1") }], failure: [] }, tag);
    expect(retry.ok && "duplicate" in retry && retry.duplicate).toBe(true);
    expect(retry.revision).toBe(first.revision);
    expect(s.get(b("n"))!.version).toBe(1);
  });

  it("refuses a request the client already acknowledged, and an unknown session", () => {
    const s = new KvStore();
    const reg = s.apply(1, { type: "register", requestId: "reg" });
    const clientId = reg.ok && "registered" in reg ? reg.registered : -1;
    put(s, "x", "0");
    write(s, { type: "put", key: b("x"), value: b("1") }, { clientId, seq: 1, firstUnackedSeq: 1 });
    write(s, { type: "put", key: b("x"), value: b("2") }, { clientId, seq: 2, firstUnackedSeq: 2 });
    const stale = write(s, { type: "put", key: b("x"), value: b("1") }, { clientId, seq: 1, firstUnackedSeq: 1 });
    expect(!stale.ok && stale.error.code).toBe("stale_request");
    const unknown = write(s, { type: "put", key: b("x"), value: b("1") }, { clientId: 999, seq: 1, firstUnackedSeq: 1 });
    expect(!unknown.ok && unknown.error.code).toBe("session_expired");
  });

  it("expires the least recently used session beyond maxSessions, the same way on every replica", () => {
    const s = new KvStore({ historyRevisions: 100, maxSessions: 2, maxCachedPerSession: 4 });
    const ids = [1, 2, 3].map(() => {
      const r = s.apply(s.appliedIndex + 1, { type: "register", requestId: "r" });
      return r.ok && "registered" in r ? r.registered : -1;
    });
    expect(s.sessionCount).toBe(2);
    const r = write(s, { type: "put", key: b("a"), value: b("1") }, { clientId: ids[0]!, seq: 1, firstUnackedSeq: 1 });
    expect(!r.ok && r.error.code).toBe("session_expired");
  });
});

describe("KvStore session expiry by the log's clock (dissertation §6.3)", () => {
  const HOUR = 3_600_000;
  const T0 = 1_700_000_000_000;
  /** Applies a command stamped `timeMs`, through the codec, at the next index. */
  function at(s: KvStore, timeMs: number, cmd: KvCommand) {
    const decoded = decodeCommand(encodeCommand({ ...cmd, timeMs }));
    if (!decoded.ok) throw new Error(decoded.error);
    return s.apply(s.appliedIndex + 1, decoded.value);
  }
  const register = (s: KvStore, timeMs: number) => {
    const r = at(s, timeMs, { type: "register", requestId: "reg" });
    return r.ok && "registered" in r ? r.registered : -1;
  };
  const writeAt = (s: KvStore, timeMs: number, clientId: number, seq: number) => at(s, timeMs, { type: "write", requestId: `w${seq}`, session: { clientId, seq, firstUnackedSeq: seq }, op: { type: "put", key: b("k"), value: b(String(seq)) } });

  it("expires a session idle longer than sessionTtlMs, at the same log index on every replica", () => {
    const replicas = [new KvStore(), new KvStore()];
    const ids = replicas.map((s) => [register(s, T0), register(s, T0)] as const);
    expect(ids[0]).toEqual(ids[1]);
    const [idle, busy] = ids[0]!;
    for (const s of replicas) {
      // The busy client writes every 15 minutes; the idle one never.
      for (let i = 1; i <= 3; i++) expect(writeAt(s, T0 + i * 15 * 60_000, busy, i).ok).toBe(true);
      expect(s.sessionCount).toBe(2);
      // A command an hour and a second after the idle client's registration expires it (and only it).
      expect(writeAt(s, T0 + HOUR + 1000, busy, 4).ok).toBe(true);
      expect(s.sessionCount).toBe(1);
      const r = writeAt(s, T0 + HOUR + 2000, idle, 1);
      expect(!r.ok && r.error.code).toBe("session_expired");
    }
    expect(replicas[0]!.digest()).toBe(replicas[1]!.digest());
  });

  it("keeps time from going backwards: a command stamped earlier (a server with a slow clock) does not undo expiry", () => {
    const s = new KvStore();
    const id = register(s, T0);
    register(s, T0 + HOUR + 1); // expires `id`
    expect(s.sessionCount).toBe(1);
    const r = writeAt(s, T0 + 10, id, 1);
    expect(!r.ok && r.error.code).toBe("session_expired");
  });

  it("carries the clock and each session's last use through a snapshot", () => {
    const s = new KvStore();
    const a = register(s, T0);
    const c = register(s, T0 + 30 * 60_000);
    const restored = KvStore.restore(s.snapshot());
    for (const x of [s, restored]) {
      register(x, T0 + HOUR + 1); // `a` is due, `c` is not
      expect(writeAt(x, T0 + HOUR + 2, a, 1).ok).toBe(false);
      expect(writeAt(x, T0 + HOUR + 3, c, 1).ok).toBe(true);
    }
    expect(restored.digest()).toBe(s.digest());
  });

  it("with sessionTtlMs 0 only the count limit applies; commands without a time never move the clock", () => {
    const s = new KvStore({ historyRevisions: 10, maxSessions: 10, maxCachedPerSession: 10, sessionTtlMs: 0 });
    const id = register(s, T0);
    expect(writeAt(s, T0 + 100 * HOUR, id, 1).ok).toBe(true);
    const t = new KvStore();
    const r = t.apply(1, { type: "register", requestId: "r" });
    const untimed = r.ok && "registered" in r ? r.registered : -1;
    expect(write(t, { type: "put", key: b("x"), value: b("1") }, { clientId: untimed, seq: 1, firstUnackedSeq: 1 }).ok).toBe(true);
  });

  it("decodes a version-1 command (written before commands carried a time)", () => {
    // version 1, tag 1 (register), requestId "r"
    const d = decodeCommand(new Uint8Array([1, 1, 1, 0x72]));
    expect(d).toEqual({ ok: true, value: { type: "register", requestId: "r" } });
  });
});

describe("KvStore watch history", () => {
  it("replays events from a past revision, with prevKv, filtered by range", () => {
    const s = new KvStore();
    put(s, "a/1", "x");
    put(s, "b", "y");
    put(s, "a/1", "z");
    write(s, { type: "delete", key: b("a/1") });
    const r = s.eventsSince(3, b("a/"), prefixRangeEnd(b("a/")));
    expect(r.ok && r.events.map((e) => [e.type, e.kv.modRevision, e.prevKv ? fromUtf8(e.prevKv.value) : null])).toEqual([
      ["put", 4, "x"],
      ["delete", 5, "z"],
    ]);
  });

  it("reports compaction when the start revision fell out of the kept history", () => {
    const s = new KvStore({ historyRevisions: 3, maxSessions: 10, maxCachedPerSession: 10 });
    for (let i = 0; i < 10; i++) put(s, "k", String(i));
    const r = s.eventsSince(2, b("k"));
    // etcd's compact revision: the first revision a watch may still start at (revisions 9-11 are kept).
    expect(!r.ok && r.compactRevision).toBe(9);
    const ok = s.eventsSince(9, b("k"));
    expect(ok.ok && ok.events.length).toBe(3);
  });

  it("keeps exactly the last historyRevisions revisions over many writes, and a snapshot holds the same", () => {
    // Enough writes that the dropped prefix is cut off the history in bulk several times.
    const s = new KvStore({ historyRevisions: 1500, maxSessions: 10, maxCachedPerSession: 10 });
    for (let i = 0; i < 6000; i++) put(s, `k${i % 7}`, String(i));
    const first = s.revision - 1500 + 1;
    const before = s.eventsSince(first - 1, b("k0"));
    expect(!before.ok && before.compactRevision).toBe(first);
    const kept = s.eventsSince(first, b("k"), b("l"));
    expect(kept.ok && kept.events.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 1500 }, (_, i) => first + i));
    const copy = KvStore.restore(s.snapshot());
    expect(copy.digest()).toBe(s.digest());
    const copied = copy.eventsSince(first, b("k"), b("l"));
    expect(copied.ok && copied.events.length).toBe(1500);
    expect(s.apply(s.appliedIndex + 1, { type: "compact", requestId: "c", revision: first + 1000 }).ok).toBe(true);
    const compacted = s.eventsSince(first + 1000, b("k"), b("l"));
    expect(compacted.ok && compacted.events.length).toBe(500);
  });
});

describe("KvStore snapshots", () => {
  it("restores data, revisions, history, sessions and members exactly", () => {
    const s = new KvStore();
    const reg = s.apply(1, { type: "register", requestId: "reg" });
    const clientId = reg.ok && "registered" in reg ? reg.registered : -1;
    put(s, "a", "1");
    write(s, { type: "put", key: b("b"), value: b("2") }, { clientId, seq: 1, firstUnackedSeq: 1 });
    s.applyMembership(s.appliedIndex + 1, "n1", { peerAddress: "127.0.0.1:1", clientUrls: ["http://127.0.0.1:2"], httpAddress: "127.0.0.1:3" });
    const copy = KvStore.restore(s.snapshot());
    expect(copy.digest()).toBe(s.digest());
    expect(copy.appliedIndex).toBe(s.appliedIndex);
    expect(copy.members().get("n1")?.httpAddress).toBe("127.0.0.1:3");
    // The cached response survives, so a retry after the snapshot still applies once.
    const retry = write(copy, { type: "put", key: b("b"), value: b("2") }, { clientId, seq: 1, firstUnackedSeq: 1 });
    expect(retry.ok && "duplicate" in retry && retry.duplicate).toBe(true);
  });

  it("refuses a truncated snapshot with a clear error", () => {
    const s = new KvStore();
    put(s, "a", "1");
    const bytes = s.snapshot();
    expect(() => KvStore.restore(bytes.subarray(0, bytes.length - 3))).toThrow(/KV snapshot is malformed/);
  });
});

describe("KvStore bad commands", () => {
  it("fails a malformed log entry on every replica alike without throwing", () => {
    const s = new KvStore();
    const { result } = s.applyEntry(1, new Uint8Array([1, 0, 200, 200]));
    expect(!result.ok && result.error.code).toBe("invalid_request");
    expect(s.appliedIndex).toBe(1);
  });

  it("decodes nothing but what it encoded (random bytes never throw)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const d = decodeCommand(bytes);
        if (d.ok) expect(encodeCommand(d.value).length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});

// --- model-based test: the store against a plain Map -------------------------

interface Model {
  map: Map<string, { value: string; version: number }>;
}
const keyArb = fc.constantFrom("a", "ab", "abc", "b", "b/1", "b/2", "c");

/** After every command the whole store must equal the model: keys, values and versions. */
function agree(m: Model, s: KvStore): void {
  const all = s.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
  const real = all.ok ? all.response.kvs.map((kv) => [fromUtf8(kv.key), fromUtf8(kv.value), kv.version]) : [];
  const model = [...m.map.entries()].sort(([a], [c]) => (a < c ? -1 : 1)).map(([k, v]) => [k, v.value, v.version]);
  expect(real).toEqual(model);
}
// A small value alphabet so CAS compares hit as often as they miss.
const valueArb = fc.oneof(fc.constantFrom("", "x", "y", "zz"), fc.string({ maxLength: 6 }));

class PutCmd implements fc.Command<Model, KvStore> {
  constructor(readonly key: string, readonly value: string) {}
  check = () => true;
  run(m: Model, s: KvStore): void {
    const before = s.revision;
    put(s, this.key, this.value);
    const prev = m.map.get(this.key);
    m.map.set(this.key, { value: this.value, version: (prev?.version ?? 0) + 1 });
    expect(s.revision).toBe(before + 1);
    expect(s.get(b(this.key))!.version).toBe(m.map.get(this.key)!.version);
    agree(m, s);
  }
  toString = () => `put(${this.key}, ${JSON.stringify(this.value)})`;
}
class DeleteCmd implements fc.Command<Model, KvStore> {
  constructor(readonly prefix: string, readonly asPrefix: boolean) {}
  check = () => true;
  run(m: Model, s: KvStore): void {
    const op: WriteOp = this.asPrefix ? { type: "delete", key: b(this.prefix), rangeEnd: prefixRangeEnd(b(this.prefix)) } : { type: "delete", key: b(this.prefix) };
    const r = write(s, op);
    const gone = [...m.map.keys()].filter((k) => (this.asPrefix ? k.startsWith(this.prefix) : k === this.prefix));
    for (const k of gone) m.map.delete(k);
    expect(r.ok && "response" in r && r.response.type === "delete" && r.response.deleted).toBe(gone.length);
    agree(m, s);
  }
  toString = () => `delete(${this.prefix}, prefix=${this.asPrefix})`;
}
class CasCmd implements fc.Command<Model, KvStore> {
  constructor(readonly key: string, readonly expected: string, readonly next: string) {}
  check = () => true;
  run(m: Model, s: KvStore): void {
    const r = write(s, { type: "txn", compare: [{ key: b(this.key), target: "value", result: "equal", value: b(this.expected) }], success: [{ type: "put", key: b(this.key), value: b(this.next) }], failure: [] });
    const cur = m.map.get(this.key);
    const should = cur !== undefined && cur.value === this.expected;
    if (should) m.map.set(this.key, { value: this.next, version: cur.version + 1 });
    expect(r.ok && "response" in r && r.response.type === "txn" && r.response.succeeded).toBe(should);
    agree(m, s);
  }
  toString = () => `cas(${this.key}, ${JSON.stringify(this.expected)} -> ${JSON.stringify(this.next)})`;
}
class RangeCmd implements fc.Command<Model, KvStore> {
  constructor(readonly prefix: string) {}
  check = () => true;
  run(m: Model, s: KvStore): void {
    const r = s.range({ key: b(this.prefix), rangeEnd: prefixRangeEnd(b(this.prefix)) });
    const expected = [...m.map.entries()].filter(([k]) => k.startsWith(this.prefix)).sort(([a], [c]) => (a < c ? -1 : 1)).map(([k, v]) => [k, v.value]);
    expect(r.ok && r.response.kvs.map((kv) => [fromUtf8(kv.key), fromUtf8(kv.value)])).toEqual(expected);
  }
  toString = () => `range(${this.prefix})`;
}
class SnapshotCmd implements fc.Command<Model, KvStore> {
  check = () => true;
  run(_m: Model, s: KvStore): void {
    const copy = KvStore.restore(s.snapshot());
    expect(copy.sameData(s)).toBe(true);
  }
  toString = () => "snapshot-restore";
}

describe("KvStore against a Map model (fc.commands)", () => {
  it("agrees with the model on every put, delete, cas and range", () => {
    const cmds = [
      fc.tuple(keyArb, valueArb).map(([k, v]) => new PutCmd(k, v)),
      fc.tuple(fc.constantFrom("a", "b", "b/", "c", ""), fc.boolean()).filter(([p, asPrefix]) => p !== "" || asPrefix).map(([p, asPrefix]) => new DeleteCmd(p === "" ? "a" : p, asPrefix)),
      fc.tuple(keyArb, valueArb, valueArb).map(([k, e, n]) => new CasCmd(k, e, n)),
      fc.constantFrom("", "a", "ab", "b/", "z").map((p) => new RangeCmd(p === "" ? "a" : p)),
      fc.constant(new SnapshotCmd()),
    ];
    fc.assert(
      fc.property(fc.commands(cmds, { maxCommands: 80, size: "large" }), (commands) => {
        fc.modelRun(() => ({ model: { map: new Map() }, real: new KvStore() }), commands);
      }),
      { numRuns: 150 },
    );
  });
});
