/**
 * Rungs 4 and 5 are the stage's own design, not a copy of it: this adapter
 * shows a {@link SwimNode} (with Lifeguard switched off for rung 4, as
 * `withoutLifeguard` does, or on for rung 5) through the ladder's
 * {@link Detector} shape. Its membership events become verdicts: `suspect`,
 * `dead`, and `alive` for a refutation or a return.
 */
import type { Address, Channel } from "@heck/sim";
import type { SwimMessage } from "../core/messages.ts";
import type { SwimNode } from "../core/node.ts";
import type { Detector, DetectorReady, Verdict } from "./detector.ts";

/** A SwimNode seen as a ladder rung. */
export class SwimDetector implements Detector<SwimMessage> {
  private batch: DetectorReady<SwimMessage> | undefined;
  /** The node's own Ready was taken for the current batch and waits for advance(). */
  private taken = false;

  constructor(readonly node: SwimNode) {}

  get id(): string {
    return this.node.id;
  }

  tick(nowMs: number): void {
    this.node.tick(nowMs);
  }

  receive(from: Address, message: SwimMessage, channel: Channel, nowMs: number): void {
    this.node.receive(from, message, channel, nowMs);
  }

  /** A stream message (a TCP ping or push-pull) could not be delivered. */
  streamFailed(to: Address, message: SwimMessage, nowMs: number): void {
    this.node.streamFailed(to, message, nowMs);
  }

  nextDeadlineMs(): number {
    return this.node.nextDeadlineMs();
  }

  ready(): DetectorReady<SwimMessage> {
    if (this.batch === undefined) {
      const verdicts: Verdict[] = [];
      let messages: DetectorReady<SwimMessage>["messages"] = [];
      // The node's incarnation records are not needed here: a detector persists nothing.
      this.taken = this.node.hasReady();
      if (this.taken) {
        const rd = this.node.ready();
        for (const e of rd.events) {
          const state = e.type === "suspect" ? "suspect" : e.type === "dead" ? "dead" : e.type === "alive" || e.type === "join" ? "alive" : undefined;
          if (state !== undefined && e.member.name !== this.node.id) verdicts.push({ subject: e.member.name, state, atMs: e.atMs });
        }
        // The node's former outbox, handed over whole: the ladder only reads it.
        messages = rd.messages as DetectorReady<SwimMessage>["messages"];
      }
      this.batch = { messages, verdicts };
    }
    return this.batch;
  }

  advance(): void {
    if (this.taken) this.node.advance();
    this.taken = false;
    this.batch = undefined;
  }
}
