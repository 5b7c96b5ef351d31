/**
 * "Persist before send" for Raft, as a check the simulation runner runs on
 * every message as it leaves (`beforeSend`). Figure 2 says currentTerm,
 * votedFor and log[] are "updated on stable storage before responding to
 * RPCs", because a response is a promise a crash must not take back:
 *
 * - a granted vote promises the voter will not vote for anyone else in
 *   that term: its disk must already hold that term and that vote (§5.2),
 *   or a restart could vote twice and elect two leaders;
 * - a successful append response promises the follower's log holds the
 *   leader's entries up to `index`: its disk must hold an entry at `index`
 *   of the term its log has there (§5.3), or the leader could count a copy
 *   a crash erases toward committing it;
 * - every message carries a term its sender must not go back on (§5.1).
 *
 * What is not a rule: a leader's appends and heartbeats may leave before
 * its own fsync (dissertation §10.2.1; the server does so), since they
 * promise nothing about the leader's disk; they are checked for their term
 * only. PreVote messages carry the term a candidate would campaign in, not
 * one it holds (§9.6), so they are not checked at all.
 *
 * The disk is read through the WAL's own replay (`WalReplay`), fed the
 * durable records as they become durable.
 */
import type { Departure } from "@heck/sim";
import { WalReplay, type WalState } from "../core/raft/storage-format.ts";
import type { Envelope, Replica, SnapshotImage } from "../core/replica/index.ts";
import type { WalRecord } from "./raft-sim.ts";

/** What the check reads from the sender: its id and its in-memory log (for the term of the entry an ack names). */
export interface CheckedNode {
  readonly id: string;
  readonly replica: Replica;
}

interface DurableView {
  snapshot: SnapshotImage | null;
  /** Durable records fed to the replay so far, and the last of them (a crash may replace the records after a point). */
  fed: number;
  last: WalRecord | undefined;
  replay: WalReplay;
  /** The replay's state after `fed` records (recomputed when more become durable). */
  state: WalState;
}

/** A `beforeSend` check: what each message promises is on its sender's durable disk. Keeps one running replay per node. */
export function raftPromisesPersisted<N extends CheckedNode>(): (d: Departure<Envelope, WalRecord, SnapshotImage, N>) => string | undefined {
  const views = new Map<string, DurableView>();
  const durableState = (id: string, snapshot: SnapshotImage | null, records: readonly WalRecord[]): WalState => {
    let v = views.get(id);
    // A new snapshot image replaces the log, and a crash may have taken records that others replaced since: start over.
    if (v === undefined || v.snapshot !== snapshot || v.fed > records.length || (v.fed > 0 && records[v.fed - 1] !== v.last)) {
      const replay = new WalReplay();
      for (const r of snapshot?.records ?? []) replay.segment(r, "snapshot image", false);
      v = { snapshot, fed: 0, last: undefined, replay, state: replay.finish("durable disk") };
      views.set(id, v);
    }
    if (v.fed < records.length) {
      for (let i = v.fed; i < records.length; i++) v.replay.segment(records[i]!, "durable disk", false);
      v.fed = records.length;
      v.last = records[v.fed - 1];
      v.state = v.replay.finish("durable disk");
    }
    return v.state;
  };

  return ({ from, message, durable }) => {
    if (message.kind !== "raft") return undefined;
    const m = message.message;
    if (m.type === "requestPreVote" || m.type === "preVoteResponse") return undefined;
    const disk = durableState(from.id, durable.snapshot, durable.records);
    const hs = disk.hardState;
    if (m.type === "voteResponse" && m.granted && (hs.term !== m.term || hs.vote !== m.to)) {
      return `it grants its vote to ${m.to} in term ${m.term} while its disk holds vote ${hs.vote ?? "none"} in term ${hs.term}`;
    }
    if (m.type === "appendResponse" && !m.reject) {
      const problem = ackProblem(m.index, disk, from.replica.raft.termAt(m.index));
      if (problem !== undefined) return problem;
    }
    if (m.term > hs.term) return `its ${m.type} carries term ${m.term} while its disk holds term ${hs.term}`;
    return undefined;
  };
}

/** What is wrong with acknowledging the log up to `index` (whose term in memory is `memoryTerm`) on this durable disk, if anything. */
function ackProblem(index: number, disk: WalState, memoryTerm: number | undefined): string | undefined {
  const base = disk.snapshot?.index ?? 0;
  // Below the durable snapshot the entries are committed and compacted: nothing left to promise.
  if (index < base) return undefined;
  const durableTerm = index === base ? (disk.snapshot?.term ?? 0) : disk.entries[index - base - 1]?.term;
  if (durableTerm === undefined) return `it acknowledges entries up to ${index} while its disk holds the log only up to ${base + disk.entries.length}`;
  if (memoryTerm !== undefined && durableTerm !== memoryTerm) return `it acknowledges entry ${index} of term ${memoryTerm} while its disk holds term ${durableTerm} there`;
  return undefined;
}
