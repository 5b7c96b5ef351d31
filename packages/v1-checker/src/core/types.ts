/**
 * The vocabulary of stage 1: what a target is, what a check returns, what a
 * target's health is. Everything here is plain data, shared by the pure core
 * (scheduler, rise/fall) and the io edges (probes, API), and by apps/v2.
 */

/** A target's health. `unknown` until `rise` successes or `fall` failures in a row have been seen. */
export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** The three statuses, for validation and metrics. */
export const HEALTH_STATUSES: readonly HealthStatus[] = ["unknown", "healthy", "unhealthy"];

/**
 * Why a check failed, named so dashboards and alerts can group failures:
 * - `timeout`: no complete answer within `timeoutMs` (slow or hanging origin, or a silent network)
 * - `refused`: the TCP connection was refused (nothing listens on the port)
 * - `reset`: the connection was reset or closed before an answer
 * - `dns`: the host name did not resolve
 * - `tls`: the TLS handshake or certificate verification failed
 * - `status`: an HTTP answer with a status outside `expectedStatus`
 * - `body`: the body did not contain `bodyContains` / match `bodyMatches`
 * - `redirect`: too many redirects while following them
 * - `protocol`: the answer was not valid HTTP
 * - `network`: any other socket error (unreachable network, ...)
 */
export type CheckErrorKind = "timeout" | "refused" | "reset" | "dns" | "tls" | "status" | "body" | "redirect" | "protocol" | "network";

/** Every {@link CheckErrorKind}, for validation and metrics labels. */
export const CHECK_ERROR_KINDS: readonly CheckErrorKind[] = ["timeout", "refused", "reset", "dns", "tls", "status", "body", "redirect", "protocol", "network"];

/** A failed check's cause: a kind to group by and a message for humans. */
export interface CheckError {
  kind: CheckErrorKind;
  message: string;
}

/** The outcome of one check, as a probe reports it. */
export interface CheckResult {
  ok: boolean;
  /** From the start of the check to its outcome, in milliseconds. */
  latencyMs: number;
  /** Present exactly when `ok` is false. */
  error?: CheckError;
  /** The HTTP status, when an answer arrived. */
  httpStatus?: number;
  /** Whole days until the server certificate expires (HTTPS only; negative once expired). */
  certExpiryDays?: number;
}

/** An inclusive range of acceptable HTTP statuses; a single status is `{ min: s, max: s }`. */
export interface StatusRange {
  min: number;
  max: number;
}

/**
 * A validated target: every field filled (defaults applied). Build one with
 * `parseTarget`; the engine never sees unvalidated input.
 */
export interface TargetSpec {
  /** Unique name, e.g. `origin-17`. */
  id: string;
  /** `http://`, `https://` or `tcp://host:port`. */
  url: string;
  /** `http` for HTTP(S) requests, `tcp` for a bare connect. Derived from the URL scheme. */
  kind: "http" | "tcp";
  method: "GET" | "HEAD";
  /** A check passes only with a status in one of these ranges. */
  expectedStatus: StatusRange[];
  /** If set, the first `maxBodyBytes` of the body must contain this text. */
  bodyContains: string | undefined;
  /** If set, the first `maxBodyBytes` of the body must match this regular expression (JavaScript syntax). */
  bodyMatches: string | undefined;
  /** How much of the body is read for the body checks; the rest is discarded. */
  maxBodyBytes: number;
  /** Extra request headers. */
  headers: Record<string, string>;
  /** Redirects followed; 0 means a 3xx answer is judged as it is. */
  followRedirects: number;
  /** Verify the server certificate (HTTPS). */
  tlsVerify: boolean;
  /** Extra trusted CA certificates, PEM, for HTTPS targets signed by a private CA. */
  tlsCa: string | undefined;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes to become healthy. */
  rise: number;
  /** Consecutive failures to become unhealthy. */
  fall: number;
}

/** One status change of a target, as kept in its bounded history and sent on the event stream. */
export interface Transition {
  id: string;
  from: HealthStatus;
  to: HealthStatus;
  atMs: number;
  /** The check that tipped it: "3 successes in a row" or the last error's message. */
  reason: string;
  /** The error kind of the failure that tipped it to unhealthy. */
  errorKind?: CheckErrorKind;
}

/** The result of validating untrusted input: a value, or errors each naming its field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };
