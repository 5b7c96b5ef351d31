/**
 * The driver: runs a pure {@link SwimNode} on a real {@link Transport} and
 * {@link Clock}. It is the only place where bytes, sockets and time meet the
 * protocol, and it does four things:
 *
 * 1. turns the node's deadline into one timer, and calls `tick` when it fires;
 * 2. hands every message its endpoint decoded (heck's wire, heck-endpoint.ts,
 *    or memberlist's, memberlist-endpoint.ts) to `receive`; the endpoint
 *    drops, counts and logs anything malformed, oversized or sealed with an
 *    unknown key, never throwing;
 * 3. drains the node's Ready batches: gives their messages to the endpoint
 *    (packets over UDP, stream messages over TCP, telling the node when a
 *    dial fails), then
 * 4. reports their member events to subscribers.
 *
 * A Ready's records (the member's incarnation, each time it rises) are not
 * written anywhere: a real member keeps no disk, as with memberlist. A
 * restarted member starts at incarnation 0, hears its old incarnation from
 * the others and refutes above it (SWIM §4.2). The simulation keeps the
 * records to model a member that does persist it.
 *
 * Everything the node does happens inside {@link SwimDriver.step}, one input
 * at a time, so the node needs no locks and sees time only move forward.
 */
import type { Address, Channel, Clock, TimerHandle, Transport } from "@heck/sim";
import type { Keyring } from "@heck/sim/io";
import type { JoinRetryPolicy } from "../core/join-retry.ts";
import type { SwimMessage } from "../core/messages.ts";
import type { JoinProgress, SwimNode, SwimReady } from "../core/node.ts";
import type { MemberEvent } from "../core/types.ts";
import { newDriverCounters, type DriverCounters, type Endpoint, type EndpointSink, type KeyRotation } from "./endpoint.ts";
import { HeckEndpoint } from "./heck-endpoint.ts";

export type { DriverCounters, KeyRotation } from "./endpoint.ts";

/** A log sink: one line per call. */
export type LogFn = (level: "debug" | "info" | "warn" | "error", message: string) => void;

/** Options for {@link SwimDriver}. */
export interface DriverOptions {
  node: SwimNode;
  transport: Transport;
  clock: Clock;
  /** heck's wire: encrypt and authenticate everything with these keys; omit for plaintext. */
  keyring?: Keyring;
  /**
   * The wire, when not heck's own: a {@link MemberlistEndpoint} on a transport
   * with raw streams. It is given `counters` to fill in. Default: heck's wire
   * on `transport`, sealed with `keyring`.
   */
  endpoint?: (counters: DriverCounters) => Endpoint;
  log?: LogFn;
}

/** Runs one node on real sockets. Create, then {@link start}. */
export class SwimDriver implements EndpointSink {
  readonly node: SwimNode;
  readonly counters: DriverCounters = newDriverCounters();
  /** The wire this member speaks: bytes, encryption and streams. */
  readonly endpoint: Endpoint;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly log: LogFn;
  private timer: TimerHandle | undefined;
  private timerDueMs = Infinity;
  private readonly listeners = new Set<(event: MemberEvent) => void>();
  private readonly waiters = new Set<() => void>();
  private readonly lastWarnMs = new Map<string, number>();
  private stopped = false;
  private started = false;

  constructor(options: DriverOptions) {
    this.node = options.node;
    this.transport = options.transport;
    this.clock = options.clock;
    this.log = options.log ?? (() => {});
    this.endpoint =
      options.endpoint?.(this.counters) ??
      new HeckEndpoint({
        transport: options.transport,
        clock: options.clock,
        counters: this.counters,
        maxPacketBytes: options.node.config.maxPacketBytes,
        streamTimeoutMs: options.node.config.streamTimeoutMs,
        ...(options.keyring !== undefined ? { keyring: options.keyring } : {}),
      });
  }

  /** The keys, when encryption is on (install/use/remove for rotation). */
  get keyring(): KeyRotation | undefined {
    return this.endpoint.keyring;
  }

  /**
   * Why a join may have gone unanswered, for the log: a seed that accepted
   * our connection and never answered is listening but dropping what we send,
   * which with gossip encryption means the keys differ (a seed silently drops
   * what no installed key opens, as memberlist does). Empty when every seed
   * was simply unreachable.
   */
  joinHint(seeds: readonly Address[]): string {
    const silent = seeds.filter((s) => this.endpoint.connectedTo?.(s) === true);
    if (silent.length === 0) return "";
    const fix = this.keyring === undefined ? "the cluster may encrypt gossip: start this member with one of its keys" : "this member's keys may not be the cluster's (a member drops what none of its keys opens)";
    return `; ${silent.join(", ")} accepted a connection but never answered: ${fix}`;
  }

  /** Starts listening and ticking. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.endpoint.start(this);
    this.step(() => {});
  }

  /** Subscribes to member events; returns the unsubscribe function. */
  subscribe(listener: (event: MemberEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs `fn` against the node at the current time, then sends what it
   * produced and reschedules. Every input goes through here.
   */
  step<T>(fn: (node: SwimNode, nowMs: number) => T): T {
    const result = fn(this.node, this.clock.nowMs());
    this.flush();
    return result;
  }
  /**
   * Joins through `seeds`; resolves when every seed answered or failed. With
   * `retry`, failed attempts are repeated on its backoff (each logged) and the
   * promise resolves once a seed answered, or the attempts ran out.
   */
  join(seeds: readonly Address[], retry?: JoinRetryPolicy): Promise<JoinProgress> {
    const before = this.node.joinProgress();
    this.step((node, now) => node.join(seeds, now, retry));
    let reportedAttempts = 0;
    return this.waitFor(() => {
      const p = this.node.joinProgress();
      if (p.retry === "waiting" && p.attempts > reportedAttempts) {
        reportedAttempts = p.attempts;
        const of = retry !== undefined && retry.maxAttempts > 0 ? ` of ${retry.maxAttempts}` : "";
        const inMs = Math.max(0, p.nextAttemptMs - this.clock.nowMs());
        this.log("warn", `join: none of ${seeds.join(", ")} answered (attempt ${p.attempts}${of}); retrying in ${(inMs / 1000).toFixed(1)} s${this.joinHint(seeds)}`);
      }
      return p.pending === 0 && p.retry !== "trying" && p.retry !== "waiting";
    }).then(() => {
      const after = this.node.joinProgress();
      return { ...after, pending: 0, succeeded: after.succeeded.slice(before.succeeded.length), failed: after.failed.slice(before.failed.length) };
    });
  }

  /** Leaves gracefully: resolves once the goodbye has been gossiped its full count, or after `timeoutMs`. */
  async leave(timeoutMs: number): Promise<boolean> {
    this.step((node, now) => node.leave(now));
    let timedOut = false;
    const timer = this.clock.setTimer(timeoutMs, () => {
      timedOut = true;
      this.wake();
    });
    await this.waitFor(() => timedOut || this.node.leaveComplete());
    this.clock.clearTimer(timer);
    return this.node.leaveComplete();
  }

  /** Stops timers, closes every stream and the transport. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.endpoint.stop();
    this.wake();
    await this.transport.close();
  }

  /** Open stream connections (for stats). */
  get openStreams(): number {
    return this.endpoint.openStreams;
  }

  // ---- the endpoint's side (EndpointSink) ----------------------------------------

  /** A decoded message: into the node, then out with what it produced. No closures: this is the hot path. */
  receive(from: Address, message: SwimMessage, channel: Channel): void {
    if (this.stopped) return;
    try {
      this.node.receive(from, message, channel, this.clock.nowMs());
      this.flush();
    } catch (e) {
      this.internalError(e);
    }
  }

  streamFailed(to: Address, message: SwimMessage): void {
    if (this.stopped) return;
    this.safely(() => this.step((node, now) => node.streamFailed(to, message, now)));
  }

  // ---- outputs -----------------------------------------------------------------

  /**
   * Drains every Ready: send, then notify, then advance. A step taken while
   * a batch is being sent (a failed stream send tells the node at once)
   * finds it outstanding and leaves its own output to the next turn of
   * this loop.
   */
  private flush(): void {
    if (this.stopped) return;
    while (this.node.hasReady()) {
      const rd = this.node.ready();
      this.sendAll(rd.messages);
      for (const event of rd.events) for (const listener of this.listeners) this.safely(() => listener(event));
      this.node.advance();
      if (this.stopped) return;
    }
    this.reschedule();
    this.wake();
  }

  private sendAll(messages: SwimReady["messages"]): void {
    for (const out of messages) {
      if ((out.channel ?? "packet") === "stream") this.endpoint.sendStream(out.to, out.message);
      else this.endpoint.sendPacket(out.to, out.message);
    }
  }

  // ---- time --------------------------------------------------------------------

  /**
   * Keeps one timer armed for the node's next deadline. A deadline that moves
   * *later* (an ack cancels the indirect-probe check) keeps the armed timer:
   * it fires early, finds nothing due and re-arms. Clearing and re-creating
   * timers on every packet would cost more, since Node still wakes up for a
   * cleared timer's slot; this keeps an idle member at about three wake-ups
   * per protocol period.
   */
  private reschedule(): void {
    if (this.stopped) return;
    const due = this.node.nextDeadlineMs();
    if (this.timer !== undefined) {
      if (due >= this.timerDueMs) return;
      this.clock.clearTimer(this.timer);
      this.timer = undefined;
    }
    this.timerDueMs = due;
    if (due === Infinity) return;
    this.timer = this.clock.setTimer(Math.max(0, due - this.clock.nowMs()), this.onTimer);
  }

  /** The one timer's callback (a bound field, not a closure per arming). */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerDueMs = Infinity;
    if (this.stopped) return;
    // Only tick once the deadline is due: it may have moved later, or the timer fired a hair early.
    const now = this.clock.nowMs();
    if (now < this.node.nextDeadlineMs()) {
      this.reschedule();
      return;
    }
    try {
      this.node.tick(now);
      this.flush();
    } catch (e) {
      this.internalError(e);
    }
  }

  // ---- helpers -----------------------------------------------------------------

  /** Resolves when `done()` holds; re-checked after every step. */
  private waitFor(done: () => boolean): Promise<void> {
    if (done() || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (done() || this.stopped) {
          this.waiters.delete(check);
          resolve();
        }
      };
      this.waiters.add(check);
    });
  }

  private wake(): void {
    if (this.waiters.size === 0) return;
    for (const w of [...this.waiters]) w();
  }

  /** Runs `fn`, logging instead of throwing. */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.internalError(e);
    }
  }

  /** A bug in a handler must not take the node down: log it and carry on. */
  internalError(e: unknown): void {
    this.log("error", `internal error: ${(e as Error).stack ?? String(e)}`);
  }

  /** Logs a warning at most once per 10 s per kind (the counters keep the totals). */
  warn(kind: string, message: string): void {
    const now = this.clock.nowMs();
    const last = this.lastWarnMs.get(kind);
    if (last !== undefined && now - last < 10_000) return;
    this.lastWarnMs.set(kind, now);
    this.log("warn", message);
  }
}
