/**
 * The health record the comparison writes, and its version order.
 *
 * It has the shape of v2's shared record (apps/v2 `HealthRecord`: origin id,
 * status, observer, check time, since, and a hybrid-logical-clock stamp), so
 * the bytes on the wire are the bytes v2 ships. The version is `(hlcMs,
 * observer)`, compared lexicographically: exactly crdt-kv's LWW order
 * `(ts, replica id)`, so a record's `hlcMs` is its LWW timestamp there.
 */

/** What an owner learned about one origin. */
export interface HealthRecord {
  id: string;
  status: "healthy" | "unhealthy";
  observer: string;
  checkedAtMs: number;
  sinceMs: number;
  hlcMs: number;
  latencyMs: number;
}

/** The causal version of a record: newer observations win. */
export interface Version {
  readonly hlcMs: number;
  readonly observer: string;
}

/** Negative when `a` is older than `b`, positive when newer, 0 for the same observation. */
export function compareVersion(a: Version, b: Version): number {
  if (a.hlcMs !== b.hlcMs) return a.hlcMs < b.hlcMs ? -1 : 1;
  if (a.observer !== b.observer) return a.observer < b.observer ? -1 : 1;
  return 0;
}

/** The store key of an origin's record. */
export function recordKey(origin: number): string {
  return `health/o${origin}`;
}

/** The origin index of a record key, or -1. */
export function originOfKey(key: string): number {
  if (!key.startsWith("health/o")) return -1;
  const n = Number(key.slice(8));
  return Number.isInteger(n) && n >= 0 ? n : -1;
}

/**
 * Builds the record an owner writes after a check, continuing from the newest
 * record it can read locally (v2's `observe`): the stamp is the check time or
 * one past the previous stamp, whichever is later (the HLC rule), and
 * `sinceMs` carries over unless the status changed.
 */
export function observe(previous: HealthRecord | undefined, origin: number, observer: string, status: HealthRecord["status"], nowMs: number, latencyMs: number): HealthRecord {
  const changed = previous === undefined || previous.status !== status;
  return {
    id: `o${origin}`,
    status,
    observer,
    checkedAtMs: nowMs,
    sinceMs: changed ? nowMs : previous.sinceMs,
    hlcMs: previous === undefined ? nowMs : Math.max(nowMs, previous.hlcMs + 1),
    latencyMs,
  };
}

/** Parses a stored record; undefined for anything that is not one (never throws). */
export function parseRecord(text: string): HealthRecord | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** True for a value with the record's fields. */
export function isRecord(v: unknown): v is HealthRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.id === "string" && typeof r.observer === "string" && typeof r.hlcMs === "number" && (r.status === "healthy" || r.status === "unhealthy");
}
