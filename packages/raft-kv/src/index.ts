/**
 * @packageDocumentation
 * `@heck/raft-kv`: stage 4, a Raft-replicated key-value store that speaks a
 * subset of etcd's v3 API.
 *
 * - Embed a member in your process: {@link startServer} returns a
 *   {@link RaftKvServer} whose `kv` ({@link EmbeddedKv}) puts, gets, deletes,
 *   compare-and-sets, ranges and watches, linearizable by default.
 * - Talk to an external cluster: {@link RaftKvHttpClient} (JSON HTTP API with
 *   failover and exactly-once retries), or any etcd v3 client over gRPC.
 * - Run local clusters of processes: {@link LocalCluster}.
 * - Coordinate: leases ({@link LeaseService}), locks and elections
 *   ({@link lock}, {@link campaign}), users and roles ({@link AuthService}),
 *   as etcd offers them, on any member.
 * - Learn from the pieces: the pure Raft core (`RaftNode`), the pure KV state
 *   machine ({@link KvStore}) with its lease table and auth store, the
 *   write-ahead log ({@link Wal}).
 */
export * from "./core/raft/index.ts";
export * from "./core/kv/index.ts";
export * from "./core/replica/index.ts";
export { WalCorruptionError, SnapshotCorruptionError, MAX_RECORD_BYTES, WalAppender, WalReplay, encodeSnapshotFile, decodeSnapshotFile, crc32, type WalState, type SnapshotMarker, type Checksum } from "./core/raft/storage-format.ts";
export { Wal, type WalOptions } from "./io/wal.ts";
export { SnapshotStore } from "./io/snapshot-file.ts";
export { DiskStorage, type OpenedStorage } from "./io/storage.ts";
export { RaftKvNode, type RaftKvNodeOptions, type WriteResult } from "./io/kv-node.ts";
export { hash64, memberId, clusterId, type HeaderInfo, type MemberInfo, type NodeStatus, type ServerMalformedCounts } from "./io/node-info.ts";
export { parseListen } from "./io/listen.ts";
export { startServer, RaftKvServer, EmbeddedKv, type ServerOptions, type ReadOptions, type CasResult, type CasExpectation, type PeerEncryptionStatus } from "./io/embed.ts";
export { HttpApi, kvToJson, type HttpApiOptions, type JsonKeyValue } from "./io/http-api.ts";
export { GrpcApi, loadEtcdProto, PROTO_DIR, PROTO_OPTIONS, REPORTED_VERSION, type GrpcApiOptions, type MemberServices } from "./io/grpc-api.ts";
export { toGrpcError } from "./io/grpc-errors.ts";
export { type ServerTls } from "./io/grpc-server.ts";
export { LeaseService, type LeaseServiceOptions, type LeaseTimeToLive } from "./io/leases.ts";
export { AuthService, hashPassword, checkPassword, type AuthRequest, type AuthServiceOptions } from "./io/auth.ts";
export { lock, unlock, campaign, proclaim, resign, leaderOf, observe, type LeaderKey, type RecipeContext } from "./io/recipes.ts";
export { snapshotFile } from "./io/grpc-admin.ts";
export { RaftKvHttpClient, RaftKvHttpError, type HttpClientOptions, type HttpKeyValue, type HttpWatchEvent } from "./io/http-client.ts";
export { LocalCluster, memberIds, CLI_BIN, type LocalClusterOptions, type LocalNode } from "./io/local-cluster.ts";
