import type { Prng } from "@heck/sim";
import { HealthTracker } from "./health.ts";
import { CheckScheduler, type DueCheck } from "./scheduler.ts";
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

interface TargetState {
  spec: TargetSpec;
  health: HealthTracker;
  lastCheckMs: number | null;
  lastResult: CheckResult | null;
  certExpiryDays: number | null;
  checks: number;
  failures: number;
}

/** A known starting point for a target's health (see {@link CheckerCore.add}). */
export interface InitialHealth {
  status: HealthStatus;
  /** When that status began; defaults to now. */
  sinceMs?: number;
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
 */
export class CheckerCore {
  private readonly targets = new Map<string, TargetState>();
  private readonly scheduler: CheckScheduler;
  private readonly historySize: number;
  private readonly statusCounts: Record<HealthStatus, number> = { unknown: 0, healthy: 0, unhealthy: 0 };

  /** See {@link CheckerCoreOptions}. */
  constructor(opts: CheckerCoreOptions) {
    this.scheduler = new CheckScheduler(opts.maxConcurrentChecks, opts.prng);
    this.historySize = opts.historySize;
  }

  /** Targets held. */
  get size(): number {
    return this.targets.size;
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
    return this.targets.has(id);
  }

  /**
   * Adds a target, in state `unknown` unless `initial` says otherwise (a new
   * owner taking over a target whose status is known); false when the id is taken.
   */
  add(spec: TargetSpec, nowMs: number, initial?: InitialHealth): boolean {
    if (this.targets.has(spec.id)) return false;
    this.scheduler.add(spec.id, spec.intervalMs, nowMs);
    const health = new HealthTracker(spec.id, spec.rise, spec.fall, nowMs, this.historySize, initial?.status, initial?.sinceMs);
    this.targets.set(spec.id, {
      spec,
      health,
      lastCheckMs: null,
      lastResult: null,
      certExpiryDays: null,
      checks: 0,
      failures: 0,
    });
    this.statusCounts[health.status]++;
    return true;
  }

  /**
   * Replaces a target's settings. Same URL: health and history are kept and
   * the new rise/fall apply from the next result. New URL: it is a different
   * origin, so it starts again from `unknown`. False when the id is unknown.
   */
  update(spec: TargetSpec, nowMs: number): boolean {
    const t = this.targets.get(spec.id);
    if (!t) return false;
    if (t.spec.url !== spec.url) {
      this.remove(spec.id);
      return this.add(spec, nowMs);
    }
    t.spec = spec;
    t.health.rise = spec.rise;
    t.health.fall = spec.fall;
    this.scheduler.setInterval(spec.id, spec.intervalMs, nowMs);
    return true;
  }

  /** Removes a target; a check of it still running is ignored when it ends. */
  remove(id: string): boolean {
    const t = this.targets.get(id);
    if (!t) return false;
    this.statusCounts[t.health.status]--;
    this.targets.delete(id);
    this.scheduler.remove(id);
    return true;
  }

  /** The earliest time {@link tick} has work, or Infinity. */
  nextDeadlineMs(): number {
    return this.scheduler.nextDeadlineMs();
  }

  /** Releases every check due at `nowMs` (within the concurrency bound). */
  tick(nowMs: number): CheckTask[] {
    const due = this.scheduler.takeDue(nowMs);
    const tasks: CheckTask[] = new Array(due.length);
    for (let k = 0; k < due.length; k++) {
      const d = due[k]!;
      tasks[k] = { ...d, spec: this.targets.get(d.id)!.spec, startedMs: nowMs };
    }
    return tasks;
  }

  /**
   * Applies the result of `task`, finished at `nowMs`, and returns the
   * events it caused: a `result` event, preceded by a `transition` when the
   * status changed. Results of removed (or replaced) targets return [].
   */
  recordResult(task: CheckTask, result: CheckResult, nowMs: number): CheckerEvent[] {
    const live = this.scheduler.complete(task, nowMs);
    const t = this.targets.get(task.id);
    if (!live || !t) return [];
    t.checks++;
    if (!result.ok) t.failures++;
    t.lastCheckMs = nowMs;
    t.lastResult = result;
    if (result.certExpiryDays !== undefined) t.certExpiryDays = result.certExpiryDays;
    const before = t.health.status;
    const transition = t.health.record(result.ok, nowMs, result.error);
    const events: CheckerEvent[] = [];
    if (transition) {
      this.statusCounts[before]--;
      this.statusCounts[transition.to]++;
      events.push({ type: "transition", url: t.spec.url, transition });
    }
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

  /** Targets per status, kept incrementally (cheap for metrics at 10,000 targets). */
  counts(): Record<HealthStatus, number> {
    return { ...this.statusCounts };
  }

  /** One target's state, with its transition history; undefined if unknown. */
  get(id: string): TargetSnapshot | undefined {
    const t = this.targets.get(id);
    return t ? this.snapshot(t, true) : undefined;
  }

  /** Every target's state (without history), optionally only those in `status`, in insertion order. */
  list(status?: HealthStatus): TargetSnapshot[] {
    const out: TargetSnapshot[] = [];
    for (const t of this.targets.values()) if (status === undefined || t.health.status === status) out.push(this.snapshot(t, false));
    return out;
  }

  /** The validated spec of a target. */
  spec(id: string): TargetSpec | undefined {
    return this.targets.get(id)?.spec;
  }

  private snapshot(t: TargetState, withHistory: boolean): TargetSnapshot {
    const r = t.lastResult;
    const snap: TargetSnapshot = {
      id: t.spec.id,
      url: t.spec.url,
      kind: t.spec.kind,
      status: t.health.status,
      sinceMs: t.health.sinceMs,
      lastCheckMs: t.lastCheckMs,
      lastResult: r === null ? null : r.ok ? "ok" : "error",
      latencyMs: r === null ? null : r.latencyMs,
      lastError: r?.error ?? null,
      httpStatus: r?.httpStatus ?? null,
      certExpiryDays: t.certExpiryDays,
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
