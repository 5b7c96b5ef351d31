/**
 * The one interface the agent sees for shared state, whatever keeps it:
 * crdt-kv (coordination-free, the default), raft-kv (consensus), or a real
 * etcd. Each adapter keeps two kinds of keys under a prefix:
 *
 *   <prefix>origins/<id>  the origin list, replicated (add/remove through any node)
 *   <prefix>health/<id>   the newest health record of each origin
 *
 * and reports every change, its own writes included, as {@link StoreEvent}s,
 * starting with the whole current state. Every node then answers reads from
 * what it has received, so reads never wait on the store (any node answers,
 * also from the minority side of a partition, with the data it has).
 */
import { decodeRecord } from "../../core/health-record.ts";
import type { HealthRecord, OriginSpec } from "../../core/types.ts";

/** Which store backs the cluster. */
export type StoreKind = "crdt" | "raft" | "etcd";

/** A change in the shared state, as an adapter reports it. */
export type StoreEvent = { type: "origin"; spec: OriginSpec } | { type: "origin-removed"; id: string } | { type: "record"; record: HealthRecord };

/** What `/healthz`, `/metrics` and the dashboard show about the store. */
export interface StoreStatus {
  kind: StoreKind;
  /** False when the adapter cannot currently write (no quorum, etcd unreachable). Reads still work from what was received. */
  writable: boolean;
  /** One line for humans: leader, peers, endpoint, last error. */
  detail: string;
  /** Records written, refused as stale (a newer one was already stored), and write errors. */
  recordsWritten: number;
  staleRefused: number;
  writeErrors: number;
  /** Records waiting to be written (write-behind queue). */
  pendingWrites: number;
  /**
   * Messages from the store's peers (crdt gossip, raft peer frames) that
   * failed to decode and were dropped, since start; 0 for a client of an
   * outside store, which takes no peer traffic.
   */
  malformedPeerMessages: number;
  /** On an agent that embeds a raft-kv member: the Raft view of this member (absent for other stores and raft clients). */
  raft?: RaftView;
}

/** What an embedded raft-kv member knows of its cluster (for the dashboard: who leads, which voters there are). */
export interface RaftView {
  /** The leader this member follows (itself when it leads), or null during an election. */
  leader: string | null;
  term: number;
  /** The voting members of the current configuration; a write needs a majority of them. */
  voters: string[];
}

/** The interface every store adapter implements. */
export interface HeckStore {
  readonly kind: StoreKind;
  /**
   * Loads the current state and starts following changes; `onEvent` is called
   * for every origin and record present now, then for every change. Resolves
   * once the initial state was delivered.
   */
  start(onEvent: (event: StoreEvent) => void): Promise<void>;
  /** Adds or replaces an origin in the replicated list. */
  putOrigin(spec: OriginSpec): Promise<void>;
  /** Adds or replaces many origins (pipelined; 10,000 through one call must not take 10,000 round trips in a row). */
  putOrigins(specs: readonly OriginSpec[]): Promise<void>;
  /** Removes an origin and its record. Resolves false when it was not there. */
  removeOrigin(id: string): Promise<boolean>;
  /**
   * Queues records for writing. Newest-wins: a record is stored only if it
   * is newer than the stored one (a compare-and-set in etcd and raft-kv,
   * the LWW order in crdt-kv), so a stale observer never overwrites a newer
   * record. Never throws; failures are counted and retried while the record
   * is still the newest this node has.
   */
  writeRecords(records: readonly HealthRecord[]): void;
  status(): StoreStatus;
  /** Stops following, flushes what it can, closes connections. */
  close(): Promise<void>;
}

/**
 * Peers named both ways a fault may need them: member ids (raft-kv blocks
 * its peers by id) and the transport addresses they advertise (crdt-kv
 * blocks addresses).
 */
export interface PeerRefs {
  ids: readonly string[];
  addrs: readonly string[];
}

/** Fault switches on a store's own peer traffic, for partition tests and demos (`POST /v1/admin/faults`). */
export interface StorePeerFaults {
  /** Drops all traffic with these peers, both directions, at this node. */
  block(peers: PeerRefs): void;
  /** Lets traffic with these peers through again; every peer when none are given. */
  unblock(peers?: PeerRefs): void;
  /** Drops this share (0-1) of the store's packets, when the store's transport can. */
  setDropRate?(rate: number): void;
}

/**
 * A store as the agent gets it from the factory (`open-store.ts`): the
 * store, what peers must learn through SWIM metadata to reach it, and its
 * fault switches when it has peer traffic of its own.
 */
export interface OpenedStore {
  store: HeckStore;
  /** Addresses to publish in SWIM metadata: the crdt gossip address, an embedded raft member's gRPC API. */
  advertise: { crdt?: string; grpc?: string };
  /** Absent for stores reached as a client (etcd, raft-kv over gRPC): they have no peer traffic here to cut. */
  peerFaults?: StorePeerFaults;
}

/** The key prefix used when none is configured. */
export const DEFAULT_KEY_PREFIX = "heck/";

/** Key helpers for a prefix. */
export function storeKeys(prefix: string) {
  return {
    origins: `${prefix}origins/`,
    health: `${prefix}health/`,
    origin: (id: string) => `${prefix}origins/${id}`,
    record: (id: string) => `${prefix}health/${id}`,
  };
}

/**
 * Turns one stored key/value into an event, or undefined (with the reason
 * passed to `onBad`) for a malformed value: a store shared with other
 * software, or another version's format, must not crash the agent.
 */
export function decodeStored(prefix: string, key: string, value: string | undefined, onBad: (why: string) => void): StoreEvent | undefined {
  const keys = storeKeys(prefix);
  if (key.startsWith(keys.origins)) {
    const id = key.slice(keys.origins.length);
    if (value === undefined) return { type: "origin-removed", id };
    const parsed = parseJson(value);
    if (parsed === undefined || typeof parsed !== "object" || parsed === null || (parsed as { id?: unknown }).id !== id || typeof (parsed as { url?: unknown }).url !== "string") {
      onBad(`${key}: not an origin`);
      return undefined;
    }
    return { type: "origin", spec: parsed as OriginSpec };
  }
  if (key.startsWith(keys.health)) {
    if (value === undefined) return undefined; // records go away with their origin
    const decoded = decodeRecord(parseJson(value));
    if (!decoded.ok) {
      onBad(`${key}: ${decoded.message}`);
      return undefined;
    }
    return { type: "record", record: decoded.value };
  }
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
