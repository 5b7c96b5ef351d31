/**
 * The replicated key-value state machine. Every replica applies the same
 * committed commands in the same order and ends in the same state (Raft §5.3,
 * state machine safety), so everything here is deterministic: no clock, no
 * randomness, no iteration over unordered containers that could differ.
 *
 * It keeps etcd's revision scheme (one global revision, per-key create/mod
 * revision and version), a bounded history of events for watchers, client
 * sessions that answer a retried write from a cache instead of applying it
 * twice (Raft dissertation §6.3), the members' client addresses, leases
 * (which keys go when a lease is revoked; see lessor.ts for why expiry is not
 * decided here) and users, roles and permissions (auth-store.ts), checked
 * against each write as it is applied.
 */
import { compareBytes, equalBytes, fromByteString, toByteString } from "./bytes.ts";
import {
  type CachedResult,
  decodeCommand,
  readCachedResult,
  readEvent,
  readMemberAttrs,
  toCached,
  writeCachedResult,
  writeEvent,
  writeMemberAttrs,
} from "./codec.ts";
import { Reader, WireError, Writer } from "./wire.ts";
import { LeaseTable, type LeaseRecord, type LeaseView } from "./lessor.ts";
import { AuthStore, DEFAULT_AUTH_STORE_CONFIG } from "./auth-store.ts";
import type {
  ApplyResult,
  Compare,
  DeleteRangeResponse,
  KeyValue,
  KvCommand,
  KvError,
  KvEvent,
  MemberAttrs,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
  WriteOp,
  WriteResponse,
} from "./types.ts";

/** Tuning of the state machine; every replica must use the same values (they shape applied results). */
export interface KvStoreConfig {
  /**
   * Revisions of events kept for watchers that start in the past. Older
   * watch starts get "compacted", as from etcd after a compaction. Default
   * 10,000: a few seconds of heavy writes, bounded memory and snapshot size.
   */
  historyRevisions: number;
  /**
   * Client sessions kept; the least recently used is expired beyond this
   * (dissertation §6.3: replicas must agree on expiry, so it is driven by the
   * log, not by a clock). Default 10,000 concurrent clients.
   */
  maxSessions: number;
  /**
   * A session nobody wrote through for this long is expired too, so a
   * client that went away stops costing memory and snapshot bytes even when
   * few others come and go (the count limit alone would keep it forever).
   * Time is the log's (dissertation §6.3): each command carries the clock of
   * the server that proposed it, the state machine's clock is the largest
   * seen so far, so every replica expires the same sessions at the same
   * index; clock skew between servers only shifts when. A client that writes
   * through an expired session gets "session_expired" and must register
   * again (ours do that by themselves when the write certainly did not
   * happen before). Default 1 hour; 0 = only the count limit.
   */
  sessionTtlMs?: number;
  /**
   * Responses cached per session. A client with more requests outstanding
   * than this gets "stale_request" for the oldest on retry (never a second
   * apply). Default 1,024, above any in-flight window our clients use.
   */
  maxCachedPerSession: number;
  /** Auth tokens kept before the oldest is dropped (its client authenticates again). Default 10,000. */
  maxTokens?: number;
}

/** Defaults for {@link KvStoreConfig}, with the reasons on each field. */
export const DEFAULT_KV_STORE_CONFIG: KvStoreConfig = { historyRevisions: 10_000, maxSessions: 10_000, maxCachedPerSession: 1_024, sessionTtlMs: 60 * 60 * 1000 };

interface Record {
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  /** The lease the key is attached to, 0 for none. */
  lease: number;
}

interface Session {
  /** Responses for seq >= firstUnackedSeq, by seq. */
  responses: Map<number, CachedResult>;
  firstUnackedSeq: number;
  /** The state machine's clock when the session was last registered or written through; 0 = not known yet. */
  lastUsedMs: number;
}

/** Events at one revision. */
interface HistoryEntry {
  revision: number;
  events: KvEvent[];
}

/** The answer to a watch start: past events to replay, or the compaction that hid them. */
export type EventsSince = { ok: true; events: Array<KvEvent> } | { ok: false; compactRevision: number };

/** One write transaction being applied: its revision, its events, and the branch every (nested) txn takes. */
interface Batch {
  revision: number;
  events: KvEvent[];
  path: Map<TxnRequest, boolean>;
}

/** The branch map of a write that is no transaction: nothing to decide (shared, never written to). */
const NO_PATH: Map<TxnRequest, boolean> = new Map();

class TxnFailure extends Error {
  constructor(readonly kvError: KvError) {
    super(kvError.message);
  }
}

/**
 * Version 2 added the clock and each session's last use, version 3 leases
 * (each key's lease, the lease table) and the auth state, with the compact
 * revision in etcd's sense; older snapshots still restore.
 */
const SNAPSHOT_VERSION = 3;

/** True when `key` (byte string) lies in the range given by key/rangeEnd (byte strings). */
export function inRange(key: string, start: string, end: string | undefined): boolean {
  if (end === undefined || end === "") return key === start;
  if (end === "\u0000") return key >= start;
  return key >= start && key < end;
}

/** The key-value state machine. Apply committed commands with {@link KvStore.apply}; read with {@link KvStore.range}. */
export class KvStore {
  private readonly data = new Map<string, Record>();
  /** Every live key, sorted (byte order), for range scans. */
  private sortedKeys: string[] = [];
  /**
   * Watch history, oldest first, from index `historyHead` on. Trimming moves
   * the head instead of copying the array on every write (a copy of 10,000
   * entries per put cost more than the rest of applying it); the dropped
   * prefix is cut off once it is half the array, so each entry is copied at
   * most about once.
   */
  private history: HistoryEntry[] = [];
  private historyHead = 0;
  private readonly sessions = new Map<number, Session>();
  private readonly memberAttrs = new Map<string, MemberAttrs>();
  private leaseTable = new LeaseTable();
  private authStore: AuthStore;
  private currentRevision = 1;
  /** etcd's compact revision: history below it is gone; watches may start at it or later. 0 = nothing compacted. */
  private compacted = 0;
  private applied = 0;
  /** The log's clock: the largest `timeMs` of any applied command (0 until one carries a time). */
  private clockMs = 0;
  /** Size of the last snapshot, to size the next one's buffer in one allocation. */
  private lastSnapshotBytes = 0;

  constructor(readonly config: KvStoreConfig = DEFAULT_KV_STORE_CONFIG) {
    this.authStore = new AuthStore({ maxTokens: config.maxTokens ?? DEFAULT_AUTH_STORE_CONFIG.maxTokens });
  }

  /** etcd's store revision: 1 when empty, +1 per write transaction that changed something. */
  get revision(): number {
    return this.currentRevision;
  }

  /** etcd's compact revision: watches that start below it get "compacted" (0 while nothing is). */
  get compactRevision(): number {
    return this.compacted;
  }

  /** The users, roles and tokens (read-only use: changes go through {@link KvStore.apply}). */
  get auth(): AuthStore {
    return this.authStore;
  }

  /** Lease `id` with its keys, or undefined. */
  lease(id: number): LeaseView | undefined {
    return this.leaseTable.get(id);
  }

  /** Every lease (id and granted TTL), by id. */
  leases(): LeaseRecord[] {
    return this.leaseTable.list();
  }

  /** The Raft log index of the last applied entry (commands and no-ops alike). */
  get appliedIndex(): number {
    return this.applied;
  }

  /** Number of live keys. */
  get size(): number {
    return this.data.size;
  }

  /** Number of live client sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Client attributes of members, by node id, in id order. */
  members(): Map<string, MemberAttrs> {
    return new Map([...this.memberAttrs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** One member's client attributes, or undefined. */
  member(nodeId: string): MemberAttrs | undefined {
    return this.memberAttrs.get(nodeId);
  }

  /** Records that a Raft entry with no KV meaning (no-op, configuration change) was applied at `index`. */
  skip(index: number): void {
    this.advance(index);
  }

  /** Sets or removes a member's attributes as a configuration change is applied at `index` (undefined removes). */
  applyMembership(index: number, nodeId: string, attrs: MemberAttrs | undefined): void {
    this.advance(index);
    if (attrs) {
      const prev = this.memberAttrs.get(nodeId);
      // A conf change knows the peer address only; keep client addresses the member already published.
      this.memberAttrs.set(nodeId, prev ? { ...prev, peerAddress: attrs.peerAddress || prev.peerAddress } : attrs);
    } else {
      this.memberAttrs.delete(nodeId);
    }
  }

  /** Applies the committed entry at `index` whose data is `data` (an encoded {@link KvCommand}). */
  applyEntry(index: number, data: Uint8Array): { command?: KvCommand; result: ApplyResult } {
    const decoded = decodeCommand(data);
    if (!decoded.ok) {
      this.advance(index);
      return { result: { ok: false, revision: this.currentRevision, error: { code: "invalid_request", message: decoded.error } } };
    }
    return { command: decoded.value, result: this.apply(index, decoded.value) };
  }

  /** Applies one committed command at log `index`. Never throws for bad commands; they fail with a KvError. */
  apply(index: number, command: KvCommand): ApplyResult {
    this.advance(index);
    if (command.timeMs !== undefined && command.timeMs > this.clockMs) {
      this.clockMs = command.timeMs;
      this.expireIdleSessions();
    }
    switch (command.type) {
      case "lease-grant": {
        const e = this.leaseTable.grant(command.id, command.ttlSec);
        if (e) return { ok: false, revision: this.currentRevision, error: e };
        return { ok: true, revision: this.currentRevision, leaseGranted: { id: command.id, ttlSec: command.ttlSec } };
      }
      case "lease-revoke":
        return this.revokeLease(command.id, command.user, command.expired === true);
      case "compact":
        return this.compact(command.revision);
      case "auth": {
        const r = this.authStore.apply(command.op, command.user, index);
        if (!r.ok) return { ok: false, revision: this.currentRevision, error: r.error };
        return r.token !== undefined ? { ok: true, revision: this.currentRevision, authChanged: true, token: r.token } : { ok: true, revision: this.currentRevision, authChanged: true };
      }
      case "register":
        return this.register(index);
      case "member-attrs":
        this.memberAttrs.set(command.nodeId, command.attrs);
        return { ok: true, revision: this.currentRevision, membersChanged: true };
      case "write": {
        const s = command.session;
        if (!s) return this.applyWrite(command.op, command.user);
        const session = this.sessions.get(s.clientId);
        if (!session) {
          return { ok: false, revision: this.currentRevision, error: { code: "session_expired", message: `client session ${s.clientId} is unknown or expired; register again` } };
        }
        // Re-insert to mark the session most recently used (Map order is the LRU order, and with a
        // clock that never goes back, also the order of lastUsedMs).
        this.sessions.delete(s.clientId);
        this.sessions.set(s.clientId, session);
        session.lastUsedMs = this.clockMs;
        if (s.firstUnackedSeq > session.firstUnackedSeq) {
          for (const seq of [...session.responses.keys()]) if (seq < s.firstUnackedSeq) session.responses.delete(seq);
          session.firstUnackedSeq = s.firstUnackedSeq;
        }
        const cached = session.responses.get(s.seq);
        if (cached) return cached.ok ? { ...cached, events: [], duplicate: true } : cached;
        if (s.seq < session.firstUnackedSeq) {
          return { ok: false, revision: this.currentRevision, error: { code: "stale_request", message: `request ${s.seq} of client ${s.clientId} was already acknowledged` } };
        }
        const result = this.applyWrite(command.op, command.user);
        const toCache = toCached(result);
        if (toCache) {
          session.responses.set(s.seq, toCache);
          if (session.responses.size > this.config.maxCachedPerSession) {
            const oldest = Math.min(...session.responses.keys());
            session.responses.delete(oldest);
            session.firstUnackedSeq = Math.max(session.firstUnackedSeq, oldest + 1);
          }
        }
        return result;
      }
    }
  }

  private advance(index: number): void {
    // Entries arrive in log order; a lower index would mean a driver bug (applying twice).
    if (index <= this.applied) throw new Error(`apply out of order: index ${index} after ${this.applied}`);
    this.applied = index;
  }

  private register(index: number): ApplyResult {
    // The client id is the register entry's log index: unique, and the same on every replica.
    this.sessions.set(index, { responses: new Map(), firstUnackedSeq: 1, lastUsedMs: this.clockMs });
    while (this.sessions.size > this.config.maxSessions) {
      const lru = this.sessions.keys().next().value as number;
      this.sessions.delete(lru);
    }
    return { ok: true, revision: this.currentRevision, registered: index };
  }

  /** Drops sessions idle for sessionTtlMs of log time, least recently used first (they are in that order). */
  private expireIdleSessions(): void {
    const ttl = this.config.sessionTtlMs ?? 0;
    if (ttl <= 0) return;
    for (const [id, s] of this.sessions) {
      if (s.lastUsedMs === 0) {
        // Last used before any command carried a time (an older log or snapshot): start counting now, and
        // move it to the end so the map stays in lastUsedMs order (the loop then stops when it gets there).
        s.lastUsedMs = this.clockMs;
        this.sessions.delete(id);
        this.sessions.set(id, s);
        continue;
      }
      if (s.lastUsedMs + ttl > this.clockMs) break;
      this.sessions.delete(id);
    }
  }

  // --- reads -----------------------------------------------------------------

  /** etcd's Range on the current state. Fails for historical revisions (only the current state is kept). */
  range(q: RangeRequest): { ok: true; revision: number; response: RangeResponse } | { ok: false; revision: number; error: KvError } {
    const err = this.checkRangeRevision(q);
    if (err) return { ok: false, revision: this.currentRevision, error: err };
    return { ok: true, revision: this.currentRevision, response: this.rangeNow(q) };
  }

  /** The current pair of one key, or undefined. */
  get(key: Uint8Array): KeyValue | undefined {
    const k = toByteString(key);
    const rec = this.data.get(k);
    return rec ? this.toKv(k, rec) : undefined;
  }

  private checkRangeRevision(q: RangeRequest): KvError | undefined {
    const rev = q.revision ?? 0;
    if (rev <= 0 || rev === this.currentRevision) return undefined;
    if (rev > this.currentRevision) return { code: "future_revision", message: `revision ${rev} is newer than the store's ${this.currentRevision}` };
    // etcd keeps every revision until a compaction; raft-kv keeps only the current state, so to
    // a reader every older revision is as good as compacted. Say that, and what is kept for watches.
    return {
      code: "compacted",
      message: `revision ${rev} is older than the current revision ${this.currentRevision}: raft-kv keeps only the current revision for reads (as if every older one were compacted); watches can start at revision ${this.compacted + 1} or later`,
    };
  }

  private toKv(key: string, rec: Record): KeyValue {
    return { key: fromByteString(key), value: rec.value, createRevision: rec.createRevision, modRevision: rec.modRevision, version: rec.version, lease: rec.lease };
  }

  /** Sorted keys in [start, end) / the single key / every key >= start. */
  private keysIn(start: string, end: string | undefined): string[] {
    if (end === undefined || end === "") return this.data.has(start) ? [start] : [];
    const out: string[] = [];
    for (let i = this.lowerBound(start); i < this.sortedKeys.length; i++) {
      const k = this.sortedKeys[i]!;
      if (end !== "\u0000" && k >= end) break;
      out.push(k);
    }
    return out;
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sortedKeys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sortedKeys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private rangeNow(q: RangeRequest): RangeResponse {
    const start = toByteString(q.key);
    const end = q.rangeEnd ? toByteString(q.rangeEnd) : undefined;
    let kvs: KeyValue[] = [];
    for (const k of this.keysIn(start, end)) {
      const rec = this.data.get(k)!;
      if (q.minModRevision && rec.modRevision < q.minModRevision) continue;
      if (q.maxModRevision && rec.modRevision > q.maxModRevision) continue;
      if (q.minCreateRevision && rec.createRevision < q.minCreateRevision) continue;
      if (q.maxCreateRevision && rec.createRevision > q.maxCreateRevision) continue;
      kvs.push(this.toKv(k, rec));
    }
    const count = kvs.length;
    const order = q.sortOrder ?? "none";
    const target = q.sortTarget ?? "key";
    // As etcd: a sort target other than key with no order means ascending.
    const effective = order === "none" && target !== "key" ? "ascend" : order;
    if (effective !== "none") {
      const sign = effective === "ascend" ? 1 : -1;
      kvs.sort((a, b) => {
        let d: number;
        switch (target) {
          case "key":
            d = compareBytes(a.key, b.key);
            break;
          case "version":
            d = a.version - b.version;
            break;
          case "create":
            d = a.createRevision - b.createRevision;
            break;
          case "mod":
            d = a.modRevision - b.modRevision;
            break;
          case "value":
            d = compareBytes(a.value, b.value);
            break;
        }
        return sign * d;
      });
    }
    let more = false;
    if (q.limit && q.limit > 0 && kvs.length > q.limit) {
      kvs = kvs.slice(0, q.limit);
      more = true;
    }
    if (q.countOnly) return { kvs: [], more, count };
    if (q.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }));
    return { kvs, more, count };
  }

  // --- writes ----------------------------------------------------------------

  private applyWrite(op: WriteOp, user: string | undefined): ApplyResult {
    const path = op.type === "txn" ? this.decide(op, new Map()) : NO_PATH;
    const invalid = this.validate(op, path) ?? this.authorize(op, user);
    if (invalid) return { ok: false, revision: this.currentRevision, error: invalid };
    const batch = { revision: this.currentRevision + 1, events: [] as KvEvent[], path };
    let response: WriteResponse;
    try {
      response = this.execute(op, batch) as WriteResponse;
    } catch (error) {
      // validate() rules out every failure execute() can raise, so this is a bug guard, not a path.
      if (error instanceof TxnFailure) return { ok: false, revision: this.currentRevision, error: error.kvError };
      throw error;
    }
    this.commitBatch(batch);
    return { ok: true, revision: this.currentRevision, response, events: batch.events, duplicate: false };
  }

  private trimHistory(): void {
    const oldestKept = this.currentRevision - this.config.historyRevisions + 1;
    let head = this.historyHead;
    while (head < this.history.length && this.history[head]!.revision < oldestKept) head++;
    if (head > this.historyHead) {
      // Watches may start at the first revision still kept.
      this.compacted = Math.max(this.compacted, this.history[head - 1]!.revision + 1);
      this.dropHistoryTo(head);
    }
  }

  /** Drops the history before array index `head` (see `history`). */
  private dropHistoryTo(head: number): void {
    this.historyHead = head;
    if (head >= 1024 && head * 2 >= this.history.length) {
      this.history = this.history.slice(head);
      this.historyHead = 0;
    }
  }

  /**
   * Checks a write before any of it runs, so a transaction applies all or
   * nothing. As in etcd: keys must not be empty; within a transaction no key
   * may be put twice or be put and deleted (nested transactions included,
   * etcd's `checkIntervals`); and along the branches that will run (decided
   * up front, `path`) a put with ignoreValue or ignoreLease needs an existing
   * key, a put's lease must exist, and a range may only read the current
   * revision.
   */
  private validate(op: RequestOp, path: Map<TxnRequest, boolean>): KvError | undefined {
    const shape = checkShape(op);
    if (shape) return shape;
    return this.validateTaken(op, path);
  }

  private validateTaken(op: RequestOp, path: Map<TxnRequest, boolean>): KvError | undefined {
    switch (op.type) {
      case "range":
        return this.checkRangeRevision(op);
      case "put":
        if ((op.ignoreValue || op.ignoreLease) && !this.data.has(toByteString(op.key))) return { code: "key_not_found", message: "key not found" };
        if (op.lease && !op.ignoreLease && !this.leaseTable.has(op.lease)) return { code: "lease_not_found", message: "requested lease not found" };
        return undefined;
      case "delete":
        return undefined;
      case "txn":
        for (const o of path.get(op) ? op.success : op.failure) {
          const e = this.validateTaken(o, path);
          if (e) return e;
        }
        return undefined;
    }
  }

  /** etcd's `compareToPath`: which branch every transaction takes, decided against the state before the write. */
  private decide(op: RequestOp, path: Map<TxnRequest, boolean>): Map<TxnRequest, boolean> {
    if (op.type !== "txn") return path;
    const succeeded = op.compare.every((c) => this.compare(c));
    path.set(op, succeeded);
    for (const o of succeeded ? op.success : op.failure) this.decide(o, path);
    return path;
  }

  private execute(op: RequestOp, batch: Batch): ResponseOp {
    switch (op.type) {
      case "range":
        return { type: "range", ...this.rangeNow(op) };
      case "put": {
        const k = toByteString(op.key);
        const prev = this.data.get(k);
        if ((op.ignoreValue || op.ignoreLease) && !prev) throw new TxnFailure({ code: "key_not_found", message: "key not found" });
        const lease = op.ignoreLease && prev ? prev.lease : (op.lease ?? 0);
        if (lease !== 0 && !this.leaseTable.has(lease)) throw new TxnFailure({ code: "lease_not_found", message: "requested lease not found" });
        const rec: Record = {
          value: op.ignoreValue && prev ? prev.value : op.value.slice(),
          createRevision: prev ? prev.createRevision : batch.revision,
          modRevision: batch.revision,
          version: prev ? prev.version + 1 : 1,
          lease,
        };
        if (!prev) this.sortedKeys.splice(this.lowerBound(k), 0, k);
        if (prev && prev.lease !== lease) this.leaseTable.detach(prev.lease, k);
        if (lease !== 0) this.leaseTable.attach(lease, k);
        this.data.set(k, rec);
        const prevKv = prev ? this.toKv(k, prev) : undefined;
        batch.events.push(prevKv ? { type: "put", kv: this.toKv(k, rec), prevKv } : { type: "put", kv: this.toKv(k, rec) });
        const resp: PutResponse = op.prevKv && prevKv ? { prevKv } : {};
        return { type: "put", ...resp };
      }
      case "delete": {
        const start = toByteString(op.key);
        const end = op.rangeEnd ? toByteString(op.rangeEnd) : undefined;
        const keys = this.keysIn(start, end);
        const prevKvs: KeyValue[] = [];
        for (const k of keys) prevKvs.push(this.removeKey(k, batch));
        const resp: DeleteRangeResponse = { deleted: keys.length, prevKvs: op.prevKv ? prevKvs : [] };
        return { type: "delete", ...resp };
      }
      case "txn":
        return { type: "txn", ...this.executeTxn(op, batch) };
    }
  }

  /** Deletes one live key as part of `batch`: its watch event, its lease attachment; returns the pair it had. */
  private removeKey(k: string, batch: Pick<Batch, "revision" | "events">): KeyValue {
    const prev = this.data.get(k)!;
    const prevKv = this.toKv(k, prev);
    this.data.delete(k);
    this.sortedKeys.splice(this.lowerBound(k), 1);
    if (prev.lease !== 0) this.leaseTable.detach(prev.lease, k);
    batch.events.push({ type: "delete", kv: { key: prevKv.key, value: new Uint8Array(0), createRevision: 0, modRevision: batch.revision, version: 0, lease: 0 }, prevKv });
    return prevKv;
  }

  /** Ends a write: one new revision if anything changed, with its events in the watch history. */
  private commitBatch(batch: Pick<Batch, "revision" | "events">): void {
    if (batch.events.length === 0) return;
    this.currentRevision = batch.revision;
    this.history.push({ revision: batch.revision, events: batch.events });
    this.trimHistory();
  }

  /**
   * Revokes a lease: the lease and every key attached to it go in one
   * revision (one transaction in etcd), so a watcher sees them vanish
   * together. While auth is on, a client that revokes needs write permission
   * on all of those keys (as in etcd); the leader's revocation of an expired
   * lease needs none.
   */
  private revokeLease(id: number, user: string | undefined, expired: boolean): ApplyResult {
    const view = this.leaseTable.get(id);
    if (!view) return { ok: false, revision: this.currentRevision, error: { code: "lease_not_found", message: "requested lease not found" } };
    const denied = expired ? undefined : this.leaseKeysWritable(id, user);
    if (denied) return { ok: false, revision: this.currentRevision, error: denied };
    const keys = this.leaseTable.revoke(id)!;
    const batch = { revision: this.currentRevision + 1, events: [] as KvEvent[] };
    for (const k of keys) if (this.data.has(k)) this.removeKey(k, batch);
    this.commitBatch(batch);
    return { ok: true, revision: this.currentRevision, leaseRevoked: id, events: batch.events };
  }

  private leaseKeysWritable(id: number, user: string | undefined): KvError | undefined {
    if (!this.authStore.enabled) return undefined;
    for (const k of this.leaseTable.get(id)?.keys ?? []) {
      const e = this.authStore.checkWrite(user, fromByteString(k));
      if (e) return e;
    }
    return undefined;
  }

  /**
   * etcd's Compact: watch history below `revision` is dropped; watches that
   * start there get "compacted". raft-kv keeps no old versions of keys, so
   * this only bounds the history (which also shrinks by itself to
   * `historyRevisions`).
   */
  private compact(revision: number): ApplyResult {
    if (revision > this.currentRevision) return { ok: false, revision: this.currentRevision, error: { code: "future_revision", message: "mvcc: required revision is a future revision" } };
    if (revision <= this.compacted) return { ok: false, revision: this.currentRevision, error: { code: "compacted", message: "mvcc: required revision has been compacted" } };
    this.compacted = revision;
    let head = this.historyHead;
    while (head < this.history.length && this.history[head]!.revision < revision) head++;
    this.dropHistoryTo(head);
    return { ok: true, revision: this.currentRevision, compactRevision: revision };
  }

  /**
   * Permission checks of a write while auth is on (etcd's authApplierV3):
   * writes need write permission, reads inside a transaction and compares need
   * read permission, prevKv needs read permission too, and a put that attaches
   * a key to a lease needs write permission on the lease's keys.
   */
  private authorize(op: RequestOp, user: string | undefined): KvError | undefined {
    const a = this.authStore;
    if (!a.enabled) return undefined;
    switch (op.type) {
      case "range":
        return a.checkRead(user, op.key, op.rangeEnd);
      case "put":
        return a.checkWrite(user, op.key) ?? (op.lease ? this.leaseKeysWritable(op.lease, user) : undefined) ?? (op.prevKv ? a.checkRead(user, op.key) : undefined);
      case "delete":
        return a.checkWrite(user, op.key, op.rangeEnd) ?? (op.prevKv ? a.checkRead(user, op.key, op.rangeEnd) : undefined);
      case "txn": {
        for (const c of op.compare) {
          const e = a.checkRead(user, c.key, c.rangeEnd);
          if (e) return e;
        }
        for (const o of [...op.success, ...op.failure]) {
          const e = this.authorize(o, user);
          if (e) return e;
        }
        return undefined;
      }
    }
  }

  private executeTxn(op: TxnRequest, batch: Batch): TxnResponse {
    const succeeded = batch.path.get(op) ?? false;
    const responses = (succeeded ? op.success : op.failure).map((o) => this.execute(o, batch));
    return { succeeded, responses };
  }

  /** One etcd Compare against the current state. */
  compare(c: Compare): boolean {
    const start = toByteString(c.key);
    const end = c.rangeEnd && c.rangeEnd.length > 0 ? toByteString(c.rangeEnd) : undefined;
    const keys = this.keysIn(start, end);
    if (keys.length === 0) {
      // etcd: comparing the value of a missing key always fails; other targets see zeros.
      if (c.target === "value") return false;
      return compareNumbers(0, c.value, c.result);
    }
    return keys.every((k) => {
      const rec = this.data.get(k)!;
      switch (c.target) {
        case "value": {
          const d = compareBytes(rec.value, c.value);
          return holds(d, c.result);
        }
        case "version":
          return compareNumbers(rec.version, c.value, c.result);
        case "create":
          return compareNumbers(rec.createRevision, c.value, c.result);
        case "mod":
          return compareNumbers(rec.modRevision, c.value, c.result);
        case "lease":
          return compareNumbers(rec.lease, c.value, c.result);
      }
    });
  }

  // --- watch -------------------------------------------------------------------

  /**
   * Events at revisions >= `startRevision` on key/rangeEnd, oldest first, for
   * a watcher that starts in the past; "compacted" when some are gone.
   */
  eventsSince(startRevision: number, key: Uint8Array, rangeEnd?: Uint8Array): EventsSince {
    if (startRevision < this.compacted) return { ok: false, compactRevision: this.compacted };
    const start = toByteString(key);
    const end = rangeEnd && rangeEnd.length > 0 ? toByteString(rangeEnd) : undefined;
    const events: KvEvent[] = [];
    for (let i = this.historyHead; i < this.history.length; i++) {
      const h = this.history[i]!;
      if (h.revision < startRevision) continue;
      for (const e of h.events) if (inRange(toByteString(e.kv.key), start, end)) events.push(e);
    }
    return { ok: true, events };
  }

  // --- snapshots ---------------------------------------------------------------

  /** The whole state as bytes (Raft ch. 5): data, history, sessions, members and the applied index. */
  snapshot(): Uint8Array {
    const w = new Writer(this.lastSnapshotBytes + (this.lastSnapshotBytes >> 3) + 1024).uint(SNAPSHOT_VERSION).uint(this.applied).uint(this.currentRevision).uint(this.compacted).uint(this.clockMs);
    w.uint(this.sortedKeys.length);
    for (const k of this.sortedKeys) {
      const rec = this.data.get(k)!;
      w.bytes(fromByteString(k)).bytes(rec.value).uint(rec.createRevision).uint(rec.modRevision).uint(rec.version).uint(rec.lease);
    }
    w.uint(this.history.length - this.historyHead);
    for (let i = this.historyHead; i < this.history.length; i++) {
      const h = this.history[i]!;
      w.uint(h.revision).uint(h.events.length);
      for (const e of h.events) writeEvent(w, e);
    }
    w.uint(this.sessions.size);
    for (const [id, s] of this.sessions) {
      w.uint(id).uint(s.firstUnackedSeq).uint(s.lastUsedMs).uint(s.responses.size);
      for (const [seq, r] of s.responses) {
        w.uint(seq);
        writeCachedResult(w, r);
      }
    }
    w.uint(this.memberAttrs.size);
    for (const [id, a] of this.members()) {
      w.string(id);
      writeMemberAttrs(w, a);
    }
    this.leaseTable.write(w);
    this.authStore.write(w);
    // The buffer is at least half used (sized from the last snapshot, or doubled to fit): keep it rather than copy megabytes.
    const finished = w.finish();
    const bytes = finished.length * 2 >= finished.buffer.byteLength ? finished : finished.slice();
    this.lastSnapshotBytes = bytes.length;
    return bytes;
  }

  /** Rebuilds a store from {@link KvStore.snapshot} bytes; a malformed snapshot is an Error naming what is wrong. */
  static restore(bytes: Uint8Array, config: KvStoreConfig = DEFAULT_KV_STORE_CONFIG): KvStore {
    const s = new KvStore(config);
    try {
      const r = new Reader(bytes);
      const version = r.uint();
      if (version < 1 || version > SNAPSHOT_VERSION) throw new WireError(`unsupported snapshot version ${version}`);
      s.applied = r.uint();
      s.currentRevision = r.uint();
      s.compacted = r.uint();
      // Before version 3 this was the last revision dropped from history, not the first one kept.
      if (version < 3 && s.compacted > 0) s.compacted++;
      s.clockMs = version >= 2 ? r.uint() : 0;
      const nKeys = r.uint();
      for (let i = 0; i < nKeys; i++) {
        const key = toByteString(r.bytes());
        const rec: Record = { value: r.bytes(), createRevision: r.uint(), modRevision: r.uint(), version: r.uint(), lease: version >= 3 ? r.uint() : 0 };
        s.data.set(key, rec);
        s.sortedKeys.push(key);
      }
      for (let i = 1; i < s.sortedKeys.length; i++) if (!(s.sortedKeys[i - 1]! < s.sortedKeys[i]!)) throw new WireError("keys not in order");
      const nHist = r.uint();
      for (let i = 0; i < nHist; i++) {
        const revision = r.uint();
        const n = r.uint();
        const events: KvEvent[] = [];
        for (let j = 0; j < n; j++) events.push(readEvent(r));
        s.history.push({ revision, events });
      }
      const nSessions = r.uint();
      for (let i = 0; i < nSessions; i++) {
        const id = r.uint();
        const firstUnackedSeq = r.uint();
        const lastUsedMs = version >= 2 ? r.uint() : 0;
        const n = r.uint();
        const responses = new Map<number, CachedResult>();
        for (let j = 0; j < n; j++) {
          const seq = r.uint();
          responses.set(seq, readCachedResult(r));
        }
        s.sessions.set(id, { firstUnackedSeq, responses, lastUsedMs });
      }
      const nMembers = r.uint();
      for (let i = 0; i < nMembers; i++) {
        const id = r.string();
        s.memberAttrs.set(id, readMemberAttrs(r));
      }
      if (version >= 3) {
        s.leaseTable = LeaseTable.read(r);
        s.authStore = AuthStore.read(r, { maxTokens: config.maxTokens ?? DEFAULT_AUTH_STORE_CONFIG.maxTokens });
        for (const k of s.sortedKeys) {
          const lease = s.data.get(k)!.lease;
          if (lease === 0) continue;
          if (!s.leaseTable.has(lease)) throw new WireError(`key attached to missing lease ${lease}`);
          s.leaseTable.attach(lease, k);
        }
      }
      if (!r.done()) throw new WireError("trailing bytes");
      s.lastSnapshotBytes = bytes.length;
    } catch (error) {
      throw new Error(`KV snapshot is malformed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return s;
  }

  /** A deterministic digest of the state (FNV-1a over the snapshot), to compare replicas in tests. */
  digest(): string {
    let h1 = 0x811c9dc5;
    const bytes = this.snapshot();
    for (let i = 0; i < bytes.length; i++) {
      h1 ^= bytes[i]!;
      h1 = Math.imul(h1, 0x01000193) >>> 0;
    }
    return h1.toString(16).padStart(8, "0");
  }

  /** True when both stores hold the same keys, values and revisions. */
  sameData(other: KvStore): boolean {
    if (this.currentRevision !== other.currentRevision || this.data.size !== other.data.size) return false;
    for (const [k, rec] of this.data) {
      const o = other.data.get(k);
      if (!o || !equalBytes(o.value, rec.value) || o.modRevision !== rec.modRevision || o.createRevision !== rec.createRevision || o.version !== rec.version || o.lease !== rec.lease) return false;
    }
    return true;
  }
}

function holds(d: number, result: Compare["result"]): boolean {
  switch (result) {
    case "equal":
      return d === 0;
    case "not_equal":
      return d !== 0;
    case "greater":
      return d > 0;
    case "less":
      return d < 0;
  }
}

function compareNumbers(actual: number, expected: number, result: Compare["result"]): boolean {
  return holds(actual - expected, result);
}

/**
 * The structural rules etcd's API checks before a write reaches the log
 * (`checkTxnRequest`, `checkIntervals`), kept here too so a command built by
 * any client is refused the same way on every replica: no empty keys, and no
 * key put twice or put and deleted within one transaction, across nested
 * transactions (two branches of one txn may each put it: only one runs).
 */
function checkShape(op: RequestOp): KvError | undefined {
  const empty = (k: Uint8Array) => k.length === 0;
  const dup: KvError = { code: "invalid_request", message: "duplicate key given in txn request" };
  switch (op.type) {
    case "range":
    case "delete":
      return empty(op.key) ? { code: "invalid_request", message: "key is not provided" } : undefined;
    case "put":
      return empty(op.key) ? { code: "invalid_request", message: "key is not provided" } : undefined;
    case "txn": {
      const r = txnIntervals(op);
      return "code" in r ? r : undefined;
    }
  }
  function txnIntervals(t: TxnRequest): { puts: Set<string>; dels: Array<[string, string | undefined]> } | KvError {
    for (const c of t.compare) if (empty(c.key)) return { code: "invalid_request", message: "key is not provided" };
    const branches: Array<{ puts: Set<string>; dels: Array<[string, string | undefined]> }> = [];
    for (const branch of [t.success, t.failure]) {
      const puts = new Set<string>();
      const dels: Array<[string, string | undefined]> = [];
      for (const o of branch) {
        if (o.type === "range") {
          if (empty(o.key)) return { code: "invalid_request", message: "key is not provided" };
        } else if (o.type === "delete") {
          if (empty(o.key)) return { code: "invalid_request", message: "key is not provided" };
          dels.push([toByteString(o.key), o.rangeEnd && o.rangeEnd.length > 0 ? toByteString(o.rangeEnd) : undefined]);
        }
      }
      const deleted = (k: string) => dels.some(([start, end]) => inRange(k, start, end));
      for (const o of branch) {
        if (o.type !== "txn") continue;
        const inner = txnIntervals(o);
        if ("code" in inner) return inner;
        for (const k of inner.puts) {
          if (puts.has(k) || deleted(k)) return dup;
          puts.add(k);
        }
        dels.push(...inner.dels);
      }
      for (const o of branch) {
        if (o.type !== "put") continue;
        if (empty(o.key)) return { code: "invalid_request", message: "key is not provided" };
        const k = toByteString(o.key);
        if (puts.has(k) || deleted(k)) return dup;
        puts.add(k);
      }
      branches.push({ puts, dels });
    }
    return { puts: new Set([...branches[0]!.puts, ...branches[1]!.puts]), dels: [...branches[0]!.dels, ...branches[1]!.dels] };
  }
}
