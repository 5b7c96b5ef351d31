/**
 * The group-commit path of `KvBackedStore` against a real revisioned store:
 * a batch whose writer has a stale view of one key (another observer wrote
 * it, and the watch has not delivered that yet) must write nothing as one
 * transaction, then store every record that is still the newest one by one
 * and refuse the stale one. The writer's watch is held back by a wrapper so
 * the race is certain rather than lucky.
 */
import { expect } from "vitest";
import type { HealthRecord } from "../../src/core/types.ts";
import { KvBackedStore, type RevEvent, type RevKv } from "../../src/io/store/kv-store.ts";
import type { StoreEvent } from "../../src/io/store/store.ts";

const rec = (id: string, observer: string, hlcMs: number, status: HealthRecord["status"] = "healthy"): HealthRecord => ({
  id, status, observer, checkedAtMs: hlcMs, sinceMs: hlcMs, hlcMs,
});

/** Wraps a RevKv, counting batched and single CAS calls and holding back watch events until `release()`. */
export function heldWatch(kv: RevKv) {
  const held: RevEvent[][] = [];
  let deliver: ((events: RevEvent[]) => void) | undefined;
  let holding = true;
  const calls = { casMany: 0, cas: 0 };
  const wrapped: RevKv = {
    list: (p) => kv.list(p),
    put: (k, v) => kv.put(k, v),
    putMany: (entries) => kv.putMany(entries),
    cas: (k, v, r) => {
      calls.cas += 1;
      return kv.cas(k, v, r);
    },
    casMany: (items) => {
      calls.casMany += 1;
      return kv.casMany(items);
    },
    delete: (k) => kv.delete(k),
    watch: (p, after, onEvents, onError) => {
      deliver = onEvents;
      return kv.watch(p, after, (events) => (holding ? held.push(events) : onEvents(events)), onError);
    },
    describe: () => kv.describe(),
    close: () => kv.close(),
  };
  return {
    kv: wrapped,
    calls,
    release: () => {
      holding = false;
      for (const events of held.splice(0)) deliver?.(events);
    },
  };
}

/**
 * Runs the scenario on `prefix`: `open()` returns a fresh RevKv client of
 * the same store each call.
 */
export async function checkBatchConflict(open: () => RevKv, prefix: string): Promise<void> {
  const held = heldWatch(open());
  const a = new KvBackedStore(held.kv, { kind: "etcd", prefix, lingerMs: 0 });
  await a.start(() => undefined);
  const b = new KvBackedStore(open(), { kind: "etcd", prefix });
  await b.start(() => undefined);

  // One batch of five, all new: one transaction.
  a.writeRecords(["o1", "o2", "o3", "o4", "o5"].map((id) => rec(id, "a", 1_000)));
  await a.flush();
  expect(held.calls).toEqual({ casMany: 1, cas: 0 });
  expect(a.status()).toMatchObject({ recordsWritten: 5, staleRefused: 0, writeErrors: 0 });

  // b takes over o3 and writes a newer record; a does not see it (watch held).
  b.writeRecords([rec("o3", "b", 3_000, "unhealthy")]);
  await b.flush();
  // a's next batch: o3's compare fails, so the transaction writes nothing;
  // a learns what is stored, refuses its own stale o3, and writes the rest one by one.
  a.writeRecords(["o1", "o2", "o3", "o4", "o5"].map((id) => rec(id, "a", 2_000)));
  await a.flush();
  expect(held.calls.casMany).toBe(2);
  expect(held.calls.cas).toBe(4);
  expect(a.status()).toMatchObject({ recordsWritten: 9, staleRefused: 1, writeErrors: 0 });
  held.release();

  // What a fresh reader finds: a's records, except o3, which stays b's.
  const c = new KvBackedStore(open(), { kind: "etcd", prefix });
  const events: StoreEvent[] = [];
  await c.start((e) => events.push(e));
  const records = events.flatMap((e) => (e.type === "record" ? [e.record] : [])).sort((x, y) => x.id.localeCompare(y.id));
  expect(records.map((r) => `${r.id}:${r.observer}:${r.hlcMs}`)).toEqual(["o1:a:2000", "o2:a:2000", "o3:b:3000", "o4:a:2000", "o5:a:2000"]);
  await Promise.all([a.close(), b.close(), c.close()]);
}
