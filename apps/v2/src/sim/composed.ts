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
 */
import type { Channel, NodeId, Outbound, Prng, SimProcess } from "@heck/sim";
import { SwimNode, presetConfig, resolveConfig, type SwimConfig, type SwimMessage, type SwimPersisted } from "@heck/swim";
import { KvNode, type Json, type KvPersisted } from "@heck/crdt-kv";
import { AgentCore, TAKEOVER_FIRST_CHECK_MS, type AgentCoreConfig } from "../core/agent-core.ts";
import { decodeRecord } from "../core/health-record.ts";
import type { OwnershipScheme } from "../core/ownership-view.ts";
import type { HealthStatus, OriginSpec } from "../core/types.ts";

/** A message between two simulated agents: one of the two protocols. */
export type V2Message = { p: "swim"; m: SwimMessage } | { p: "kv"; m: string | Uint8Array };

/** What survives a simulated crash: SWIM's incarnation and the crdt replica's disk. */
export interface V2Persisted {
  swim: SwimPersisted;
  kv: KvPersisted;
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
export class V2Process implements SimProcess<V2Message, V2Persisted> {
  readonly swim: SwimNode;
  readonly kv: KvNode;
  readonly core: AgentCore;
  private readonly engine = new Map<string, number>(); // origin -> next due
  private readonly prng: Prng;
  private outbox: Outbound<V2Message>[] = [];
  private joined: boolean;
  private nextEngineDueMs = Infinity;

  constructor(
    readonly id: NodeId,
    private readonly o: V2ProcessOptions,
    args: { prng: Prng; nowMs: number; persisted: V2Persisted | undefined; fresh: boolean },
  ) {
    this.prng = args.prng.fork("engine");
    const restarted = args.persisted !== undefined;
    const startConverged = args.fresh && !restarted;
    this.swim = new SwimNode({
      name: id,
      addr: id,
      config: o.swim,
      prng: args.prng.fork("swim"),
      nowMs: args.nowMs,
      ...(restarted ? { incarnation: args.persisted!.swim.incarnation + 1 } : {}),
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
      args.persisted?.kv,
    );
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

  /** Moves everything between the parts until nothing is left to move. */
  private pump(nowMs: number): void {
    for (let round = 0; round < 8; round++) {
      let moved = false;
      const events = this.swim.takeMemberEvents();
      if (!this.joined && this.swim.joinProgress().succeeded.length > 0) {
        this.joined = true;
        moved = true;
      }
      if (this.joined && (events.length > 0 || moved)) this.core.setMembers(this.ownerIds(), nowMs);
      const kvReady = this.kv.takeReady();
      for (const e of kvReady.events) {
        this.onKey(e.key, nowMs);
        moved = true;
      }
      for (const m of kvReady.messages) this.outbox.push({ to: m.to, message: { p: "kv", m: m.message }, ...(m.channel ? { channel: m.channel } : {}) });
      const ready = this.core.takeReady();
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
      for (const m of this.swim.takeOutbox()) this.outbox.push({ to: m.to, message: { p: "swim", m: m.message }, ...(m.channel ? { channel: m.channel } : {}) });
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
    else this.kv.receive(from, message.m, channel, nowMs);
    this.pump(nowMs);
  }

  streamFailed(to: NodeId, message: V2Message, nowMs: number): void {
    if (message.p === "swim") this.swim.streamFailed(to, message.m, nowMs);
    this.pump(nowMs);
  }

  takeOutbox(): Outbound<V2Message>[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  nextDeadlineMs(): number {
    return Math.min(this.swim.nextDeadlineMs(), this.kv.nextDeadlineMs(), this.core.nextDeadlineMs(), this.nextEngineDueMs);
  }

  persisted(): V2Persisted {
    return { swim: this.swim.persisted(), kv: this.kv.persisted() };
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
