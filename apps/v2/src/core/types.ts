/**
 * The shapes v2's pure core works on: origins, health records and the
 * membership view. Everything here is plain data so it can be stored in any
 * of the three stores (crdt-kv, raft-kv, etcd) as JSON and replayed in
 * simulation.
 */

/** A member's name in the cluster (the SWIM member name, e.g. "n1"). */
export type MemberId = string;

/** What a check concluded, as v1-checker reports it. */
export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** Every status, for validation and metrics. */
export const HEALTH_STATUSES: readonly HealthStatus[] = ["unknown", "healthy", "unhealthy"];

/**
 * One origin to watch, as stored in the replicated origin list: a raw
 * v1-checker target object (`id`, `url`, and any of v1's optional fields:
 * `intervalMs`, `timeoutMs`, `rise`, `fall`, `method`, `expectedStatus`,
 * `bodyContains`, ...). It is validated with v1's `parseTarget` at the door
 * (API, CLI, config) and again before checking, and stored raw so the
 * cluster's defaults apply to fields it leaves out.
 */
export interface OriginSpec {
  /** Unique id (v1's rule: 1-128 of letters, digits and . _ ~ : @ -). */
  id: string;
  /** `http://`, `https://` or `tcp://host:port`. */
  url: string;
  [field: string]: unknown;
}

/**
 * The causal version of a health record: a hybrid logical clock (Kulkarni et
 * al. 2014) per origin, then the observer's name. The observer stamps a new
 * record with `hlcMs = max(check time, hlcMs of the newest record it has
 * seen + 1)`, so:
 * - an observation made after seeing another (the new owner read the old
 *   owner's record before it wrote) always wins, whatever the clocks say
 *   (Lamport's happened-before condition);
 * - two observations made without seeing each other (a hand-off overlap, a
 *   partition) are ordered by check time, so the newest observation wins,
 *   and exact ties by name: a total order, so every replica picks the same
 *   winner and the merge is a join;
 * - a delayed or replayed record (a stale observer) carries an older stamp
 *   and loses every merge.
 * The order is exactly crdt-kv's LWW order `(ts, node)`, so the record's
 * `hlcMs` is its LWW timestamp there.
 */
export interface RecordVersion {
  /** Hybrid logical clock, in ms since the epoch: never behind the check time, always past what was seen. */
  hlcMs: number;
  /** The member that made the observation. */
  observer: MemberId;
}

/**
 * The shared health record of one origin: what the cluster knows about it.
 * Only the origin's owner writes it; every node merges what it receives with
 * {@link mergeRecords} (newest causal version wins).
 */
export interface HealthRecord {
  /** The origin's id. */
  id: string;
  status: HealthStatus;
  /** Who made this observation (a member id). */
  observer: MemberId;
  /** When the observation was made (ms since the epoch, the observer's clock). */
  checkedAtMs: number;
  /** When `status` last changed, carried across owners so history is continuous. */
  sinceMs: number;
  /** Hybrid logical clock stamp; see {@link RecordVersion}. */
  hlcMs: number;
  /** Round-trip of the last check, when it completed. */
  latencyMs?: number;
  /** The named error of the last failing check ("timeout", "refused", "status 503"...), or null. */
  lastError?: string | null;
}

/** A member as the agent sees it through SWIM. */
export interface MemberInfo {
  id: MemberId;
  /** SWIM state: alive and suspect members still own origins; dead and left do not. */
  state: "alive" | "suspect" | "dead" | "left";
  /** The member's HTTP API address (from its SWIM metadata), "host:port". */
  api?: string;
  incarnation?: number;
}

/** One origin's place in the ownership table. */
export interface OwnershipEntry {
  originId: string;
  /** The top-k members in priority order: owners[0] is the primary checker. */
  owners: MemberId[];
}
