/**
 * Leases and keys against a plain model (fc.commands): grants, revocations,
 * puts with and without a lease, deletes and transactions in random order,
 * with snapshot-and-restore in between (the store is replaced by its restored
 * copy and goes on from there, as after a restart). After every command the
 * store must hold exactly the model's keys, each with the model's lease, and
 * exactly the model's leases with exactly their keys.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { KvStore, decodeCommand, encodeCommand, fromUtf8, prefixRangeEnd, toByteString, utf8, type ApplyResult, type KvCommand } from "../src/core/kv/index.ts";

const b = utf8;

interface Model {
  keys: Map<string, { value: string; lease: number }>;
  leases: Map<number, number>;
  revision: number;
}
interface Real {
  store: KvStore;
}

function apply(r: Real, cmd: KvCommand): ApplyResult {
  const decoded = decodeCommand(encodeCommand(cmd));
  if (!decoded.ok) throw new Error(decoded.error);
  return r.store.apply(r.store.appliedIndex + 1, decoded.value);
}

function agree(m: Model, r: Real): void {
  const s = r.store;
  const all = s.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
  const real = all.ok ? all.response.kvs.map((kv) => [fromUtf8(kv.key), fromUtf8(kv.value), kv.lease]) : [];
  const model = [...m.keys.entries()].sort(([a], [c]) => (a < c ? -1 : 1)).map(([k, v]) => [k, v.value, v.lease]);
  expect(real).toEqual(model);
  expect(s.leases().map((l) => [l.id, l.ttlSec])).toEqual([...m.leases.entries()].sort(([a], [c]) => a - c));
  for (const id of m.leases.keys()) {
    const attached = [...m.keys.entries()].filter(([, v]) => v.lease === id).map(([k]) => toByteString(b(k))).sort();
    expect(s.lease(id)!.keys).toEqual(attached);
  }
  expect(s.revision).toBe(m.revision);
}

const leaseIds = fc.constantFrom(1, 2, 3);
const keyArb = fc.constantFrom("a", "b", "c/1", "c/2", "d");

class Grant implements fc.Command<Model, Real> {
  constructor(readonly id: number, readonly ttl: number) {}
  check = () => true;
  run(m: Model, r: Real): void {
    const res = apply(r, { type: "lease-grant", requestId: "g", id: this.id, ttlSec: this.ttl });
    expect(res.ok).toBe(!m.leases.has(this.id));
    if (!m.leases.has(this.id)) m.leases.set(this.id, this.ttl);
    agree(m, r);
  }
  toString = () => `grant(${this.id}, ${this.ttl})`;
}

class Revoke implements fc.Command<Model, Real> {
  constructor(readonly id: number) {}
  check = () => true;
  run(m: Model, r: Real): void {
    const res = apply(r, { type: "lease-revoke", requestId: "r", id: this.id });
    expect(res.ok).toBe(m.leases.has(this.id));
    if (m.leases.delete(this.id)) {
      const gone = [...m.keys.entries()].filter(([, v]) => v.lease === this.id).map(([k]) => k);
      for (const k of gone) m.keys.delete(k);
      // All of a lease's keys go in one revision.
      if (gone.length > 0) m.revision++;
    }
    agree(m, r);
  }
  toString = () => `revoke(${this.id})`;
}

class Put implements fc.Command<Model, Real> {
  constructor(readonly key: string, readonly value: string, readonly lease: number) {}
  check = () => true;
  run(m: Model, r: Real): void {
    const res = apply(r, { type: "write", requestId: "p", op: { type: "put", key: b(this.key), value: b(this.value), lease: this.lease } });
    const ok = this.lease === 0 || m.leases.has(this.lease);
    expect(res.ok).toBe(ok);
    if (ok) {
      m.keys.set(this.key, { value: this.value, lease: this.lease });
      m.revision++;
    }
    agree(m, r);
  }
  toString = () => `put(${this.key}, ${this.value}, lease ${this.lease})`;
}

class Delete implements fc.Command<Model, Real> {
  constructor(readonly prefix: string) {}
  check = () => true;
  run(m: Model, r: Real): void {
    apply(r, { type: "write", requestId: "d", op: { type: "delete", key: b(this.prefix), rangeEnd: prefixRangeEnd(b(this.prefix)) } });
    const gone = [...m.keys.keys()].filter((k) => k.startsWith(this.prefix));
    for (const k of gone) m.keys.delete(k);
    if (gone.length > 0) m.revision++;
    agree(m, r);
  }
  toString = () => `delete(${this.prefix}*)`;
}

/** A transaction that moves `key` to `lease` only if the key is currently on `ifLease` (etcd's LEASE compare). */
class MoveIfOnLease implements fc.Command<Model, Real> {
  constructor(readonly key: string, readonly ifLease: number, readonly lease: number) {}
  check = () => true;
  run(m: Model, r: Real): void {
    const res = apply(r, {
      type: "write",
      requestId: "t",
      op: { type: "txn", compare: [{ key: b(this.key), target: "lease", result: "equal", value: this.ifLease }], success: [{ type: "put", key: b(this.key), value: b("moved"), lease: this.lease }], failure: [] },
    });
    const cur = m.keys.get(this.key);
    // A compare on a missing key sees lease 0.
    const holds = (cur?.lease ?? 0) === this.ifLease;
    const leaseOk = this.lease === 0 || m.leases.has(this.lease);
    if (holds && !leaseOk) {
      // The branch that runs puts to a missing lease: the whole transaction fails (etcd checks the branches that run).
      expect(res).toMatchObject({ ok: false, error: { code: "lease_not_found" } });
    } else {
      expect(res.ok && "response" in res && res.response.type === "txn" && res.response.succeeded).toBe(holds);
      if (holds) {
        m.keys.set(this.key, { value: "moved", lease: this.lease });
        m.revision++;
      }
    }
    agree(m, r);
  }
  toString = () => `moveIf(${this.key}: lease ${this.ifLease} -> ${this.lease})`;
}

class SnapshotRestart implements fc.Command<Model, Real> {
  check = () => true;
  run(m: Model, r: Real): void {
    r.store = KvStore.restore(r.store.snapshot());
    agree(m, r);
  }
  toString = () => "snapshot-restart";
}

describe("leases and keys against a plain model (fc.commands)", () => {
  it("agrees on every key's lease and every lease's keys through grants, revokes, puts, deletes, txns and restarts", () => {
    const cmds = [
      fc.tuple(leaseIds, fc.integer({ min: 1, max: 100 })).map(([id, ttl]) => new Grant(id, ttl)),
      leaseIds.map((id) => new Revoke(id)),
      fc.tuple(keyArb, fc.constantFrom("x", "y"), fc.constantFrom(0, 1, 2, 3)).map(([k, v, l]) => new Put(k, v, l)),
      fc.constantFrom("a", "c/", "d").map((p) => new Delete(p)),
      fc.tuple(keyArb, fc.constantFrom(0, 1, 2), fc.constantFrom(0, 1, 2, 3)).map(([k, i, l]) => new MoveIfOnLease(k, i, l)),
      fc.constant(new SnapshotRestart()),
    ];
    fc.assert(
      fc.property(fc.commands(cmds, { maxCommands: 60, size: "large" }), (commands) => {
        fc.modelRun(() => ({ model: { keys: new Map(), leases: new Map(), revision: 1 }, real: { store: new KvStore() } }), commands);
      }),
      { numRuns: 200 },
    );
  });
});
