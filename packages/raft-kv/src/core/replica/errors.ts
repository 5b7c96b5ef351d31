/**
 * Errors the server returns to clients. Each has a stable `code` (for
 * programs and for mapping to HTTP statuses and gRPC codes) and a sentence
 * for people; `leader` carries a redirect hint when there is one.
 */

import type { RaftError } from "../raft/index.ts";

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
  | "conf_change_failed";

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

/** HTTP status for each code. */
export function httpStatusOf(code: ServerErrorCode): number {
  switch (code) {
    case "invalid_argument":
    case "session_expired":
    case "stale_request":
    case "compacted":
    case "future_revision":
      return 400;
    case "not_found":
    case "unknown_member":
      return 404;
    case "member_exists":
      return 409;
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
    case "no_leader":
    case "stopped":
    case "removed":
    case "conf_change_failed":
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

/** A state machine error (an applied command that failed, or a refused read) as the error a client sees. */
export function kvErrorToServer(code: string, message: string): ServerError {
  switch (code) {
    case "session_expired":
    case "stale_request":
    case "compacted":
    case "future_revision":
      return new ServerError(code, message);
    case "key_not_found":
      return new ServerError("not_found", message);
    default:
      return new ServerError("invalid_argument", message);
  }
}
