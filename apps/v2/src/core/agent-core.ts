/**
 * The decision logic of one v2 agent as a synchronous state machine. Inputs
 * are facts the driver learned (the alive members from SWIM, origins and
 * health records from the store, results from the local checking engine,
 * the passage of time); output is one {@link AgentReady} batch at a time
 * (`ready()`, then `advance()`, the contract every Heck core shares,
 * @heck/sim's ready.ts): which origins the local engine must start and stop
 * checking, which records to write to the store, and events for logs and
 * metrics. No I/O, no timers, no clock: `nowMs` is an argument, on the same
 * timeline as the records' check times (the driver passes wall-clock ms;
 * the simulation passes simulated ms).
 *
 * The rules, in one place:
 * 1. Ownership: every origin's top-k members come from rendezvous hashing
 *    over the alive (alive + suspect) members. Suspect members keep their
 *    origins: suspicion is not death (SWIM §4.2), and moving origins on
 *    every suspicion would double-check them on every false alarm.
 * 2. The primary (rank 0) checks. Backups (rank 1..k-1) stay idle; a backup
 *    is promoted either by the membership change that removes the members
 *    ranked above it, or, when `promoteAfterMs` > 0, when the origin's
 *    record is older than `rank x promoteAfterMs` (the primary is alive in
 *    SWIM but not checking: a gray failure). A promoted backup steps down
 *    when a fresh record from a higher-ranked member arrives.
 * 3. Hand-off: a node that stops owning an origin (a member joined, it is
 *    leaving) keeps checking it until the new owner's first record arrives
 *    or `handoffGraceMs` passes, whichever is first, so coverage has no gap.
 *    The overlap costs at most one extra check per moved origin.
 * 4. Records: the owner writes a record after a check when the status
 *    changed, when the last record was someone else's (a take-over must be
 *    visible at once), or when its own last write is `refreshMs` old.
 *    Versions are causal (see health-record.ts): a stale observer never
 *    overwrites a newer record.
 */
import { NONE, type Ready, type ReadyCore } from "@heck/sim";
import { isNewer, mergeRecords, observe, type Observation } from "./health-record.ts";
import { OwnershipView, type OwnershipScheme } from "./ownership-view.ts";
import { sameSpec } from "./origin-spec.ts";
import type { HealthRecord, MemberId, OriginSpec } from "./types.ts";

/** Configuration of the decision logic; every field says why its default. */
export interface AgentCoreConfig {
  /** This agent's member id. */
  self: MemberId;
  /** k: members listed per origin. 1 = one checker and no backups (the default: no DDoS by construction). */
  replicas: number;
  /**
   * Max age of this node's last written record of an origin it checks
   * before it writes again even though nothing changed. Bounds the "age"
   * every node reports; the trade-off is store write load (origins/refreshMs
   * writes per second cluster-wide). Status changes are written at once.
   */
  refreshMs: number;
  /**
   * How long a node that lost an origin keeps checking it while waiting for
   * the new owner's first record. Must cover the time for the new owner to
   * learn the membership change and write once: default 2 x interval.
   */
  handoffGraceMs: number;
  /**
   * A backup of rank r takes over when the origin's record is older than
   * r x promoteAfterMs. 0 disables stale promotion (backups move only on
   * membership changes). Must exceed refreshMs, or backups would take over
   * healthy primaries between two refreshes.
   */
  promoteAfterMs: number;
}

/**
 * The window for the first checks of origins taken over from a dead or
 * departed member (v1's `firstCheckWithinMs`, capped at the origin's
 * interval). 250 ms spreads a take-over of 1,000 origins at 4 checks per ms,
 * well inside v1's concurrency bound, and keeps failover coverage at
 * detection + 250 ms instead of detection + one interval.
 */
export const TAKEOVER_FIRST_CHECK_MS = 250;

/** Why the local engine is checking an origin. */
export type ActiveReason = "primary" | "promoted" | "handoff";

/** An origin the local engine should start checking, with the record to continue from. */
export interface StartCheck {
  spec: OriginSpec;
  /** The newest known record: the engine seeds its status from it so history is continuous. */
  previous: HealthRecord | undefined;
  /** Why this node checks it now. */
  reason: ActiveReason;
  /**
   * Nobody alive is checking it: its primary in the previous view, or the
   * observer of its last record, is out of this node's view (crashed, left,
   * cut off), or this node was promoted over a stale record; and this is not
   * the node's first view. The origin has
   * gone unchecked for the failure detection time already, so the driver
   * should check it soon rather than at a phase anywhere in the next
   * interval. False at start, for new origins, and on join hand-offs (the
   * old owner keeps checking until the new owner's first record).
   */
  takeOver: boolean;
}

/** Something worth logging or counting. */
export type CoreEvent =
  | { type: "view"; members: MemberId[]; moved: number }
  | { type: "start"; originId: string; reason: ActiveReason; takeOver: boolean }
  | { type: "stop"; originId: string; why: "not-owner" | "handoff-done" | "handoff-timeout" | "removed" | "stepped-down" | "left" | "updated" }
  | { type: "handoff"; originId: string; to: MemberId | undefined }
  | { type: "stale-record"; originId: string; observer: MemberId };

/**
 * One batch of the agent's decisions. The shared fields are empty: the
 * agent core persists nothing and talks to no peer itself (its records
 * travel through the store, which persists and replicates them). Its own
 * duties come in this order: `stop` checks, `start` checks, hand `writes`
 * to the store, then log and count `events`.
 */
export interface AgentReady extends Ready<never> {
  readonly stop: readonly string[];
  readonly start: readonly StartCheck[];
  readonly writes: readonly HealthRecord[];
  readonly events: readonly CoreEvent[];
}

const EMPTY_READY: AgentReady = Object.freeze({ snapshot: null, records: NONE, mustSync: false, messages: NONE, stop: NONE, start: NONE, writes: NONE, events: NONE });

interface Pending {
  stop: string[];
  start: StartCheck[];
  writes: HealthRecord[];
  events: CoreEvent[];
}

interface Active {
  reason: ActiveReason;
  /** For hand-offs: when to stop at the latest. */
  untilMs: number;
  /** The stamp of the last record this node wrote or inherited when it started: a newer one by someone else ends a hand-off. */
  baseHlcMs: number;
}

/** Validates an {@link AgentCoreConfig}; throws a RangeError naming the field. */
export function validateCoreConfig(c: AgentCoreConfig): void {
  if (typeof c.self !== "string" || c.self.length === 0) throw new RangeError("self: must be a non-empty member id");
  if (!Number.isInteger(c.replicas) || c.replicas < 1 || c.replicas > 16) throw new RangeError("replicas: must be an integer in 1..16");
  for (const k of ["refreshMs", "handoffGraceMs", "promoteAfterMs"] as const) {
    if (!Number.isFinite(c[k]) || c[k] < 0) throw new RangeError(`${k}: must be a non-negative number`);
  }
  if (c.promoteAfterMs > 0 && c.promoteAfterMs <= c.refreshMs) throw new RangeError("promoteAfterMs: must exceed refreshMs (or be 0 to disable)");
}

/** One agent's decision logic; see the file comment for the rules. */
export class AgentCore implements ReadyCore<AgentReady> {
  private readonly view: OwnershipView;
  private readonly origins = new Map<string, OriginSpec>();
  private readonly records = new Map<string, HealthRecord>();
  private readonly active = new Map<string, Active>();
  /** Check time of this node's own last write per origin (drives refreshMs). */
  private readonly lastWriteMs = new Map<string, number>();
  private viewReady = false;
  /** True while the first view is being reconciled: the starts of an agent's boot are not take-overs. */
  private firstView = false;
  /** During a view change: origins whose previous primary is no longer in the view. */
  private readonly orphans = new Set<string>();
  /** Active origins in hand-off: lets tick and nextDeadlineMs skip the scan when there are none (the common case). */
  private handoffs = 0;
  private leavingUntilMs: number | undefined;
  private pending: Pending = { stop: [], start: [], writes: [], events: [] };
  /** A Ready was handed out and not yet advanced. */
  private outstanding = false;

  constructor(
    readonly config: AgentCoreConfig,
    scheme: OwnershipScheme,
  ) {
    validateCoreConfig(config);
    this.view = new OwnershipView(scheme, config.replicas);
  }

  // -------------------------------------------------------------------------
  // Inputs
  // -------------------------------------------------------------------------

  /**
   * The members that currently own origins (SWIM alive + suspect). The first
   * call marks the view ready: before it, a node that has only seen itself
   * would think it owns everything and check every origin at once.
   */
  setMembers(members: readonly MemberId[], nowMs: number): void {
    const moved = this.view.setMembers(members);
    const first = !this.viewReady;
    this.viewReady = true;
    if (moved.length > 0 || first) {
      this.pending.events.push({ type: "view", members: [...this.view.members()], moved: moved.length });
    }
    this.firstView = first;
    // Origins whose primary just left the view: nobody checks them any more.
    for (const m of moved) if (m.from !== undefined && !this.view.hasMember(m.from)) this.orphans.add(m.originId);
    this.reconcileAll(nowMs);
    this.firstView = false;
    this.orphans.clear();
  }

  /** An origin was added or changed in the replicated origin list. */
  putOrigin(spec: OriginSpec, nowMs: number): void {
    const before = this.origins.get(spec.id);
    if (before !== undefined && sameSpec(before, spec)) return;
    this.origins.set(spec.id, spec);
    this.view.addOrigin(spec.id);
    if (before !== undefined && this.active.has(spec.id)) {
      // A changed spec restarts the check so the engine uses the new settings.
      this.stopLocal(spec.id, "updated");
    }
    this.reconcile(spec.id, nowMs);
  }

  /** An origin was removed from the replicated list: stop checking and forget its record. */
  removeOrigin(originId: string): void {
    if (!this.origins.has(originId)) return;
    this.origins.delete(originId);
    this.view.removeOrigin(originId);
    this.records.delete(originId);
    this.lastWriteMs.delete(originId);
    if (this.active.has(originId)) this.stopLocal(originId, "removed");
  }

  /**
   * A record arrived from the store (someone's write, or the echo of ours).
   * Kept only if newer; a newer record by another member ends our hand-off
   * of that origin, or demotes us if we were promoted.
   */
  mergeRecord(record: HealthRecord, nowMs: number): boolean {
    if (!this.origins.has(record.id)) {
      // The record of an origin we do not know (yet, or any more): keep the
      // newest anyway so a later putOrigin starts from it.
      const merged = mergeRecords(this.records.get(record.id), record);
      if (merged !== undefined) this.records.set(record.id, merged);
      return merged === record;
    }
    const current = this.records.get(record.id);
    if (!isNewer(record, current)) {
      if (current !== undefined && record.observer !== current.observer) {
        this.pending.events.push({ type: "stale-record", originId: record.id, observer: record.observer });
      }
      return false;
    }
    this.records.set(record.id, record);
    const act = this.active.get(record.id);
    if (act !== undefined && record.observer !== this.config.self && record.hlcMs > act.baseHlcMs) {
      if (act.reason === "handoff") this.stopLocal(record.id, "handoff-done");
      else if (act.reason === "promoted" && this.rankOf(record.observer, record.id) < this.rankOf(this.config.self, record.id)) {
        this.stopLocal(record.id, "stepped-down");
      }
    }
    // Records only matter to the decision when stale promotion is on.
    if (this.config.promoteAfterMs > 0) this.reconcile(record.id, nowMs);
    return true;
  }

  /**
   * The local engine finished a check. Returns the record written, if any.
   * Results for origins no longer active here are dropped: the engine may
   * report a check that was in flight when it was told to stop.
   */
  observe(originId: string, obs: Observation, nowMs: number): HealthRecord | undefined {
    if (!this.active.has(originId) || !this.origins.has(originId)) return undefined;
    const previous = this.records.get(originId);
    const next = observe(previous, originId, this.config.self, obs);
    const lastWrite = this.lastWriteMs.get(originId);
    const due =
      previous === undefined ||
      next.status !== previous.status ||
      previous.observer !== this.config.self ||
      lastWrite === undefined ||
      obs.checkedAtMs - lastWrite >= this.config.refreshMs;
    if (!due) return undefined;
    this.records.set(originId, next);
    this.lastWriteMs.set(originId, next.checkedAtMs);
    const act = this.active.get(originId);
    if (act !== undefined) act.baseHlcMs = next.hlcMs;
    this.pending.writes.push(next);
    void nowMs;
    return next;
  }

  /**
   * Starts a graceful leave: no new origins are taken, and every origin this
   * node checks enters hand-off until the new owner's record arrives or
   * `untilMs`. The driver announces the leave through SWIM at the same time.
   */
  leave(nowMs: number, untilMs: number): void {
    this.leavingUntilMs = untilMs;
    for (const [originId, act] of this.active) {
      if (act.reason !== "handoff") this.handoffs += 1;
      act.reason = "handoff";
      act.untilMs = untilMs;
      this.pending.events.push({ type: "handoff", originId, to: this.successorOf(originId) });
    }
    void nowMs;
  }

  /** Advances time: ends expired hand-offs and re-evaluates stale promotions. */
  tick(nowMs: number): void {
    if (this.handoffs > 0) {
      for (const [originId, act] of [...this.active]) {
        if (act.reason === "handoff" && nowMs >= act.untilMs) this.stopLocal(originId, this.leavingUntilMs !== undefined ? "left" : "handoff-timeout");
      }
    }
    if (this.config.promoteAfterMs > 0 && this.config.replicas > 1) {
      for (const originId of this.origins.keys()) this.reconcile(originId, nowMs);
    }
  }

  /** The earliest time `tick` has work to do (hand-off expiry, a record going stale); Infinity when none. */
  nextDeadlineMs(): number {
    let next = Infinity;
    if (this.handoffs > 0) for (const act of this.active.values()) if (act.reason === "handoff") next = Math.min(next, act.untilMs);
    if (this.config.promoteAfterMs > 0 && this.config.replicas > 1 && this.leavingUntilMs === undefined && this.viewReady) {
      for (const originId of this.origins.keys()) {
        const rank = this.view.rankOf(originId, this.config.self);
        const rec = this.records.get(originId);
        if (rank > 0 && rec !== undefined && !this.active.has(originId)) next = Math.min(next, rec.checkedAtMs + rank * this.config.promoteAfterMs);
      }
    }
    return next;
  }

  /** Whether {@link ready} has work. False while a Ready is outstanding. */
  hasReady(): boolean {
    const p = this.pending;
    return !this.outstanding && (p.stop.length > 0 || p.start.length > 0 || p.writes.length > 0 || p.events.length > 0);
  }

  /** Hands out the decisions since the last batch (stop, start, write, events); call {@link advance} once they are carried out. */
  ready(): AgentReady {
    if (this.outstanding) throw new Error("AgentCore.ready: call advance() for the previous Ready first");
    this.outstanding = true;
    const p = this.pending;
    if (p.stop.length + p.start.length + p.writes.length + p.events.length === 0) return EMPTY_READY;
    this.pending = { stop: [], start: [], writes: [], events: [] };
    return { snapshot: null, records: NONE, mustSync: false, messages: NONE, stop: p.stop, start: p.start, writes: p.writes, events: p.events };
  }

  /** Acknowledges the last Ready: its checks are stopped and started, its writes handed to the store. */
  advance(): void {
    if (!this.outstanding) throw new Error("AgentCore.advance: no Ready outstanding");
    this.outstanding = false;
  }

  // -------------------------------------------------------------------------
  // Queries (for the API, the dashboard, metrics and tests)
  // -------------------------------------------------------------------------

  /** The members the ownership table is computed over. */
  members(): readonly MemberId[] {
    return this.view.members();
  }

  /** The top-k owners of an origin, primary first. */
  ownersOf(originId: string): readonly MemberId[] {
    return this.view.ownersOf(originId);
  }

  /** The ownership table of every known origin. */
  table(): { originId: string; owners: MemberId[] }[] {
    return this.view.table();
  }

  /** Primary origins per member. */
  load(): Map<MemberId, number> {
    return this.view.load();
  }

  /** The origins the local engine checks now, with why. */
  activeOrigins(): Map<string, ActiveReason> {
    return new Map([...this.active].map(([id, a]) => [id, a.reason]));
  }

  /** The replicated origin list as this node knows it. */
  originList(): OriginSpec[] {
    return [...this.origins.values()];
  }

  /** One origin's spec. */
  origin(originId: string): OriginSpec | undefined {
    return this.origins.get(originId);
  }

  /** The newest known record of an origin. */
  record(originId: string): HealthRecord | undefined {
    return this.records.get(originId);
  }

  /** True once a leave was started. */
  isLeaving(): boolean {
    return this.leavingUntilMs !== undefined;
  }

  // -------------------------------------------------------------------------
  // Decisions
  // -------------------------------------------------------------------------

  private rankOf(member: MemberId, originId: string): number {
    const r = this.view.rankOf(originId, member);
    return r < 0 ? Number.MAX_SAFE_INTEGER : r;
  }

  private successorOf(originId: string): MemberId | undefined {
    return this.view.ownersOf(originId).find((m) => m !== this.config.self);
  }

  /** Should this node check the origin now, and why (undefined: no). */
  private desired(originId: string, nowMs: number): ActiveReason | undefined {
    if (!this.viewReady || this.leavingUntilMs !== undefined || !this.origins.has(originId)) return undefined;
    const rank = this.view.rankOf(originId, this.config.self);
    if (rank === 0) return "primary";
    if (rank > 0 && this.config.promoteAfterMs > 0) {
      const rec = this.records.get(originId);
      const act = this.active.get(originId);
      if (act?.reason === "promoted") {
        // Stay promoted until a higher-ranked member writes again (handled
        // in mergeRecord), so two backups do not flap in and out.
        return "promoted";
      }
      if (rec !== undefined && nowMs - rec.checkedAtMs >= rank * this.config.promoteAfterMs) return "promoted";
    }
    return undefined;
  }

  private reconcileAll(nowMs: number): void {
    for (const originId of this.origins.keys()) this.reconcile(originId, nowMs);
  }

  private reconcile(originId: string, nowMs: number): void {
    const want = this.desired(originId, nowMs);
    const act = this.active.get(originId);
    if (want !== undefined) {
      if (act === undefined) {
        const previous = this.records.get(originId);
        this.active.set(originId, { reason: want, untilMs: Infinity, baseHlcMs: previous?.hlcMs ?? -Infinity });
        const orphaned =
          want === "promoted" || this.orphans.has(originId) || (previous !== undefined && previous.observer !== this.config.self && !this.view.hasMember(previous.observer));
        const takeOver = !this.firstView && orphaned;
        this.pending.start.push({ spec: this.origins.get(originId)!, previous, reason: want, takeOver });
        this.pending.events.push({ type: "start", originId, reason: want, takeOver });
      } else if (act.reason !== want) {
        // Regained ownership during a hand-off, or promoted to primary: keep
        // checking (no restart), only the reason changes.
        if (act.reason === "handoff") this.handoffs -= 1;
        act.reason = want;
        act.untilMs = Infinity;
      }
      return;
    }
    if (act === undefined || act.reason === "handoff") return;
    if (!this.origins.has(originId)) {
      this.stopLocal(originId, "removed");
      return;
    }
    if (act.reason === "promoted" && this.leavingUntilMs === undefined) {
      // A promoted backup that is no longer in the top k stops at once: the
      // members above it are alive and own the origin.
      this.stopLocal(originId, "stepped-down");
      return;
    }
    // Lost ownership: hand off, keep checking until the new owner writes.
    const to = this.view.ownersOf(originId)[0];
    this.pending.events.push({ type: "handoff", originId, to });
    if (this.records.get(originId)?.observer === to && to !== undefined) {
      // The new owner learned of the change first and has written already.
      this.stopLocal(originId, "handoff-done");
      return;
    }
    act.reason = "handoff";
    this.handoffs += 1;
    act.untilMs = nowMs + this.config.handoffGraceMs;
    if (this.config.handoffGraceMs === 0) this.stopLocal(originId, "handoff-timeout");
  }

  private stopLocal(originId: string, why: Extract<CoreEvent, { type: "stop" }>["why"]): void {
    const act = this.active.get(originId);
    if (act === undefined) return;
    if (act.reason === "handoff") this.handoffs -= 1;
    this.active.delete(originId);
    this.pending.stop.push(originId);
    this.pending.events.push({ type: "stop", originId, why });
  }
}
