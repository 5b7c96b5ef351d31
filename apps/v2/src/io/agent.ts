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
 * the status continues across owners), write records. The HTTP API, the
 * dashboard and the metrics see the agent only through its {@link AgentPort}
 * (queries and a few commands); they never decide anything. Which store
 * backs it is the factory's business (store/open-store.ts): the agent knows
 * the {@link HeckStore} interface alone.
 */
import { mkdirSync } from "node:fs";
import { ownersOf } from "@heck/ownership";
import { startMember, type SwimMember, type MemberInfo as SwimMemberInfo } from "@heck/swim";
import { CheckEngine, parseDefaults, parseTarget, type InitialHealth, type ResultEvent, type TargetDefaults } from "@heck/v1-checker";
import type { FaultCommand } from "@heck/sim";
import { AgentCore, TAKEOVER_FIRST_CHECK_MS, type ActiveReason, type AgentReady, type CoreEvent } from "../core/agent-core.ts";
import type { AgentConfig } from "../core/config.ts";
import type { OwnershipScheme } from "../core/ownership-view.ts";
import type { HealthRecord, MemberId, MemberInfo, OriginSpec, OwnershipEntry } from "../core/types.ts";
import type { AgentPort, FaultSettings, MalformedCounts, MemberDetail } from "./agent-port.ts";
import { ApiServer } from "./api.ts";
import { AgentMetrics } from "./metrics.ts";
import { openStore } from "./store/open-store.ts";
import type { HeckStore, StoreEvent, StorePeerFaults } from "./store/store.ts";

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
    if (typeof v !== "object" || v === null) return undefined;
    const { api, crdt, grpc } = v as Record<string, unknown>;
    // Every address the agent will dial must be a string, or another member's bad metadata crashes a lookup later.
    if (typeof api !== "string" || (crdt !== undefined && typeof crdt !== "string") || (grpc !== undefined && typeof grpc !== "string")) return undefined;
    return { api, ...(crdt !== undefined ? { crdt } : {}), ...(grpc !== undefined ? { grpc } : {}) };
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
export class Agent implements AgentPort {
  private readonly core: AgentCore;
  private readonly metrics: AgentMetrics;
  private readonly engine: CheckEngine;
  private member!: SwimMember;
  private store!: HeckStore;
  /** Fault switches of the store's own peer traffic (crdt gossip, raft peers); none for client-only stores. */
  private storeFaults: StorePeerFaults | undefined;
  private api!: ApiServer;
  private tickTimer: NodeJS.Timeout | undefined;
  private writeBuffer: HealthRecord[] = [];
  private writeScheduled = false;
  private stopped = false;
  /** Why the agent cannot answer for the cluster yet (see {@link Agent.starting}); null once up. */
  private startPhase: string | null = "opening the store";
  private leaving: Promise<void> | undefined;
  private resolveStopped!: () => void;
  private readonly stoppedPromise = new Promise<void>((r) => (this.resolveStopped = r));
  readonly startedAtMs = Date.now();
  private readonly logLine: (line: string) => void;
  private readonly defaults: TargetDefaults;

  private constructor(
    readonly config: AgentConfig,
    options: AgentOptions,
  ) {
    this.logLine = options.log ?? ((line) => process.stderr.write(`[${config.id}] ${line}\n`));
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
    const opened = await openStore(c, {
      crdtPeers: () => this.peerMetas().flatMap((m) => (m.crdt ? [m.crdt] : [])),
      log: (line) => this.log(line),
    });
    this.store = opened.store;
    this.storeFaults = opened.peerFaults;

    // The API listens from here on, so a client hears "starting" rather than nothing; until the
    // origin list is loaded below, every answer about origins would be an empty or partial list.
    this.startPhase = "starting the membership";
    this.api = await ApiServer.start(this, c.api, c.token);
    const meta: AgentMeta = { api: this.api.address, ...opened.advertise };

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
    if (c.join.length > 0) {
      this.startPhase = `joining the cluster through ${c.join.join(", ")}`;
      await this.joinCluster(c.join, c.joinTimeoutMs);
    }

    this.engine.on("result", (e) => this.onResult(e));
    this.engine.start();

    this.startPhase = `loading the origin list from the ${this.store.kind} store`;
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
    this.startPhase = null;
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
  // Queries: the read side of the AgentPort (API, dashboard, metrics)
  // ---------------------------------------------------------------------------

  get id(): string {
    return this.config.id;
  }

  get replicas(): number {
    return this.config.replicas;
  }

  get handoffGraceMs(): number {
    return this.config.handoffGraceMs;
  }

  /** This agent's API address (host:port). */
  get apiAddress(): string {
    return this.api.address;
  }

  /** This agent's SWIM address (host:port). */
  get gossipAddress(): string {
    return this.member.address;
  }

  /**
   * Null once the agent is up; before, what it is doing (joining, loading the
   * origin list). Its lists are incomplete until then, so the API says
   * "starting" instead of answering with them.
   */
  get starting(): string | null {
    return this.startPhase;
  }

  originList(): readonly OriginSpec[] {
    return this.core.originList();
  }

  origin(id: string): OriginSpec | undefined {
    return this.core.origin(id);
  }

  record(id: string): HealthRecord | undefined {
    return this.core.record(id);
  }

  ownersOf(id: string): readonly MemberId[] {
    return this.core.ownersOf(id);
  }

  activeOrigins(): ReadonlyMap<string, ActiveReason> {
    return this.core.activeOrigins();
  }

  ownerView(): readonly MemberId[] {
    return this.core.members();
  }

  load(): ReadonlyMap<MemberId, number> {
    return this.core.load();
  }

  ownershipTable(): readonly OwnershipEntry[] {
    return this.core.table();
  }

  /** Members that own origins: SWIM alive and suspect (suspicion is not death, SWIM §4.2). */
  private ownerIds(): string[] {
    return this.member.members().filter((m) => m.state === "alive" || m.state === "suspect").map((m) => m.name);
  }

  /** Every member SWIM knows, with its API address. */
  members(): MemberInfo[] {
    return this.member.members().map((m: SwimMemberInfo) => {
      const meta = decodeMeta(m.meta);
      return { id: m.name, state: m.state, incarnation: m.incarnation, ...(meta ? { api: meta.api } : {}) };
    });
  }

  memberDetails(): MemberDetail[] {
    return this.swimMembers().map((m) => ({ id: m.id, addr: m.addr, state: m.state, incarnation: m.incarnation, api: m.meta?.api }));
  }

  /** SWIM members with their decoded metadata (for fault injection and gossip peers). */
  private swimMembers(): { id: string; addr: string; state: MemberInfo["state"]; incarnation: number; meta: AgentMeta | undefined }[] {
    return this.member.members().map((m) => ({ id: m.name, addr: m.addr, state: m.state, incarnation: m.incarnation, meta: decodeMeta(m.meta) }));
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

  storeStatus() {
    return this.store.status();
  }

  engineStats() {
    return this.engine.stats();
  }

  malformed(): MalformedCounts {
    return { api: this.api.malformedRequests, swim: this.member.stats().malformed.swim, store: this.store.status().malformedPeerMessages };
  }

  async metricsText(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.metrics.registry.contentType, text: await this.metrics.registry.metrics() };
  }

  log(line: string): void {
    this.logLine(line);
  }

  // ---------------------------------------------------------------------------
  // Commands: the write side of the AgentPort
  // ---------------------------------------------------------------------------

  validateOrigin(raw: unknown, path: string): { ok: true } | { ok: false; errors: string[] } {
    const parsed = parseTarget(raw, this.defaults, path);
    return parsed.ok ? { ok: true } : { ok: false, errors: parsed.errors };
  }

  /** Adds several validated origins at once (pipelined in the store); throws a TypeError naming the field for bad input. */
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

  /**
   * Blocks or unblocks traffic with members (by id, or a raw transport
   * address) on every transport this agent has: SWIM, and the store's own
   * peer traffic (crdt gossip, raft peers). `dropRate` drops that share of
   * packets. Partitions real processes without root, for tests and demos.
   * Returns the resulting settings.
   */
  setFaults(f: FaultCommand): FaultSettings {
    const byId = new Map(this.swimMembers().map((m) => [m.id, m]));
    // Each member by id and by every address it has: SWIM's, and its store's gossip address.
    const peersOf = (ids: readonly string[], field: string) => {
      const addrs = ids.flatMap((id) => {
        const m = byId.get(id);
        if (m !== undefined) return [m.addr, ...(m.meta?.crdt ? [m.meta.crdt] : [])];
        if (/^[^\s:]+:\d{1,5}$/.test(id)) return [id]; // a raw transport address
        throw new TypeError(`${field}: unknown member ${JSON.stringify(id)}`);
      });
      return { ids, addrs };
    };
    const swim = this.member.faults;
    const store = this.storeFaults;
    // Unblock before block, as @heck/sim's applyFaultCommand does, so one body can move a cut.
    if (f.unblockAll === true) {
      swim.unblock();
      store?.unblock();
    }
    if (f.unblock !== undefined) {
      const peers = peersOf(f.unblock, "unblock");
      swim.unblock([...peers.addrs]);
      store?.unblock(peers);
    }
    if (f.block !== undefined) {
      const peers = peersOf(f.block, "block");
      swim.block([...peers.addrs]);
      store?.block(peers);
    }
    if (f.dropRate !== undefined) {
      if (!(f.dropRate >= 0 && f.dropRate <= 1)) throw new TypeError("dropRate: must be a number in [0, 1]");
      swim.setDropRate(f.dropRate);
      store?.setDropRate?.(f.dropRate);
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
