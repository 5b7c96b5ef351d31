import { EventEmitter, setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import { createPrng, type Prng } from "@heck/sim";
import { CheckStats } from "../core/check-stats.ts";
import { CheckerCore, type CheckRun, type InitialHealth, type ResultEvent, type TargetBrief, type TargetSnapshot, type TransitionEvent } from "../core/checker.ts";
import { ENGINE_DEFAULTS } from "../core/config.ts";
import { BUILTIN_DEFAULTS, parseTarget, type TargetDefaults } from "../core/target.ts";
import type { CheckResult, HealthStatus, TargetSpec } from "../core/types.ts";
import { HttpProber, type HttpProberOptions, type ProbeSink } from "./http-probe.ts";
import { tcpCheck } from "./tcp-probe.ts";

/** Runs one check; the default runs HTTP(S) through undici and tcp:// with a connect. Swap it to check in other ways. */
export type Probe = (spec: TargetSpec, signal: AbortSignal) => Promise<CheckResult>;

/** Options of {@link CheckEngine}; every field has a default. */
export interface CheckEngineOptions {
  /** Defaults applied to targets added as raw objects (see TargetDefaults for each default's reason). */
  defaults?: TargetDefaults;
  /** Checks in flight over all targets (default 1000, see ENGINE_DEFAULTS). */
  maxConcurrentChecks?: number;
  /** Transitions kept per target (default 20). */
  historySize?: number;
  /** Seed for the first-check phase offset; default random per process. */
  seed?: number;
  /** A ready Prng instead of `seed`. */
  prng?: Prng;
  /** Epoch-like milliseconds; default performance.timeOrigin + performance.now() (monotonic, never jumps back). */
  now?: () => number;
  /** Replaces the built-in probes (tests, or checks of another kind). */
  probe?: Probe;
  /** Options of the built-in HTTP prober. */
  http?: HttpProberOptions;
}

/** Raised by {@link CheckEngine.add} and {@link CheckEngine.update} for input that fails validation; `errors` name the fields. */
export class TargetInputError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join("; "));
    this.name = "TargetInputError";
  }
}

/** Raised by {@link CheckEngine.add} when the id is taken (the API answers 409). */
export class TargetExistsError extends Error {
  constructor(readonly id: string) {
    super(`id: a target "${id}" already exists`);
    this.name = "TargetExistsError";
  }
}

/** Events of {@link CheckEngine}: `result` after every check, `transition` on every status change (emitted before its result). */
export interface CheckEngineEvents {
  result: [ResultEvent];
  transition: [TransitionEvent];
}

/** Engine-wide counters, for `/healthz`, the demo and benchmarks. */
export interface EngineStats {
  targets: number;
  inFlight: number;
  checks: number;
  failures: number;
  overruns: number;
  byStatus: Record<HealthStatus, number>;
}

/**
 * The checking engine: the pure {@link CheckerCore} driven by real time and
 * real probes. Add, update and remove targets at any time; subscribe to
 * `result` and `transition` events. One timer, always set to the core's next
 * deadline, drives everything.
 *
 * ```ts
 * const engine = new CheckEngine({ maxConcurrentChecks: 500 });
 * engine.on("transition", (e) => console.log(e.transition));
 * engine.add({ id: "web-1", url: "http://127.0.0.1:12000/health", intervalMs: 1000 });
 * engine.start();
 * // ... engine.list("unhealthy"), engine.remove("web-1")
 * await engine.stop();
 * ```
 *
 * apps/v2 runs one per agent and adds or removes origins as ownership moves.
 */
export class CheckEngine extends EventEmitter<CheckEngineEvents> {
  /** The defaults raw targets are validated against. */
  readonly defaults: TargetDefaults;
  private readonly core: CheckerCore;
  private readonly now: () => number;
  private readonly probe: Probe;
  private readonly prober: HttpProber | undefined;

  private readonly abort = new AbortController();
  /** Promises of checks run by a custom probe or the TCP probe (HTTP checks end through prober.close()). */
  private readonly inFlight = new Set<Promise<void>>();
  /** Where the built-in HTTP prober reports: one object for all checks, no closure per check. */
  private readonly sink: ProbeSink<CheckRun> = { probeDone: (run, result) => this.finish(run, result) };
  private readonly onTimeout = (): void => this.onTimer();
  /** Latency and lag histograms of every check, for metrics and benchmarks. */
  readonly checkStats = new CheckStats();
  private timer: NodeJS.Timeout | undefined;
  private timerDueMs = Infinity;
  private running = false;
  private stopped = false;
  private checks = 0;
  private failures = 0;

  /** See {@link CheckEngineOptions}. Call {@link start} to begin checking. */
  constructor(opts: CheckEngineOptions = {}) {
    super();
    // Every check in flight listens to this one signal (to abort on stop);
    // thousands at once is expected, not a leak.
    setMaxListeners(0, this.abort.signal);
    this.defaults = opts.defaults ?? BUILTIN_DEFAULTS;
    const prng = opts.prng ?? createPrng(opts.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.core = new CheckerCore({
      prng: prng.fork("scheduler"),
      maxConcurrentChecks: opts.maxConcurrentChecks ?? ENGINE_DEFAULTS.maxConcurrentChecks,
      historySize: opts.historySize ?? ENGINE_DEFAULTS.historySize,
    });
    const origin = performance.timeOrigin;
    this.now = opts.now ?? (() => origin + performance.now());
    if (opts.probe) this.probe = opts.probe;
    else {
      const prober = new HttpProber(opts.http);
      this.prober = prober;
      // HTTP checks are aborted through prober.close() on stop, not a signal
      // per check (an event listener per check costs at 10,000 a second).
      this.probe = (spec, signal) => (spec.kind === "tcp" ? tcpCheck(spec, signal) : prober.check(spec));
    }
  }

  /** Starts checking (targets added before start wait for it). */
  start(): void {
    if (this.stopped) throw new Error("CheckEngine: cannot restart a stopped engine; create a new one");
    this.running = true;
    this.arm();
  }

  /**
   * Stops scheduling, aborts checks in flight and waits for them, then closes
   * every connection. Events stop before this resolves.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    const closing = this.prober?.close();
    await Promise.allSettled([...this.inFlight]);
    await closing;
  }

  /**
   * Adds a target from a raw object such as `{ id, url, intervalMs }`,
   * validated against `defaults` (errors as {@link TargetInputError}).
   * Throws {@link TargetExistsError} for a taken id. Returns the spec.
   */
  add(target: unknown, initial?: InitialHealth): TargetSpec {
    return this.addSpec(this.validate(target), initial);
  }

  /**
   * Adds an already validated spec (from `parseTarget` or `parseConfig`).
   * `initial` starts it from a known status instead of `unknown`, e.g. when
   * ownership of an origin moves to this engine from another node, and
   * `initial.firstCheckWithinMs` checks it first within that window instead
   * of within a whole interval (a RangeError naming the field if negative).
   */
  addSpec(spec: TargetSpec, initial?: InitialHealth): TargetSpec {
    if (!this.core.add(spec, this.now(), initial)) throw new TargetExistsError(spec.id);
    this.arm();
    return spec;
  }

  /** Replaces a target's settings from a raw object (validated as in {@link add}); undefined if the id is unknown. */
  update(target: unknown): TargetSpec | undefined {
    return this.updateSpec(this.validate(target));
  }

  /** Replaces a target's settings with a validated spec; undefined if the id is unknown. */
  updateSpec(spec: TargetSpec): TargetSpec | undefined {
    const old = this.core.spec(spec.id);
    if (old === undefined || !this.core.update(spec, this.now())) return undefined;
    if (old !== spec) this.prober?.release(old);
    this.arm();
    return spec;
  }

  /** Removes a target; its running check (if any) is discarded when it ends. */
  remove(id: string): boolean {
    const spec = this.core.spec(id);
    if (spec === undefined || !this.core.remove(id)) return false;
    this.prober?.release(spec);
    return true;
  }

  /** True when the target exists. */
  has(id: string): boolean {
    return this.core.has(id);
  }

  /** One target with its history, or undefined. */
  get(id: string): TargetSnapshot | undefined {
    return this.core.get(id);
  }

  /** All targets (optionally only one status), in insertion order. */
  list(status?: HealthStatus): TargetSnapshot[] {
    return this.core.list(status);
  }

  /**
   * Visits every target in insertion order with a reused, lightweight view
   * (no snapshot objects): what a scrape of 10,000 targets uses.
   */
  forEachTarget(visit: (view: TargetBrief) => void): void {
    this.core.forEachTarget(visit);
  }

  /** Counters and per-status counts. */
  stats(): EngineStats {
    return {
      targets: this.core.size,
      inFlight: this.core.inFlight,
      checks: this.checks,
      failures: this.failures,
      overruns: this.core.overruns,
      byStatus: this.core.counts(),
    };
  }

  /** The engine's clock (epoch-like ms), for callers that timestamp alongside it. */
  nowMs(): number {
    return this.now();
  }

  private validate(target: unknown): TargetSpec {
    const parsed = parseTarget(target, this.defaults);
    if (!parsed.ok) throw new TargetInputError(parsed.errors);
    return parsed.value;
  }

  /** Keeps exactly one timer, set to the core's next deadline. */
  private arm(): void {
    if (!this.running) return;
    const due = this.core.nextDeadlineMs();
    if (due === Infinity) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDueMs = Infinity;
      return;
    }
    if (this.timer && this.timerDueMs <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDueMs = due;
    this.timer = setTimeout(this.onTimeout, Math.max(0, due - this.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerDueMs = Infinity;
    if (!this.running) return;
    const now = this.now();
    let run: CheckRun | undefined;
    while ((run = this.core.nextDue(now)) !== undefined) this.launch(run);
    this.arm();
  }

  private launch(run: CheckRun): void {
    const spec = run.payload.spec;
    // The built-in HTTP prober reports to one long-lived sink (no promise or
    // closure per check); any other probe is awaited. stop() ends HTTP checks
    // through prober.close().
    if (this.prober !== undefined && spec.kind === "http") {
      this.prober.start(spec, run, this.sink);
      return;
    }
    const p: Promise<void> = this.probe(spec, this.abort.signal)
      .catch((err: unknown): CheckResult => ({ ok: false, latencyMs: 0, error: { kind: "network", message: `probe failed: ${(err as Error).message}` } }))
      .then((result) => {
        this.inFlight.delete(p);
        this.finish(run, result);
      });
    this.inFlight.add(p);
  }

  private finish(run: CheckRun, result: CheckResult): void {
    if (this.stopped) return;
    const now = this.now();
    // Read before recording: recording schedules the next run in the same record.
    const dueMs = run.runDueMs;
    const startedMs = run.runStartedMs;
    const transition = this.core.recordRun(run, result, now);
    if (transition !== false) {
      this.checks++;
      if (!result.ok) this.failures++;
      this.checkStats.record(result, startedMs - dueMs);
      if (transition !== undefined) this.emit("transition", { type: "transition", url: run.payload.spec.url, transition });
      // Only build the event when someone listens: the CLI and the API need
      // none per check (metrics read checkStats), apps/v2 does.
      if (this.listenerCount("result") > 0) {
        this.emit("result", {
          type: "result",
          id: run.id,
          url: run.payload.spec.url,
          result,
          status: this.core.runStatus(run),
          dueMs,
          startedMs,
          finishedMs: now,
          lagMs: startedMs - dueMs,
        });
      }
    }
    this.arm();
  }
}
