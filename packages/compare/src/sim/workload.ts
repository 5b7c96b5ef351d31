/**
 * The workload both stores get, identical for a seed: v2's agents in
 * miniature.
 *
 * - **Origins and their truth.** `origins` origins, each checked once per
 *   `checkIntervalMs` at its own phase (an even spread, as v1's scheduler
 *   does). Each check the origin's true status flips with probability
 *   `flipProbability`, decided by a hash of (seed, origin, check number), so
 *   the truth is the same whoever checks and whichever store runs.
 * - **Ownership.** Every node sees the members it can reach (its partition
 *   component among the live members), `detectionDelayMs` after a change,
 *   as a failure detector (SWIM in v2) would; each origin is owned by the
 *   rendezvous-hash winner of that view (stage 2). During a partition each
 *   side therefore has an owner for every origin, as v2's AP design wants.
 * - **Writes.** The owner writes the origin's record when the status changed
 *   or its stored record is `refreshEveryChecks` checks old (as v2 does), with
 *   the HLC rule continuing from the record it can read locally.
 * - **Reads.** Every node reads one random origin every `readIntervalMs`:
 *   locally (both stores), and for raft also linearizably (ReadIndex).
 *
 * Everything a client saw is recorded in {@link OpLog}; metrics and the
 * linearizability check are computed from it after the run.
 */
import type { Simulation, SimProcess } from "@heck/sim";
import type { Meter, WriteHandle } from "./meter.ts";
import { compareVersion, observe, recordKey, type HealthRecord, type Version } from "./records.ts";

/** What the workload needs from a node of either store. */
export interface StoreNodeApi {
  readonly id: string;
  /** `ok`: the store holds this record or a newer one; `applied`: this write is what put it there. */
  write(key: string, record: HealthRecord, cb: (ok: boolean, applied: boolean) => void): void;
  readLocal(key: string): HealthRecord | undefined;
  readLinearizable?(key: string, cb: (r: { ok: true; record: HealthRecord | undefined } | { ok: false }) => void): void;
}

/** Settings of the workload. */
export interface WorkloadOptions {
  origins: number;
  /** Check period of every origin. v2's default interval. */
  checkIntervalMs: number;
  /** An unchanged record is rewritten once it is this many checks old (v2 refreshes every 5 intervals). */
  refreshEveryChecks: number;
  /** Probability an origin's status flips at a check. */
  flipProbability: number;
  /** Each node reads one random origin this often. */
  readIntervalMs: number;
  /** Also issue a linearizable read beside each local read (raft only). */
  linearizableReads: boolean;
  /** A client gives up on a write or read after this long (the op counts as failed for availability). */
  timeoutMs: number;
  /** How long after a crash, partition or heal the nodes' membership views change. */
  detectionDelayMs: number;
  /** The workload runs in [startMs, stopMs). */
  startMs: number;
  stopMs: number;
  /**
   * Operators change the origin list: every this many ms a live member adds
   * or removes one origin's entry (`list/<origin>`). 0 or absent: the list
   * never changes (the comparison's scenarios). The coordination-cost
   * ladder turns it on, so a store can coordinate the list and not the
   * records.
   */
  listChangeEveryMs?: number;
}

/** One write as its client saw it. */
export interface WriteRecord {
  node: string;
  key: string;
  version: Version;
  value: string;
  status: HealthRecord["status"];
  invokeMs: number;
  /** When a definite outcome arrived (possibly after the client gave up), or null if it never did. */
  resolvedMs: number | null;
  /** true: the store holds this record or a newer one; false: certainly not written; null: unknown. */
  ok: boolean | null;
  /** With ok: whether this write is what stored it (false: superseded, a newer observation was already there). */
  applied: boolean | null;
  /** A probe write (crash scenarios), not a health record. */
  probe: boolean;
}

/** One read as its client saw it. */
export interface ReadRecord {
  node: string;
  key: string;
  kind: "local" | "linearizable";
  invokeMs: number;
  returnMs: number | null;
  ok: boolean;
  /** The version returned (null: the key was absent). */
  version: Version | null;
  value: string | null;
  /** The returned record's status and check time (null when absent). */
  status: HealthRecord["status"] | null;
  checkedAtMs: number | null;
}

/** Everything clients did in a run. */
export interface OpLog {
  writes: WriteRecord[];
  reads: ReadRecord[];
}

/** A node's view of the cluster and the ownership it implies. */
interface View {
  readonly key: string;
  readonly members: readonly string[];
  /** owner[o] = the member that checks origin o in this view. */
  readonly owners: readonly string[];
}

/** 32-bit mix (splitmix32's finaliser): good avalanche, so hashes of nearby inputs look independent. */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a of a string, then mixed. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** Rendezvous (highest random weight) owner of `origin` among `members` (stage 2's rule). */
export function rendezvousOwner(origin: number, members: readonly string[]): string {
  let best = members[0]!;
  let bestScore = -1;
  for (const m of members) {
    const score = mix32(hashString(m) ^ mix32(origin + 0x51ed27));
    if (score > bestScore || (score === bestScore && m < best)) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}

/** The part of the cluster the workload drives: which nodes are members and up, and who can reach whom. */
export interface ClusterView {
  members(): readonly string[];
  isUp(id: string): boolean;
  /** Whether messages from a to b currently get through (no partition cut). */
  linked(a: string, b: string): boolean;
}

/** Drives the workload on one simulation; see the file comment. */
export class Workload<M, R, S, N extends SimProcess<M, R, S> & StoreNodeApi> {
  readonly log: OpLog = { writes: [], reads: [] };
  private readonly views = new Map<string, View>();
  private readonly truth: Array<{ k: number; status: HealthRecord["status"] }>;
  private readonly phases: number[];
  private viewEpoch = 0;

  constructor(
    private readonly sim: Simulation<M, R, S, N>,
    private readonly cluster: ClusterView,
    private readonly meter: Meter,
    private readonly opts: WorkloadOptions,
    private readonly seed: number,
  ) {
    this.truth = Array.from({ length: opts.origins }, () => ({ k: -1, status: "healthy" as const }));
    this.phases = Array.from({ length: opts.origins }, (_, o) => hashString(`phase:${seed}:${o}`) % opts.checkIntervalMs);
  }

  /** Schedules every check and read of the run. Call once, before running. */
  start(): void {
    this.recomputeViews();
    const { startMs, stopMs, checkIntervalMs, readIntervalMs } = this.opts;
    for (let o = 0; o < this.opts.origins; o++) {
      const first = startMs + this.phases[o]!;
      if (first < stopMs) this.sim.schedule(first, () => this.check(o, first));
    }
    const readers = this.sim.nodeIds;
    readers.forEach((id, i) => {
      const first = startMs + (hashString(`read:${this.seed}:${id}`) % readIntervalMs);
      if (first < stopMs) this.sim.schedule(first, () => this.read(id, i, first, 0));
    });
    const every = this.opts.listChangeEveryMs ?? 0;
    if (every > 0) {
      const first = startMs + (hashString(`list:${this.seed}`) % every);
      if (first < stopMs) this.sim.schedule(first, () => this.changeList(first, 0));
    }
    void checkIntervalMs;
  }

  /**
   * One change of the origin list by an operator, through a live member
   * chosen by the seed: the entry of an origin chosen by the seed flips
   * between listed ("healthy") and removed ("unhealthy"), as a record under
   * `list/<origin>` written by that member.
   */
  private changeList(at: number, n: number): void {
    const every = this.opts.listChangeEveryMs!;
    const next = at + every;
    if (next < this.opts.stopMs) this.sim.schedule(next, () => this.changeList(next, n + 1));
    const live = this.cluster.members().filter((m) => this.cluster.isUp(m));
    if (live.length === 0) return;
    const via = live[hashString(`listvia:${this.seed}:${n}`) % live.length]!;
    const node = this.sim.tryNode(via);
    if (node === undefined) return;
    const o = hashString(`listorigin:${this.seed}:${n}`) % this.opts.origins;
    const key = `list/${o}`;
    const prev = node.readLocal(key);
    const status: HealthRecord["status"] = prev?.status === "healthy" ? "unhealthy" : "healthy";
    this.write(node, key, observe(prev, o, via, status, at, 0), false);
  }

  /** The membership or the network changed: views follow after the detection delay. */
  topologyChanged(nowMs: number): void {
    const epoch = ++this.viewEpoch;
    this.sim.schedule(nowMs + this.opts.detectionDelayMs, () => {
      if (epoch === this.viewEpoch) this.recomputeViews();
    });
  }

  /** Recomputes views at once (a graceful leave or a join is announced, not detected). */
  recomputeViews(): void {
    const members = this.cluster.members().filter((m) => this.cluster.isUp(m));
    const seen = new Set<string>();
    this.views.clear();
    const byKey = new Map<string, View>();
    for (const start of members) {
      if (seen.has(start)) continue;
      // The component of `start`: members reachable both ways, transitively.
      const comp: string[] = [];
      const queue = [start];
      seen.add(start);
      while (queue.length > 0) {
        const a = queue.pop()!;
        comp.push(a);
        for (const b of members) {
          if (!seen.has(b) && this.cluster.linked(a, b) && this.cluster.linked(b, a)) {
            seen.add(b);
            queue.push(b);
          }
        }
      }
      comp.sort();
      const key = comp.join(",");
      let view = byKey.get(key);
      if (view === undefined) {
        view = { key, members: comp, owners: Array.from({ length: this.opts.origins }, (_, o) => rendezvousOwner(o, comp)) };
        byKey.set(key, view);
      }
      for (const m of comp) this.views.set(m, view);
    }
  }

  /** The members `node` currently sees (its failure detector's view), or undefined before the first view. */
  viewMembers(node: string): readonly string[] | undefined {
    return this.views.get(node)?.members;
  }

  /** The owner of origin `o` as `node` currently sees it (for tests). */
  ownerSeenBy(node: string, o: number): string | undefined {
    return this.views.get(node)?.owners[o];
  }

  private statusAt(o: number, k: number): HealthRecord["status"] {
    const t = this.truth[o]!;
    while (t.k < k) {
      t.k++;
      if (t.k > 0 && mix32(hashString(`flip:${this.seed}:${o}`) ^ mix32(t.k)) / 2 ** 32 < this.opts.flipProbability) {
        t.status = t.status === "healthy" ? "unhealthy" : "healthy";
      }
    }
    return t.status;
  }

  private check(o: number, at: number): void {
    const next = at + this.opts.checkIntervalMs;
    if (next < this.opts.stopMs) this.sim.schedule(next, () => this.check(o, next));
    const k = Math.round((at - this.opts.startMs - this.phases[o]!) / this.opts.checkIntervalMs);
    const status = this.statusAt(o, k);
    const done = new Set<View>();
    for (const view of this.views.values()) {
      if (done.has(view)) continue;
      done.add(view);
      const owner = view.owners[o]!;
      if (this.views.get(owner) !== view || !this.cluster.isUp(owner)) continue;
      // Each owner's engine runs its own schedule: owners on two sides of a partition do not check in lockstep.
      const offset = hashString(`offset:${this.seed}:${owner}:${o}`) % Math.max(1, Math.floor(this.opts.checkIntervalMs / 4));
      if (offset === 0) this.checkAs(owner, o, k, status, at);
      else this.sim.schedule(at + offset, () => this.checkAs(owner, o, k, status, at + offset));
    }
  }

  /** `owner` checks origin `o` (check number `k`, result `status`) at `at` and writes if the record needs it. */
  private checkAs(owner: string, o: number, k: number, status: HealthRecord["status"], at: number): void {
    if (!this.cluster.isUp(owner)) return;
    const node = this.sim.tryNode(owner);
    if (node === undefined) return;
    const key = recordKey(o);
    const prev = node.readLocal(key);
    const stale = prev === undefined || at - prev.checkedAtMs >= this.opts.refreshEveryChecks * this.opts.checkIntervalMs - this.opts.checkIntervalMs / 2;
    if (prev !== undefined && prev.status === status && !stale) return;
    const latencyMs = 2 + (hashString(`lat:${o}:${k}`) % 40);
    this.write(node, key, observe(prev, o, owner, status, at, latencyMs), false);
  }

  /** Issues one write and records what its client learns. */
  write(node: N, key: string, record: HealthRecord, probe: boolean): WriteRecord {
    const now = this.sim.nowMs;
    const value = JSON.stringify(record);
    const w: WriteRecord = { node: node.id, key, version: { hlcMs: record.hlcMs, observer: record.observer }, value, status: record.status, invokeMs: now, resolvedMs: null, ok: null, applied: null, probe };
    this.log.writes.push(w);
    const handle: WriteHandle = this.meter.write(key, w.version, now);
    let settled = false;
    node.write(key, record, (ok, applied) => {
      if (settled) return;
      settled = true;
      w.ok = ok;
      w.applied = ok ? applied : false;
      w.resolvedMs = this.sim.nowMs;
      if (ok) {
        handle.confirmed = true;
        this.meter.completed(key, w.version);
      } else this.meter.cancel(handle);
    });
    return w;
  }

  private read(id: string, i: number, at: number, n: number): void {
    const next = at + this.opts.readIntervalMs;
    if (next < this.opts.stopMs) this.sim.schedule(next, () => this.read(id, i, next, n + 1));
    if (!this.cluster.isUp(id) || !this.cluster.members().includes(id)) return;
    const node = this.sim.tryNode(id);
    if (node === undefined) return;
    const o = hashString(`readkey:${this.seed}:${id}:${n}`) % this.opts.origins;
    const key = recordKey(o);
    const local = node.readLocal(key);
    this.meter.op(i);
    this.log.reads.push({
      node: id,
      key,
      kind: "local",
      invokeMs: at,
      returnMs: at,
      ok: true,
      version: local === undefined ? null : { hlcMs: local.hlcMs, observer: local.observer },
      value: local === undefined ? null : JSON.stringify(local),
      status: local?.status ?? null,
      checkedAtMs: local?.checkedAtMs ?? null,
    });
    if (!this.opts.linearizableReads || node.readLinearizable === undefined) return;
    const r: ReadRecord = { node: id, key, kind: "linearizable", invokeMs: at, returnMs: null, ok: false, version: null, value: null, status: null, checkedAtMs: null };
    this.log.reads.push(r);
    node.readLinearizable(key, (res) => {
      if (r.returnMs !== null) return;
      r.returnMs = this.sim.nowMs;
      r.ok = res.ok;
      if (res.ok && res.record !== undefined) {
        r.version = { hlcMs: res.record.hlcMs, observer: res.record.observer };
        r.value = JSON.stringify(res.record);
        r.status = res.record.status;
        r.checkedAtMs = res.record.checkedAtMs;
      }
    });
  }
}

/** The newest of two versions (either may be missing). */
export function newest(a: Version | undefined, b: Version | undefined): Version | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareVersion(a, b) >= 0 ? a : b;
}
