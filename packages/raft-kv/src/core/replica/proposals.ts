/**
 * Client commands on their way into the log, and their answers on the way
 * back: the request waiters and follower forwarding of a replica.
 *
 * The Raft core takes proposals on the leader only (as etcd with
 * DisableProposalForwarding), so a follower forwards a client's command to
 * the leader it knows in a `forward` envelope, and the leader answers with
 * where the entry landed (`forwardReply`). Either way the client's waiter is
 * resolved when *this* node applies an entry carrying the command's request
 * id: an answer always comes after its entry was committed and applied here,
 * so a client reads its own write from the node it wrote to.
 *
 * A proposal whose log position is taken by another entry was overwritten by
 * a new leader and can never commit (§5.3): it fails at once with
 * `proposal_dropped`, which is safe to retry. A proposal made while no leader
 * is known waits for one; a command with a client session (§6.3) may be sent
 * again after a leader change, since the state machine applies it once.
 */
import type { ProposalPosition, RaftResult } from "../raft/index.ts";
import type { ApplyResult } from "../kv/index.ts";
import type { Envelope } from "./envelope.ts";
import { ServerError, raftErrorToServer } from "./errors.ts";

/** How a proposal ended: applied here with the state machine's result, or failed. */
export type ProposalOutcome = { ok: true; result: ApplyResult } | { ok: false; error: ServerError };

/** A membership change's outcome: undefined once applied, else why it failed. */
export type ConfChangeOutcome = ServerError | undefined;

/** What the waiters need from the replica around them. */
export interface ProposalsHost {
  /** This node's id (the `from` of forwarded proposals). */
  readonly id: string;
  /** The leader this node follows per its last Ready (itself when leading), or null. */
  leader(): string | null;
  /** Appends to the local Raft log (leader only). */
  propose(data: Uint8Array): RaftResult<ProposalPosition>;
  /** Sends an envelope to a peer at once (forwarding promises nothing about this node's disk). */
  send(to: string, envelope: Envelope): void;
  /** The state machine's applied index. */
  appliedIndex(): number;
  /** Opt-in latency tracing: a proposal entered the log at `index`. */
  trace?(stage: string, index: number): void;
}

/** Timing of the waiters. */
export interface ProposalsTiming {
  /** A proposal not applied after this long fails with "timeout" (its outcome is unknown). Infinity: never. */
  requestTimeoutMs: number;
  /** A proposal the leader refused without appending is sent again after this long. */
  forwardRetryMs: number;
  /**
   * Fail a proposal at once when no leader is known, the leader refuses it or
   * its forward is lost, instead of holding it for the next leader. The
   * server holds (its clients get one answer or a timeout); a simulated
   * client that moves on may prefer to hear at once.
   */
  failFast?: boolean;
}

interface Waiter {
  readonly requestId: string;
  readonly data: Uint8Array;
  /** Retried proposals may be re-sent only when the command carries a session (applies once). */
  readonly idempotent: boolean;
  readonly deadlineMs: number;
  /** Handed to the local core or to the leader, and not refused since. */
  sent: boolean;
  /** Where the proposal landed, once known (to detect a proposal overwritten by a new leader). */
  position: ProposalPosition | undefined;
  /** When to send it again after a refusal; Infinity when no resend is due. */
  retryAtMs: number;
  readonly done: (outcome: ProposalOutcome) => void;
}

interface ConfWaiter {
  readonly index: number;
  readonly term: number;
  readonly deadlineMs: number;
  readonly description: string;
  readonly done: (outcome: ConfChangeOutcome) => void;
}

/** The request waiters of one replica, with forwarding to the leader. */
export class Proposals {
  /** In arrival order, which is deadline order (every waiter gets the same timeout). */
  private readonly waiters = new Map<string, Waiter>();
  /** requestId by log index, for proposals whose position we know. */
  private readonly positions = new Map<number, string>();
  private readonly confWaiters: ConfWaiter[] = [];
  /** Leader: log indexes of proposals forwarded by followers, not yet applied (someone waits on a follower for them). */
  private readonly forwardedIndexes = new Set<number>();
  /** Waiters with a resend due (refused by a leader), so the deadline scan is short. */
  private readonly retrying = new Set<Waiter>();

  constructor(
    private readonly host: ProposalsHost,
    private readonly timing: ProposalsTiming,
  ) {}

  /** Number of proposals waiting for their entry to be applied. */
  get pending(): number {
    return this.waiters.size;
  }

  /** Registers a command under its request id and sends it: proposed here when leading, else forwarded. */
  add(requestId: string, data: Uint8Array, idempotent: boolean, nowMs: number, done: (outcome: ProposalOutcome) => void): void {
    const w: Waiter = { requestId, data, idempotent, deadlineMs: nowMs + this.timing.requestTimeoutMs, sent: false, position: undefined, retryAtMs: Infinity, done };
    this.waiters.set(requestId, w);
    this.send(w);
  }

  /** Registers a membership change the core accepted at `position`; resolved when that entry is applied. */
  addConfChange(position: ProposalPosition, description: string, nowMs: number, done: (outcome: ConfChangeOutcome) => void): void {
    this.confWaiters.push({ index: position.index, term: position.term, deadlineMs: nowMs + this.timing.requestTimeoutMs, description, done });
  }

  private send(w: Waiter): void {
    const leader = this.host.leader();
    if (leader === this.host.id) {
      const r = this.host.propose(w.data);
      if (r.ok) {
        this.host.trace?.("prop", r.value.index);
        w.sent = true;
        w.position = r.value;
        this.positions.set(r.value.index, w.requestId);
        return;
      }
      if (r.error.code === "tooManyUncommitted" || this.timing.failFast) {
        this.finish(w, { ok: false, error: raftErrorToServer(r.error, null) });
        return;
      }
      // Not leader after all, or a transfer in progress: wait for the next leader.
      return;
    }
    if (leader !== null) {
      w.sent = true;
      this.host.send(leader, { kind: "forward", requestId: w.requestId, from: this.host.id, data: w.data });
    } else if (this.timing.failFast) {
      this.finish(w, { ok: false, error: new ServerError("no_leader", "no leader is known") });
    }
  }

  /** This node no longer leads: proposals forwarded to it are no one's concern here any more. */
  stoppedLeading(): void {
    this.forwardedIndexes.clear();
  }

  /** A new leader is known: send proposals that never left, and idempotent ones that may have been lost. */
  flushUnsent(): void {
    for (const w of [...this.waiters.values()]) {
      if (!w.sent || (w.idempotent && !w.position)) this.send(w);
    }
  }

  /** Leader side of forwarding: append a follower's proposal and tell it where it landed (or why not). */
  onForward(env: Extract<Envelope, { kind: "forward" }>): void {
    const r = this.host.leader() === this.host.id ? this.host.propose(env.data) : null;
    if (r?.ok) this.forwardedIndexes.add(r.value.index);
    this.host.send(env.from, {
      kind: "forwardReply",
      from: this.host.id,
      requestId: env.requestId,
      ok: r?.ok ?? false,
      index: r?.ok ? r.value.index : 0,
      term: r?.ok ? r.value.term : 0,
      code: r ? (r.ok ? "" : r.error.code) : "notLeader",
      message: r ? (r.ok ? "" : r.error.message) : "not the leader",
      leader: this.host.leader() ?? "",
    });
  }

  /** Follower side: the leader's answer to one of our forwarded proposals. */
  onForwardReply(env: Extract<Envelope, { kind: "forwardReply" }>, nowMs: number): void {
    const w = this.waiters.get(env.requestId);
    if (!w) return;
    if (env.ok) {
      w.position = { index: env.index, term: env.term };
      if (env.index > this.host.appliedIndex()) this.positions.set(env.index, env.requestId);
      return;
    }
    if (env.code === "tooManyUncommitted" || this.timing.failFast) {
      this.finish(w, { ok: false, error: new ServerError(env.code === "tooManyUncommitted" ? "busy" : "not_leader", env.message, { leader: env.leader || null }) });
      return;
    }
    // Refused without appending anything, so it is safe to send again: soon if we already know a newer
    // leader, else when the next leader is known (flushUnsent), with a short delay so a stale hint cannot spin.
    this.resendLater(w, nowMs);
  }

  /** A forwarded proposal never reached the leader (the link broke): it did nothing, so send it again later. */
  forwardLost(requestId: string, nowMs: number): void {
    const w = this.waiters.get(requestId);
    if (!w || w.position !== undefined) return;
    if (this.timing.failFast) this.finish(w, { ok: false, error: new ServerError("no_leader", "the leader could not be reached") });
    else this.resendLater(w, nowMs);
  }

  private resendLater(w: Waiter, nowMs: number): void {
    w.sent = false;
    w.retryAtMs = nowMs + this.timing.forwardRetryMs;
    this.retrying.add(w);
  }

  /** Whether `index` holds a proposal a follower forwarded (asked once, as the entry is applied). */
  takeForwarded(index: number): boolean {
    return this.forwardedIndexes.delete(index);
  }

  /**
   * The entry at `index` was applied here. Resolves the waiter whose request
   * id it carries, and fails the one whose proposal it displaced.
   */
  applied(index: number, requestId: string | undefined, result: ApplyResult | undefined): void {
    if (requestId !== undefined && result !== undefined) {
      const w = this.waiters.get(requestId);
      if (w) this.finish(w, { ok: true, result });
    }
    const expected = this.positions.get(index);
    if (expected === undefined) return;
    this.positions.delete(index);
    if (expected === requestId) return;
    // Another entry took our proposal's index: a new leader overwrote it, so it can never commit (§5.3).
    const w = this.waiters.get(expected);
    if (w) this.finish(w, { ok: false, error: new ServerError("proposal_dropped", "the proposal was lost in a leader change and not applied; it is safe to retry") });
  }

  /** A membership-change entry was applied at `index` in `term`. */
  confChangeApplied(index: number, term: number): void {
    for (let i = this.confWaiters.length - 1; i >= 0; i--) {
      const w = this.confWaiters[i]!;
      if (w.index !== index) continue;
      this.confWaiters.splice(i, 1);
      w.done(w.term === term ? undefined : new ServerError("proposal_dropped", "membership change was overwritten by a new leader; retry"));
    }
  }

  /** Fails waiters past their deadline and resends refused proposals whose delay is over. */
  expire(nowMs: number): void {
    for (const w of this.waiters.values()) {
      if (w.deadlineMs > nowMs) break;
      const leader = this.host.leader();
      this.finish(w, {
        ok: false,
        error: new ServerError(leader ? "timeout" : "no_leader", `request timed out after ${this.timing.requestTimeoutMs} ms${leader ? "" : " (no leader)"}; its outcome is unknown`, { leader }),
      });
    }
    for (const w of [...this.retrying]) {
      if (w.retryAtMs > nowMs) continue;
      this.retrying.delete(w);
      w.retryAtMs = Infinity;
      if (this.waiters.get(w.requestId) === w && !w.sent) this.send(w);
    }
    for (let i = this.confWaiters.length - 1; i >= 0; i--) {
      const w = this.confWaiters[i]!;
      if (w.deadlineMs > nowMs) continue;
      this.confWaiters.splice(i, 1);
      w.done(new ServerError("timeout", `membership change ${w.description} not applied within ${this.timing.requestTimeoutMs} ms`));
    }
  }

  /** The earliest time {@link expire} has something to do; Infinity when nothing waits. */
  nextDeadlineMs(): number {
    let next = Infinity;
    for (const w of this.waiters.values()) {
      next = w.deadlineMs;
      break;
    }
    for (const w of this.retrying) if (w.retryAtMs < next) next = w.retryAtMs;
    for (const w of this.confWaiters) if (w.deadlineMs < next) next = w.deadlineMs;
    return next;
  }

  /** Fails every waiter (the node stops). */
  failAll(error: ServerError): void {
    for (const w of [...this.waiters.values()]) this.finish(w, { ok: false, error });
    for (const c of this.confWaiters.splice(0)) c.done(error);
  }

  private finish(w: Waiter, outcome: ProposalOutcome): void {
    this.waiters.delete(w.requestId);
    this.retrying.delete(w);
    w.done(outcome);
  }
}
