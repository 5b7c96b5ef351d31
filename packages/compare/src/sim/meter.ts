/**
 * What a run measures while it runs, shared by the store adapters and the
 * workload: traffic per node (messages and bytes, payload apart from
 * metadata), state-machine work per node, and when each write becomes
 * visible on every node that has to see it.
 *
 * "Visible" is defined on versions, as a reader of a health record sees it:
 * a node has seen write w of key k once it holds a version of k at least as
 * new as w's (a newer observation supersedes an older one, so a node that
 * skipped w but holds its successor is not behind). A write must become
 * visible on every node that was a member and up when it was made; a node
 * that crashes or leaves is dropped from what its pending writes wait for.
 */
import { compareVersion, type Version } from "./records.ts";

/** Traffic and work counters of one node. */
export interface NodeCounters {
  msgsOut: number;
  bytesOut: number;
  /** Of bytesOut: bytes of health-record values (the rest is metadata: headers, dots, contexts, terms, acks). */
  payloadOut: number;
  msgsIn: number;
  bytesIn: number;
  /** Record updates applied to the node's state (raft: applied entries; crdt: keys changed by a merge or a local write). */
  applies: number;
  /** Client operations the node served (writes and reads). */
  ops: number;
}

function zero(): NodeCounters {
  return { msgsOut: 0, bytesOut: 0, payloadOut: 0, msgsIn: 0, bytesIn: 0, applies: 0, ops: 0 };
}

/** A write the tracker waits on. */
interface PendingWrite {
  readonly key: string;
  readonly version: Version;
  readonly startMs: number;
  /** need[i] = 1 while node i has not seen it. */
  readonly need: Uint8Array;
  remaining: number;
  /** Set once resolved: visible everywhere (ms) or cancelled. */
  doneMs: number | null;
  cancelled: boolean;
  /** Its client learned it took effect (crdt: at once; raft: when its entry was applied with its term). */
  confirmed: boolean;
}

/** A handle the workload keeps to cancel a write that failed. */
export type WriteHandle = PendingWrite;

/** A joiner catching up: the versions it must hold, as of its join. */
interface CatchUp {
  readonly node: number;
  readonly startMs: number;
  readonly target: Map<string, Version>;
  remaining: number;
  doneMs: number | null;
}

/** Counters, visibility and catch-up tracking for one run. */
export class Meter {
  readonly nodeIds: readonly string[];
  readonly counters: NodeCounters[];
  private readonly index = new Map<string, number>();
  private readonly maxVersion: Array<Map<string, Version>>;
  private readonly pending = new Map<string, PendingWrite[]>();
  /** Every write registered, in invocation order. */
  private readonly handles: PendingWrite[] = [];
  /** The newest version each key reached by a completed (acknowledged) write, anywhere. */
  readonly latestCompleted = new Map<string, Version>();
  private readonly catchUps: CatchUp[] = [];
  /** Events worth a timeline: leader ready, conf changes, faults. */
  readonly events: Array<{ t: number; node: string; event: string; detail?: string }> = [];
  private readonly live: Uint8Array;

  constructor(nodeIds: readonly string[]) {
    this.nodeIds = nodeIds;
    this.counters = nodeIds.map(() => zero());
    this.maxVersion = nodeIds.map(() => new Map());
    this.live = new Uint8Array(nodeIds.length);
    nodeIds.forEach((id, i) => this.index.set(id, i));
  }

  /** The index of a node id (throws for an unknown id: a harness bug). */
  indexOf(id: string): number {
    const i = this.index.get(id);
    if (i === undefined) throw new RangeError(`meter: unknown node ${id}`);
    return i;
  }

  // --- traffic -----------------------------------------------------------------

  /** A message left `node`. */
  sent(node: number, bytes: number, payloadBytes: number): void {
    const c = this.counters[node]!;
    c.msgsOut++;
    c.bytesOut += bytes;
    c.payloadOut += payloadBytes;
  }

  /** A message reached `node`. */
  received(node: number, bytes: number): void {
    const c = this.counters[node]!;
    c.msgsIn++;
    c.bytesIn += bytes;
  }

  /** `node` applied `n` record updates to its state. */
  applied(node: number, n = 1): void {
    this.counters[node]!.applies += n;
  }

  /** `node` served one client operation. */
  op(node: number): void {
    this.counters[node]!.ops++;
  }

  /** A copy of every node's counters (subtract two copies for a window). */
  snapshot(): NodeCounters[] {
    return this.counters.map((c) => ({ ...c }));
  }

  // --- membership of the tracking -------------------------------------------------

  /** `node` is a member and up: later writes wait for it. */
  setLive(id: string, live: boolean, nowMs: number): void {
    const i = this.indexOf(id);
    if (this.live[i] === (live ? 1 : 0)) return;
    this.live[i] = live ? 1 : 0;
    if (live) return;
    // A node that is gone cannot hold up writes any more.
    for (const list of this.pending.values()) {
      for (const w of [...list]) {
        if (w.need[i] === 1) {
          w.need[i] = 0;
          w.remaining--;
          if (w.remaining === 0) this.complete(w, nowMs);
        }
      }
    }
    for (const c of this.catchUps) if (c.node === i && c.doneMs === null) c.remaining = -1;
  }

  /** Whether `id` is currently tracked as a live member. */
  isLive(id: string): boolean {
    return this.live[this.indexOf(id)] === 1;
  }

  // --- visibility ------------------------------------------------------------------

  /** Registers a write of `version` to `key`, made at `nowMs`; it waits for every live node. */
  write(key: string, version: Version, nowMs: number): WriteHandle {
    const need = new Uint8Array(this.nodeIds.length);
    let remaining = 0;
    for (let i = 0; i < need.length; i++) {
      if (this.live[i] !== 1) continue;
      const have = this.maxVersion[i]!.get(key);
      if (have !== undefined && compareVersion(have, version) >= 0) continue;
      need[i] = 1;
      remaining++;
    }
    const w: PendingWrite = { key, version, startMs: nowMs, need, remaining, doneMs: null, cancelled: false, confirmed: false };
    this.handles.push(w);
    if (remaining === 0) {
      this.complete(w, nowMs);
      return w;
    }
    let list = this.pending.get(key);
    if (list === undefined) this.pending.set(key, (list = []));
    list.push(w);
    return w;
  }

  /** The write certainly took no effect (refused, or lost with its term): stop waiting for it. */
  cancel(w: WriteHandle): void {
    if (w.doneMs !== null || w.cancelled) return;
    w.cancelled = true;
    const list = this.pending.get(w.key);
    if (list !== undefined) {
      const i = list.indexOf(w);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** A write was acknowledged to its client: it is now part of what readers should see. */
  completed(key: string, version: Version): void {
    const cur = this.latestCompleted.get(key);
    if (cur === undefined || compareVersion(version, cur) > 0) this.latestCompleted.set(key, version);
  }

  /** `node` now holds `version` of `key` (after an apply, a merge or a local write). */
  observe(id: string, key: string, version: Version, nowMs: number): void {
    const i = this.indexOf(id);
    const m = this.maxVersion[i]!;
    const have = m.get(key);
    if (have !== undefined && compareVersion(have, version) >= 0) return;
    m.set(key, version);
    const list = this.pending.get(key);
    if (list !== undefined) {
      for (let k = 0; k < list.length; ) {
        const w = list[k]!;
        if (w.need[i] === 1 && compareVersion(w.version, version) <= 0) {
          w.need[i] = 0;
          w.remaining--;
          if (w.remaining === 0) {
            list.splice(k, 1);
            this.finish(w, nowMs);
            continue;
          }
        }
        k++;
      }
    }
    for (const c of this.catchUps) {
      if (c.node !== i || c.doneMs !== null || c.remaining <= 0) continue;
      const target = c.target.get(key);
      if (target === undefined) continue;
      if (compareVersion(version, target) >= 0 && (have === undefined || compareVersion(have, target) < 0)) {
        c.remaining--;
        if (c.remaining === 0) c.doneMs = nowMs;
      }
    }
  }

  /** The version `id` holds for `key`, if any. */
  versionAt(id: string, key: string): Version | undefined {
    return this.maxVersion[this.indexOf(id)]!.get(key);
  }

  private complete(w: PendingWrite, nowMs: number): void {
    const list = this.pending.get(w.key);
    if (list !== undefined) {
      const k = list.indexOf(w);
      if (k >= 0) list.splice(k, 1);
    }
    this.finish(w, nowMs);
  }

  private finish(w: PendingWrite, nowMs: number): void {
    w.doneMs = nowMs;
  }

  /**
   * For confirmed writes made in [fromMs, toMs): ms until each was visible on
   * every node that had to see it, and how many never were (by the end).
   */
  visibility(fromMs = -Infinity, toMs = Infinity): { samples: number[]; invisible: number } {
    const samples: number[] = [];
    let invisible = 0;
    for (const w of this.handles) {
      if (!w.confirmed || w.startMs < fromMs || w.startMs >= toMs) continue;
      if (w.doneMs === null) invisible++;
      else samples.push(w.doneMs - w.startMs);
    }
    return { samples, invisible };
  }

  /**
   * Confirmed writes still waiting for some node, made before `beforeMs`
   * (default: all). Writes whose outcome is unknown are left out: they may
   * never have taken effect.
   */
  pendingWrites(beforeMs = Infinity): number {
    let n = 0;
    for (const list of this.pending.values()) for (const w of list) if (w.confirmed && w.startMs < beforeMs) n++;
    return n;
  }

  // --- joiners ---------------------------------------------------------------------

  /** `id` joined at `nowMs`: measure how long until it holds every version completed so far. */
  startCatchUp(id: string, nowMs: number): void {
    const node = this.indexOf(id);
    const target = new Map(this.latestCompleted);
    let remaining = 0;
    const have = this.maxVersion[node]!;
    for (const [k, v] of target) {
      const h = have.get(k);
      if (h === undefined || compareVersion(h, v) < 0) remaining++;
    }
    this.catchUps.push({ node, startMs: nowMs, target, remaining, doneMs: remaining === 0 ? nowMs : null });
  }

  /** Catch-up results: ms from join to holding everything, or null if it never did. */
  catchUpResults(): Array<{ node: string; startMs: number; ms: number | null }> {
    return this.catchUps.map((c) => ({ node: this.nodeIds[c.node]!, startMs: c.startMs, ms: c.doneMs === null ? null : c.doneMs - c.startMs }));
  }

  /** Notes an event for the run's timeline. */
  event(t: number, node: string, event: string, detail?: string): void {
    this.events.push(detail === undefined ? { t, node, event } : { t, node, event, detail });
  }
}
