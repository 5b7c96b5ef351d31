/**
 * `--store crdt` (the default): an embedded crdt-kv replica per agent. Every
 * write is local and succeeds at once, deltas spread by gossip to the peers
 * SWIM says are alive, and replicas converge whatever the network does
 * (strong eventual consistency; Almeida, Shoker, Baquero 2018). No quorum,
 * no leader: a node cut off from the rest keeps writing and reading.
 *
 * Health records are LWW registers whose timestamp is the record's hybrid
 * logical clock stamp, written by the observer's own replica, so crdt-kv's
 * LWW order `(ts, replica id)` is exactly v2's "newest observation wins"
 * order `(hlcMs, observer)`: a stale observer's write loses every merge.
 * The origin list is a set of LWW keys stamped with the wall clock (and
 * past any earlier stamp), so add and remove through any node converge.
 *
 * Group commit: a batch of records is one `putManyAsync` of crdt-kv: one
 * delta, one WAL record, and an fsync on the thread pool shared with every
 * other step of the replica meanwhile, so neither the fsync nor one step per
 * record stalls the agent's event loop. Whether a record was applied or
 * refused as stale is known at once; it is gossiped once durable.
 */
import { KvDriver, type Json } from "@heck/crdt-kv";
import type { FaultControl } from "@heck/sim";
import type { HealthRecord, OriginSpec } from "../../core/types.ts";
import { decodeStored, storeKeys, type HeckStore, type StoreEvent, type StoreStatus } from "./store.ts";

/** Options of {@link CrdtStore}. */
export interface CrdtStoreOptions {
  /** Replica id: the agent's member id (it is the LWW tie-break, so it must equal the record observer). */
  id: string;
  dataDir: string;
  /** Gossip bind host and port (0 = any). */
  host: string;
  port: number;
  /** Gossip addresses of the other alive agents, asked every round (from SWIM metadata). */
  peers: () => readonly string[];
  /** Gossip period: bounds how fast a record reaches every node (about log3(n) rounds). Default 200 ms. */
  syncIntervalMs?: number;
  /** Peers per round. Default 3. */
  fanout?: number;
  prefix: string;
  /** Base64 AES-256 keys sealing the gossip (crdt-kv's `keys`), primary first: the agent's gossip key. */
  keys?: readonly string[];
  log?: (line: string) => void;
}

/** {@link HeckStore} over an embedded crdt-kv replica. */
export class CrdtStore implements HeckStore {
  readonly kind = "crdt" as const;
  private driver: KvDriver | undefined;
  private readonly keys: ReturnType<typeof storeKeys>;
  private unsubscribe: (() => void) | undefined;
  private counters = { recordsWritten: 0, staleRefused: 0, writeErrors: 0 };
  private lastError = "";
  /** Records applied whose WAL record is not yet durable (and so not yet gossiped). */
  private pending = 0;

  constructor(private readonly options: CrdtStoreOptions) {
    this.keys = storeKeys(options.prefix);
  }

  /** The gossip address (host:port) to advertise in SWIM metadata; valid after start. */
  get address(): string {
    return this.requireNode().address;
  }

  /** The gossip transport's fault switches (for partition tests and `heck` admin). */
  get faults(): FaultControl {
    return this.requireNode().transport;
  }

  /** Opens the replica (restoring its data dir) without delivering events yet. */
  async open(): Promise<void> {
    if (this.driver !== undefined) return;
    this.driver = await KvDriver.start({
      id: this.options.id,
      dataDir: this.options.dataDir,
      host: this.options.host,
      port: this.options.port,
      peers: this.options.peers,
      syncIntervalMs: this.options.syncIntervalMs ?? 200,
      fanout: this.options.fanout ?? 3,
      defaultMode: "lww",
      ...(this.options.keys !== undefined && this.options.keys.length > 0 ? { keys: this.options.keys } : {}),
      // Snapshots rewrite the whole state; with 10,000 origins and records every 512 writes is too often.
      // A peer that lags beyond the delta log falls back to a digest exchange over every key: with two
      // keys per origin (the origin, its record) and a write per check at start, 4,096 entries is
      // crossed within one interval at 10,000 origins, and the exchanges then never end. 64 Ki entries
      // keep a few intervals of writes.
      core: { snapshotEveryRecords: 20_000, maxLogEntries: 65_536 },
    });
  }

  async start(onEvent: (event: StoreEvent) => void): Promise<void> {
    await this.open();
    const node = this.requireNode();
    const emit = (key: string, value: Json | undefined) => {
      const event = decodeStored(this.options.prefix, key, value === undefined ? undefined : JSON.stringify(value), (why) => this.options.log?.(`store: ignoring ${why}`));
      if (event !== undefined) onEvent(event);
    };
    this.unsubscribe = node.subscribe((e) => {
      if (!e.key.startsWith(this.options.prefix)) return;
      emit(e.key, e.result.exists ? e.result.value : undefined);
    });
    for (const key of node.list(this.keys.origins)) emit(key, node.get(key).value);
    for (const key of node.list(this.keys.health)) emit(key, node.get(key).value);
  }

  /** A stamp past the key's current one: the wall clock, unless a skewed peer wrote "in the future". */
  private nextTs(key: string, atLeast = 0): number {
    const current = this.requireNode().get(key).ts;
    return Math.max(Date.now(), atLeast, current === undefined ? 0 : current + 1);
  }

  async putOrigin(spec: OriginSpec): Promise<void> {
    const key = this.keys.origin(spec.id);
    this.requireNode().put(key, spec as unknown as Json, { ts: this.nextTs(key) });
  }

  async putOrigins(specs: readonly OriginSpec[]): Promise<void> {
    // Batches of 500: one step and one fsync each, and the agent answers between them.
    for (let i = 0; i < specs.length; i += 500) {
      const { durable } = this.putBatch(specs.slice(i, i + 500).map((spec) => ({ key: this.keys.origin(spec.id), value: spec as unknown as Json, ts: this.nextTs(this.keys.origin(spec.id)) })));
      await durable;
    }
  }

  /** Writes a batch as one crdt-kv step (see the file comment). Throws on a refused write (a bad key or value). */
  private putBatch(writes: readonly { key: string; value: Json; ts: number }[]): { applied: number; refused: number; durable: Promise<void> } {
    const { results, durable } = this.requireNode().putManyAsync(writes);
    let applied = 0;
    let refused = 0;
    for (const res of results) {
      if (!res.ok) throw new Error(res.error);
      if (res.applied) applied += 1;
      else refused += 1;
    }
    return { applied, refused, durable };
  }

  async removeOrigin(id: string): Promise<boolean> {
    const node = this.requireNode();
    const key = this.keys.origin(id);
    if (!node.get(key).exists) return false;
    node.delete(key, { ts: this.nextTs(key) });
    const healthKey = this.keys.record(id);
    if (node.get(healthKey).exists) node.delete(healthKey, { ts: this.nextTs(healthKey) });
    return true;
  }

  writeRecords(records: readonly HealthRecord[]): void {
    if (records.length === 0) return;
    try {
      const r = this.putBatch(records.map((rec) => ({ key: this.keys.record(rec.id), value: rec as unknown as Json, ts: rec.hlcMs })));
      this.counters.recordsWritten += r.applied;
      this.counters.staleRefused += r.refused;
      this.pending += r.applied;
      void r.durable.then(() => (this.pending -= r.applied));
    } catch (e) {
      this.counters.writeErrors += records.length;
      this.lastError = (e as Error).message;
      this.options.log?.(`store: writing ${records.length} records: ${this.lastError}`);
    }
  }

  status(): StoreStatus {
    const driver = this.requireNode();
    const s = driver.status();
    return {
      kind: "crdt",
      writable: true,
      detail: `crdt-kv ${driver.address}, ${s.peers.length} peers, gossip ${s.encryption.enabled ? `encrypted${s.encryption.decryptFailures + s.encryption.notEncrypted > 0 ? ` (${s.encryption.decryptFailures + s.encryption.notEncrypted} refused)` : ""}` : "plaintext"}${this.lastError ? `; last error: ${this.lastError}` : ""}`,
      ...this.counters,
      pendingWrites: this.pending,
      malformedPeerMessages: s.malformed.gossip,
    };
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.driver?.close();
    this.driver = undefined;
  }

  private requireNode(): KvDriver {
    if (this.driver === undefined) throw new Error("crdt store: not started");
    return this.driver;
  }
}
