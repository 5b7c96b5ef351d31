/**
 * Health records and their merge: "newest observation wins", where newest is
 * a hybrid logical clock stamp (causal, and close to the check time), then
 * the observer name. The merge is a join on a total order (max), so it is commutative,
 * associative and idempotent: replicas that receive the same records in any
 * order, any number of times, agree (the CRDT store relies on this, and the
 * etcd/raft stores use it as the compare in their compare-and-set).
 */
import { HEALTH_STATUSES, type HealthRecord, type HealthStatus, type MemberId, type RecordVersion } from "./types.ts";

/** The version of a record, for comparison. */
export function versionOf(record: HealthRecord): RecordVersion {
  return { hlcMs: record.hlcMs, observer: record.observer };
}

/**
 * Orders two versions: negative when `a` is older, positive when newer, 0
 * only for the same observation. Lexicographic on (hlcMs, observer); the
 * observer name is the deterministic tie-break (as in crdt-kv's LWW order).
 */
export function compareVersions(a: RecordVersion, b: RecordVersion): number {
  if (a.hlcMs !== b.hlcMs) return a.hlcMs < b.hlcMs ? -1 : 1;
  if (a.observer !== b.observer) return a.observer < b.observer ? -1 : 1;
  return 0;
}

/** True when `candidate` should replace `current` (strictly newer, or there is no current). */
export function isNewer(candidate: HealthRecord, current: HealthRecord | undefined): boolean {
  return current === undefined || compareVersions(versionOf(candidate), versionOf(current)) > 0;
}

/**
 * The join of two records of the same origin: the newer one. A stale
 * observer (an older stamp) never overwrites a newer record, whatever order
 * they arrive in.
 */
export function mergeRecords(a: HealthRecord | undefined, b: HealthRecord | undefined): HealthRecord | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareVersions(versionOf(a), versionOf(b)) >= 0 ? a : b;
}

/** What one check by the local engine produced. */
export interface Observation {
  /** The engine's status after this check (after rise/fall). */
  status: HealthStatus;
  /** Wall-clock ms at which the check completed. */
  checkedAtMs: number;
  latencyMs?: number;
  lastError?: string | null;
}

/**
 * Builds the record an observer writes after a check, continuing from the
 * newest record it knows (`previous`, possibly from another observer):
 * the stamp is the check time or one past the previous stamp, whichever is
 * later (the HLC rule), `sinceMs` carries over unless the status
 * changed, and an engine that is still `unknown` (it just took the origin
 * over and has not met its rise/fall threshold yet) keeps the inherited
 * status, so a hand-off never resets a known status to unknown.
 */
export function observe(previous: HealthRecord | undefined, id: string, observer: MemberId, obs: Observation): HealthRecord {
  const inherited = previous?.status ?? "unknown";
  const status = obs.status === "unknown" ? inherited : obs.status;
  const changed = previous === undefined || status !== previous.status;
  const record: HealthRecord = {
    id,
    status,
    observer,
    checkedAtMs: obs.checkedAtMs,
    sinceMs: changed ? obs.checkedAtMs : previous.sinceMs,
    hlcMs: previous === undefined ? obs.checkedAtMs : Math.max(obs.checkedAtMs, previous.hlcMs + 1),
  };
  if (obs.latencyMs !== undefined) record.latencyMs = obs.latencyMs;
  if (obs.lastError !== undefined) record.lastError = obs.lastError;
  return record;
}

/** A typed decoding failure naming the offending field. */
export interface DecodeError {
  ok: false;
  field: string;
  message: string;
}

/** The result of validating untrusted input. */
export type Decoded<T> = { ok: true; value: T } | DecodeError;

function fail(field: string, message: string): DecodeError {
  return { ok: false, field, message: `${field}: ${message}` };
}

function isRecordObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validates a health record read from a store or a peer. Never throws: a
 * malformed record (another version's format, a corrupted value) is reported
 * and skipped by the caller instead of crashing the node.
 */
export function decodeRecord(input: unknown): Decoded<HealthRecord> {
  if (!isRecordObject(input)) return fail("record", "must be a JSON object");
  const { id, status, observer, checkedAtMs, sinceMs, hlcMs, latencyMs, lastError } = input;
  if (typeof id !== "string" || id.length === 0) return fail("id", "must be a non-empty string");
  if (typeof status !== "string" || !HEALTH_STATUSES.includes(status as HealthStatus)) {
    return fail("status", `must be one of ${HEALTH_STATUSES.join(", ")}`);
  }
  if (typeof observer !== "string" || observer.length === 0) return fail("observer", "must be a non-empty string");
  if (typeof checkedAtMs !== "number" || !Number.isFinite(checkedAtMs)) return fail("checkedAtMs", "must be a finite number");
  if (typeof sinceMs !== "number" || !Number.isFinite(sinceMs)) return fail("sinceMs", "must be a finite number");
  if (typeof hlcMs !== "number" || !Number.isFinite(hlcMs)) return fail("hlcMs", "must be a finite number");
  const record: HealthRecord = { id, status: status as HealthStatus, observer, checkedAtMs, sinceMs, hlcMs };
  if (latencyMs !== undefined) {
    if (typeof latencyMs !== "number" || !Number.isFinite(latencyMs) || latencyMs < 0) return fail("latencyMs", "must be a non-negative number");
    record.latencyMs = latencyMs;
  }
  if (lastError !== undefined) {
    if (lastError !== null && typeof lastError !== "string") return fail("lastError", "must be a string or null");
    record.lastError = lastError;
  }
  return { ok: true, value: record };
}
