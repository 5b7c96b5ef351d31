/**
 * The store adapter for revisioned key-value stores with compare-and-set and
 * watch: a real etcd (through the `etcd3` client) and raft-kv (embedded, or
 * external through its etcd-compatible gRPC API). Both are linearizable, so
 * "newest record wins" is enforced by a compare-and-set on the key's
 * modification revision: read what is stored (from the watch-fed cache),
 * write only if ours is newer, and if someone wrote in between, look again.
 *
 * Writes go through a write-behind queue, coalesced per origin (only the
 * newest record of each origin is kept), so a slow or unreachable store never
 * blocks checking and a burst of results costs one write per origin.
 *
 * Group commit: the queue goes out as transactions of up to
 * {@link MAX_BATCH_RECORDS} compare-and-sets (one Txn: every key's revision
 * compared, every record put, all or nothing), not one Txn per record. A
 * record that changes what readers see (status or observer) goes out at
 * once, with whatever else is queued; an unchanged refresh waits up to
 * `lingerMs` for company. Measured with `bench/store-writes.ts` (10,000
 * records, etcd 3.4 on loopback): one Txn per record cost the writer
 * ~180 µs of CPU and etcd ~113 µs per record; see the README for batches.
 */
import { isNewer } from "../../core/health-record.ts";
import type { HealthRecord, OriginSpec } from "../../core/types.ts";
import { decodeStored, storeKeys, type HeckStore, type RaftView, type StoreEvent, type StoreKind, type StoreStatus } from "./store.ts";

/** One stored pair with its etcd-style modification revision. */
export interface RevEntry {
  key: string;
  value: string;
  modRevision: number;
}

/** A change seen by a watch. */
export interface RevEvent {
  type: "put" | "delete";
  key: string;
  value?: string;
  modRevision: number;
}

/** The minimum a revisioned KV must offer (etcd v3 semantics). */
export interface RevKv {
  /** Every pair under `prefix` and the store revision of that read. */
  list(prefix: string): Promise<{ entries: RevEntry[]; revision: number }>;
  put(key: string, value: string): Promise<void>;
  /** Puts many pairs in one transaction (at most {@link MAX_TXN_OPS}). */
  putMany(entries: readonly { key: string; value: string }[]): Promise<void>;
  /**
   * Puts `value` only if the key's modRevision is `expectedModRevision`
   * (0: the key must not exist). On failure returns what is stored now.
   */
  cas(key: string, value: string, expectedModRevision: number): Promise<{ ok: true; modRevision: number } | { ok: false; current: RevEntry | undefined }>;
  delete(key: string): Promise<boolean>;
  /**
   * Follows every change under `prefix` after `afterRevision`. `onError` is
   * called if the watch cannot continue (e.g. the revision was compacted);
   * the store then reloads. Returns a cancel function.
   */
  watch(prefix: string, afterRevision: number, onEvents: (events: RevEvent[]) => void, onError: (error: Error) => void): Promise<() => void>;
  /**
   * Many compare-and-sets as one transaction: every item's key must have its
   * `expectedModRevision`, then every value is put (one new revision), or
   * nothing is, and what is stored under each key is returned (in order).
   */
  casMany(items: readonly CasItem[]): Promise<{ ok: true; modRevision: number } | { ok: false; current: (RevEntry | undefined)[] }>;
  /** One line for the status page. */
  describe(): string;
  /** The Raft view of an embedded member (leader, term, voters); absent when this is a client. */
  raftView?(): RaftView;
  /** Peer frames an embedded member dropped as malformed since start; absent when this is a client. */
  malformedPeerFrames?(): number;
  close(): Promise<void>;
}

/** One compare-and-set of {@link RevKv.casMany}. */
export interface CasItem {
  key: string;
  value: string;
  /** The modRevision the key must have (0: it must not exist). */
  expectedModRevision: number;
}

/**
 * Records per transaction: a batch of n costs n compares, n puts and n
 * ranges (the failure branch), and etcd and raft-kv refuse more than 128
 * operations in one Txn (etcd's --max-txn-ops).
 */
export const MAX_BATCH_RECORDS = 42;

/** Operations per transaction that etcd (--max-txn-ops) and raft-kv accept by default. */
export const MAX_TXN_OPS = 128;

/** Tuning of the write-behind queue. */
export interface KvStoreOptions {
  kind: StoreKind;
  prefix: string;
  /**
   * Transactions in flight at once. 4 batches (up to 168 records) keep a
   * store busy; while they are out, the queue fills the next batches (group
   * commit), so a burst costs few round trips, not one per record.
   */
  maxInFlight?: number;
  /**
   * How long an unchanged refresh record may wait for others to share its
   * transaction. A status or observer change never waits. Default 100 ms:
   * refreshes are due every few intervals, so 100 ms is nothing to their age,
   * and at 100 refreshes a second it makes batches of about 10.
   */
  lingerMs?: number;
  /** Records per transaction, at most {@link MAX_BATCH_RECORDS} (1: one CAS per record, the old path; bench/store-writes.ts compares). */
  maxBatchRecords?: number;
  /** Log sink for malformed values and write errors. */
  log?: (line: string) => void;
}

/** {@link HeckStore} over a {@link RevKv}. */
export class KvBackedStore implements HeckStore {
  readonly kind: StoreKind;
  private readonly keys: ReturnType<typeof storeKeys>;
  private readonly cache = new Map<string, { record: HealthRecord | undefined; modRevision: number }>();
  private readonly pending = new Map<string, HealthRecord>();
  private inFlight = 0;
  private readonly maxInFlight: number;
  private cancelWatch: (() => void) | undefined;
  private onEvent: ((e: StoreEvent) => void) | undefined;
  private closed = false;
  private lastError = "";
  private lastErrorAtMs = 0;
  private reloading = false;
  private counters = { recordsWritten: 0, staleRefused: 0, writeErrors: 0 };
  private retryTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** A queued record changes what readers see: send without lingering. */
  private urgent = false;
  private readonly lingerMs: number;
  private readonly maxBatch: number;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly kv: RevKv,
    private readonly options: KvStoreOptions,
  ) {
    this.kind = options.kind;
    this.keys = storeKeys(options.prefix);
    this.maxInFlight = options.maxInFlight ?? 4;
    this.lingerMs = options.lingerMs ?? 100;
    this.maxBatch = Math.max(1, Math.min(MAX_BATCH_RECORDS, options.maxBatchRecords ?? MAX_BATCH_RECORDS));
  }

  async start(onEvent: (event: StoreEvent) => void): Promise<void> {
    this.onEvent = onEvent;
    await this.load();
  }

  /** Reads everything under the prefix, reports it, and watches from that revision on. */
  private async load(): Promise<void> {
    const { entries, revision } = await this.kv.list(this.options.prefix);
    for (const e of entries) this.apply({ type: "put", key: e.key, value: e.value, modRevision: e.modRevision });
    this.cancelWatch?.();
    this.cancelWatch = await this.kv.watch(
      this.options.prefix,
      revision,
      (events) => {
        for (const e of events) this.apply(e);
      },
      (error) => this.onWatchError(error),
    );
  }

  private onWatchError(error: Error): void {
    if (this.closed || this.reloading) return;
    this.noteError(`watch: ${error.message}`);
    this.reloading = true;
    // Reload from scratch: whatever the watch missed is in the current state.
    const retry = () => {
      if (this.closed) return;
      this.load().then(
        () => (this.reloading = false),
        (e: Error) => {
          this.noteError(`reload: ${e.message}`);
          setTimeout(retry, 1000).unref();
        },
      );
    };
    retry();
  }

  private apply(e: RevEvent): void {
    const event = decodeStored(this.options.prefix, e.key, e.type === "put" ? e.value : undefined, (why) => this.options.log?.(`store: ignoring ${why}`));
    if (e.key.startsWith(this.keys.health)) {
      const id = e.key.slice(this.keys.health.length);
      if (e.type === "delete") this.cache.delete(id);
      else {
        const current = this.cache.get(id);
        // Watch events and CAS answers may arrive out of order: keep the highest revision.
        if (current === undefined || current.modRevision <= e.modRevision) {
          this.cache.set(id, { record: event?.type === "record" ? event.record : undefined, modRevision: e.modRevision });
        }
      }
    }
    if (event !== undefined) this.onEvent?.(event);
  }

  async putOrigin(spec: OriginSpec): Promise<void> {
    await this.kv.put(this.keys.origin(spec.id), JSON.stringify(spec));
  }

  async putOrigins(specs: readonly OriginSpec[]): Promise<void> {
    // Transactions of 128 puts, 4 in flight: 10,000 origins are 79 requests and
    // 79 Raft entries, not 10,000 of each.
    const chunks: OriginSpec[][] = [];
    for (let i = 0; i < specs.length; i += MAX_TXN_OPS) chunks.push(specs.slice(i, i + MAX_TXN_OPS));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        await this.kv.putMany(chunk.map((spec) => ({ key: this.keys.origin(spec.id), value: JSON.stringify(spec) })));
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, chunks.length) }, worker));
  }

  async removeOrigin(id: string): Promise<boolean> {
    const existed = await this.kv.delete(this.keys.origin(id));
    await this.kv.delete(this.keys.record(id));
    this.pending.delete(id);
    return existed;
  }

  writeRecords(records: readonly HealthRecord[]): void {
    for (const r of records) {
      if (!isNewer(r, this.pending.get(r.id))) continue;
      this.pending.set(r.id, r);
      const stored = this.cache.get(r.id)?.record;
      if (stored === undefined || stored.status !== r.status || stored.observer !== r.observer) this.urgent = true;
    }
    this.schedule();
  }

  /** Sends now when something is urgent or a batch is full; otherwise lets refreshes linger. */
  private schedule(): void {
    if (this.closed || this.retryTimer !== undefined || this.pending.size === 0) return;
    if (this.urgent || this.pending.size >= this.maxBatch || this.lingerMs === 0) {
      this.pump();
      return;
    }
    if (this.lingerTimer === undefined) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        this.pump();
      }, this.lingerMs);
      this.lingerTimer.unref();
    }
  }

  /** Starts queued batches up to the in-flight limit. */
  private pump(): void {
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    while (!this.closed && this.inFlight < this.maxInFlight && this.pending.size > 0) {
      const batch: HealthRecord[] = [];
      for (const [id, record] of this.pending) {
        this.pending.delete(id);
        batch.push(record);
        if (batch.length === this.maxBatch) break;
      }
      this.inFlight += 1;
      this.writeBatch(batch)
        .catch((e: Error) => {
          this.counters.writeErrors += 1;
          this.noteError(`write ${batch.length === 1 ? batch[0]!.id : `${batch.length} records`}: ${e.message}`);
          // Put them back unless something newer arrived meanwhile (or is stored);
          // retry after a pause so an unreachable store is not hammered.
          for (const record of batch) {
            const stored = this.cache.get(record.id)?.record;
            if (isNewer(record, this.pending.get(record.id)) && (stored === undefined || isNewer(record, stored))) this.pending.set(record.id, record);
          }
          this.scheduleRetry();
        })
        .finally(() => {
          this.inFlight -= 1;
          // What queued up while this batch was out has waited long enough: no linger.
          if (this.retryTimer === undefined) this.pump();
          if (this.inFlight === 0 && this.pending.size === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
    if (this.pending.size === 0) this.urgent = false;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, 500);
    this.retryTimer.unref();
  }

  /**
   * Writes a batch as one transaction of compare-and-sets. If any key moved
   * since we read it (another observer wrote, a rare hand-off race), the
   * transaction writes nothing and returns what is stored; the records that
   * are still newer then go one by one ({@link writeOne}).
   */
  private async writeBatch(batch: readonly HealthRecord[]): Promise<void> {
    const fresh: HealthRecord[] = [];
    for (const record of batch) {
      const current = this.cache.get(record.id)?.record;
      if (current !== undefined && !isNewer(record, current)) this.counters.staleRefused += 1;
      else fresh.push(record);
    }
    if (fresh.length === 0) return;
    if (fresh.length === 1) return this.writeOne(fresh[0]!);
    const items = fresh.map((r) => ({ key: this.keys.record(r.id), value: JSON.stringify(r), expectedModRevision: this.cache.get(r.id)?.modRevision ?? 0 }));
    const res = await this.kv.casMany(items);
    if (res.ok) {
      this.counters.recordsWritten += fresh.length;
      items.forEach((item) => this.apply({ type: "put", key: item.key, value: item.value, modRevision: res.modRevision }));
      return;
    }
    // Learn what is there, then decide again per record (each with its own CAS).
    items.forEach((item, i) => {
      const cur = res.current[i];
      if (cur === undefined) this.cache.delete(fresh[i]!.id);
      else this.apply({ type: "put", key: item.key, value: cur.value, modRevision: cur.modRevision });
    });
    await Promise.all(fresh.map((r) => this.writeOne(r)));
  }

  /** Compare-and-set until ours is stored or something newer is (at most 4 rounds). */
  private async writeOne(record: HealthRecord): Promise<void> {
    const key = this.keys.record(record.id);
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = this.cache.get(record.id);
      if (current?.record !== undefined && !isNewer(record, current.record)) {
        this.counters.staleRefused += 1;
        return;
      }
      const res = await this.kv.cas(key, JSON.stringify(record), current?.modRevision ?? 0);
      if (res.ok) {
        this.counters.recordsWritten += 1;
        this.apply({ type: "put", key, value: JSON.stringify(record), modRevision: res.modRevision });
        return;
      }
      // Someone wrote in between: learn what is there and decide again.
      if (res.current === undefined) this.cache.delete(record.id);
      else this.apply({ type: "put", key, value: res.current.value, modRevision: res.current.modRevision });
    }
    throw new Error("compare-and-set kept failing (4 rounds)");
  }

  /** Resolves when nothing is queued or in flight (tests, graceful leave). */
  flush(): Promise<void> {
    if (this.inFlight === 0 && this.pending.size === 0) return Promise.resolve();
    if (this.retryTimer === undefined) this.pump(); // no lingering when someone waits

    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.lastErrorAtMs = Date.now();
    this.options.log?.(`store: ${msg}`);
  }

  status(): StoreStatus {
    const recentError = this.lastError !== "" && Date.now() - this.lastErrorAtMs < 5_000;
    return {
      kind: this.kind,
      writable: !recentError,
      detail: `${this.kv.describe()}${recentError ? `; last error: ${this.lastError}` : ""}`,
      ...this.counters,
      pendingWrites: this.pending.size + this.inFlight,
      malformedPeerMessages: this.kv.malformedPeerFrames?.() ?? 0,
      ...(this.kv.raftView !== undefined ? { raft: this.kv.raftView() } : {}),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Give queued records a moment to reach the store (a graceful stop should not lose the last observations).
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.cancelWatch?.();
    await this.kv.close();
  }
}
