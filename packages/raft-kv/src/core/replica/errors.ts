/**
 * Errors the server returns to clients. Each has a stable `code` (for
 * programs and for mapping to HTTP statuses and gRPC codes) and a sentence
 * for people; `leader` carries a redirect hint when there is one.
 */

import type { RaftError } from "../raft/index.ts";
import { AUTH_ERROR_CODES, type AuthErrorCode } from "../kv/types.ts";

export type { AuthErrorCode };

/** Stable error codes of the raft-kv server. */
export type ServerErrorCode =
  | "invalid_argument"
  | "not_found"
  | "compare_failed"
  | "too_large"
  | "no_leader"
  | "not_leader"
  | "timeout"
  | "proposal_dropped"
  | "busy"
  | "stopped"
  | "removed"
  | "session_expired"
  | "stale_request"
  | "compacted"
  | "future_revision"
  | "unknown_member"
  | "member_exists"
  | "conf_change_failed"
  // etcd's conditions, each with its own gRPC status and message (see toGrpcError).
  | "empty_key"
  | "too_many_ops"
  | "duplicate_key"
  | "value_provided"
  | "lease_provided"
  | "lease_not_found"
  | "lease_exists"
  | "lease_ttl_too_large"
  | "peer_url_exists"
  | "member_bad_urls"
  | "member_not_learner"
  | "learner_not_ready"
  | "bad_leader_transferee"
  | "not_capable"
  | "canceled"
  | "not_election_leader"
  | "no_election_leader"
  | AuthErrorCode;

const AUTH_CODES: ReadonlySet<string> = new Set<AuthErrorCode>(AUTH_ERROR_CODES);


/** A failure with a code, a message and (for redirects) the leader's id and HTTP address. */
export class ServerError extends Error {
  override readonly name = "ServerError";
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    readonly details: { field?: string; leader?: string | null; leaderHttp?: string | null } = {},
  ) {
    super(message);
  }
}

/**
 * Whether a failure refuses the request itself as malformed (a field that
 * fails validation, a body or value too large), as opposed to a well-formed
 * request the cluster cannot serve now. The APIs count these as `malformed`.
 */
export function isMalformedRequest(error: unknown): boolean {
  return error instanceof ServerError && (error.code === "invalid_argument" || error.code === "too_large");
}

/** HTTP status for each code. */
export function httpStatusOf(code: ServerErrorCode): number {
  switch (code) {
    case "invalid_argument":
    case "session_expired":
    case "stale_request":
    case "compacted":
    case "future_revision":
    case "empty_key":
    case "too_many_ops":
    case "duplicate_key":
    case "value_provided":
    case "member_bad_urls":
    case "lease_provided":
    case "lease_ttl_too_large":
    case "user_empty":
    case "role_empty":
    case "invalid_auth_mgmt":
    case "auth_old_revision":
      return 400;
    case "auth_failed":
    case "invalid_auth_token":
      return 401;
    case "permission_denied":
      return 403;
    case "not_found":
    case "unknown_member":
    case "lease_not_found":
    case "no_election_leader":
      return 404;
    case "member_exists":
    case "peer_url_exists":
    case "lease_exists":
    case "user_exists":
    case "role_exists":
      return 409;
    case "not_election_leader":
    case "member_not_learner":
    case "learner_not_ready":
    case "bad_leader_transferee":
    case "root_user_not_exist":
    case "root_role_not_exist":
    case "user_not_found":
    case "role_not_found":
    case "role_not_granted":
    case "permission_not_granted":
    case "auth_not_enabled":
      return 412;
    case "compare_failed":
      return 412;
    case "too_large":
      return 413;
    case "not_leader":
      return 421;
    case "busy":
      return 429;
    case "timeout":
    case "proposal_dropped":
      return 504;
    case "canceled":
      return 499;
    case "no_leader":
    case "stopped":
    case "removed":
    case "conf_change_failed":
    case "not_capable":
      return 503;
  }
}

/** A refusal of the Raft core as the error a client sees; `leaderHttp` is the leader's published HTTP address, if known. */
export function raftErrorToServer(e: RaftError, leaderHttp: string | null): ServerError {
  switch (e.code) {
    case "notLeader":
      return new ServerError(e.leader ? "not_leader" : "no_leader", e.message, { leader: e.leader, leaderHttp });
    case "tooManyUncommitted":
      return new ServerError("busy", e.message);
    case "invalidConfChange":
    case "invalidArgument":
      return new ServerError("invalid_argument", e.message);
    default:
      return new ServerError("conf_change_failed", `${e.code}: ${e.message}`, { leader: e.leader, leaderHttp });
  }
}

/** A state machine error (an applied command that failed, or a refused read) as the error a client sees; every replica fails the same command alike. */
export function kvErrorToServer(code: string, message: string): ServerError {
  if (AUTH_CODES.has(code)) return new ServerError(code as AuthErrorCode, message);
  switch (code) {
    case "session_expired":
    case "stale_request":
    case "compacted":
    case "future_revision":
    case "lease_not_found":
    case "lease_exists":
    case "lease_ttl_too_large":
      return new ServerError(code, message);
    case "key_not_found":
      return new ServerError("not_found", message);
    default:
      if (/duplicate key/.test(message)) return new ServerError("duplicate_key", message);
      if (/key is not provided/.test(message)) return new ServerError("empty_key", message);
      return new ServerError("invalid_argument", message);
  }
}
