/**
 * The driver: runs a pure {@link SwimNode} on a real {@link Transport} and
 * {@link Clock}. It is the only place where bytes, sockets and time meet the
 * protocol, and it does four things:
 *
 * 1. turns the node's deadline into one timer, and calls `tick` when it fires;
 * 2. decrypts (keyring) and decodes every packet and stream frame, and hands
 *    valid messages to `receive`; anything malformed, oversized or sealed
 *    with an unknown key is dropped, counted and logged, never thrown;
 * 3. encodes, encrypts and sends the node's outbox: packets over UDP, stream
 *    messages over a TCP connection to that address (reusing an open one,
 *    dialing otherwise, telling the node when a dial fails);
 * 4. reports member events to subscribers.
 *
 * Everything the node does happens inside {@link SwimDriver.step}, one input
 * at a time, so the node needs no locks and sees time only move forward.
 */
import type { Address, Clock, Stream, TimerHandle, Transport } from "@heck/sim";
import { decodeMessage, encodeMessage, type DecodeErrorKind } from "../core/codec.ts";
import type { SwimMessage } from "../core/messages.ts";
import type { JoinRetryPolicy } from "../core/join-retry.ts";
import type { JoinProgress, SwimNode } from "../core/node.ts";
import type { MemberEvent } from "../core/types.ts";
import { ENCRYPTED_VERSION, type Keyring } from "@heck/sim/io";

/** A log sink: one line per call. */
export type LogFn = (level: "debug" | "info" | "warn" | "error", message: string) => void;

/** What the driver counted at the edge (the node counts the protocol side). */
export interface DriverCounters {
  packetsIn: number;
  packetBytesIn: number;
  packetsOut: number;
  packetBytesOut: number;
  framesIn: number;
  framesOut: number;
  /** Packets and frames that failed to decode, by reason. */
  decodeErrors: Partial<Record<DecodeErrorKind, number>>;
  /** Encrypted packets and frames no installed key opens (wrong key or tampering). */
  wrongKey: number;
  /** Plaintext packets received while encryption is on (rejected, as memberlist's GossipVerifyIncoming). */
  plaintextRejected: number;
  /** Encrypted packets received by a node without a keyring. */
  encryptedWithoutKeyring: number;
  dialFailures: number;
  sendErrors: number;
}

interface StreamEntry {
  stream: Stream;
  addr: Address;
  lastUsedMs: number;
  closed: boolean;
}

/** Options for {@link SwimDriver}. */
export interface DriverOptions {
  node: SwimNode;
  transport: Transport;
  clock: Clock;
  /** Encrypt and authenticate everything with these keys; omit for plaintext. */
  keyring?: Keyring;
  log?: LogFn;
}

/** Runs one node on real sockets. Create, then {@link start}. */
export class SwimDriver {
  readonly node: SwimNode;
  readonly keyring: Keyring | undefined;
  readonly counters: DriverCounters = {
    packetsIn: 0,
    packetBytesIn: 0,
    packetsOut: 0,
    packetBytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    decodeErrors: {},
    wrongKey: 0,
    plaintextRejected: 0,
    encryptedWithoutKeyring: 0,
    dialFailures: 0,
    sendErrors: 0,
  };
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly log: LogFn;
  private timer: TimerHandle | undefined;
  private timerDueMs = Infinity;
  private sweepTimer: TimerHandle | undefined;
  private readonly streams = new Set<StreamEntry>();
  private readonly streamByAddr = new Map<Address, StreamEntry>();
  private readonly dialing = new Map<Address, Array<{ bytes: Uint8Array; message: SwimMessage }>>();
  private readonly listeners = new Set<(event: MemberEvent) => void>();
  private readonly waiters = new Set<() => void>();
  private readonly lastWarnMs = new Map<string, number>();
  private stopped = false;
  private started = false;

  constructor(options: DriverOptions) {
    this.node = options.node;
    this.transport = options.transport;
    this.clock = options.clock;
    this.keyring = options.keyring;
    this.log = options.log ?? (() => {});
  }

  /** Starts listening and ticking. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.transport.onPacket((from, payload) => this.onPacket(from, payload));
    this.transport.onStream((stream) => this.adopt(stream, stream.remoteAddress));
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
        this.log("warn", `join: none of ${seeds.join(", ")} answered (attempt ${p.attempts}${of}); retrying in ${(inMs / 1000).toFixed(1)} s`);
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
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    for (const e of this.streams) e.stream.close();
    this.streams.clear();
    this.streamByAddr.clear();
    this.wake();
    await this.transport.close();
  }

  /** Open stream connections (for stats). */
  get openStreams(): number {
    return this.streams.size;
  }

  // ---- inputs ------------------------------------------------------------------

  private onPacket(from: Address, payload: Uint8Array): void {
    if (this.stopped) return;
    this.counters.packetsIn++;
    this.counters.packetBytesIn += payload.length;
    const message = this.unwrap(payload, this.node.config.maxPacketBytes, "packet", from);
    if (message === undefined) return;
    // The hot path (two packets a second in steady state): no closures, straight into the node.
    try {
      this.node.receive(from, message, "packet", this.clock.nowMs());
      this.flush();
    } catch (e) {
      this.internalError(e);
    }
  }

  private adopt(stream: Stream, addr: Address): StreamEntry {
    const entry: StreamEntry = { stream, addr, lastUsedMs: this.clock.nowMs(), closed: false };
    this.streams.add(entry);
    // The newest connection to a peer carries our next message to it; older ones still deliver.
    this.streamByAddr.set(addr, entry);
    stream.onFrame((frame) => this.onFrame(entry, frame));
    stream.onClose(() => {
      entry.closed = true;
      this.streams.delete(entry);
      if (this.streamByAddr.get(addr) === entry) this.streamByAddr.delete(addr);
    });
    this.scheduleSweep();
    return entry;
  }

  private onFrame(entry: StreamEntry, frame: Uint8Array): void {
    if (this.stopped) return;
    entry.lastUsedMs = this.clock.nowMs();
    this.counters.framesIn++;
    const message = this.unwrap(frame, this.transport.maxFrameBytes, "stream frame", entry.addr);
    if (message === undefined) {
      // A peer that sends garbage on a stream gets the stream closed; packets are just dropped.
      entry.stream.close();
      return;
    }
    this.safely(() => this.step((node, now) => node.receive(entry.addr, message, "stream", now)));
  }

  /** Decrypts and decodes; counts, logs and returns undefined for anything unusable. */
  private unwrap(payload: Uint8Array, maxBytes: number, kind: string, from: Address): SwimMessage | undefined {
    // The description is built only when something goes wrong.
    const what = (): string => `${kind} from ${from}`;
    if (payload.length > maxBytes) {
      // Checked before decrypting: an oversized packet costs us nothing but this comparison.
      this.counters.decodeErrors["too-large"] = (this.counters.decodeErrors["too-large"] ?? 0) + 1;
      this.warn("decode-too-large", `dropped a ${what()} of ${payload.length} bytes: the limit is ${maxBytes}`);
      return undefined;
    }
    let plain = payload;
    if (this.keyring !== undefined) {
      const opened = this.keyring.open(payload);
      if (!opened.ok) {
        if (opened.reason === "not-encrypted") {
          this.counters.plaintextRejected++;
          this.warn("plaintext", `dropped an unencrypted ${what()}: encryption is on`);
        } else {
          this.counters.wrongKey++;
          this.warn("wrong-key", `dropped a ${what()} that no installed key opens (${opened.reason})`);
        }
        return undefined;
      }
      plain = opened.plaintext;
    } else if (payload.length > 0 && payload[0] === ENCRYPTED_VERSION) {
      this.counters.encryptedWithoutKeyring++;
      this.warn("encrypted", `dropped an encrypted ${what()}: this node has no keyring (start it with --key)`);
      return undefined;
    }
    const decoded = decodeMessage(plain, maxBytes);
    if (!decoded.ok) {
      const errorKind = decoded.error.kind;
      this.counters.decodeErrors[errorKind] = (this.counters.decodeErrors[errorKind] ?? 0) + 1;
      this.warn(`decode-${errorKind}`, `dropped a malformed ${what()}: ${decoded.error.message}`);
      return undefined;
    }
    return decoded.message;
  }

  // ---- outputs -----------------------------------------------------------------

  private flush(): void {
    if (this.stopped) return;
    for (const out of this.node.takeOutbox()) {
      let bytes = encodeMessage(out.message);
      if (this.keyring !== undefined) bytes = this.keyring.seal(bytes);
      if ((out.channel ?? "packet") === "stream") this.sendStream(out.to, bytes, out.message);
      else {
        try {
          this.transport.sendPacket(out.to, bytes);
          this.counters.packetsOut++;
          this.counters.packetBytesOut += bytes.length;
        } catch (e) {
          this.counters.sendErrors++;
          this.warn("send", `could not send a packet to ${out.to}: ${(e as Error).message}`);
        }
      }
    }
    const events = this.node.takeMemberEvents();
    for (const event of events) for (const listener of this.listeners) this.safely(() => listener(event));
    this.reschedule();
    this.wake();
  }

  private sendStream(to: Address, bytes: Uint8Array, message: SwimMessage): void {
    const entry = this.streamByAddr.get(to);
    if (entry !== undefined && !entry.closed) {
      entry.lastUsedMs = this.clock.nowMs();
      this.counters.framesOut++;
      try {
        entry.stream.send(bytes);
      } catch (e) {
        this.counters.sendErrors++;
        this.warn("send", `could not send a frame to ${to}: ${(e as Error).message}`);
        this.safely(() => this.step((node, now) => node.streamFailed(to, message, now)));
      }
      return;
    }
    const queued = this.dialing.get(to);
    if (queued !== undefined) {
      queued.push({ bytes, message });
      return;
    }
    const pending = [{ bytes, message }];
    this.dialing.set(to, pending);
    this.transport.dial(to, this.node.config.streamTimeoutMs).then(
      (stream) => {
        this.dialing.delete(to);
        if (this.stopped) {
          stream.close();
          return;
        }
        const fresh = this.adopt(stream, to);
        for (const p of pending) {
          this.counters.framesOut++;
          fresh.stream.send(p.bytes);
        }
      },
      (err: Error) => {
        this.dialing.delete(to);
        if (this.stopped) return;
        this.counters.dialFailures++;
        this.warn(`dial-${to}`, `could not reach ${to}: ${err.message}`);
        for (const p of pending) this.safely(() => this.step((node, now) => node.streamFailed(to, p.message, now)));
      },
    );
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

  /** Closes streams idle for longer than the stream timeout; runs only while streams are open. */
  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined || this.stopped) return;
    const idleMs = this.node.config.streamTimeoutMs;
    this.sweepTimer = this.clock.setTimer(idleMs, () => {
      this.sweepTimer = undefined;
      const now = this.clock.nowMs();
      for (const e of [...this.streams]) if (now - e.lastUsedMs >= idleMs) e.stream.close();
      if (this.streams.size > 0) this.scheduleSweep();
    });
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

  /** A bug in a handler must not take the node down: log it and carry on. */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.internalError(e);
    }
  }

  private internalError(e: unknown): void {
    this.log("error", `internal error: ${(e as Error).stack ?? String(e)}`);
  }

  /** Logs a warning at most once per 10 s per kind (the counters keep the totals). */
  private warn(kind: string, message: string): void {
    const now = this.clock.nowMs();
    const last = this.lastWarnMs.get(kind);
    if (last !== undefined && now - last < 10_000) return;
    this.lastWarnMs.set(kind, now);
    this.log("warn", message);
  }
}
