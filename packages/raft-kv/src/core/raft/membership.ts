/**
 * The cluster configuration as one server holds it (dissertation chapter 4),
 * in the spirit of etcd-io/raft's `confchange` package: who votes, who only
 * learns, which single-server changes may be proposed (§4.1), and how a
 * committed change is applied.
 *
 * Changes take effect when their entry is *applied* (as in etcd), one at a
 * time: the leader refuses a second change while one is unapplied (the
 * caller checks that, it knows the log). A change that no longer makes sense
 * when applied (it raced with another) is ignored, identically on every
 * server, so every server computes the same configuration. The history of
 * configurations since the last snapshot lets a snapshot record the one in
 * force at its own index.
 */
import type { ConfChange, ConfState, NodeId } from "./types.ts";
import type { Progress } from "./progress.ts";

/** Why a proposed change is refused: a RaftErrorCode and a sentence. */
export interface ConfChangeRefusal {
  code: "invalidConfChange" | "learnerNotCaughtUp";
  message: string;
}

/** Voters and learners, with the configurations applied since the last snapshot. */
export class Membership {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  /** The configuration at the snapshot, and after each change applied since. */
  private base: ConfState;
  private history: { index: number; conf: ConfState }[] = [];

  constructor(base: ConfState) {
    this.base = base;
    this.set(base);
  }

  /** Replaces the configuration in force without touching the history (the founders of a new cluster). */
  set(conf: ConfState): void {
    this.voters.clear();
    this.learners.clear();
    for (const v of conf.voters) this.voters.add(v);
    for (const l of conf.learners) if (!this.voters.has(l)) this.learners.add(l);
  }

  /** A snapshot's configuration replaces everything (dissertation Figure 5.3, rule 7). */
  restore(conf: ConfState): void {
    this.base = conf;
    this.history = [];
    this.set(conf);
  }

  /** The configuration in force, ids sorted. */
  state(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  /** Voters, then learners. */
  members(): NodeId[] {
    return [...this.voters, ...this.learners];
  }

  /**
   * Why `cc` may not be proposed now, or null if it may. `progressOf` gives
   * the leader's view of a member: a learner is promoted only once the leader
   * streams to it ("replicate") and it trails the last index by at most
   * `promoteMaxLag` (§4.2.1: a new server votes only once it has caught up,
   * so it cannot stall commits).
   */
  refusal(cc: ConfChange, progressOf: (id: NodeId) => Progress | undefined, lastIndex: number, promoteMaxLag: number): ConfChangeRefusal | null {
    const id = cc.nodeId;
    const isVoter = this.voters.has(id);
    const isLearner = this.learners.has(id);
    const invalid = (message: string): ConfChangeRefusal => ({ code: "invalidConfChange", message });
    switch (cc.type) {
      case "addVoter":
        if (isVoter) return invalid(`${id} is already a voter`);
        if (isLearner) return invalid(`${id} is a learner: use promoteLearner`);
        return null;
      case "addLearner":
        return isVoter || isLearner ? invalid(`${id} is already a member`) : null;
      case "removeVoter":
        if (!isVoter && !isLearner) return invalid(`${id} is not a member`);
        if (isVoter && this.voters.size === 1) return invalid(`${id} is the last voter`);
        return null;
      case "promoteLearner": {
        if (!isLearner) return invalid(`${id} is not a learner`);
        const pr = progressOf(id);
        if (!pr || pr.state !== "replicate" || lastIndex - pr.match > promoteMaxLag) {
          return { code: "learnerNotCaughtUp", message: `${id} has match ${pr?.match ?? 0}, last index is ${lastIndex} (allowed lag ${promoteMaxLag})` };
        }
        return null;
      }
    }
  }

  /**
   * Applies the committed change at `index` (null: an entry that does not
   * decode, which changes nothing). Changes that raced with another are
   * ignored: adding a voter twice, removing the last voter.
   */
  apply(index: number, cc: ConfChange | null): void {
    if (cc !== null) {
      const id = cc.nodeId;
      switch (cc.type) {
        case "addVoter":
          this.learners.delete(id);
          this.voters.add(id);
          break;
        case "promoteLearner":
          if (this.learners.delete(id)) this.voters.add(id);
          break;
        case "addLearner":
          if (!this.voters.has(id)) this.learners.add(id);
          break;
        case "removeVoter":
          if (!(this.voters.has(id) && this.voters.size === 1)) {
            this.voters.delete(id);
            this.learners.delete(id);
          }
          break;
      }
    }
    this.history.push({ index, conf: this.state() });
  }

  /** The configuration in force once the log up to `index` is applied, for a snapshot taken there; forgets older history. */
  compactTo(index: number): ConfState {
    let conf = this.base;
    for (const h of this.history) if (h.index <= index) conf = h.conf;
    this.base = conf;
    this.history = this.history.filter((h) => h.index > index);
    return conf;
  }
}
