/**
 * The one shape every rung of the failure-detection ladder takes, from
 * all-to-all heartbeats up to SWIM with Lifeguard: a pure state machine with
 * the same verbs as every core in Heck. Inputs are `tick(nowMs)` at
 * `nextDeadlineMs()` and `receive(from, message, channel, nowMs)`; output is
 * one `ready()` batch (the messages to send, then what this member now
 * believes about others), acknowledged with `advance()`. A failure detector
 * persists nothing, so the batch has no records.
 *
 * Because every rung has this shape, one harness (`ladder.ts`) runs them all
 * on the same seeded network with the same crash, loss and slow member, and
 * a step-by-step viewer can drive any of them one event at a time.
 */
import type { Address, Channel, Outbound } from "@heck/sim";

/** What a member concluded about another: the three states every rung can report. */
export type VerdictState = "alive" | "suspect" | "dead";

/** One change of mind: `observer` (this member) now holds `subject` in `state`. */
export interface Verdict {
  subject: string;
  state: VerdictState;
  atMs: number;
}

/** One batch of output, in the order the caller must act on it: send, then notify. */
export interface DetectorReady<M> {
  /** Messages to send, in order. */
  messages: Outbound<M>[];
  /** What this member changed its mind about since the last batch, in order. */
  verdicts: Verdict[];
}

/** A failure detector as the ladder drives it. */
export interface Detector<M> {
  readonly id: string;
  tick(nowMs: number): void;
  receive(from: Address, message: M, channel: Channel, nowMs: number): void;
  /** The earliest time `tick` must run; Infinity when idle. */
  nextDeadlineMs(): number;
  /** The output produced since the last `advance()`; calling it twice returns the same batch. */
  ready(): DetectorReady<M>;
  /** The caller has acted on the last `ready()` batch: forget it. */
  advance(): void;
  /** A stream message to `to` could not be delivered (only rungs that use streams). */
  streamFailed?(to: Address, message: M, nowMs: number): void;
}

/** A batch buffer rungs share: collect output, hand it out in `ready()`, drop it in `advance()`. */
export class ReadyBuffer<M> {
  // One batch object, refilled: ready() runs after every input, so it must not allocate.
  private readonly batch: DetectorReady<M> = { messages: [], verdicts: [] };

  send(to: Address, message: M): void {
    this.batch.messages.push({ to, message });
  }

  verdict(subject: string, state: VerdictState, atMs: number): void {
    this.batch.verdicts.push({ subject, state, atMs });
  }

  ready(): DetectorReady<M> {
    return this.batch;
  }

  /** Starts a new batch; the arrays handed out by ready() are never changed afterwards. */
  advance(): void {
    if (this.batch.messages.length > 0) this.batch.messages = [];
    if (this.batch.verdicts.length > 0) this.batch.verdicts = [];
  }
}

/** Bytes of a member name on the wire (one length byte, then UTF-8; names here are ASCII). */
export function nameBytes(name: string): number {
  return 1 + name.length;
}
