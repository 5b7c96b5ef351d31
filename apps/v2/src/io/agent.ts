/**
 * The v2 agent: the driver that connects the pure {@link AgentCore} to the
 * stages it is composed of.
 *
 *   SWIM member (@heck/swim)  --alive members-->  AgentCore  --start/stop-->  CheckEngine (@heck/v1-checker)
 *   store (crdt-kv | raft-kv | etcd)  --origins, records-->  AgentCore  --records-->  store
 *   rendezvous hashing (@heck/ownership) inside AgentCore's ownership view
 *
 * Every input is fed to the core, then the core's ready batch is carried
 * out in order: stop checks, start checks (seeded with the newest record so
 * the status continues across owners), write records. The HTTP API and the
 * dashboard read the core and the store status; they never decide anything.
 */
import { mkdirSync } from "node:fs";
import { ownersOf } from "@heck/ownership";
import { startMember, type SwimMember, type MemberInfo as SwimMemberInfo } from "@heck/swim";
import { CheckEngine, parseDefaults, parseTarget, type InitialHealth, type ResultEvent, type TargetDefaults } from "@heck/v1-checker";
import { AgentCore, TAKEOVER_FIRST_CHECK_MS, type AgentReady, type CoreEvent } from "../core/agent-core.ts";
import { splitHostPort, type AgentConfig } from "../core/config.ts";
import type { OwnershipScheme } from "../core/ownership-view.ts";
import type { HealthRecord, MemberInfo, OriginSpec } from "../core/types.ts";
import { ApiServer } from "./api.ts";
import { AgentMetrics } from "./metrics.ts";
import { CrdtStore } from "./store/crdt-store.ts";
import { EtcdKv, parseEndpoints } from "./store/etcd-kv.ts";
import { KvBackedStore } from "./store/kv-store.ts";
import { EmbeddedRaftKv } from "./store/raft-kv.ts";
import type { HeckStore, StoreEvent } from "./store/store.ts";

/** Rendezvous hashing from stage 2, as the core's ownership scheme. */
export const rendezvous: OwnershipScheme = { ownersOf: (origin, members, k) => ownersOf(origin, members, k) };

/** What each agent publishes in its SWIM metadata (JSON, well under SWIM's 512-byte limit). */
export interface AgentMeta {
  /** HTTP API "host:port". */
  api: string;
  /** crdt-kv gossip "host:port" (store crdt). */
  crdt?: string;
  /** raft-kv member's etcd gRPC "host:port" (store raft, embedded members). */
  grpc?: string;
}

/** Decodes a member's metadata; undefined for foreign or malformed metadata. */
export function decodeMeta(bytes: Uint8Array): AgentMeta | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (typeof v === "object" && v !== null && typeof (v as AgentMeta).api === "string") return v as AgentMeta;
  } catch {
    // not ours
  }
  return undefined;
}

/**
 * Checks the config file's origins as v1 would (same fields, same rules),
 * each error naming the origin by index (`origins[3].url: ...`), so a bad
 * list is refused before anything binds. Returns no errors for a good list.
 */
export function configOriginErrors(config: AgentConfig): string[] {
  const defaults = parseDefaults({ intervalMs: config.intervalMs, timeoutMs: config.timeoutMs, rise: config.rise, fall: config.fall });
  if (!defaults.ok) return defaults.errors;
  const errors: string[] = [];
  const seen = new Set<string>();
  config.origins.forEach((raw, i) => {
    const parsed = parseTarget(raw, defaults.value, `origins[${i}]`);
    if (!parsed.ok) errors.push(...parsed.errors);
    else if (seen.has(parsed.value.id)) errors.push(`origins[${i}].id: "${parsed.value.id}" appears twice in the list`);
    else seen.add(parsed.value.id);
  });
  return errors;
}

/** Options of {@link Agent.start} beyond the config. */
export interface AgentOptions {
  log?: (line: string) => void;
}

/** A running agent. */
export class Agent {
  readonly core: AgentCore;
  readonly metrics: AgentMetrics;
  private readonly engine: CheckEngine;
  private member!: SwimMember;
  private store!: HeckStore;
  private crdt: CrdtStore | undefined;
  private raft: EmbeddedRaftKv | undefined;
  private api!: ApiServer;
  private tickTimer: NodeJS.Timeout | undefined;
  private writeBuffer: HealthRecord[] = [];
  private writeScheduled = false;
  private stopped = false;
  private leaving: Promise<void> | undefined;
  private resolveStopped!: () => void;
  private readonly stoppedPromise = new Promise<void>((r) => (this.resolveStopped = r));
  readonly startedAtMs = Date.now();
  readonly log: (line: string) => void;
  readonly defaults: TargetDefaults;

  private constructor(
    readonly config: AgentConfig,
    options: AgentOptions,
  ) {
    this.log = options.log ?? ((line) => process.stderr.write(`[${config.id}] ${line}\n`));
    const defaults = parseDefaults({ intervalMs: config.intervalMs, timeoutMs: config.timeoutMs, rise: config.rise, fall: config.fall });
    if (!defaults.ok) throw new TypeError(defaults.errors.join("; "));
    this.defaults = defaults.value;
    const originErrors = configOriginErrors(config);
    if (originErrors.length > 0) throw new TypeError(originErrors.join("; "));
    this.core = new AgentCore(
      { self: config.id, replicas: config.replicas, refreshMs: config.refreshMs, handoffGraceMs: config.handoffGraceMs, promoteAfterMs: config.promoteAfterMs },
      rendezvous,
    );
    this.engine = new CheckEngine({ defaults: this.defaults, maxConcurrentChecks: config.maxConcurrentChecks });
    this.metrics = new AgentMetrics(this);
  }

  /**
   * Starts everything in dependency order: store (so its gossip address can
   * be advertised), HTTP API (so its address can be advertised), SWIM member
   * (joins the cluster), checking engine; then follows the store and the
   * membership. Rejects, after undoing what was started, on any failure.
   */
  static async start(config: AgentConfig, options: AgentOptions = {}): Promise<Agent> {
    const agent = new Agent(config, options);
    try {
      await agent.boot();
    } catch (e) {
      await agent.stop().catch(() => undefined);
      throw e;
    }
    return agent;
  }

  private async boot(): Promise<void> {
    const c = this.config;
    mkdirSync(c.dataDir, { recursive: true });
    const bindHost = splitHostPort(c.bind)!.host;
    const meta: AgentMeta = { api: "" };
    const storeLog = (line: string) => this.log(line);
    if (c.store === "crdt") {
      this.crdt = new CrdtStore({
        id: c.id,
        dataDir: `${c.dataDir}/crdt`,
        host: bindHost,
        port: c.crdtPort,
        prefix: c.prefix,
        syncIntervalMs: c.crdtSyncIntervalMs,
        peers: () => this.peerMetas().flatMap((m) => (m.crdt ? [m.crdt] : [])),
        // One key for every peer protocol: SWIM, crdt gossip, raft peers.
        ...(c.gossipKey !== "" ? { keys: [c.gossipKey] } : {}),
        log: storeLog,
      });
      await this.crdt.open();
      meta.crdt = this.crdt.address;
      this.store = this.crdt;
    } else if (c.store === "raft") {
      if (c.raftPeers[c.id] !== undefined) {
        this.raft = await EmbeddedRaftKv.start({
          id: c.id,
          peers: c.raftPeers,
          dataDir: `${c.dataDir}/raft`,
          grpc: c.raftGrpc,
          // One key for every peer protocol: SWIM, crdt gossip, raft peers.
          ...(c.gossipKey !== "" ? { keys: [c.gossipKey] } : {}),
          log: (l) => this.log(`raft: ${l}`),
        });
        meta.grpc = this.raft.grpcAddress ?? undefined;
        this.store = new KvBackedStore(this.raft, { kind: "raft", prefix: c.prefix, log: storeLog });
      } else {
        const kv = new EtcdKv({ endpoints: parseEndpoints(c.raftEndpoints.join(","), "raftEndpoints"), label: "raft-kv" });
        this.store = new KvBackedStore(kv, { kind: "raft", prefix: c.prefix, log: storeLog });
      }
    } else {
      this.store = new KvBackedStore(new EtcdKv({ endpoints: parseEndpoints(c.etcdEndpoints.join(","), "etcdEndpoints") }), { kind: "etcd", prefix: c.prefix, log: storeLog });
    }

    this.api = await ApiServer.start(this, c.api);
    meta.api = this.api.address;

    this.member = await startMember({
      name: c.id,
      bind: c.bind,
      meta: JSON.stringify(meta),
      preset: c.swimPreset,
      config: c.swim,
      keys: c.gossipKey ? [c.gossipKey] : [],
    });
    // Join like Consul's retry_join: agents started together may come up in
    // any order. Until the join succeeds this node owns nothing (its view
    // would be itself alone, and it would check every origin).
    if (c.join.length > 0) await this.joinCluster(c.join, c.joinTimeoutMs);

    this.engine.on("result", (e) => this.onResult(e));
    this.engine.start();

    await this.store.start((e) => this.onStoreEvent(e));
    // Origins from the config file seed an empty store; existing ones are kept.
    const seed: OriginSpec[] = [];
    // Validated in the constructor (configOriginErrors), before anything bound.
    for (const raw of c.origins) if (this.core.origin(String(raw.id)) === undefined) seed.push(raw as unknown as OriginSpec);
    if (seed.length > 0) await this.store.putOrigins(seed);

    this.member.subscribe((e) => {
      this.metrics.memberEvent(e.type);
      this.onMembership();
    });
    // The join has completed (startMember resolved after push-pull with a
    // seed), so the view is the cluster's: safe to take origins now.
    this.onMembership();
    const tickMs = Math.max(20, Math.min(250, Math.floor(c.intervalMs / 4)));
    this.tickTimer = setInterval(() => {
      this.core.tick(Date.now());
      this.process();
    }, tickMs);
    this.tickTimer.unref();
    this.log(`agent up: api http://${this.api.address}, gossip ${this.member.address}, store ${this.store.kind} (${this.store.status().detail})`);
  }

  /**
   * Joins through `seeds` with SWIM's `retryJoin` (Consul's `retry_join`:
   * attempts in which no seed answers are repeated with jittered backoff,
   * here from 250 ms up to 5 s, so agents started together find each other
   * within a second or two). Gives up after `timeoutMs` (0: never) with an
   * error naming the seeds; the caller's stop() then ends the retries.
   */
  private async joinCluster(seeds: readonly string[], timeoutMs: number): Promise<void> {
    const joining = this.member.retryJoin(seeds, { initialIntervalMs: 250, maxIntervalMs: 5_000 });
    if (timeoutMs === 0) {
      await joining;
      return;
    }
    // After a timeout, stop() makes `joining` reject ("before the member stopped"): nobody waits for it then.
    joining.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`join: none of ${seeds.join(", ")} answered within ${timeoutMs} ms (retried with backoff; is a seed up and reachable, with the same gossip key?)`)), timeoutMs);
    });
    try {
      await Promise.race([joining, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------------------
  // Inputs to the core
  // ---------------------------------------------------------------------------

  private onMembership(): void {
    if (this.stopped) return;
    this.core.setMembers(this.ownerIds(), Date.now());
    this.process();
  }

  private onStoreEvent(e: StoreEvent): void {
    const now = Date.now();
    if (e.type === "origin") {
      const parsed = parseTarget(e.spec, this.defaults);
      if (!parsed.ok) {
        this.log(`ignoring origin ${e.spec.id} from the store: ${parsed.errors.join("; ")}`);
        return;
      }
      this.core.putOrigin(e.spec, now);
    } else if (e.type === "origin-removed") this.core.removeOrigin(e.id);
    else this.core.mergeRecord(e.record, now);
    this.process();
  }

  private onResult(e: ResultEvent): void {
    const now = Date.now();
    this.metrics.check(e.result.ok);
    const err = e.result.error;
    this.core.observe(e.id, { status: e.status, checkedAtMs: now, latencyMs: Math.round(e.result.latencyMs * 10) / 10, lastError: err ? `${err.kind}: ${err.message}` : null }, now);
    this.process();
  }

  /**
   * Carries out the core's Ready batches: stop, start, write, events, then
   * advance. An input that arrives while a batch is being carried out (the
   * engine reporting synchronously) finds it outstanding; its batch is the
   * next turn of this loop.
   */
  private process(): void {
    while (this.core.hasReady()) {
      const ready = this.core.ready();
      this.carryOut(ready);
      this.core.advance();
    }
  }

  private carryOut(ready: AgentReady): void {
    for (const id of ready.stop) this.engine.remove(id);
    for (const s of ready.start) {
      const parsed = parseTarget(s.spec, this.defaults);
      if (!parsed.ok) {
        this.log(`cannot check ${s.spec.id}: ${parsed.errors.join("; ")}`);
        continue;
      }
      if (this.engine.has(s.spec.id)) this.engine.remove(s.spec.id);
      const prev = s.previous;
      // Continue the origin's history: the engine starts from the last known
      // status (and its since) instead of `unknown`.
      const initial: InitialHealth = prev !== undefined && prev.status !== "unknown" ? { status: prev.status, sinceMs: prev.sinceMs } : {};
      // A take-over (its checker died or left): the origin has gone unchecked for the detection
      // time already, so its first check comes within a fraction of an interval instead of at a
      // phase anywhere in the next one; failover coverage is detection + that window.
      if (s.takeOver) initial.firstCheckWithinMs = Math.min(parsed.value.intervalMs, TAKEOVER_FIRST_CHECK_MS);
      this.engine.addSpec(parsed.value, initial);
    }
    if (ready.writes.length > 0) {
      this.writeBuffer.push(...ready.writes);
      if (!this.writeScheduled) {
        // Coalesce the writes of one event-loop turn into one batch.
        this.writeScheduled = true;
        setImmediate(() => {
          this.writeScheduled = false;
          const batch = this.writeBuffer;
          this.writeBuffer = [];
          if (!this.stopped) this.store.writeRecords(batch);
        });
      }
    }
    for (const e of ready.events) this.onCoreEvent(e);
  }

  private onCoreEvent(e: CoreEvent): void {
    this.metrics.coreEvent(e);
    if (e.type === "view") this.log(`view: ${e.members.length} members [${e.members.join(",")}], ${e.moved} origins changed owner`);
  }

  // ---------------------------------------------------------------------------
  // Queries (API, dashboard, metrics)
  // ---------------------------------------------------------------------------

  /** Members that own origins: SWIM alive and suspect (suspicion is not death, SWIM §4.2). */
  ownerIds(): string[] {
    return this.member.members().filter((m) => m.state === "alive" || m.state === "suspect").map((m) => m.name);
  }

  /** Every member SWIM knows, with its API address. */
  members(): MemberInfo[] {
    return this.member.members().map((m: SwimMemberInfo) => {
      const meta = decodeMeta(m.meta);
      return { id: m.name, state: m.state, incarnation: m.incarnation, ...(meta ? { api: meta.api } : {}) };
    });
  }

  /** SWIM address and metadata of members (for fault injection and gossip peers). */
  memberDetails(): { id: string; addr: string; state: string; meta: AgentMeta | undefined }[] {
    return this.member.members().map((m) => ({ id: m.name, addr: m.addr, state: m.state, meta: decodeMeta(m.meta) }));
  }

  private peerMetas(): AgentMeta[] {
    if (this.member === undefined) return [];
    return this.member
      .members()
      .filter((m) => m.name !== this.config.id && (m.state === "alive" || m.state === "suspect"))
      .flatMap((m) => {
        const meta = decodeMeta(m.meta);
        return meta ? [meta] : [];
      });
  }

  /** The store's status line and counters. */
  storeStatus() {
    return this.store.status();
  }

  /** Engine counters. */
  engineStats() {
    return this.engine.stats();
  }

  /** This agent's API address (host:port). */
  get apiAddress(): string {
    return this.api.address;
  }

  /** This agent's SWIM address (host:port). */
  get gossipAddress(): string {
    return this.member.address;
  }

  // ---------------------------------------------------------------------------
  // Writes through any node
  // ---------------------------------------------------------------------------

  /** Adds (or replaces) an origin in the replicated list; throws a TypeError naming the field for bad input. */
  async addOrigin(raw: unknown, path = ""): Promise<OriginSpec> {
    const parsed = parseTarget(raw, this.defaults, path);
    if (!parsed.ok) throw new TypeError(parsed.errors.join("; "));
    const spec = raw as OriginSpec;
    await this.store.putOrigin(spec);
    return spec;
  }

  /** Adds several validated origins at once (pipelined in the store). */
  async addOrigins(raws: readonly unknown[]): Promise<OriginSpec[]> {
    const specs = raws.map((raw, i) => {
      const parsed = parseTarget(raw, this.defaults, `[${i}]`);
      if (!parsed.ok) throw new TypeError(parsed.errors.join("; "));
      return raw as OriginSpec;
    });
    await this.store.putOrigins(specs);
    return specs;
  }

  /** Removes an origin everywhere; false when unknown. */
  async removeOrigin(id: string): Promise<boolean> {
    if (this.core.origin(id) === undefined) return false;
    await this.store.removeOrigin(id);
    return true;
  }

  // ---------------------------------------------------------------------------
  // Faults (tests and demos: partition real processes without root)
  // ---------------------------------------------------------------------------

  /**
   * Blocks or unblocks traffic with members (by id) on every transport this
   * agent has: SWIM, crdt gossip, raft peers. `dropRate` drops that share of
   * packets. Returns the resulting settings.
   */
  setFaults(f: { block?: string[]; unblock?: string[]; unblockAll?: boolean; dropRate?: number }): { blocked: string[]; dropRate: number } {
    const byId = new Map(this.memberDetails().map((m) => [m.id, m]));
    const addrsOf = (ids: string[], field: string) =>
      ids.flatMap((id) => {
        const m = byId.get(id);
        if (m !== undefined) return [m.addr, ...(m.meta?.crdt ? [m.meta.crdt] : [])];
        if (/^[^\s:]+:\d{1,5}$/.test(id)) return [id]; // a raw transport address
        throw new TypeError(`${field}: unknown member ${JSON.stringify(id)}`);
      });
    const raftIds = (ids: string[]) => ids.filter((id) => this.config.raftPeers[id] !== undefined);
    const swim = this.member.faults;
    const crdt = this.crdt?.faults;
    // Unblock before block, as @heck/sim's applyFaultCommand does, so one body can move a cut.
    if (f.unblockAll === true) {
      swim.unblock();
      crdt?.unblock();
      this.raft?.server.node.unblock();
    }
    if (f.unblock !== undefined) {
      const addrs = addrsOf(f.unblock, "unblock");
      swim.unblock(addrs);
      crdt?.unblock(addrs);
      this.raft?.server.node.unblock(raftIds(f.unblock));
    }
    if (f.block !== undefined) {
      const addrs = addrsOf(f.block, "block");
      swim.block(addrs);
      crdt?.block(addrs);
      this.raft?.server.node.block(raftIds(f.block));
    }
    if (f.dropRate !== undefined) {
      if (!(f.dropRate >= 0 && f.dropRate <= 1)) throw new TypeError("dropRate: must be a number in [0, 1]");
      swim.setDropRate(f.dropRate);
      crdt?.setDropRate(f.dropRate);
    }
    const blockedAddrs = new Set(swim.faults().blocked);
    return { blocked: [...byId.values()].filter((m) => blockedAddrs.has(m.addr)).map((m) => m.id), dropRate: swim.faults().dropRate };
  }

  // ---------------------------------------------------------------------------
  // Shutdown
  // ---------------------------------------------------------------------------

  /**
   * Leaves gracefully: tells the cluster through SWIM (members record "left",
   * not a failure, and recompute ownership at once), keeps checking every
   * owned origin until its new owner has written a record (or the hand-off
   * grace ends), flushes the store, then stops.
   */
  leave(): Promise<void> {
    this.leaving ??= (async () => {
      const now = Date.now();
      const until = now + this.config.handoffGraceMs;
      this.core.leave(now, until);
      this.process();
      await this.member.leave(2_000).catch(() => false);
      while (this.core.activeOrigins().size > 0 && Date.now() < until + 500) await new Promise((r) => setTimeout(r, 50));
      await this.stop();
    })();
    return this.leaving;
  }

  /** Resolves once the agent has stopped (after a leave through the API, a signal, or stop()). */
  whenStopped(): Promise<void> {
    return this.stoppedPromise;
  }

  /** Stops everything at once (no hand-off). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.shutdown();
    } finally {
      this.resolveStopped();
    }
  }

  private async shutdown(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    await this.engine.stop().catch(() => undefined);
    if (this.writeBuffer.length > 0 && this.store !== undefined) this.store.writeRecords(this.writeBuffer.splice(0));
    await Promise.allSettled([this.member?.shutdown(), this.api?.close()]);
    await this.store?.close().catch(() => undefined);
  }
}
