/**
 * A replica of any lattice as a simulation process, for the transmission
 * experiment: every `periodMs` it performs one update (for the first
 * `updates` periods) and then synchronises with every neighbour using the
 * chosen algorithm (src/core/sync/delta-sync.ts). It counts the bytes of
 * every delta or state it sends (JSON of the lattice's canonical encoding),
 * which is what Enes et al. measure as transmission.
 */
import { NONE, type Channel, type Outbound, type SimProcess, type SimReady } from "@heck/sim";
import type { Lattice } from "../src/core/crdt/lattice.ts";
import { DeltaSync, LatticeReplica, type SyncAlgorithm } from "../src/core/sync/delta-sync.ts";

/** Messages between lattice replicas (objects: the simulation passes them without a codec). */
export type LatticeMessage<S> = { type: "delta"; seq: number; delta: S } | { type: "ack"; seq: number };

/** Produces the delta of one update at `node` in period `round` (1-based). */
export type Workload<S> = (node: string, round: number, state: S) => S;

/** One replica (it persists nothing: the experiment measures transmission). */
export class LatticeNode<S> implements SimProcess<LatticeMessage<S>> {
  readonly replica: LatticeReplica<S>;
  readonly sync: DeltaSync<S>;
  /** Bytes of deltas and states sent. */
  payloadBytes = 0;
  /** Acknowledgements sent (each a small fixed-size message). */
  acksSent = 0;
  private outbox: Array<Outbound<LatticeMessage<S>>> = [];
  private round = 0;
  private next: number;

  constructor(
    readonly id: string,
    private readonly neighbors: readonly string[],
    lattice: Lattice<S>,
    algorithm: SyncAlgorithm,
    private readonly workload: Workload<S>,
    private readonly updates: number,
    private readonly periodMs: number,
    size: (s: S) => number,
  ) {
    this.replica = new LatticeReplica(lattice, size);
    this.sync = new DeltaSync(this.replica, { algorithm, maxIntervalBytes: Infinity, maxLogEntries: 1 << 20 });
    this.next = periodMs;
  }

  tick(nowMs: number): void {
    if (nowMs < this.next) return;
    this.next = nowMs + this.periodMs;
    this.round++;
    if (this.round <= this.updates) this.sync.local(this.workload(this.id, this.round, this.replica.state));
    for (const peer of this.neighbors) {
      const plan = this.sync.plan(peer);
      if (plan.kind === "nothing") continue;
      const send = plan.kind === "send" ? plan : { ...this.sync.fullState(), seq: this.sync.seq };
      this.payloadBytes += send.bytes;
      this.outbox.push({ to: peer, message: { type: "delta", seq: send.seq, delta: send.delta } });
    }
    this.sync.collect(this.neighbors);
  }

  receive(from: string, m: LatticeMessage<S>, _channel: Channel): void {
    if (m.type === "ack") {
      this.sync.ack(from, m.seq);
      return;
    }
    this.sync.receive(from, m.delta);
    if (this.sync.options.algorithm !== "state") {
      this.acksSent++;
      this.outbox.push({ to: from, message: { type: "ack", seq: m.seq } });
    }
  }

  hasReady(): boolean {
    return this.outbox.length > 0;
  }

  ready(): SimReady<LatticeMessage<S>> {
    const messages = this.outbox;
    this.outbox = [];
    return { snapshot: null, records: NONE, mustSync: false, messages };
  }

  advance(): void {}

  nextDeadlineMs(): number {
    return this.next;
  }
}
