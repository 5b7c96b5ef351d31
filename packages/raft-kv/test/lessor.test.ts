/**
 * Leases in the core: the replicated lease table inside the KV state machine
 * (grant, attach, revoke removing keys in one revision, snapshots) and the
 * leader's clock (keep-alive, expiry only by the leader, TTLs extended on a
 * leader change). Everything here runs on injected time.
 */
import { describe, expect, it } from "vitest";
import { KvStore, LeaseClock, decodeCommand, encodeCommand, fromUtf8, utf8, type ApplyResult, type KvCommand } from "../src/core/kv/index.ts";

const b = utf8;

/** Applies a command through the codec, as every command reaches the store through the log. */
function apply(store: KvStore, cmd: KvCommand): ApplyResult {
  const decoded = decodeCommand(encodeCommand(cmd));
  if (!decoded.ok) throw new Error(decoded.error);
  return store.apply(store.appliedIndex + 1, decoded.value);
}
const grant = (s: KvStore, id: number, ttlSec: number) => apply(s, { type: "lease-grant", requestId: "g", id, ttlSec });
const revoke = (s: KvStore, id: number) => apply(s, { type: "lease-revoke", requestId: "r", id });
const put = (s: KvStore, key: string, value: string, lease = 0) => apply(s, { type: "write", requestId: "p", op: { type: "put", key: b(key), value: b(value), lease } });

describe("the replicated lease table", () => {
  it("grants a lease and reports it with its TTL and no keys", () => {
    const s = new KvStore();
    expect(grant(s, 7, 30)).toMatchObject({ ok: true, leaseGranted: { id: 7, ttlSec: 30 } });
    expect(s.lease(7)).toEqual({ id: 7, ttlSec: 30, keys: [] });
    expect(s.leases()).toEqual([{ id: 7, ttlSec: 30 }]);
    // A grant changes no key, so the revision stays.
    expect(s.revision).toBe(1);
  });

  it("refuses id 0, an id in use and a TTL above etcd's maximum, with etcd's reasons", () => {
    const s = new KvStore();
    grant(s, 7, 30);
    expect(grant(s, 7, 30)).toMatchObject({ ok: false, error: { code: "lease_exists", message: "lease already exists" } });
    expect(grant(s, 0, 30)).toMatchObject({ ok: false, error: { code: "lease_not_found" } });
    expect(grant(s, 8, 9_000_000_001)).toMatchObject({ ok: false, error: { code: "lease_ttl_too_large", message: "too large lease TTL" } });
  });

  it("attaches keys with put, moves a key between leases, and detaches it on a plain put or a delete", () => {
    const s = new KvStore();
    grant(s, 1, 10);
    grant(s, 2, 10);
    put(s, "a", "1", 1);
    put(s, "b", "1", 1);
    expect(s.lease(1)!.keys).toEqual(["a", "b"]);
    expect(s.get(b("a"))!.lease).toBe(1);
    put(s, "a", "2", 2);
    expect([s.lease(1)!.keys, s.lease(2)!.keys]).toEqual([["b"], ["a"]]);
    put(s, "a", "3");
    expect([s.lease(2)!.keys, s.get(b("a"))!.lease]).toEqual([[], 0]);
    apply(s, { type: "write", requestId: "d", op: { type: "delete", key: b("b") } });
    expect(s.lease(1)!.keys).toEqual([]);
  });

  it("refuses a put to a lease that does not exist, changing nothing", () => {
    const s = new KvStore();
    const r = put(s, "a", "1", 99);
    expect(r).toMatchObject({ ok: false, error: { code: "lease_not_found", message: "requested lease not found" } });
    expect([s.get(b("a")), s.revision]).toEqual([undefined, 1]);
  });

  it("keeps the key's lease with ignoreLease and refuses it for a missing key", () => {
    const s = new KvStore();
    grant(s, 1, 10);
    put(s, "a", "1", 1);
    apply(s, { type: "write", requestId: "p", op: { type: "put", key: b("a"), value: b("2"), ignoreLease: true } });
    expect(s.get(b("a"))!.lease).toBe(1);
    const r = apply(s, { type: "write", requestId: "p", op: { type: "put", key: b("zz"), value: b("2"), ignoreLease: true } });
    expect(r).toMatchObject({ ok: false, error: { code: "key_not_found" } });
  });

  it("revokes a lease and deletes all its keys in one revision, with one delete event per key", () => {
    const s = new KvStore();
    grant(s, 1, 10);
    put(s, "x/a", "1", 1);
    put(s, "x/b", "2", 1);
    put(s, "y", "3");
    const before = s.revision;
    const r = revoke(s, 1);
    expect(r.ok && "leaseRevoked" in r && r.events.map((e) => [e.type, fromUtf8(e.kv.key), e.kv.modRevision])).toEqual([
      ["delete", "x/a", before + 1],
      ["delete", "x/b", before + 1],
    ]);
    expect(s.revision).toBe(before + 1);
    expect([s.get(b("x/a")), s.get(b("x/b")), s.lease(1)]).toEqual([undefined, undefined, undefined]);
    expect(fromUtf8(s.get(b("y"))!.value)).toBe("3");
    expect(s.eventsSince(before + 1, b("x/"), b("x0"))).toMatchObject({ ok: true, events: [{ type: "delete" }, { type: "delete" }] });
  });

  it("revokes a lease without keys without a new revision, and a second revoke finds no lease", () => {
    const s = new KvStore();
    grant(s, 1, 10);
    expect(revoke(s, 1)).toMatchObject({ ok: true, leaseRevoked: 1, events: [] });
    expect(s.revision).toBe(1);
    expect(revoke(s, 1)).toMatchObject({ ok: false, error: { code: "lease_not_found" } });
  });

  it("compares a key's lease in a transaction (etcd's LEASE target)", () => {
    const s = new KvStore();
    grant(s, 5, 10);
    put(s, "k", "v", 5);
    const txn = (lease: number) => apply(s, { type: "write", requestId: "t", op: { type: "txn", compare: [{ key: b("k"), target: "lease", result: "equal", value: lease }], success: [], failure: [] } });
    expect([txn(5), txn(6)].map((r) => r.ok && "response" in r && r.response.type === "txn" && r.response.succeeded)).toEqual([true, false]);
  });

  it("carries leases and their keys through a snapshot (a restart or an InstallSnapshot)", () => {
    const s = new KvStore();
    grant(s, 1, 10);
    grant(s, 2, 20);
    put(s, "a", "1", 1);
    put(s, "b", "1", 2);
    const copy = KvStore.restore(s.snapshot());
    expect(copy.digest()).toBe(s.digest());
    expect(copy.leases()).toEqual([
      { id: 1, ttlSec: 10 },
      { id: 2, ttlSec: 20 },
    ]);
    expect(copy.lease(1)!.keys).toEqual(["a"]);
    // The restored table works: revoking still removes the key.
    revoke(copy, 2);
    expect(copy.get(b("b"))).toBeUndefined();
  });

  it("refuses a snapshot whose key names a lease that is not there", () => {
    const s = new KvStore();
    grant(s, 1, 10);
    put(s, "a", "1", 1);
    const bytes = s.snapshot();
    // Snapshots are deterministic: the same state gives the same bytes.
    expect(KvStore.restore(bytes).snapshot()).toEqual(bytes);
    // The lease table (count 1, id 1, ttl 10) sits just before the auth state; make its count 0.
    const table = [...bytes].findIndex((_, i) => bytes[i] === 1 && bytes[i + 1] === 1 && bytes[i + 2] === 10);
    const broken = Uint8Array.from([...bytes.slice(0, table), 0, ...bytes.slice(table + 3)]);
    expect(() => KvStore.restore(broken)).toThrow(/missing lease 1/);
  });
});

describe("the leader's lease clock", () => {
  it("expires nothing on a follower, whatever its clock says", () => {
    const c = new LeaseClock();
    c.granted({ id: 1, ttlSec: 1 }, 0);
    expect(c.expired(1_000_000)).toEqual([]);
    expect(c.renew(1, 1, 0)).toEqual({ ok: false, reason: "not_primary" });
    expect(c.remainingMs(1, 0)).toBeUndefined();
  });

  it("counts a granted lease down on the leader and proposes its revocation once, then again after the retry interval", () => {
    const c = new LeaseClock({ revokeRetryMs: 3_000, maxRevokesPerCheck: 100 });
    c.promote(0, 0, []);
    c.granted({ id: 1, ttlSec: 2 }, 1_000);
    expect(c.remainingMs(1, 2_000)).toBe(1_000);
    expect(c.expired(2_999)).toEqual([]);
    expect(c.expired(3_000)).toEqual([1]);
    expect(c.expired(3_500)).toEqual([]);
    expect(c.expired(6_000)).toEqual([1]);
    c.revoked(1);
    expect(c.expired(100_000)).toEqual([]);
  });

  it("renews on a keep-alive: the TTL counts from the renewal", () => {
    const c = new LeaseClock();
    c.promote(0, 0, [{ id: 1, ttlSec: 5 }]);
    expect(c.renew(1, 5, 4_000)).toEqual({ ok: true, ttlSec: 5 });
    expect(c.expired(8_999)).toEqual([]);
    expect(c.expired(9_000)).toEqual([1]);
  });

  it("does not revive a lease past its deadline, and knows no unknown lease", () => {
    const c = new LeaseClock();
    c.promote(0, 0, [{ id: 1, ttlSec: 1 }]);
    expect(c.renew(1, 1, 1_000)).toEqual({ ok: false, reason: "expired" });
    expect(c.renew(2, 1, 0)).toEqual({ ok: false, reason: "not_found" });
  });

  it("gives every lease its full TTL plus the extension when a node becomes leader", () => {
    const old = new LeaseClock();
    old.promote(0, 0, [{ id: 1, ttlSec: 10 }]);
    // The old leader renewed at 9 s (deadline 19 s), then lost leadership; the new one never heard of that renewal.
    old.renew(1, 10, 9_000);
    old.demote();
    expect(old.expired(1e9)).toEqual([]);
    const next = new LeaseClock();
    next.promote(12_000, 1_000, [{ id: 1, ttlSec: 10 }]);
    expect(next.remainingMs(1, 12_000)).toBe(11_000);
    // Not before 23 s: later than the old leader's 19 s, so the holder's lease is never cut short.
    expect(next.expired(22_999)).toEqual([]);
    expect(next.expired(23_000)).toEqual([1]);
  });

  it("hands out at most maxRevokesPerCheck revocations per check, earliest deadline first", () => {
    const c = new LeaseClock({ revokeRetryMs: 1_000, maxRevokesPerCheck: 2 });
    c.promote(0, 0, [
      { id: 3, ttlSec: 3 },
      { id: 1, ttlSec: 1 },
      { id: 2, ttlSec: 2 },
    ]);
    expect(c.expired(10_000)).toEqual([1, 2]);
    expect(c.expired(10_000)).toEqual([3]);
    expect(c.nextDueMs()).toBe(11_000);
  });
});
