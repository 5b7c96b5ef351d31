/**
 * A raft-kv server's options, each with its meaning, trade-off and the
 * reason for its default, and the defaults applied in one place.
 */
import type { FaultControl, StreamTransport } from "@heck/sim";
import { DEFAULT_KV_STORE_CONFIG, type KvStoreConfig, type WriteResponse } from "../core/kv/index.ts";

/** Everything a node needs to start. */
export interface RaftKvNodeOptions {
  /** This node's id, e.g. "n1". Must match its data dir once written. */
  id: string;
  /** Founding members' peer addresses by id (this node included); used to bootstrap and to find peers. */
  peers: Record<string, string>;
  /** Where the WAL, snapshots and meta.json live. */
  dataDir: string;
  /** The peer transport, already listening on this node's peer address. */
  transport: StreamTransport & Partial<FaultControl> & { close(): Promise<void> };
  /** Start empty and wait to be added with `members add` (etcd's --initial-cluster-state=existing). */
  join?: boolean;
  /**
   * Milliseconds per Raft tick. Election timeout = electionTick..2*electionTick-1
   * ticks, heartbeats every heartbeatTick ticks. Default 50 ms with electionTick 10
   * (0.5-1 s timeouts, heartbeats every 50 ms): failover well under a second on
   * loopback, while a 50 ms stall of the event loop does not trigger elections.
   */
  tickMs?: number;
  /** See tickMs. Default 10. */
  electionTick?: number;
  /** See tickMs. Default 1. */
  heartbeatTick?: number;
  /**
   * How long a leader may hold back telling followers about a new commit
   * index, hoping the next write's append carries it for free (the core's
   * `commitBroadcast: "lazy"`). Writes forwarded by a follower and membership
   * changes are announced at once, since someone waits on a follower for
   * them. Trade-off: one client writing in a loop saves two peer messages and
   * two acknowledgements per write (the next write arrives sooner than this);
   * followers' serializable reads and watches lag by up to this much.
   * Default 10 ms: longer than a client's round trip on loopback, shorter
   * than anything a person notices. -1 = tell them at once (etcd's behaviour).
   */
  commitBroadcastDelayMs?: number;
  /**
   * Take a snapshot and compact the log after this many applied entries.
   * Every member serializes its whole state then (keys and watch history),
   * so fewer snapshots cost less CPU per write; more entries since the last
   * one mean a longer replay after a restart (100,000 puts of 256 bytes:
   * about 4 s) and more memory for the log. Default 100,000, etcd's
   * SnapshotCount; `snapshotBytes` bounds the bytes.
   */
  snapshotEntries?: number;
  /**
   * Snapshot sooner once the entries applied since the last snapshot hold
   * this many bytes, so large entries (transactions of many puts) cannot
   * make the log and the replay after a restart grow without bound.
   * Default 64 MiB, a WAL segment.
   */
  snapshotBytes?: number;
  /** Client requests fail with "timeout" after this long. Default 5,000 ms, etcd's request timeout. */
  requestTimeoutMs?: number;
  /** How linearizable reads confirm leadership (§6.4): a heartbeat round ("safe") or the lease. Default "safe". */
  readOnlyOption?: "safe" | "leaseBased";
  /** gRPC URLs clients use (published to members, shown by `etcdctl member list`). */
  clientUrls?: string[];
  /** The JSON HTTP API address host:port (published so followers can forward admin calls). */
  httpAddress?: string;
  /** Groups members into one cluster; hashed into etcd's cluster id. Default "heck-raft". */
  clusterToken?: string;
  /** State machine tuning; all members must agree. */
  kvConfig?: KvStoreConfig;
  /** Log lines go here. Default: stderr with the node id. */
  log?: (line: string) => void;
  /** WAL segment size (tests use small ones). */
  walSegmentBytes?: number;
  /** Seed for the election-timeout PRNG. Default: random. */
  seed?: number;
  /** Called once when a committed configuration no longer includes this node (etcd members exit then). */
  onRemoved?: () => void;
}

/** A write's answer. */
export interface WriteResult {
  revision: number;
  response: WriteResponse;
  /** True when a session retry was answered from the cache instead of applying again (§6.3). */
  duplicate: boolean;
}

/** The options with every default filled in. */
export type ResolvedNodeOptions = Required<Omit<RaftKvNodeOptions, "join" | "seed" | "walSegmentBytes" | "log" | "onRemoved">> & { join: boolean };

/** Fills in each option's default (see {@link RaftKvNodeOptions}). */
export function resolveNodeOptions(options: RaftKvNodeOptions): ResolvedNodeOptions {
  return {
    id: options.id,
    peers: options.peers,
    dataDir: options.dataDir,
    transport: options.transport,
    join: options.join ?? false,
    tickMs: options.tickMs ?? 50,
    electionTick: options.electionTick ?? 10,
    heartbeatTick: options.heartbeatTick ?? 1,
    commitBroadcastDelayMs: options.commitBroadcastDelayMs ?? 10,
    snapshotEntries: options.snapshotEntries ?? 100_000,
    snapshotBytes: options.snapshotBytes ?? 64 * 1024 * 1024,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    readOnlyOption: options.readOnlyOption ?? "safe",
    clientUrls: options.clientUrls ?? [],
    httpAddress: options.httpAddress ?? "",
    clusterToken: options.clusterToken ?? "heck-raft",
    kvConfig: options.kvConfig ?? DEFAULT_KV_STORE_CONFIG,
  };
}
