/**
 * The key-value state machine's vocabulary, shaped after etcd's v3 API
 * (`mvccpb.KeyValue`, `RangeRequest`, `PutRequest`, `DeleteRangeRequest`,
 * `TxnRequest`, `Compare`) so the gRPC layer maps onto it field by field.
 * Keys and values are bytes; revisions are etcd's: one global counter that
 * every write transaction advances by one.
 */
import type { AuthOp } from "./auth-store.ts";
import type { LeaseRecord } from "./lessor.ts";

/** One key's current state, as etcd's `mvccpb.KeyValue`. */
export interface KeyValue {
  key: Uint8Array;
  value: Uint8Array;
  /** Revision of the put that created this key (since its last delete). */
  createRevision: number;
  /** Revision of the last put to this key. */
  modRevision: number;
  /** Puts since creation: 1 on create, +1 per put; a delete resets it. */
  version: number;
  /** The lease the key is attached to (it is deleted when the lease goes), 0 for none. */
  lease: number;
}

/** A change seen by watchers, as etcd's `mvccpb.Event`. */
export interface KvEvent {
  type: "put" | "delete";
  /** For a put the new pair; for a delete the key with modRevision = the delete's revision. */
  kv: KeyValue;
  /** The pair before the change, when there was one. */
  prevKv?: KeyValue;
}

/** etcd's RangeRequest: `key` alone, or [key, rangeEnd); rangeEnd "\0" means "every key >= key". */
export interface RangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** At most this many kvs (0 = no limit); `more` says whether some were left out. */
  limit?: number;
  /** Read at this revision; raft-kv keeps only the current state, so only 0 or the current revision. */
  revision?: number;
  sortOrder?: "none" | "ascend" | "descend";
  sortTarget?: "key" | "version" | "create" | "mod" | "value";
  /** Served from the local state without a ReadIndex round (may be stale). Ignored by the store. */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

/** etcd's PutRequest. */
export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  /** Return the previous pair. */
  prevKv?: boolean;
  /** Keep the current value (the key must exist). */
  ignoreValue?: boolean;
  /** Attach the key to this lease (it must exist); 0 or absent detaches it from any lease. */
  lease?: number;
  /** Keep the key's current lease (the key must exist). */
  ignoreLease?: boolean;
}

/** etcd's DeleteRangeRequest. */
export interface DeleteRangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prevKv?: boolean;
}

/** What a Compare looks at (etcd's CompareTarget). */
export type CompareTarget = "version" | "create" | "mod" | "value" | "lease";

/** How a Compare compares (etcd's CompareResult). */
export type CompareResult = "equal" | "greater" | "less" | "not_equal";

/**
 * One guard of a transaction (etcd's Compare). With `rangeEnd` every key in
 * the range must satisfy it. A missing key has version, create and mod 0; a
 * value compare on a missing key is always false (as in etcd).
 */
export type Compare =
  | { key: Uint8Array; rangeEnd?: Uint8Array; result: CompareResult; target: "value"; value: Uint8Array }
  | { key: Uint8Array; rangeEnd?: Uint8Array; result: CompareResult; target: "version" | "create" | "mod" | "lease"; value: number };

/** etcd's TxnRequest: if every compare holds, run `success`, else `failure`. */
export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

/** One operation inside a transaction (etcd's RequestOp). */
export type RequestOp =
  | ({ type: "range" } & RangeRequest)
  | ({ type: "put" } & PutRequest)
  | ({ type: "delete" } & DeleteRangeRequest)
  | ({ type: "txn" } & TxnRequest);

/** A write that goes through the log: puts, deletes and transactions. */
export type WriteOp = Extract<RequestOp, { type: "put" | "delete" | "txn" }>;

/** etcd's RangeResponse (without the header). */
export interface RangeResponse {
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

/** etcd's PutResponse. */
export interface PutResponse {
  prevKv?: KeyValue;
}

/** etcd's DeleteRangeResponse. */
export interface DeleteRangeResponse {
  deleted: number;
  prevKvs: KeyValue[];
}

/** etcd's TxnResponse. */
export interface TxnResponse {
  succeeded: boolean;
  responses: ResponseOp[];
}

/** One result inside a transaction (etcd's ResponseOp). */
export type ResponseOp =
  | ({ type: "range" } & RangeResponse)
  | ({ type: "put" } & PutResponse)
  | ({ type: "delete" } & DeleteRangeResponse)
  | ({ type: "txn" } & TxnResponse);

/**
 * A client session tag (Raft dissertation §6.3). `clientId` comes from a
 * committed `register` command; `seq` numbers the client's requests;
 * `firstUnackedSeq` tells the state machine which cached responses the client
 * no longer needs, so it can drop them.
 */
export interface SessionTag {
  clientId: number;
  seq: number;
  firstUnackedSeq: number;
}

/** What a node knows about a member beyond the Raft configuration: addresses for clients. */
export interface MemberAttrs {
  /** Raft peer address host:port. */
  peerAddress: string;
  /** gRPC client URLs (http://host:port), as etcd's member list shows them. */
  clientUrls: string[];
  /** The JSON HTTP API address host:port, "" when unknown. */
  httpAddress: string;
}

/**
 * A command in the Raft log. `requestId` lets the proposing node match the
 * applied result to the waiting client; it is unique per proposal, not per
 * retry (retries are matched by the session tag). `timeMs` is the wall-clock
 * time of the server that proposed it: the state machine's only clock, used
 * to expire idle client sessions the same way on every replica (§6.3).
 */
export type KvCommand = (
  | { type: "write"; requestId: string; session?: SessionTag; op: WriteOp }
  | { type: "register"; requestId: string }
  | { type: "member-attrs"; requestId: string; nodeId: string; attrs: MemberAttrs }
  /** etcd's LeaseGrant: `ttlSec` already raised to the server's minimum by the proposer. */
  | { type: "lease-grant"; requestId: string; id: number; ttlSec: number }
  /**
   * etcd's LeaseRevoke: deletes the lease's keys in one revision. `expired`
   * marks the leader's own revocation of a lease nobody kept alive, which no
   * user's permissions limit (etcd revokes expired leases as root).
   */
  | { type: "lease-revoke"; requestId: string; id: number; expired?: boolean }
  /** etcd's Compact: forget watch history at and below `revision`. */
  | { type: "compact"; requestId: string; revision: number }
  /** A change to users, roles, permissions or the enabled flag, or a token being issued. */
  | { type: "auth"; requestId: string; op: AuthOp }
) & {
  /** The proposer's wall clock (see above). */
  timeMs?: number;
  /** The authenticated user the request came from, when it carried a token; permissions are checked at apply. */
  user?: string;
};

/** A command as a caller hands it to a node, which adds the `requestId` (Omit over each member of the union, not over the union as one). */
export type KvCommandInput = KvCommand extends infer C ? (C extends unknown ? Omit<C, "requestId"> : never) : never;

/** The auth store's refusals (auth-store.ts), listed once: the codec and the replica's errors read this list. */
export const AUTH_ERROR_CODES = [
  "root_user_not_exist",
  "root_role_not_exist",
  "user_exists",
  "user_empty",
  "user_not_found",
  "role_exists",
  "role_not_found",
  "role_empty",
  "auth_failed",
  "permission_denied",
  "role_not_granted",
  "permission_not_granted",
  "auth_not_enabled",
  "invalid_auth_token",
  "invalid_auth_mgmt",
  "auth_old_revision",
] as const;

/** One of {@link AUTH_ERROR_CODES}. */
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];

/** The reasons a committed command can fail in the state machine (every replica fails it the same way). */
export type KvErrorCode =
  | "session_expired"
  | "stale_request"
  | "invalid_request"
  | "compacted"
  | "future_revision"
  | "key_not_found"
  | "lease_not_found"
  | "lease_exists"
  | "lease_ttl_too_large"
  | AuthErrorCode;

/** A deterministic failure of one command. */
export interface KvError {
  code: KvErrorCode;
  message: string;
}

/** The result of a write op, as the client sees it. */
export type WriteResponse = ({ type: "put" } & PutResponse) | ({ type: "delete" } & DeleteRangeResponse) | ({ type: "txn" } & TxnResponse);

/** What applying one command produced. */
export type ApplyResult =
  | { ok: true; revision: number; response: WriteResponse; events: KvEvent[]; duplicate: boolean }
  | { ok: true; revision: number; registered: number }
  | { ok: true; revision: number; membersChanged: true }
  | { ok: true; revision: number; leaseGranted: LeaseRecord }
  | { ok: true; revision: number; leaseRevoked: number; events: KvEvent[] }
  | { ok: true; revision: number; compactRevision: number }
  | { ok: true; revision: number; authChanged: true; token?: string }
  | { ok: false; revision: number; error: KvError };
