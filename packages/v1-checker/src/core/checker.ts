import type { Prng } from "@heck/sim";
import { HealthTracker } from "./health.ts";
import { CheckScheduler, type DueCheck, type ScheduleEntry } from "./scheduler.ts";
import type { CheckError, CheckResult, HealthStatus, TargetSpec, Transition } from "./types.ts";

/** A check the driver must run now: probe `spec`, then hand the result to {@link CheckerCore.recordResult}. */
export interface CheckTask extends DueCheck {
  spec: TargetSpec;
  /** When the core released it; `startedMs - dueMs` is the schedule lag. */
  startedMs: number;
}

/** Emitted for every finished check of a live target. */
export interface ResultEvent {
  type: "result";
  id: string;
  url: string;
  result: CheckResult;
  /** The target's status after this result. */
  status: HealthStatus;
  dueMs: number;
  startedMs: number;
  finishedMs: number;
  /** Start minus due: how late the scheduler ran this check. */
  lagMs: number;
}

/** Emitted when a target's status changes. */
export interface TransitionEvent {
  type: "transition";
  url: string;
  transition: Transition;
}

/** What the core reports back from {@link CheckerCore.recordResult}. */
export type CheckerEvent = ResultEvent | TransitionEvent;

/** A target's state as the API and the library report it. Times are the driver's clock (epoch ms in the real engine). */
export interface TargetSnapshot {
  id: string;
  url: string;
  kind: "http" | "tcp";
  status: HealthStatus;
  sinceMs: number;
  lastCheckMs: number | null;
  lastResult: "ok" | "error" | null;
  latencyMs: number | null;
  /** The error of the latest check; null when it succeeded (or none ran yet). */
  lastError: CheckError | null;
  httpStatus: number | null;
  certExpiryDays: number | null;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  checks: number;
  failures: number;
  nextCheckMs: number | null;
  inFlight: boolean;
  spec: TargetSpec;
  /** Present when asked for (single-target reads); oldest first. */
  history?: Transition[];
}

/**
 * Everything the core keeps per target. The latest result is kept as plain
 * fields rather than as the result object: a result retained for a whole
 * interval outlives V8's young generation and is copied into the old one,
 * 10,000 times a second at 10,000 targets, only to die there a second later.
 */
interface TargetState {
  spec: TargetSpec;
  health: HealthTracker;
  /** NaN until the first check. */
  lastCheckMs: number;
  /** 1 ok, 0 error, -1 none yet. */
  lastOutcome: number;
  lastLatencyMs: number;
  /** 0 when the latest check got no HTTP answer. */
  lastHttpStatus: number;
  lastError: CheckError | null;
  /** NaN until an HTTPS check reported it. */
  certExpiryDays: number;
  checks: number;
  failures: number;
}

/**
 * A running check as {@link CheckerCore.nextDue} hands it out: the target's
 * own scheduler entry (no allocation per check). Valid until its result is
 * recorded; read `id`, `payload.spec`, `runDueMs` and `runStartedMs`.
 */
export type CheckRun = ScheduleEntry<TargetRunState>;

/** The per-target state behind a {@link CheckRun}; opaque outside the core except for `spec`. */
export interface TargetRunState {
  readonly spec: TargetSpec;
}

/**
 * Options of one add (see {@link CheckerCore.add}): a known starting point
 * for the target's health, and how soon to check it first.
 */
export interface InitialHealth {
  /** The status to start from; defaults to `unknown`. */
  status?: HealthStatus;
  /** When that status began; defaults to now. */
  sinceMs?: number;
  /**
   * Check first within this many ms of the add instead of within a whole
   * interval (targets added together are spread evenly over this window,
   * then settle at their even phases of the interval). For ownership
   * take-overs, whose origins have gone unchecked since the previous
   * owner died. Ignored when not below the interval; must be >= 0.
   */
  firstCheckWithinMs?: number;
}

/** Options of {@link CheckerCore}. */
export interface CheckerCoreOptions {
  /** Draws the first-check phase offset; fork one from a seed (`createPrng(seed)`). */
  prng: Prng;
  /** Checks in flight over all targets. */
  maxConcurrentChecks: number;
  /** Transitions kept per target. */
  historySize: number;
}

/**
 * Stage 1's whole decision logic as a pure state machine: which targets to
 * check now (`tick`), what a result means for a target's health
 * (`recordResult`), and when to wake next (`nextDeadlineMs`). It never
 * touches a socket or a clock; the engine in src/io does, and apps/v2 reuses
 * it through that engine.
 *
 * Two equivalent ways to drive it: `tick` / `recordResult` hand out task
 * objects and event lists (convenient for tests and simulations), and
 * `nextDue` / `recordRun` hand out the target's own record and allocate
 * nothing per check (what the engine uses at 10,000 checks a second).
 */
export class CheckerCore {
  private readonly scheduler: CheckScheduler<TargetState>;
  private readonly historySize: number;
  private readonly statusCounts: Record<HealthStatus, number> = { unknown: 0, healthy: 0, unhealthy: 0 };

  /** See {@link CheckerCoreOptions}. */
  constructor(opts: CheckerCoreOptions) {
    this.scheduler = new CheckScheduler<TargetState>(opts.maxConcurrentChecks, opts.prng);
    this.historySize = opts.historySize;
  }

  /** Targets held. */
  get size(): number {
    return this.scheduler.size;
  }

  /** Checks in flight. */
  get inFlight(): number {
    return this.scheduler.inFlight;
  }

  /** Checks that outlived their interval so far. */
  get overruns(): number {
    return this.scheduler.overruns;
  }

  /** The concurrency bound (changeable at runtime). */
  get maxConcurrentChecks(): number {
    return this.scheduler.maxConcurrent;
  }
  set maxConcurrentChecks(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`maxConcurrentChecks must be a positive integer, got ${n}`);
    this.scheduler.maxConcurrent = n;
  }

  /** True when a target with this id exists. */
  has(id: string): boolean {
    return this.scheduler.has(id);
  }

  /**
   * Adds a target, in state `unknown` unless `initial` says otherwise (a new
   * owner taking over a target whose status is known), checked first within
   * `initial.firstCheckWithinMs` if given; false when the id is taken.
   */
  add(spec: TargetSpec, nowMs: number, initial?: InitialHealth): boolean {
    if (this.scheduler.has(spec.id)) return false;
    const health = new HealthTracker(spec.id, spec.rise, spec.fall, nowMs, this.historySize, initial?.status, initial?.sinceMs);
    const state: TargetState = {
      spec,
      health,
      lastCheckMs: NaN,
      lastOutcome: -1,
      lastLatencyMs: 0,
      lastHttpStatus: 0,
      lastError: null,
      certExpiryDays: NaN,
      checks: 0,
      failures: 0,
    };
    this.scheduler.addEntry(spec.id, spec.intervalMs, nowMs, state, initial?.firstCheckWithinMs);
    this.statusCounts[health.status]++;
    return true;
  }

  /**
   * Replaces a target's settings. Same URL: health and history are kept and
   * the new rise/fall apply from the next result. New URL: it is a different
   * origin, so it starts again from `unknown`. False when the id is unknown.
   */
  update(spec: TargetSpec, nowMs: number): boolean {
    const t = this.scheduler.entry(spec.id)?.payload;
    if (!t) return false;
    if (t.spec.url !== spec.url) {
      this.remove(spec.id);
      return this.add(spec, nowMs);
    }
    t.spec = spec;
    t.health.rise = spec.rise;
    t.health.fall = spec.fall;
    this.scheduler.changeInterval(spec.id, spec.intervalMs, nowMs);
    return true;
  }

  /** Removes a target; a check of it still running is ignored when it ends. */
  remove(id: string): boolean {
    const t = this.scheduler.entry(id)?.payload;
    if (!t) return false;
    this.statusCounts[t.health.status]--;
    this.scheduler.remove(id);
    return true;
  }

  /** The earliest time {@link tick} has work, or Infinity. */
  nextDeadlineMs(): number {
    return this.scheduler.nextDeadlineMs();
  }

  /**
   * Releases the earliest check due at `nowMs` (within the concurrency
   * bound) and returns it, or undefined. The returned run is the target's own
   * record: valid until {@link recordRun}, never retained by the caller.
   */
  nextDue(nowMs: number): CheckRun | undefined {
    return this.scheduler.popDue(nowMs);
  }

  /**
   * Applies the result of `run` (from {@link nextDue}), finished at `nowMs`.
   * Returns false when the run is stale (its target was removed or
   * replaced meanwhile: nothing changes), the transition it caused, or
   * undefined when the status stayed.
   */
  recordRun(run: CheckRun, result: CheckResult, nowMs: number): Transition | undefined | false {
    const entry = run as ScheduleEntry<TargetState>;
    if (!this.scheduler.completeEntry(entry, nowMs)) return false;
    return this.apply(entry.payload, result, nowMs);
  }

  /** Releases every check due at `nowMs` (within the concurrency bound). */
  tick(nowMs: number): CheckTask[] {
    const tasks: CheckTask[] = [];
    let run: ScheduleEntry<TargetState> | undefined;
    while ((run = this.scheduler.popDue(nowMs)) !== undefined) {
      tasks.push({ id: run.id, dueMs: run.runDueMs, generation: run.generation, spec: run.payload.spec, startedMs: nowMs });
    }
    return tasks;
  }

  /**
   * Applies the result of `task`, finished at `nowMs`, and returns the
   * events it caused: a `result` event, preceded by a `transition` when the
   * status changed. Results of removed (or replaced) targets return [].
   */
  recordResult(task: CheckTask, result: CheckResult, nowMs: number): CheckerEvent[] {
    if (!this.scheduler.complete(task, nowMs)) return [];
    const t = this.scheduler.entry(task.id)!.payload;
    const transition = this.apply(t, result, nowMs);
    const events: CheckerEvent[] = [];
    if (transition) events.push({ type: "transition", url: t.spec.url, transition });
    events.push({
      type: "result",
      id: task.id,
      url: t.spec.url,
      result,
      status: t.health.status,
      dueMs: task.dueMs,
      startedMs: task.startedMs,
      finishedMs: nowMs,
      lagMs: task.startedMs - task.dueMs,
    });
    return events;
  }

  /** The status of a target (after its latest result), or undefined. */
  statusOf(id: string): HealthStatus | undefined {
    return this.scheduler.entry(id)?.payload.health.status;
  }

  /** The status of the target behind `run`. */
  runStatus(run: CheckRun): HealthStatus {
    return (run as ScheduleEntry<TargetState>).payload.health.status;
  }

  private apply(t: TargetState, result: CheckResult, nowMs: number): Transition | undefined {
    t.checks++;
    const ok = result.ok;
    if (!ok) t.failures++;
    t.lastCheckMs = nowMs;
    t.lastOutcome = ok ? 1 : 0;
    t.lastLatencyMs = result.latencyMs;
    t.lastHttpStatus = result.httpStatus ?? 0;
    t.lastError = ok ? null : (result.error ?? null);
    if (result.certExpiryDays !== undefined) t.certExpiryDays = result.certExpiryDays;
    const before = t.health.status;
    const transition = t.health.record(ok, nowMs, result.error);
    if (transition) {
      this.statusCounts[before]--;
      this.statusCounts[transition.to]++;
    }
    return transition;
  }

  /** Targets per status, kept incrementally (cheap for metrics at 10,000 targets). */
  counts(): Record<HealthStatus, number> {
    return { ...this.statusCounts };
  }

  /** One target's state, with its transition history; undefined if unknown. */
  get(id: string): TargetSnapshot | undefined {
    const t = this.scheduler.entry(id)?.payload;
    return t ? this.snapshot(t, true) : undefined;
  }

  /** Every target's state (without history), optionally only those in `status`, in insertion order. */
  list(status?: HealthStatus): TargetSnapshot[] {
    const out: TargetSnapshot[] = [];
    this.forEach((t) => {
      if (status === undefined || t.health.status === status) out.push(this.snapshot(t, false));
    });
    return out;
  }

  /**
   * Visits every target in insertion order without building snapshots:
   * what scrapes and exports use at 10,000 targets. `view` is reused between
   * calls; copy what you keep.
   */
  forEachTarget(visit: (view: TargetBrief) => void): void {
    const view: TargetBrief = { id: "", url: "", status: "unknown", latencyMs: NaN, certExpiryDays: NaN, lastOutcome: -1 };
    this.forEach((t) => {
      view.id = t.spec.id;
      view.url = t.spec.url;
      view.status = t.health.status;
      view.latencyMs = t.lastOutcome === -1 ? NaN : t.lastLatencyMs;
      view.certExpiryDays = t.certExpiryDays;
      view.lastOutcome = t.lastOutcome;
      visit(view);
    });
  }

  /** The validated spec of a target. */
  spec(id: string): TargetSpec | undefined {
    return this.scheduler.entry(id)?.payload.spec;
  }

  private forEach(visit: (t: TargetState) => void): void {
    this.scheduler.forEachEntry((e) => visit(e.payload));
  }

  private snapshot(t: TargetState, withHistory: boolean): TargetSnapshot {
    const checked = t.lastOutcome !== -1;
    const snap: TargetSnapshot = {
      id: t.spec.id,
      url: t.spec.url,
      kind: t.spec.kind,
      status: t.health.status,
      sinceMs: t.health.sinceMs,
      lastCheckMs: checked ? t.lastCheckMs : null,
      lastResult: checked ? (t.lastOutcome === 1 ? "ok" : "error") : null,
      latencyMs: checked ? t.lastLatencyMs : null,
      lastError: t.lastError,
      httpStatus: t.lastHttpStatus === 0 ? null : t.lastHttpStatus,
      certExpiryDays: Number.isNaN(t.certExpiryDays) ? null : t.certExpiryDays,
      consecutiveSuccesses: t.health.consecutiveSuccesses,
      consecutiveFailures: t.health.consecutiveFailures,
      checks: t.checks,
      failures: t.failures,
      nextCheckMs: this.scheduler.nextDueOf(t.spec.id) ?? null,
      inFlight: this.scheduler.isRunning(t.spec.id),
      spec: t.spec,
    };
    if (withHistory) snap.history = t.health.history();
    return snap;
  }
}

/** A lightweight, reused view of one target for {@link CheckerCore.forEachTarget}. */
export interface TargetBrief {
  id: string;
  url: string;
  status: HealthStatus;
  /** Latency of the latest check in ms; NaN before the first. */
  latencyMs: number;
  /** NaN unless an HTTPS check reported it. */
  certExpiryDays: number;
  /** 1 ok, 0 error, -1 no check yet. */
  lastOutcome: number;
}
