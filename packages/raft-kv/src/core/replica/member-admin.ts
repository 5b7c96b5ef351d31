/**
 * Membership administration, as an operator asks for it (etcd's `member
 * add/remove`, `move-leader`), on top of the core's one-change-at-a-time
 * conf changes (§4.1):
 *
 * - a new server joins as a learner that receives the log without voting,
 *   and is promoted once it has caught up (dissertation §4.2.1), so the
 *   quorum never waits on an empty newcomer; while it lags the promotion is
 *   retried;
 * - removing the leader itself first hands leadership to another voter
 *   (§3.10), and the caller sends the removal to the new leader;
 * - a leadership transfer completes when this node follows the new leader.
 */
import type { ConfChange, ConfState, NodeId, RaftResult } from "../raft/index.ts";
import { ServerError, raftErrorToServer } from "./errors.ts";
import type { ConfChangeOutcome } from "./proposals.ts";

/** What the administration needs from the replica around it. */
export interface MemberAdminHost {
  readonly id: NodeId;
  confState(): ConfState;
  /** The leader this node follows per its last Ready, or null. */
  leader(): NodeId | null;
  proposeConfChange(change: ConfChange, nowMs: number, done: (outcome: ConfChangeOutcome) => void): void;
  transferLeadership(to: NodeId): RaftResult<void>;
  httpAddressOf(id: NodeId | null): string | null;
}

/** Timing of the administration. */
export interface MemberAdminTiming {
  /** A transfer that has not completed after this long fails with "timeout". */
  requestTimeoutMs: number;
  /** Try to promote a lagging learner again after this long. */
  promoteRetryMs: number;
  /** Give up promoting a learner that has not caught up after this long. */
  promoteTimeoutMs: number;
}

const MEMBER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PEER_ADDRESS = /^[^\s:]+:\d{1,5}$/;

/** Add, promote and remove members, and move leadership, on one replica. */
export class MemberAdmin {
  /** Promotions to try again, each at its time. */
  private retries: Array<{ atMs: number; run: (nowMs: number) => void; done: (error: ServerError | undefined) => void }> = [];
  private transfers: Array<{ to: NodeId; deadlineMs: number; done: (error: ServerError | undefined) => void }> = [];

  constructor(
    private readonly host: MemberAdminHost,
    private readonly timing: MemberAdminTiming,
  ) {}

  /** Adds `id` at `peerAddress` as a learner, then (unless `learner`) promotes it to voter once caught up. */
  add(id: string, peerAddress: string, learner: boolean, nowMs: number, done: (error: ServerError | undefined) => void): void {
    if (!MEMBER_ID.test(id)) return done(new ServerError("invalid_argument", "id: must be 1-64 letters, digits, '.', '_' or '-'", { field: "id" }));
    if (!PEER_ADDRESS.test(peerAddress)) return done(new ServerError("invalid_argument", "peerAddress: must be host:port", { field: "peerAddress" }));
    const conf = this.host.confState();
    if (conf.voters.includes(id)) return done(new ServerError("member_exists", `member ${id} is already a voter`));
    const promote = (startMs: number): void => {
      if (learner) return done(undefined);
      const giveUpAtMs = startMs + this.timing.promoteTimeoutMs;
      const attempt = (atMs: number): void => {
        this.host.proposeConfChange({ type: "promoteLearner", nodeId: id }, atMs, (error) => {
          if (error === undefined) return done(undefined);
          // Refused while the learner lags (§4.2.1) or another change is in flight (§4.1): both pass.
          if (!/learnerNotCaughtUp|confChangePending/.test(error.message) || atMs > giveUpAtMs) return done(error);
          this.retries.push({ atMs: atMs + this.timing.promoteRetryMs, run: attempt, done });
        });
      };
      attempt(startMs);
    };
    if (conf.learners.includes(id)) return promote(nowMs);
    this.host.proposeConfChange({ type: "addLearner", nodeId: id, context: peerAddress }, nowMs, (error) => (error ? done(error) : promote(nowMs)));
  }

  /** Promotes learner `id` to voter once; fails at once if it is no learner, or has not caught up (§4.2.1). */
  promote(id: string, nowMs: number, done: (error: ServerError | undefined) => void): void {
    const conf = this.host.confState();
    if (!conf.learners.includes(id)) return done(new ServerError(conf.voters.includes(id) ? "member_not_learner" : "unknown_member", `${id} is not a learner`));
    this.host.proposeConfChange({ type: "promoteLearner", nodeId: id }, nowMs, done);
  }

  /** Removes member `id`. When that is this leader itself, it hands leadership over instead and fails with `not_leader` naming the new leader. */
  remove(id: string, nowMs: number, done: (error: ServerError | undefined) => void): void {
    const conf = this.host.confState();
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) return done(new ServerError("unknown_member", `no member with id ${id}`, { field: "id" }));
    if (id === this.host.id && this.host.leader() === this.host.id) {
      const other = conf.voters.find((v) => v !== id);
      if (!other) return done(new ServerError("invalid_argument", "cannot remove the last voter"));
      this.transfer(other, nowMs, (error) => done(error ?? new ServerError("not_leader", `handed leadership to ${other}; send the removal there`, { leader: other, leaderHttp: this.host.httpAddressOf(other) })));
      return;
    }
    this.host.proposeConfChange({ type: "removeVoter", nodeId: id }, nowMs, done);
  }

  /** Hands leadership to `to` (§3.10); `done` is called once this node follows it, or on refusal or timeout. */
  transfer(to: NodeId, nowMs: number, done: (error: ServerError | undefined) => void): void {
    const r = this.host.transferLeadership(to);
    if (!r.ok) return done(raftErrorToServer(r.error, this.host.httpAddressOf(r.error.leader)));
    if (this.host.leader() === to) return done(undefined);
    this.transfers.push({ to, deadlineMs: nowMs + this.timing.requestTimeoutMs, done });
  }

  /** This node follows a new leader: transfers to it are done. */
  leaderChanged(leader: NodeId | null): void {
    const finished = this.transfers.filter((t) => t.to === leader);
    if (finished.length === 0) return;
    this.transfers = this.transfers.filter((t) => t.to !== leader);
    for (const t of finished) t.done(undefined);
  }

  /** Runs promotions whose retry time came, and fails transfers past their deadline. */
  expire(nowMs: number): void {
    const due = this.retries.filter((r) => r.atMs <= nowMs);
    if (due.length > 0) this.retries = this.retries.filter((r) => r.atMs > nowMs);
    for (const r of due) r.run(nowMs);
    const late = this.transfers.filter((t) => t.deadlineMs <= nowMs);
    if (late.length > 0) this.transfers = this.transfers.filter((t) => t.deadlineMs > nowMs);
    for (const t of late) t.done(new ServerError("timeout", `leadership did not move to ${t.to}`));
  }

  /** The earliest time {@link expire} has something to do; Infinity when nothing waits. */
  nextDeadlineMs(): number {
    let next = Infinity;
    for (const r of this.retries) next = Math.min(next, r.atMs);
    for (const t of this.transfers) next = Math.min(next, t.deadlineMs);
    return next;
  }

  /** Fails everything waiting (the node stops). */
  failAll(error: ServerError): void {
    const waiting = [...this.retries, ...this.transfers];
    this.retries = [];
    this.transfers = [];
    for (const w of waiting) w.done(error);
  }
}
