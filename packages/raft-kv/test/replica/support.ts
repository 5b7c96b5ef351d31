/**
 * A few replicas wired by hand for the replica tests: each is a
 * `ReplicaNode` (the Ready contract the simulations drive), whose Readies are
 * carried out in order (persist, send, advance) with the records dropped,
 * since these tests never restart a member; envelopes wait in one queue
 * until `settle()` delivers them, and time moves only when a test says so.
 */
import { createPrng } from "@heck/sim";
import { DEFAULT_KV_STORE_CONFIG, utf8, type WriteOp } from "../../src/core/kv/index.ts";
import { ReplicaNode, type Envelope, type ProposalOutcome, type Replica, type ReplicaTiming } from "../../src/core/replica/index.ts";
import type { RaftConfig } from "../../src/core/raft/types.ts";

/** One member: the node the cluster drives, and its replica. */
export interface Member {
  node: ReplicaNode;
  replica: Replica;
}

/** Timing of the test replicas: 10 ms ticks, 1 s request timeout, reads asked again after 100 ms. */
export const TEST_TIMING: ReplicaTiming = { tickMs: 10, requestTimeoutMs: 1_000, readRetryMs: 100, commitBroadcastDelayMs: -1 };

/** A cluster of founders exchanging envelopes through one queue. */
export class ReplicaCluster {
  readonly members = new Map<string, Member>();
  readonly queue: Array<{ from: string; to: string; envelope: Envelope }> = [];
  /** Envelopes for which this returns true are dropped (a partition). */
  drop: (from: string, to: string, envelope: Envelope) => boolean = () => false;
  nowMs = 0;
  /** Members stopped like SIGSTOP: not ticked, and envelopes to them wait in `held` until `resume`. */
  readonly paused = new Set<string>();
  private held: Array<{ from: string; to: string; envelope: Envelope }> = [];

  constructor(ids: string[], timing: Partial<ReplicaTiming> = {}, raft: Partial<Omit<RaftConfig, "id" | "prng">> = {}) {
    for (const id of ids) {
      const node = new ReplicaNode({
        raft: { id, prng: createPrng(1).fork(id), electionTick: 10, heartbeatTick: 1, ...raft },
        start: { bootstrap: ids },
        kvConfig: DEFAULT_KV_STORE_CONFIG,
        incarnation: "t",
        timing: { ...TEST_TIMING, ...timing },
        snapshotEntries: 0,
        nowMs: 0,
      });
      this.members.set(id, { node, replica: node.replica });
    }
    this.settle();
  }

  /** Adds a member that starts empty and waits to be added through a conf change. */
  addJoiner(id: string): void {
    const node = new ReplicaNode({
      raft: { id, prng: createPrng(1).fork(id), electionTick: 10, heartbeatTick: 1 },
      start: { join: true },
      kvConfig: DEFAULT_KV_STORE_CONFIG,
      incarnation: "t",
      timing: TEST_TIMING,
      snapshotEntries: 0,
      nowMs: this.nowMs,
    });
    this.members.set(id, { node, replica: node.replica });
  }

  /** The replica of `id`. */
  node(id: string): Replica {
    return this.members.get(id)!.replica;
  }

  private post(from: string, to: string, envelope: Envelope): void {
    if (!this.drop(from, to, envelope)) this.queue.push({ from, to, envelope });
  }

  /** Stops `id` (SIGSTOP): it runs nothing and receives nothing until `resume`. */
  pause(id: string): void {
    this.paused.add(id);
  }

  /** Resumes `id` (SIGCONT): what was sent to it meanwhile is queued, not yet delivered (the next `settle` does). */
  resume(id: string): void {
    this.paused.delete(id);
    this.queue.push(...this.held.filter((h) => h.to === id));
    this.held = this.held.filter((h) => h.to !== id);
  }

  /** Runs every member's Ready loop and delivers envelopes until none are left. */
  settle(): void {
    for (let step = 0; step < 100_000; step++) {
      for (const [id, m] of this.members) if (!this.paused.has(id)) this.drain(id, m.node);
      const next = this.queue.shift();
      if (next === undefined) return;
      if (this.paused.has(next.to)) this.held.push(next);
      else this.members.get(next.to)?.node.receive(next.from, next.envelope, "stream", this.nowMs);
    }
    throw new Error("ReplicaCluster.settle: message budget exhausted");
  }

  /** Carries out `node`'s Readies as a driver does: persist (nothing to keep here), send, advance. */
  private drain(id: string, node: ReplicaNode): void {
    while (node.hasReady()) {
      const rd = node.ready();
      for (const o of rd.messages) this.post(id, o.to, o.message);
      node.advance();
    }
  }

  /** Moves time forward `ms` in tick-sized steps, ticking every member and settling after each. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      this.nowMs = Math.min(end, this.nowMs + 10);
      for (const [id, m] of this.members) if (!this.paused.has(id)) m.node.tick(this.nowMs);
      this.settle();
    }
  }

  /** Elects `id` (a campaign, delivered). */
  elect(id: string): void {
    this.node(id).raft.campaign();
    this.settle();
  }

  /** Proposes a put on `id` and returns where its outcome will be recorded. */
  put(id: string, key: string, value: string): { outcome?: ProposalOutcome } {
    const box: { outcome?: ProposalOutcome } = {};
    const r = this.node(id);
    const op: WriteOp = { type: "put", key: utf8(key), value: utf8(value) };
    r.propose({ type: "write", requestId: r.nextRequestId(), op, timeMs: this.nowMs }, false, this.nowMs, (o) => (box.outcome = o));
    this.settle();
    return box;
  }

  /** The value of `key` as `id` has applied it. */
  value(id: string, key: string): string | undefined {
    const kv = this.node(id).kv.get(utf8(key));
    return kv === undefined ? undefined : new TextDecoder().decode(kv.value);
  }
}
