/**
 * The replica layer: what sits between the Raft core, the key-value state
 * machine and the clients, with no I/O (request waiters, forwarding, the
 * read barrier, watches, the Ready loop). `src/index.ts` re-exports this.
 */
export { Replica, mayLeaveBeforePersist, type ReplicaOptions, type ReplicaStart, type ReplicaTiming, type ReplicaHooks } from "./replica.ts";
export { Proposals, type ProposalOutcome, type ConfChangeOutcome } from "./proposals.ts";
export { ReadBarrier } from "./read-barrier.ts";
export { WatchHub, type WatchOptions, type WatchHandle, type WatchListener, type WatchStart } from "./watch-hub.ts";
export { MemoryStorage, type PersistentPart } from "./memory-storage.ts";
export { ReplicaNode, recoverStorage, type ReplicaNodeOptions, type ReplicaNodeReady, type SnapshotImage, type StorageImage, type ChannelOf } from "./replica-node.ts";
export { encodeEnvelope, decodeEnvelope, type Envelope } from "./envelope.ts";
export { LeaseKeeper, type LeaseKeeperHost, type LeaseExpiry } from "./leases.ts";
export { ServerError, httpStatusOf, raftErrorToServer, kvErrorToServer, type ServerErrorCode } from "./errors.ts";
