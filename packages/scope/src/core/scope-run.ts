/**
 * One watched run: a stage's seeded simulation plus the learner's actions,
 * and the trace they produce. Everything the page shows comes from here, and
 * so does the CLI's `--trace-hash`: the same code in Node and the browser.
 *
 * Determinism is the whole point. A run is a function of (stage, seed,
 * actions): an action recorded at simulated time t is applied after every
 * event due at or before t, whether it was taken live (after a step or a
 * play) or replayed from the list (after running to t). So going back in time
 * is re-running from the seed to that instant, and it lands on the same state.
 */
import { formatFaultSchedule, SimulationFailure, summarize, type FaultStep, type TraceEvent } from "@heck/sim";
import { formatAction, type Action, type ActionRequest } from "./actions.ts";
import type { InvariantStatus, MessageDescription, NodeView, StageAdapter, StageCheck, StageContext, StageName } from "./stage.ts";
import { TraceHasher } from "./trace-hash.ts";

/** Builds a stage's adapter (see src/stages). */
export type StageFactory = (stage: StageName, context: StageContext, scenario?: string) => StageAdapter;

/** How a run stopped early: the runner's report of a broken invariant or an exception. */
export interface RunFailure {
  what: string;
  kind: string;
  atMs: number;
  detail: string;
  /** The runner's whole report (HECK_SEED, the invariant, the trace tail). */
  report: string;
}

/** One trace event as the page lists it. */
export interface ShownEvent {
  /** Position in the whole trace, from 0. */
  index: number;
  t: number;
  node: string;
  event: string;
  summary: string;
}

/** A message in flight, as the page draws it. */
export interface ShownMessage extends MessageDescription {
  from: string;
  to: string;
  sentMs: number;
  dueMs: number;
  channel: string;
}

/** What `window.heckScope.snapshot()` returns (and the CLI's `--json` snapshot). */
export interface Snapshot {
  stage: StageName;
  seed: number;
  /** The seeded test scenario this run is (e.g. "sweep"), or null for the stage's own cluster. */
  scenario: string | null;
  /** The fault schedule given in place of the scenario seed's own, as text (null when the seed draws it, or without a scenario). */
  faults: string | null;
  tMs: number;
  traceHash: string;
  /** Trace events so far. */
  events: number;
  nodes: NodeView[];
  invariants: InvariantStatus[];
  failure: RunFailure | null;
  actions: string[];
  lossRate: number;
  partitioned: boolean;
}

/** A trace event as kept: its position in the trace and the event itself. */
interface KeptEvent {
  index: number;
  event: TraceEvent;
}

function show(k: KeptEvent): ShownEvent {
  return { index: k.index, t: k.event.t, node: k.event.node, event: k.event.event, summary: summarize(k.event.msg, 200) };
}

/** Events that are the network's plumbing; everything else goes on the timeline. */
const PLUMBING = new Set(["send", "deliver", "tick", "duplicate"]);

/** Options of a {@link ScopeRun}. */
export interface ScopeRunOptions {
  stage: StageName;
  seed: number;
  /** Actions to replay, in time order. */
  actions?: readonly Action[];
  /** Recent events kept for the log (default 400). */
  recentLimit?: number;
  /** Timeline events kept (elections, suspicions, crashes...; default 20,000, oldest dropped). */
  timelineLimit?: number;
  /** Extra checks after every step (see {@link StageContext.checks}). */
  checks?: ReadonlyArray<StageCheck>;
  /** One of the stage's seeded test scenarios instead of its own cluster (see stages/seeded.ts). */
  scenario?: string;
  /** With a scenario: the faults to apply instead of the seed's own schedule (a failure's shrunk one). */
  faults?: FaultStep[];
}

/** A stage's seeded run, its actions and its trace. See the file comment. */
export class ScopeRun {
  readonly stage: StageName;
  readonly seed: number;
  readonly scenario: string | null;
  readonly adapter: StageAdapter;
  private readonly faultText: string | null;
  private readonly actionList: Action[];
  private applied = 0;
  private readonly hasher = new TraceHasher();
  private readonly recent: KeptEvent[] = [];
  private readonly timelineEvents: KeptEvent[] = [];
  private readonly recentLimit: number;
  private readonly timelineLimit: number;
  private lossRate = 0;
  private failed: RunFailure | null = null;

  constructor(options: ScopeRunOptions, factory: StageFactory) {
    if (!Number.isSafeInteger(options.seed) || options.seed < 0) throw new RangeError(`seed must be an integer >= 0, got ${options.seed}`);
    this.stage = options.stage;
    this.seed = options.seed;
    this.actionList = [...(options.actions ?? [])];
    this.recentLimit = options.recentLimit ?? 400;
    this.timelineLimit = options.timelineLimit ?? 20_000;
    this.scenario = options.scenario ?? null;
    this.faultText = options.faults !== undefined ? formatFaultSchedule(options.faults) : null;
    this.adapter = factory(
      options.stage,
      { seed: options.seed, onTrace: (e) => this.onTrace(e), ...(options.checks !== undefined ? { checks: options.checks } : {}), ...(options.faults !== undefined ? { faults: options.faults } : {}) },
      options.scenario,
    );
    for (const a of this.actionList) {
      const named = a.kind === "crash" || a.kind === "restart" || a.kind === "put" ? [a.node] : a.kind === "partition" ? a.groups.flat() : [];
      for (const n of named) if (!this.adapter.nodeIds.includes(n)) throw new RangeError(`actions: ${formatAction(a)}: unknown node ${JSON.stringify(n)} (nodes are ${this.adapter.nodeIds.join(", ")})`);
    }
  }

  /** The scenario's fault schedule as text: the given one, or null when the seed draws its own or there is no scenario. */
  get faults(): string | null {
    return this.faultText;
  }

  /** Simulated time now. */
  get nowMs(): number {
    return this.adapter.sim.nowMs;
  }

  /** The run's failure (a broken invariant), or null while it holds. */
  get failure(): RunFailure | null {
    return this.failed;
  }

  /** Every action: applied ones, then those still to replay. */
  get actions(): readonly Action[] {
    return this.actionList;
  }

  /** Trace events so far. */
  get eventCount(): number {
    return this.hasher.lines;
  }

  /** The hash of the whole trace so far (see trace-hash.ts). */
  traceHash(): string {
    return this.hasher.digest();
  }

  /**
   * Advances to simulated time `untilMs`, replaying any recorded action due
   * by then at its time. Stops early (and keeps the failure) if an invariant
   * breaks. Going backwards is a no-op: rewinding is a new run.
   */
  run(untilMs: number): void {
    if (!Number.isFinite(untilMs) || untilMs < 0) throw new RangeError(`run: untilMs must be a finite number >= 0, got ${untilMs}`);
    this.guard(() => {
      for (;;) {
        const next = this.actionList[this.applied];
        if (next === undefined || next.atMs > untilMs || this.failed) break;
        this.advanceTo(next.atMs);
        this.applyNext();
      }
      if (!this.failed) this.advanceTo(untilMs);
    });
  }

  /**
   * Takes one step: the next event, or the next recorded action if it comes
   * first. Returns false when nothing is left to do or the run has failed.
   */
  step(): boolean {
    if (this.failed) return false;
    return (
      this.guard(() => {
        const next = this.actionList[this.applied];
        if (next !== undefined && this.nextEventMs() > next.atMs) {
          this.advanceTo(next.atMs);
          this.applyNext();
          return true;
        }
        return this.adapter.sim.step();
      }) ?? false
    );
  }

  /**
   * Does `request` now: recorded at the current simulated time, after every
   * event due by then. Actions still to replay are dropped: the run has
   * taken a different path from here on.
   */
  act(request: ActionRequest): Action {
    const action = { ...request, atMs: this.nowMs } as Action;
    this.actionList.length = this.applied;
    this.actionList.push(action);
    this.guard(() => {
      this.advanceTo(action.atMs);
      this.applyNext();
    });
    return action;
  }

  /** The state of every node, the invariants, and the trace hash. */
  snapshot(): Snapshot {
    const sim = this.adapter.sim;
    return {
      stage: this.stage,
      seed: this.seed,
      scenario: this.scenario,
      faults: this.faultText,
      tMs: sim.nowMs,
      traceHash: this.traceHash(),
      events: this.eventCount,
      nodes: this.adapter.nodeIds.map((id) => this.adapter.nodeView(id)),
      invariants: this.invariantStatuses(),
      failure: this.failed,
      actions: this.actionList.slice(0, this.applied).map(formatAction),
      lossRate: this.lossRate,
      partitioned: sim.network.activePartitions().length > 0,
    };
  }

  /** Every message on its way, described for drawing. */
  inFlight(): ShownMessage[] {
    return this.adapter.sim.network.messagesInFlight().map((m) => ({ from: m.from, to: m.to, sentMs: m.sentMs, dueMs: m.dueMs, channel: m.channel, ...this.adapter.describe(m.payload) }));
  }

  /** The last events of the trace, oldest first. */
  recentEvents(limit = this.recentLimit): ShownEvent[] {
    return this.recent.slice(-Math.min(limit, this.recentLimit)).map(show);
  }

  /** The protocol's events (elections, suspicions, deaths, commits, merges, crashes, faults), oldest first. */
  timeline(limit = this.timelineLimit): ShownEvent[] {
    return this.timelineEvents.slice(-Math.min(limit, this.timelineLimit)).map(show);
  }

  private invariantStatuses(): InvariantStatus[] {
    const statuses = this.adapter.invariants();
    if (this.failed === null || statuses.some((s) => !s.ok && s.name === this.failed!.what)) return statuses;
    // A broken check the stage's own simulation ran (e.g. SWIM's view rules): show it too.
    return [...statuses.filter((s) => s.name !== this.failed!.what), { name: this.failed.what, kind: "safety", ok: false, detail: this.failed.detail }];
  }

  private nextEventMs(): number {
    let t = this.adapter.sim.network.peekTime();
    for (const n of this.adapter.sim.up) t = Math.min(t, n.nextDeadlineMs());
    return t;
  }

  private advanceTo(t: number): void {
    const sim = this.adapter.sim;
    sim.runFor(Math.max(0, t - sim.nowMs));
  }

  private applyNext(): void {
    const a = this.actionList[this.applied]!;
    this.applied++;
    const adapter = this.adapter;
    adapter.sim.record({ t: adapter.sim.nowMs, node: "learner", event: "action", msg: formatAction(a) });
    switch (a.kind) {
      case "crash":
        adapter.crash(a.node);
        break;
      case "restart":
        adapter.restart(a.node);
        break;
      case "partition":
        adapter.sim.partition(...a.groups);
        break;
      case "heal":
        adapter.sim.heal();
        break;
      case "loss":
        this.lossRate = a.rate;
        adapter.sim.setDropRate(a.rate);
        break;
      case "put":
        adapter.put(a.node, a.key, a.value);
        break;
      case "flip":
        adapter.flip(a.origin);
        break;
    }
    // Whatever the action made a node send goes out now, as after any step.
    adapter.sim.runFor(0);
  }

  private onTrace(event: TraceEvent): void {
    this.hasher.updateEvent(event);
    // Kept raw and summarised only when shown: most events are never looked at.
    const kept: KeptEvent = { index: this.hasher.lines - 1, event };
    this.recent.push(kept);
    if (this.recent.length > this.recentLimit * 2) this.recent.splice(0, this.recent.length - this.recentLimit);
    if (!PLUMBING.has(event.event)) {
      this.timelineEvents.push(kept);
      if (this.timelineEvents.length > this.timelineLimit * 2) this.timelineEvents.splice(0, this.timelineEvents.length - this.timelineLimit);
    }
  }

  private guard<R>(body: () => R): R | undefined {
    if (this.failed) return undefined;
    try {
      return body();
    } catch (e) {
      this.failed =
        e instanceof SimulationFailure
          ? { what: e.what, kind: e.kind, atMs: e.atMs, detail: e.detail, report: e.message }
          : { what: e instanceof Error ? e.name : "error", kind: "exception", atMs: this.failedAt(), detail: e instanceof Error ? e.message : String(e), report: e instanceof Error ? (e.stack ?? e.message) : String(e) };
      return undefined;
    }
  }

  private failedAt(): number {
    try {
      return this.adapter.sim.nowMs;
    } catch {
      return 0;
    }
  }
}
