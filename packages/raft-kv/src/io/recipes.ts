/**
 * Locks and leader election built from the KV's own parts: leases,
 * revisions, transactions and watches, the way etcd's concurrency recipes
 * build them (clientv3/concurrency: `Mutex`, `Election`) and the way its Lock
 * and Election services run them inside the server.
 *
 * A lock named `app` is a key prefix `app/`. Each contender puts one key
 * under it, `app/<its lease id in hex>`, attached to its lease, in a
 * transaction that only creates (create revision = 0). Revisions order the
 * contenders: the key with the lowest create revision holds the lock. The
 * others do not poll and do not all watch the holder (a "thundering herd" at
 * every release); each waits for the deletion of the one key created just
 * before its own, and looks again. A holder that crashes stops renewing its
 * lease; the leader expires the lease, the revocation deletes the key, and
 * the next contender goes on.
 *
 * The key's create revision is also a fencing token: it only grows. A holder
 * that paused past its lease and comes back believing it still holds the lock
 * is stopped by a transaction that compares the lock key's create revision
 * with its own (etcd's `Mutex.IsOwner()`), as the README shows.
 */
import { prefixRangeEnd, toHex, utf8, type KeyValue, type RangeRequest, type TxnResponse, type WriteOp } from "../core/kv/index.ts";
import type { RaftKvNode } from "./kv-node.ts";
import type { LeaseService } from "./leases.ts";
import { ServerError } from "../core/replica/errors.ts";

/** Who runs a recipe, on which member, and when to give up. */
export interface RecipeContext {
  node: RaftKvNode;
  leases: LeaseService;
  /** The authenticated user; every read and write is checked against its permissions. */
  user?: string;
  /** Aborts a wait (the client cancelled); a half-done lock or campaign is cleaned up. */
  signal?: AbortSignal;
}

/** What a campaigner holds once elected (etcd's `LeaderKey`): resume with it to proclaim or resign. */
export interface LeaderKey {
  name: Uint8Array;
  key: Uint8Array;
  /** The create revision of `key`: the election's fencing token. */
  rev: number;
  lease: number;
}

/** etcd sessions without a lease of their own get one of this TTL that nobody renews (etcd's default session TTL). */
const ORPHAN_SESSION_TTL_SEC = 60;

const SLASH = utf8("/");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** `prefix` + the lease id in lower-case hex without padding, as etcd names a session's key. */
function sessionKey(prefix: Uint8Array, lease: number): Uint8Array {
  return concat(prefix, utf8(lease.toString(16)));
}

async function read(ctx: RecipeContext, q: RangeRequest): Promise<{ revision: number; kvs: KeyValue[] }> {
  const denied = ctx.node.state.auth.checkRead(ctx.user, q.key, q.rangeEnd);
  if (denied) throw new ServerError(denied.code as "permission_denied", denied.message);
  const r = await ctx.node.range(q);
  return { revision: r.revision, kvs: r.response.kvs };
}

async function txn(ctx: RecipeContext, op: Extract<WriteOp, { type: "txn" }>): Promise<{ revision: number; response: TxnResponse }> {
  const r = await ctx.node.write(op, undefined, ctx.user);
  if (r.response.type !== "txn") throw new Error("a txn answered with another type");
  return { revision: r.revision, response: r.response };
}

/** The key under `prefix` with the lowest create revision (the lock holder, the election leader), or none. */
function firstCreated(ctx: RecipeContext, prefix: Uint8Array): Promise<{ revision: number; kvs: KeyValue[] }> {
  return read(ctx, { key: prefix, rangeEnd: prefixRangeEnd(prefix), sortTarget: "create", sortOrder: "ascend", limit: 1 });
}

function canceled(): ServerError {
  return new ServerError("canceled", "context canceled");
}

/**
 * Resolves when `key` is deleted at revision `fromRevision` or later; rejects
 * when the watch ends or the caller gives up.
 */
function waitDelete(ctx: RecipeContext, key: Uint8Array, fromRevision: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ctx.signal?.aborted) return reject(canceled());
    let done = false;
    const finish = (error?: ServerError) => {
      if (done) return;
      done = true;
      handle.cancel();
      ctx.signal?.removeEventListener("abort", onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish(canceled());
    const handle = ctx.node.watch(
      { key, startRevision: fromRevision, noPut: true },
      (events) => {
        if (events.some((e) => e.type === "delete")) finish();
      },
      (reason) => finish(new ServerError("no_leader", `lost the watch on ${toHex(key)}: ${reason}`)),
    );
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Waits until no key under `prefix` was created at or below
 * `maxCreateRevision`: each round waits for the deletion of the newest such
 * key only (the contender just ahead), so a release wakes one waiter, not all.
 */
async function waitDeletes(ctx: RecipeContext, prefix: Uint8Array, maxCreateRevision: number): Promise<number> {
  for (;;) {
    const r = await read(ctx, { key: prefix, rangeEnd: prefixRangeEnd(prefix), sortTarget: "create", sortOrder: "descend", limit: 1, maxCreateRevision });
    const ahead = r.kvs[0];
    if (!ahead) return r.revision;
    await waitDelete(ctx, ahead.key, r.revision + 1);
  }
}

/** A lease for a caller that gave none (etcd's session grants one and, orphaned, never renews it). */
async function leaseOrNew(ctx: RecipeContext, lease: number): Promise<number> {
  if (lease !== 0) return lease;
  return (await ctx.leases.grant(ORPHAN_SESSION_TTL_SEC, 0, ctx.user)).id;
}

/** After a wait, the caller's key must still be there: its lease may have expired meanwhile. */
async function stillThere(ctx: RecipeContext, key: Uint8Array, createRevision: number): Promise<number> {
  const r = await read(ctx, { key });
  if (r.kvs[0]?.createRevision !== createRevision) throw new ServerError("lease_not_found", "etcdserver: requested lease not found");
  return r.revision;
}

/**
 * etcd's `Lock`: waits until the caller holds lock `name` through `lease`
 * and resolves with its key (the proof of ownership, deleted by Unlock or
 * with the lease) and the revision at which it got the lock.
 */
export async function lock(ctx: RecipeContext, name: Uint8Array, lease: number): Promise<{ key: Uint8Array; revision: number; createRevision: number }> {
  const prefix = concat(name, SLASH);
  const id = await leaseOrNew(ctx, lease);
  const key = sessionKey(prefix, id);
  // Create our key unless this lease already has one (a retry); either way, also read who holds the lock.
  const owner = { type: "range" as const, key: prefix, rangeEnd: prefixRangeEnd(prefix), sortTarget: "create" as const, sortOrder: "ascend" as const, limit: 1 };
  const t = await txn(ctx, {
    type: "txn",
    compare: [{ key, target: "create", result: "equal", value: 0 }],
    success: [{ type: "put", key, value: new Uint8Array(0), lease: id }, owner],
    failure: [{ type: "range", key }, owner],
  });
  const mine = t.response.succeeded ? t.revision : firstKv(t.response, 0)?.createRevision;
  if (mine === undefined) throw new ServerError("lease_not_found", "etcdserver: requested lease not found");
  const holder = firstKv(t.response, 1);
  if (!holder || holder.createRevision === mine) return { key, revision: t.revision, createRevision: mine };
  try {
    await waitDeletes(ctx, prefix, mine - 1);
    return { key, revision: await stillThere(ctx, key, mine), createRevision: mine };
  } catch (error) {
    // Gave up or failed while waiting: leave the queue, so those behind us are not stuck on our key.
    await unlock({ ...ctx, signal: undefined }, key).catch(() => {});
    throw error;
  }
}

/** etcd's `Unlock`: deletes the lock key `key`. */
export async function unlock(ctx: RecipeContext, key: Uint8Array): Promise<number> {
  const r = await ctx.node.write({ type: "delete", key }, undefined, ctx.user);
  return r.revision;
}

function firstKv(t: TxnResponse, i: number): KeyValue | undefined {
  const r = t.responses[i];
  return r?.type === "range" ? r.kvs[0] : undefined;
}

/**
 * etcd's `Campaign`: becomes leader of election `name` with `value`, waiting
 * behind earlier campaigners; resolves with the leader key once elected.
 */
export async function campaign(ctx: RecipeContext, name: Uint8Array, lease: number, value: Uint8Array): Promise<{ leader: LeaderKey; revision: number }> {
  const prefix = concat(name, SLASH);
  const id = await leaseOrNew(ctx, lease);
  const key = sessionKey(prefix, id);
  const t = await txn(ctx, {
    type: "txn",
    compare: [{ key, target: "create", result: "equal", value: 0 }],
    success: [{ type: "put", key, value, lease: id }],
    failure: [{ type: "range", key }],
  });
  let rev = t.revision;
  const leader: LeaderKey = { name, key, rev, lease: id };
  if (!t.response.succeeded) {
    const kv = firstKv(t.response, 0);
    if (!kv) throw new ServerError("lease_not_found", "etcdserver: requested lease not found");
    rev = kv.createRevision;
    leader.rev = rev;
    // Campaigning again with the same lease: keep our place, but announce the new value.
    if (!equal(kv.value, value)) await proclaim(ctx, leader, value);
  }
  try {
    await waitDeletes(ctx, prefix, rev - 1);
    return { leader, revision: await stillThere(ctx, key, rev) };
  } catch (error) {
    if (ctx.signal?.aborted) await resign({ ...ctx, signal: undefined }, leader).catch(() => {});
    throw error;
  }
}

/** etcd's `Proclaim`: the leader announces a new value, only while it still leads (its key has its create revision). */
export async function proclaim(ctx: RecipeContext, leader: LeaderKey, value: Uint8Array): Promise<number> {
  const t = await txn(ctx, {
    type: "txn",
    compare: [{ key: leader.key, target: "create", result: "equal", value: leader.rev }],
    success: [{ type: "put", key: leader.key, value, lease: leader.lease }],
    failure: [],
  });
  if (!t.response.succeeded) throw new ServerError("not_election_leader", "election: not leader");
  return t.revision;
}

/** etcd's `Resign`: gives up leadership (deletes the key, if it is still ours). */
export async function resign(ctx: RecipeContext, leader: LeaderKey): Promise<number> {
  const t = await txn(ctx, { type: "txn", compare: [{ key: leader.key, target: "create", result: "equal", value: leader.rev }], success: [{ type: "delete", key: leader.key }], failure: [] });
  return t.revision;
}

/** etcd's `Leader`: the current leader's key and value; "election: no leader" when nobody campaigns. */
export async function leaderOf(ctx: RecipeContext, name: Uint8Array): Promise<{ kv: KeyValue; revision: number }> {
  const r = await firstCreated(ctx, concat(name, SLASH));
  const kv = r.kvs[0];
  if (!kv) throw new ServerError("no_election_leader", "election: no leader");
  return { kv, revision: r.revision };
}

/**
 * etcd's `Observe`: calls `onLeader` with the leader's key-value now (once
 * there is one) and on every change: a new value proclaimed, a new leader
 * after a resignation or an expired lease. Runs until the signal aborts or
 * a watch fails (then rejects).
 */
export async function observe(ctx: RecipeContext, name: Uint8Array, onLeader: (kv: KeyValue, revision: number) => void): Promise<void> {
  const prefix = concat(name, SLASH);
  while (!ctx.signal?.aborted) {
    const r = await firstCreated(ctx, prefix);
    let kv = r.kvs[0];
    let revision = r.revision;
    if (!kv) {
      kv = await nextPut(ctx, prefix, r.revision + 1);
      revision = kv.modRevision;
    }
    onLeader(kv, revision);
    // Follow this leader's key: each new value is news; its deletion means a new leader (or none) to look up.
    await followKey(ctx, kv.key, revision + 1, (next, rev) => onLeader(next, rev));
  }
  throw canceled();
}

/** The first key put under `prefix` at `fromRevision` or later. */
function nextPut(ctx: RecipeContext, prefix: Uint8Array, fromRevision: number): Promise<KeyValue> {
  return new Promise((resolve, reject) => {
    if (ctx.signal?.aborted) return reject(canceled());
    let done = false;
    const finish = (kv?: KeyValue, error?: ServerError) => {
      if (done) return;
      done = true;
      handle.cancel();
      ctx.signal?.removeEventListener("abort", onAbort);
      if (kv) resolve(kv);
      else reject(error ?? canceled());
    };
    const onAbort = () => finish(undefined, canceled());
    const handle = ctx.node.watch(
      { key: prefix, rangeEnd: prefixRangeEnd(prefix), startRevision: fromRevision, noDelete: true },
      (events) => {
        const put = events.find((e) => e.type === "put");
        if (put) finish(put.kv);
      },
      (reason) => finish(undefined, new ServerError("no_leader", `lost the watch: ${reason}`)),
    );
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Calls `onPut` for each new value of `key` until it is deleted (resolves) or the caller gives up (rejects). */
function followKey(ctx: RecipeContext, key: Uint8Array, fromRevision: number, onPut: (kv: KeyValue, revision: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ctx.signal?.aborted) return reject(canceled());
    let done = false;
    const finish = (error?: ServerError) => {
      if (done) return;
      done = true;
      handle.cancel();
      ctx.signal?.removeEventListener("abort", onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish(canceled());
    const handle = ctx.node.watch(
      { key, startRevision: fromRevision },
      (events) => {
        for (const e of events) {
          if (done) return;
          if (e.type === "delete") return finish();
          onPut(e.kv, e.kv.modRevision);
        }
      },
      (reason) => finish(new ServerError("no_leader", `lost the watch: ${reason}`)),
    );
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
