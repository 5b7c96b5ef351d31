/**
 * Read-only queries on the leader (dissertation §6.4), in the spirit of
 * etcd-io/raft's `read_only.go`: a linearizable read needs the commit index
 * at the time it arrived, and proof that this server was still the leader
 * then.
 *
 * 1. Until the leader has committed an entry of its own term it does not
 *    know the latest commit index: reads wait (§6.4 step 1).
 * 2. The read index is the commit index when the read arrived.
 * 3. One heartbeat round confirms leadership for every read batched since
 *    the last round: once a quorum answered the round, each read may be
 *    served when the state machine reaches its index (§6.4 steps 3-4).
 *
 * With leases (§6.4.1) step 3 is skipped while a quorum answered heartbeats
 * sent less than an election timeout ago: those followers refuse to vote
 * for anyone else meanwhile (§4.2.3), so no other leader can exist.
 */
import type { NodeId } from "./types.ts";
import type { Progress } from "./progress.ts";
import { quorumSize } from "./progress.ts";

/** One client read waiting for its read index: local (from === the leader) or forwarded by a follower. */
export interface ReadRequest {
  readonly from: NodeId;
  readonly ctx: string;
}

/** A read whose index is confirmed: answer it. */
export interface ConfirmedRead {
  readonly request: ReadRequest;
  readonly index: number;
}

/** One heartbeat round confirming leadership for a batch of reads (§6.4 step 3). */
interface ReadRound {
  readonly key: string;
  readonly index: number;
  /** The leader tick the round's heartbeats were sent at (extends the lease when acknowledged). */
  readonly sentTick: number;
  readonly requests: ReadRequest[];
  readonly acks: Set<NodeId>;
}

/** The reads a leader holds, by stage. Everything is dropped when it stops leading (clients retry elsewhere). */
export class ReadOnly {
  /** Reads that arrived before this leader committed an entry of its term (step 1). */
  private awaitingCommit: ReadRequest[] = [];
  /** Reads since the last round (step 3 batches them). */
  private batch: ReadRequest[] = [];
  private rounds: ReadRound[] = [];
  private seq = 0;

  /** Drops every read (a new term or role). */
  reset(): void {
    this.awaitingCommit = [];
    this.batch = [];
    this.rounds = [];
  }

  /** Step 1: holds a read until an entry of the leader's term is committed. */
  awaitCommit(req: ReadRequest): void {
    this.awaitingCommit.push(req);
  }

  /** The reads held by step 1, now that an entry of the term is committed. */
  takeAwaitingCommit(): ReadRequest[] {
    const waiting = this.awaitingCommit;
    this.awaitingCommit = [];
    return waiting;
  }

  /** Whether any read waits for step 1. */
  get awaiting(): boolean {
    return this.awaitingCommit.length > 0;
  }

  /** Adds a read to the next round. */
  add(req: ReadRequest): void {
    this.batch.push(req);
  }

  /** Whether reads wait for a round. */
  get batched(): boolean {
    return this.batch.length > 0;
  }

  /** Starts a round for the batched reads at read index `index`; returns the key its heartbeats carry. */
  startRound(term: number, index: number, sentTick: number, self: NodeId): string {
    const key = `${term}.${++this.seq}`;
    this.rounds.push({ key, index, sentTick, requests: this.batch, acks: new Set([self]) });
    this.batch = [];
    return key;
  }

  /**
   * A heartbeat answer carrying round `key` came from `from`: extends the
   * follower's lease, and returns the reads a quorum of `voters` has now
   * confirmed. Heartbeats are answered in order, so a confirmed round also
   * confirms every earlier one.
   */
  ack(key: string, from: NodeId, pr: Progress, voters: ReadonlySet<NodeId>): ConfirmedRead[] {
    const i = this.rounds.findIndex((r) => r.key === key);
    if (i < 0) return [];
    const round = this.rounds[i]!;
    if (round.sentTick > pr.leaseAckTick) pr.leaseAckTick = round.sentTick;
    if (voters.has(from)) round.acks.add(from);
    let acks = 0;
    for (const a of round.acks) if (voters.has(a)) acks++;
    if (acks < quorumSize(voters.size)) return [];
    const confirmed: ConfirmedRead[] = [];
    for (const r of this.rounds.splice(0, i + 1)) for (const request of r.requests) confirmed.push({ request, index: r.index });
    return confirmed;
  }
}

/**
 * The lease (§6.4.1): a quorum of `voters` answered heartbeats that were sent
 * less than electionTimeout - 1 leader ticks ago. Assumes clocks tick at the
 * same rate (the one-tick margin absorbs tick phase); void after the leader
 * sent TimeoutNow (`revoked`), since a transfer election ignores leases.
 */
export function leaseValid(self: NodeId, voters: ReadonlySet<NodeId>, progress: ReadonlyMap<NodeId, Progress>, leaderTicks: number, electionTimeout: number, revoked: boolean): boolean {
  if (revoked) return false;
  let fresh = 0;
  for (const v of voters) {
    if (v === self) fresh++;
    else if (leaderTicks - (progress.get(v)?.leaseAckTick ?? -Infinity) < electionTimeout - 1) fresh++;
  }
  return fresh >= quorumSize(voters.size);
}
