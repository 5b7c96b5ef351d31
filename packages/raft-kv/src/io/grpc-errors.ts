/**
 * etcd's errors, as its clients expect them: a gRPC status code and an
 * "etcdserver: ..." message per condition (etcd's
 * `api/v3rpc/rpctypes/error.go`). Clients match on both: Go's clientv3 turns a
 * message it knows back into a typed error by exact string, the etcd3 npm
 * client by substring, and both retry on UNAVAILABLE. So the message is etcd's
 * exactly, and what raft-kv knows beyond it (which field, which limit) goes
 * to the server's log, not into the status.
 */
import { ServerError, type ServerErrorCode } from "../core/replica/errors.ts";
import { GrpcStatus, type GrpcFailure } from "./grpc-server.ts";

const S = GrpcStatus;

/** Each condition's status and message, checked against etcd 3.4. */
const ETCD_ERRORS: Partial<Record<ServerErrorCode, [number, string]>> = {
  empty_key: [S.INVALID_ARGUMENT, "etcdserver: key is not provided"],
  not_found: [S.INVALID_ARGUMENT, "etcdserver: key not found"],
  value_provided: [S.INVALID_ARGUMENT, "etcdserver: value is provided"],
  lease_provided: [S.INVALID_ARGUMENT, "etcdserver: lease is provided"],
  too_many_ops: [S.INVALID_ARGUMENT, "etcdserver: too many operations in txn request"],
  duplicate_key: [S.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request"],
  compacted: [S.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"],
  future_revision: [S.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"],
  lease_not_found: [S.NOT_FOUND, "etcdserver: requested lease not found"],
  lease_exists: [S.FAILED_PRECONDITION, "etcdserver: lease already exists"],
  lease_ttl_too_large: [S.OUT_OF_RANGE, "etcdserver: too large lease TTL"],
  member_exists: [S.FAILED_PRECONDITION, "etcdserver: member ID already exist"],
  peer_url_exists: [S.FAILED_PRECONDITION, "etcdserver: Peer URLs already exists"],
  member_bad_urls: [S.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid"],
  unknown_member: [S.NOT_FOUND, "etcdserver: member not found"],
  member_not_learner: [S.FAILED_PRECONDITION, "etcdserver: can only promote a learner member"],
  learner_not_ready: [S.FAILED_PRECONDITION, "etcdserver: can only promote a learner member which is in sync with leader"],
  too_large: [S.INVALID_ARGUMENT, "etcdserver: request is too large"],
  busy: [S.RESOURCE_EXHAUSTED, "etcdserver: too many requests"],
  root_user_not_exist: [S.FAILED_PRECONDITION, "etcdserver: root user does not exist"],
  root_role_not_exist: [S.FAILED_PRECONDITION, "etcdserver: root user does not have root role"],
  user_exists: [S.FAILED_PRECONDITION, "etcdserver: user name already exists"],
  user_empty: [S.INVALID_ARGUMENT, "etcdserver: user name is empty"],
  user_not_found: [S.FAILED_PRECONDITION, "etcdserver: user name not found"],
  role_exists: [S.FAILED_PRECONDITION, "etcdserver: role name already exists"],
  role_not_found: [S.FAILED_PRECONDITION, "etcdserver: role name not found"],
  role_empty: [S.INVALID_ARGUMENT, "etcdserver: role name is empty"],
  auth_failed: [S.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password"],
  permission_denied: [S.PERMISSION_DENIED, "etcdserver: permission denied"],
  role_not_granted: [S.FAILED_PRECONDITION, "etcdserver: role is not granted to the user"],
  permission_not_granted: [S.FAILED_PRECONDITION, "etcdserver: permission is not granted to the role"],
  auth_not_enabled: [S.FAILED_PRECONDITION, "etcdserver: authentication is not enabled"],
  invalid_auth_token: [S.UNAUTHENTICATED, "etcdserver: invalid auth token"],
  invalid_auth_mgmt: [S.INVALID_ARGUMENT, "etcdserver: invalid auth management"],
  auth_old_revision: [S.INVALID_ARGUMENT, "etcdserver: revision of auth store is old"],
  no_leader: [S.UNAVAILABLE, "etcdserver: no leader"],
  not_leader: [S.FAILED_PRECONDITION, "etcdserver: not leader"],
  not_capable: [S.UNAVAILABLE, "etcdserver: not capable"],
  stopped: [S.UNAVAILABLE, "etcdserver: server stopped"],
  timeout: [S.UNAVAILABLE, "etcdserver: request timed out"],
  proposal_dropped: [S.UNAVAILABLE, "etcdserver: request timed out, possibly due to previous leader failure"],
  bad_leader_transferee: [S.FAILED_PRECONDITION, "etcdserver: bad leader transferee"],
  canceled: [S.CANCELLED, "context canceled"],
  // The election recipes' own errors, which etcd's Election service passes on as they are (status UNKNOWN).
  not_election_leader: [S.UNKNOWN, "election: not leader"],
  no_election_leader: [S.UNKNOWN, "election: no leader"],
  removed: [S.FAILED_PRECONDITION, "etcdserver: the member has been permanently removed from the cluster"],
};

/**
 * Maps a failure to etcd's gRPC status and message. Conditions etcd has no
 * error for (a malformed field raft-kv checks, a session expired) keep our
 * sentence, prefixed "etcdserver: " as etcd prefixes its own.
 */
export function toGrpcError(error: unknown): GrpcFailure {
  if (!(error instanceof ServerError)) return { code: S.UNKNOWN, details: error instanceof Error ? error.message : String(error) };
  const known = ETCD_ERRORS[error.code];
  if (known) {
    // A message that is already etcd's own (a lease "not found" with a reason) stays as it is.
    return { code: known[0], details: error.message.startsWith("etcdserver: ") ? error.message : known[1] };
  }
  const details = error.message.startsWith("etcdserver: ") ? error.message : `etcdserver: ${error.message}`;
  switch (error.code) {
    case "invalid_argument":
    case "session_expired":
    case "stale_request":
      return { code: S.INVALID_ARGUMENT, details };
    default:
      return { code: S.UNKNOWN, details };
  }
}
