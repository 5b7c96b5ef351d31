import { EventEmitter, setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import { createPrng, type Prng } from "@heck/sim";
import { CheckerCore, type CheckTask, type InitialHealth, type ResultEvent, type TargetSnapshot, type TransitionEvent } from "../core/checker.ts";
import { ENGINE_DEFAULTS } from "../core/config.ts";
import { BUILTIN_DEFAULTS, parseTarget, type TargetDefaults } from "../core/target.ts";
import type { CheckResult, HealthStatus, TargetSpec } from "../core/types.ts";
import { HttpProber, type HttpProberOptions } from "./http-probe.ts";
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
  private readonly customProbe: Probe | undefined;
  private readonly prober: HttpProber | undefined;

  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
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
    this.customProbe = opts.probe;
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
   * ownership of an origin moves to this engine from another node.
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
    if (!this.core.update(spec, this.now())) return undefined;
    this.arm();
    return spec;
  }

  /** Removes a target; its running check (if any) is discarded when it ends. */
  remove(id: string): boolean {
    return this.core.remove(id);
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
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, due - this.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerDueMs = Infinity;
    if (!this.running) return;
    const tasks = this.core.tick(this.now());
    for (const task of tasks) this.launch(task);
    this.arm();
  }

  private launch(task: CheckTask): void {
    // The built-in HTTP prober takes a callback (no promise per check); any
    // other probe is awaited. stop() ends callback checks through prober.close().
    if (this.prober && task.spec.kind === "http" && this.customProbe === undefined) {
      this.prober.run(task.spec, (result) => this.finish(task, result));
      return;
    }
    const p: Promise<void> = this.probe(task.spec, this.abort.signal)
      .catch((err: unknown): CheckResult => ({ ok: false, latencyMs: 0, error: { kind: "network", message: `probe failed: ${(err as Error).message}` } }))
      .then((result) => {
        this.inFlight.delete(p);
        this.finish(task, result);
      });
    this.inFlight.add(p);
  }

  private finish(task: CheckTask, result: CheckResult): void {
    if (this.stopped) return;
    const events = this.core.recordResult(task, result, this.now());
    for (const e of events) {
      if (e.type === "result") {
        this.checks++;
        if (!e.result.ok) this.failures++;
        this.emit("result", e);
      } else this.emit("transition", e);
    }
    this.arm();
  }
}
