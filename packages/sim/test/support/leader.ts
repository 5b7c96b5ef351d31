/**
 * A deliberately naive leader election for tests of the runner: every node
 * heartbeats every 10 ms, and a node thinks it leads when it has heard no
 * heartbeat from a lower id for 50 ms. It is correct on a perfect network and
 * wrong under partitions (two leaders), which makes it a good target for
 * fault schedules and shrinking.
 */
import { NONE } from "../../src/core/ready.ts";
import type { NodeId, Outbound, SimProcess, SimReady } from "../../src/core/types.ts";

export interface Heartbeat {
  type: "heartbeat";
  from: NodeId;
}

export class NaiveLeaderNode implements SimProcess<Heartbeat> {
  private lastHeardFromLower = -Infinity;
  private nextBeat: number;
  private outbox: Outbound<Heartbeat>[] = [];
  private now: number;

  constructor(
    readonly id: NodeId,
    private readonly peers: readonly NodeId[],
    nowMs: number,
  ) {
    this.now = nowMs;
    this.nextBeat = nowMs;
    // A fresh node assumes a lower node may exist until it has waited a full timeout.
    this.lastHeardFromLower = nowMs;
  }

  isLeader(): boolean {
    return this.peers.every((p) => p >= this.id) || this.now - this.lastHeardFromLower > 50;
  }

  tick(nowMs: number): void {
    this.now = nowMs;
    if (nowMs >= this.nextBeat) {
      for (const p of this.peers) if (p !== this.id) this.outbox.push({ to: p, message: { type: "heartbeat", from: this.id } });
      this.nextBeat = nowMs + 10;
    }
  }

  receive(from: NodeId, _message: Heartbeat, _channel: unknown, nowMs: number): void {
    this.now = nowMs;
    if (from < this.id) this.lastHeardFromLower = nowMs;
  }

  hasReady(): boolean {
    return this.outbox.length > 0;
  }

  ready(): SimReady<Heartbeat> {
    const messages = this.outbox;
    this.outbox = [];
    return { snapshot: null, records: NONE, mustSync: false, messages };
  }

  advance(): void {}

  nextDeadlineMs(): number {
    return this.nextBeat;
  }
}
