/**
 * The embeddable store: one call starts a replica inside your process
 * (gossip transport, data directory, optional HTTP API) and returns a
 * handle to read, write, list, subscribe and stop. `apps/v2` embeds it in
 * its agent process.
 */
import type { FaultControl } from "@heck/sim";
import type { CausalContext } from "../core/causality/causal-context.ts";
import type { Json } from "../core/json.ts";
import type { ReadResult } from "../core/store/kv-state.ts";
import type { BatchWrite, ChangeEvent, WriteResult } from "../core/store/node.ts";
import type { Mode } from "../core/store/version.ts";
import { KvDriver, type DriverOptions } from "./driver.ts";
import { serveHttp, type HttpOptions } from "./http.ts";

/** Options of {@link startCrdtNode}: the driver's, plus the HTTP API (off unless given). */
export interface CrdtNodeOptions extends DriverOptions {
  /** Serve the HTTP API (see src/io/http.ts); omit or false for none. */
  http?: HttpOptions | false;
}

/** Options of a write. */
export interface PutOptions {
  /** "lww" (default for new keys unless the node says otherwise) or "mv". */
  mode?: Mode;
  /**
   * LWW timestamp; default the wall clock (epoch ms). The newest timestamp
   * wins everywhere; ties go to a delete, then to the larger replica id. To
   * keep "the newest observation by (check time, observer)", write with
   * `ts: checkTimeMs` from the observer's own node: a stale observer's write
   * then loses every merge and is refused outright where the newer one is known.
   */
  ts?: number;
  /** MV: the context of a read; the write replaces exactly those versions. */
  context?: CausalContext;
}

/** A running replica. */
export interface CrdtNode {
  /** Replica id. */
  readonly id: string;
  /** Gossip address (host:port) peers use. */
  readonly address: string;
  /** HTTP base URL when the API is served. */
  readonly httpUrl: string | undefined;
  /** Writes `value` (any JSON) under `key`; returns once the write is fsynced. */
  put(key: string, value: Json, options?: PutOptions): WriteResult;
  /**
   * Several writes (and deletes, `delete: true`) as one step: one delta, one
   * WAL record and one fsync for the batch (group commit); returns once durable.
   */
  putMany(writes: readonly BatchWrite[]): WriteResult[];
  /** {@link putMany} without blocking the event loop on the fsync: results at once, `durable` resolves once fsynced (one fsync shared with concurrent steps). */
  putManyAsync(writes: readonly BatchWrite[]): { results: WriteResult[]; durable: Promise<void> };
  /** Reads `key`: value (LWW) or siblings (MV), and the context to write back. */
  get(key: string): ReadResult;
  /** Deletes `key` (LWW: a timestamped delete marker; MV: the versions in `context`, all seen if omitted). */
  delete(key: string, options?: PutOptions): WriteResult;
  /** Keys with a value, by prefix, sorted. */
  list(prefix?: string, limit?: number): string[];
  /** Calls `listener` on every change to a key, local or merged from a peer. Returns the unsubscribe function. */
  subscribe(listener: (event: ChangeEvent) => void): () => void;
  /** This replica's version vector. */
  versionVector(): Record<string, number>;
  /** Vector, peers, traffic, sizes, faults. */
  stats(): ReturnType<KvDriver["status"]>;
  /** Replaces the static peer list (when not using a provider). */
  setPeers(peers: readonly string[]): void;
  /** The transport's fault switches (drop rate, blocked peers), for tests and demos. */
  readonly faults: FaultControl;
  /** Stops gossip and HTTP, closes the data directory. */
  close(): Promise<void>;
}

/**
 * Starts a replica in this process.
 *
 * ```ts
 * const node = await startCrdtNode({ id: "agent-1", dataDir: "/var/lib/heck/crdt", port: 18500,
 *   peers: () => swim.aliveMembers().map((m) => m.crdtAddress) });
 * node.put("health/web-1", { status: "up", checkedAt }, { ts: checkedAt });
 * node.subscribe((e) => console.log(e.key, e.result.value));
 * ```
 */
export async function startCrdtNode(options: CrdtNodeOptions): Promise<CrdtNode> {
  const driver = await KvDriver.start(options);
  let http: Awaited<ReturnType<typeof serveHttp>> | undefined;
  try {
    if (options.http !== undefined && options.http !== false) http = await serveHttp(driver, options.http);
  } catch (e) {
    await driver.close();
    throw e;
  }
  return {
    id: driver.node.id,
    address: driver.address,
    httpUrl: http?.url,
    put: (key, value, o = {}) => driver.put(key, value, o),
    putMany: (writes) => driver.putMany(writes),
    putManyAsync: (writes) => driver.putManyAsync(writes),
    get: (key) => driver.get(key),
    delete: (key, o = {}) => driver.delete(key, o),
    list: (prefix = "", limit = Infinity) => driver.list(prefix, limit),
    subscribe: (listener) => driver.subscribe(listener),
    versionVector: () => driver.status().vector,
    stats: () => driver.status(),
    setPeers: (peers) => driver.setPeers(peers),
    faults: driver.transport,
    close: async () => {
      await http?.close();
      await driver.close();
    },
  };
}
