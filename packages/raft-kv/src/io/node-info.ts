/**
 * What a node says about itself: the ids and revision etcd's ResponseHeader
 * carries, the member list (`etcdctl member list`), and the status behind
 * GET /v1/status and Maintenance.Status.
 */
import crypto from "node:crypto";
import type { RaftStatus, Role } from "../core/raft/index.ts";
import type { Replica } from "../core/replica/index.ts";

/** What etcd's ResponseHeader needs. */
export interface HeaderInfo {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

/** One member as status and member lists show it. */
export interface MemberInfo {
  id: string;
  memberId: bigint;
  peerAddress: string;
  clientUrls: string[];
  httpAddress: string;
  learner: boolean;
}

/** A node's status for GET /v1/status and Maintenance.Status. */
export interface NodeStatus {
  id: string;
  memberId: string;
  clusterId: string;
  role: Role | "removed";
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  revision: number;
  compactRevision: number;
  keys: number;
  sessions: number;
  members: Array<Omit<MemberInfo, "memberId"> & { memberId: string }>;
  progress: RaftStatus["progress"];
  faults: { blocked: string[]; dropRate: number };
  walSegments: number;
  malformedFrames: number;
  dbSizeBytes: number;
  /** Served by a whole server (GET /v1/status): what each edge refused as malformed since start. */
  malformed?: ServerMalformedCounts;
}

/** Input a server refused as malformed, by where it came in: peer frames and connections, gRPC and HTTP API requests. */
export interface ServerMalformedCounts {
  peer: number;
  grpc: number;
  api: number;
}


/** A uint64 from a name (SHA-256, first 8 bytes): etcd member and cluster ids are uint64; ours are stable across restarts. */
export function hash64(text: string): bigint {
  return crypto.createHash("sha256").update(text).digest().readBigUInt64BE(0);
}

/** etcd's cluster id for a cluster token. */
export function clusterId(clusterToken: string): bigint {
  return hash64(`cluster:${clusterToken}`);
}

/**
 * etcd's uint64 member id for a node of a cluster. A member added through
 * etcd's `MemberAdd` is named by its id in hex (16 digits), so the id
 * etcdctl prints is the one to start it with; any other name is hashed with
 * the cluster token.
 */
export function memberId(clusterToken: string, id: string): bigint {
  return /^[0-9a-f]{16}$/.test(id) ? BigInt(`0x${id}`) : hash64(`member:${clusterToken}:${id}`);
}

/** Who a node is, as it was configured (its own addresses win over what the log says of it). */
export interface NodeIdentity {
  id: string;
  clusterToken: string;
  /** Founding members' peer addresses by id. */
  peers: Record<string, string>;
  clientUrls: string[];
  httpAddress: string;
}

/** Members (voters and learners) with their published addresses, in id order. */
export function memberList(replica: Replica, self: NodeIdentity): MemberInfo[] {
  const attrs = replica.kv.members();
  const conf = replica.confState;
  const ids = [...new Set([...conf.voters, ...conf.learners])].sort();
  return ids.map((id) => {
    const a = attrs.get(id);
    return {
      id,
      memberId: memberId(self.clusterToken, id),
      peerAddress: a?.peerAddress || self.peers[id] || "",
      clientUrls: id === self.id && self.clientUrls.length > 0 ? self.clientUrls : (a?.clientUrls ?? []),
      httpAddress: id === self.id ? self.httpAddress : (a?.httpAddress ?? ""),
      learner: conf.learners.includes(id),
    };
  });
}

/** The figures of the node's edges that status reports. */
export type EdgeStatus = Pick<NodeStatus, "faults" | "walSegments" | "malformedFrames" | "dbSizeBytes">;

/** A node's status; a stopped node reports no Raft state. */
export function nodeStatus(replica: Replica, self: NodeIdentity, stopped: boolean, edges: EdgeStatus): NodeStatus {
  const s = stopped ? null : replica.raft.status();
  const kv = replica.kv;
  return {
    id: self.id,
    memberId: memberId(self.clusterToken, self.id).toString(16),
    clusterId: clusterId(self.clusterToken).toString(16),
    role: replica.removed ? "removed" : (s?.role ?? "follower"),
    leader: s?.leader ?? null,
    term: s?.term ?? 0,
    commitIndex: s?.commit ?? 0,
    appliedIndex: kv.appliedIndex,
    lastIndex: s?.lastIndex ?? 0,
    snapshotIndex: s?.snapshotIndex ?? 0,
    revision: kv.revision,
    compactRevision: kv.compactRevision,
    keys: kv.size,
    sessions: kv.sessionCount,
    members: memberList(replica, self).map((m) => ({ ...m, memberId: m.memberId.toString(16) })),
    progress: s?.progress ?? null,
    ...edges,
  };
}
