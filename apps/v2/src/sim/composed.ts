/**
 * The composed simulation: every stage's real pure core in one simulated
 * process per agent, run by `@heck/sim`'s Simulation runner on its simulated
 * network (latency, loss, partitions, crashes, restarts), from one seed.
 *
 *   V2Process = SwimNode (@heck/swim)        membership and failure detection
 *             + KvNode (@heck/crdt-kv)        origins and health records, delta gossip
 *             + AgentCore (this package)      ownership (@heck/ownership), hand-off, records
 *             + a modelled v1 engine          checks each active origin once per interval
 *
 * Where `cluster-sim.ts` models SWIM and the store with delays, this one runs
 * the protocols themselves, so the invariants below hold (or fail) for the
 * actual composition. The shared {@link World} plays the origins: it knows
 * each origin's true status and records every check, which is how the
 * invariants see coverage and load.
 *
 * Each part is a core with the shared Ready contract; the process drains
 * their batches in the shared order and hands the runner one Ready of its
 * own: SWIM's incarnation records and crdt-kv's WAL lines and snapshots go
 * to the process's simulated disk, and a restarted process recovers both
 * from it, through each stage's own recovery code. crdt messages travel as
 * their wire text and are decoded on arrival, as by the real driver.
 */
import type { Channel, DiskImage, NodeId, Outbound, Prng, SimProcess, SimReady } from "@heck/sim";
import { SwimNode, presetConfig, recoverIncarnation, resolveConfig, type MemberEvent, type SwimConfig, type SwimMessage, type SwimRecord } from "@heck/swim";
import { KvNode, diskFromWal, receiveWire, wireOf, type Json } from "@heck/crdt-kv";
import { AgentCore, TAKEOVER_FIRST_CHECK_MS, type AgentCoreConfig } from "../core/agent-core.ts";
import { decodeRecord } from "../core/health-record.ts";
import type { OwnershipScheme } from "../core/ownership-view.ts";
import type { HealthStatus, OriginSpec } from "../core/types.ts";

/** A message between two simulated agents: one of the two protocols (crdt-kv's as its wire text). */
export type V2Message = { p: "swim"; m: SwimMessage } | { p: "kv"; m: string };

/** One record on an agent's disk: SWIM's incarnation, or a crdt-kv WAL line. */
export type V2Record = { p: "swim"; r: SwimRecord } | { p: "kv"; r: string };

/**
 * A snapshot on an agent's disk: crdt-kv's snapshot, which replaces the
 * records before it, so it carries SWIM's incarnation at that point too.
 */
export interface V2Snapshot {
  kv: string;
  swimIncarnation: number;
}

/** What a restarted agent recovers from its disk: SWIM's incarnation (from its records) and the crdt replica's snapshot and WAL. */
export function recoverAgentDisk(disk: DiskImage<V2Record, V2Snapshot>): { swimIncarnation: number; kv: ReturnType<typeof diskFromWal> } {
  const swim: SwimRecord[] = [];
  const kv: string[] = [];
  for (const rec of disk.records) {
    if (rec.p === "swim") swim.push(rec.r);
    else kv.push(rec.r);
  }
  return {
    swimIncarnation: Math.max(disk.snapshot?.swimIncarnation ?? 0, recoverIncarnation(swim)),
    kv: diskFromWal({ snapshot: disk.snapshot?.kv ?? null, records: kv }),
  };
}

/** The origins: true status, and every check made (for the invariants). */
export class World {
  readonly truth = new Map<string, HealthStatus>();
  readonly lastCheckMs = new Map<string, number>();
  /** Checks per origin since the last `resetCounts`. */
  counts = new Map<string, number>();
  checks = 0;
  maxGapMs = 0;
  gapViolation: string | undefined;
  /** Coverage is judged only after this time (first checks are spread over an interval). */
  judgeAfterMs = 0;

  constructor(
    readonly origins: readonly string[],
    /** Longest allowed time between two checks of an origin. */
    public coverageBoundMs: number,
  ) {
    for (const o of origins) this.truth.set(o, "healthy");
  }

  /** One check of `origin` by `node`; returns the origin's true status. */
  check(origin: string, node: NodeId, nowMs: number): HealthStatus {
    this.checks += 1;
    this.counts.set(origin, (this.counts.get(origin) ?? 0) + 1);
    const last = this.lastCheckMs.get(origin);
    if (last !== undefined && nowMs > this.judgeAfterMs) {
      const gap = nowMs - last;
      this.maxGapMs = Math.max(this.maxGapMs, gap);
      if (gap > this.coverageBoundMs && this.gapViolation === undefined) {
        this.gapViolation = `${origin} unchecked for ${gap} ms (bound ${this.coverageBoundMs}) until ${node} checked it at t=${nowMs}`;
      }
    }
    this.lastCheckMs.set(origin, nowMs);
    return this.truth.get(origin) ?? "unknown";
  }

  resetCounts(): void {
    this.counts = new Map();
  }

  /** Origins not checked for longer than the bound at `nowMs`. */
  stale(nowMs: number): string[] {
    return this.origins.filter((o) => nowMs - (this.lastCheckMs.get(o) ?? -Infinity) > this.coverageBoundMs);
  }
}

/** Options shared by every process of a run. */
export interface V2ProcessOptions {
  world: World;
  scheme: OwnershipScheme;
  intervalMs: number;
  swim: SwimConfig;
  /** crdt gossip period. */
  kvSyncIntervalMs: number;
  core: Omit<AgentCoreConfig, "self">;
  /** Every node of the initial cluster (started converged, as after a join). */
  initialMembers: readonly NodeId[];
  /** Nodes to join through when (re)started later. */
  seeds: readonly NodeId[];
  /** The node that writes the origin list into the store at the start. */
  originWriter: NodeId;
}

const ORIGIN_PREFIX = "o/";
const HEALTH_PREFIX = "h/";

/** One simulated agent: SWIM + crdt-kv + AgentCore + a modelled engine. */
export class V2Process implements SimProcess<V2Message, V2Record, V2Snapshot> {
  readonly swim: SwimNode;
  readonly kv: KvNode;
  readonly core: AgentCore;
  private readonly engine = new Map<string, number>(); // origin -> next due
  private readonly prng: Prng;
  private outbox: Outbound<V2Message>[] = [];
  private snapshot: V2Snapshot | null = null;
  private records: V2Record[] = [];
  /** SWIM's incarnation as last persisted, for the next snapshot. */
  private swimIncarnation = 0;
  private joined: boolean;
  private nextEngineDueMs = Infinity;

  constructor(
    readonly id: NodeId,
    private readonly o: V2ProcessOptions,
    args: { prng: Prng; nowMs: number; disk: DiskImage<V2Record, V2Snapshot> | undefined; fresh: boolean },
  ) {
    this.prng = args.prng.fork("engine");
    const restarted = args.disk !== undefined;
    const recovered = args.disk !== undefined ? recoverAgentDisk(args.disk) : undefined;
    const startConverged = args.fresh && !restarted;
    this.swim = new SwimNode({
      name: id,
      addr: id,
      config: o.swim,
      prng: args.prng.fork("swim"),
      nowMs: args.nowMs,
      ...(recovered !== undefined ? { incarnation: recovered.swimIncarnation + 1 } : {}),
      ...(startConverged ? { initialMembers: o.initialMembers.map((m) => ({ name: m, addr: m })) } : {}),
    });
    this.kv = new KvNode(
      {
        id,
        address: id,
        peers: () => this.swim.members().filter((m) => m.name !== id && (m.state === "alive" || m.state === "suspect")).map((m) => m.addr),
        prng: args.prng.fork("kv"),
        syncIntervalMs: o.kvSyncIntervalMs,
        emitEvents: true,
      },
      args.nowMs,
      recovered?.kv,
    );
    if (recovered !== undefined) {
      // A restart comes back one incarnation up (it refutes whatever it was
      // accused of before the crash); that choice is made here, so persisted here.
      this.swimIncarnation = recovered.swimIncarnation + 1;
      this.records.push({ p: "swim", r: { incarnation: this.swimIncarnation } });
    }
    this.core = new AgentCore({ self: id, ...o.core }, o.scheme);
    this.joined = startConverged;
    if (!startConverged) this.swim.join(o.seeds.filter((s) => s !== id), args.nowMs, { maxAttempts: 0, initialIntervalMs: 500, maxIntervalMs: 2_000 });
    // A restarted replica still holds what it had: feed it to the core.
    for (const key of this.kv.list(ORIGIN_PREFIX)) this.onKey(key, args.nowMs);
    for (const key of this.kv.list(HEALTH_PREFIX)) this.onKey(key, args.nowMs);
    if (id === o.originWriter && args.fresh && !restarted) {
      for (const origin of o.world.origins) this.kv.put(`${ORIGIN_PREFIX}${origin}`, { id: origin, url: `http://sim/${origin}` }, { ts: args.nowMs });
    }
    if (this.joined) this.core.setMembers(this.ownerIds(), args.nowMs);
    this.pump(args.nowMs);
  }

  private ownerIds(): string[] {
    return this.swim.members().filter((m) => m.state === "alive" || m.state === "suspect").map((m) => m.name);
  }

  private onKey(key: string, nowMs: number): void {
    const read = this.kv.get(key);
    if (key.startsWith(ORIGIN_PREFIX)) {
      const id = key.slice(ORIGIN_PREFIX.length);
      if (read.exists) this.core.putOrigin(read.value as unknown as OriginSpec, nowMs);
      else this.core.removeOrigin(id);
    } else if (key.startsWith(HEALTH_PREFIX) && read.exists) {
      const d = decodeRecord(read.value);
      if (d.ok) this.core.mergeRecord(d.value, nowMs);
    }
  }

  /**
   * Moves everything between the parts until nothing is left to move: drains
   * each part's Ready in the shared order (persist onto this process's
   * disk, send, then apply and notify) and feeds the others.
   */
  private pump(nowMs: number): void {
    for (let round = 0; round < 8; round++) {
      let moved = false;
      let events: readonly MemberEvent[] = [];
      let swimMessages: readonly Outbound<SwimMessage>[] = [];
      if (this.swim.hasReady()) {
        const rd = this.swim.ready();
        for (const r of rd.records) {
          this.records.push({ p: "swim", r });
          this.swimIncarnation = r.incarnation;
        }
        swimMessages = rd.messages;
        events = rd.events;
        this.swim.advance();
      }
      if (!this.joined && this.swim.joinProgress().succeeded.length > 0) {
        this.joined = true;
        moved = true;
      }
      if (this.joined && (events.length > 0 || moved)) this.core.setMembers(this.ownerIds(), nowMs);
      if (this.kv.hasReady()) {
        const kvReady = this.kv.ready();
        if (kvReady.snapshot !== null) {
          // The snapshot replaces every record before it, SWIM's included: it carries the incarnation.
          this.snapshot = { kv: kvReady.snapshot, swimIncarnation: this.swimIncarnation };
          this.records = [];
        }
        for (const r of kvReady.records) this.records.push({ p: "kv", r });
        for (const e of kvReady.events) {
          this.onKey(e.key, nowMs);
          moved = true;
        }
        for (const m of kvReady.messages) this.outbox.push({ to: m.to, message: { p: "kv", m: wireOf(m.message) }, ...(m.channel ? { channel: m.channel } : {}) });
        this.kv.advance();
      }
      const ready = this.core.ready();
      this.core.advance();
      for (const id of ready.stop) this.engine.delete(id);
      for (const s of ready.start) {
        // v1's engine spreads first checks over one interval; a take-over
        // over the agent's firstCheckWithinMs (src/io/agent.ts).
        const window = s.takeOver ? Math.min(this.o.intervalMs, TAKEOVER_FIRST_CHECK_MS) : this.o.intervalMs;
        // At least 1 ms out: a check due at the instant it was scheduled would be a deadline not in the future.
        this.engine.set(s.spec.id, nowMs + 1 + this.prng.nextInt(0, window - 1));
      }
      for (const w of ready.writes) {
        this.kv.put(`${HEALTH_PREFIX}${w.id}`, w as unknown as Json, { ts: w.hlcMs });
        moved = true;
      }
      if (ready.stop.length + ready.start.length > 0) this.nextEngineDueMs = Math.min(...this.engine.values(), Infinity);
      for (const m of swimMessages) this.outbox.push({ to: m.to, message: { p: "swim", m: m.message }, ...(m.channel ? { channel: m.channel } : {}) });
      if (!moved) return;
    }
  }

  tick(nowMs: number): void {
    this.swim.tick(nowMs);
    this.kv.tick(nowMs);
    this.core.tick(nowMs);
    if (nowMs >= this.nextEngineDueMs) {
      for (const [origin, due] of this.engine) {
        if (due > nowMs) continue;
        const status = this.o.world.check(origin, this.id, nowMs);
        this.engine.set(origin, due + this.o.intervalMs);
        // fall = rise = 1 in the model: the engine's status is the check's result.
        this.core.observe(origin, { status, checkedAtMs: nowMs }, nowMs);
      }
      this.nextEngineDueMs = Math.min(...this.engine.values(), Infinity);
    }
    this.pump(nowMs);
  }

  receive(from: NodeId, message: V2Message, channel: Channel, nowMs: number): void {
    if (message.p === "swim") this.swim.receive(from, message.m, channel, nowMs);
    else receiveWire(this.kv, from, message.m, channel, nowMs);
    this.pump(nowMs);
  }

  streamFailed(to: NodeId, message: V2Message, nowMs: number): void {
    if (message.p === "swim") this.swim.streamFailed(to, message.m, nowMs);
    this.pump(nowMs);
  }

  hasReady(): boolean {
    return this.outbox.length > 0 || this.records.length > 0 || this.snapshot !== null;
  }

  /** The parts' work since the last batch: their records and snapshot for this process's disk (synced), then their messages. */
  ready(): SimReady<V2Message, V2Record, V2Snapshot> {
    const rd = { snapshot: this.snapshot, records: this.records, mustSync: this.snapshot !== null || this.records.length > 0, messages: this.outbox };
    this.snapshot = null;
    this.records = [];
    this.outbox = [];
    return rd;
  }

  advance(): void {}

  nextDeadlineMs(): number {
    return Math.min(this.swim.nextDeadlineMs(), this.kv.nextDeadlineMs(), this.core.nextDeadlineMs(), this.nextEngineDueMs);
  }

  /** True when this node's SWIM view holds exactly `up` as alive (or suspect). */
  viewIs(up: ReadonlySet<string>): boolean {
    const mine = this.ownerIds();
    return mine.length === up.size && mine.every((m) => up.has(m));
  }
}

/** SWIM timings for simulations: the `local` preset with a 200 ms probe, so runs stay short. */
export function simSwimConfig(): SwimConfig {
  return resolveConfig({ probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50, pushPullIntervalMs: 5_000 }, presetConfig("local"));
}
