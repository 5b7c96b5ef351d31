/**
 * One SWIM + Lifeguard member as a pure state machine.
 *
 * Inputs: `tick(nowMs)` when `nextDeadlineMs()` is reached, `receive(from,
 * message, channel, nowMs)` for every decoded message, and the application's
 * `join`, `updateMeta`, `leave`. Output: one {@link SwimReady} batch at a
 * time (`ready()`, then `advance()`, the contract every Heck core shares,
 * @heck/sim's ready.ts): the new incarnation to persist when it changed,
 * packets and stream messages to send, in order, and the membership changes
 * to notify. There are no timers, clocks or sockets in here: the simulation
 * runner and the real driver (src/io/driver.ts) feed time and messages in,
 * so a seed replays a run exactly.
 *
 * Per protocol period (SWIM §3.1, §4.3): probe the next member in a shuffled
 * round robin; without an ack after probeTimeoutMs ask `indirectChecks`
 * others (ping-req, with Lifeguard nacks) and try a stream ping; without any
 * ack by the end of the period, suspect it. Updates ride on every packet
 * (SWIM §4.1) and on gossip rounds every gossipIntervalMs. Push-pull
 * exchanges full state periodically and on join.
 */
import { NONE, utf8Length, type Address, type Channel, type Outbound, type Prng, type Ready, type SimProcess } from "@heck/sim";
import { Awareness } from "./awareness.ts";
import { BroadcastQueue } from "./broadcast-queue.ts";
import { COMPOUND_HEADER_BYTES, COMPOUND_MAX_PARTS, COMPOUND_PART_OVERHEAD_BYTES, encodedSize } from "./codec.ts";
import { META_MAX_BYTES, NAME_MAX_BYTES, pushPullIntervalFor, retransmitLimit, type SwimConfig } from "./config.ts";
import { JoinRetry, type JoinRetryPolicy, type JoinRetryState } from "./join-retry.ts";
import { Membership } from "./membership.ts";
import type { PacketMessage, PingMessage, PingReqMessage, PushPullMessage, SwimMessage, UpdateMessage } from "./messages.ts";
import type { Member, MemberEvent, MemberInfo } from "./types.ts";

/** What a node is built from. */
export interface SwimNodeOptions {
  /** Unique member name. */
  name: string;
  /** The address peers send to (advertised address). */
  addr: Address;
  meta?: Uint8Array;
  config: SwimConfig;
  /** This node's random stream (peer choice, shuffles, start staggers). */
  prng: Prng;
  nowMs: number;
  /** Start at this incarnation (a restart that remembers its last one). */
  incarnation?: number;
  /** Bytes the transport adds to every packet (encryption envelope); subtracted from maxPacketBytes. */
  packetOverheadBytes?: number;
  /**
   * The encoded size of a message on the wire this node speaks, for packing
   * gossip into packets and for the byte counters. Default: heck's codec
   * (`encodedSize`); memberlist's wire passes `memberlistEncodedSize`.
   */
  sizeOf?: (message: SwimMessage) => number;
  /**
   * Start already knowing these members as alive at incarnation 0, with no
   * events or gossip: a cluster that has converged. For large simulations
   * that study detection rather than joining.
   */
  initialMembers?: ReadonlyArray<{ name: string; addr: Address }>;
}

/**
 * What a member persists: its incarnation, each time it rises (a refutation,
 * new metadata), so that after a restart it never reuses a number it has
 * already announced with other news (SWIM §4.2: only the member itself
 * raises its incarnation, and others order its claims by it).
 */
export interface SwimRecord {
  readonly incarnation: number;
}

/**
 * The incarnation a restarted member resumes from: the highest its records
 * hold, 0 for none. A record that does not read back as a whole number was
 * torn by a crash in the middle of its write, and is skipped: its messages
 * waited for a sync that never came, so nobody heard that incarnation.
 */
export function recoverIncarnation(records: readonly SwimRecord[]): number {
  let incarnation = 0;
  for (const r of records) if (Number.isSafeInteger(r.incarnation) && r.incarnation > incarnation) incarnation = r.incarnation;
  return incarnation;
}

/**
 * One batch of a member's work, in the shared order: persist `records` (the
 * new incarnation, synced), send `messages`, then notify `events`, the
 * membership changes since the last batch (the application's feed).
 */
export interface SwimReady extends Ready<Outbound<SwimMessage>, SwimRecord> {
  readonly events: readonly MemberEvent[];
}

/** Message and byte counters for load measurements (SWIM §5 reports messages per member per period). */
export interface SwimStats {
  packetsSent: number;
  packetBytesSent: number;
  streamMessagesSent: number;
  streamBytesSent: number;
  messagesReceived: number;
  pingsSent: number;
  pingReqsSent: number;
  acksSent: number;
  nacksSent: number;
  gossipPacketsSent: number;
  pushPullsStarted: number;
  probesStarted: number;
  probesFailed: number;
  streamPingsSent: number;
  wrongChannel: number;
  misdirectedPings: number;
  unknownSenderSyncs: number;
  reconnects: number;
  /** Ping-reqs sent about stalled suspicions (a heck addition, see askAboutStalledSuspects). */
  stalledQueries: number;
  refutes: number;
  suspicionsStarted: number;
  deadDeclared: number;
  addressConflicts: number;
  reaped: number;
  healthScore: number;
}

/** The state of a join started by {@link SwimNode.join}. */
export interface JoinProgress {
  /** Seeds contacted whose answer is still awaited. */
  pending: number;
  /** Seeds that answered, in order (a seed appears once per successful attempt). */
  succeeded: Address[];
  /** Seeds that did not answer, once per failed contact. */
  failed: Address[];
  /** Attempts started by the latest retried join (1 without retries). */
  attempts: number;
  /** The latest retried join's state; "none" for a join without retries. */
  retry: JoinRetryState | "none";
  /** When the next retry attempt is due, or Infinity. */
  nextAttemptMs: number;
}

interface PendingProbe {
  seq: number;
  target: string;
  targetAddr: Address;
  /** The incarnation we probed; a suspicion names it, so a refutation since makes it stale. */
  incarnation: number;
  indirectAtMs: number;
  deadlineMs: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  requesterSeq: number;
  requesterAddr: Address;
  /** When to send the Lifeguard nack (Infinity once sent, or if none was asked for). */
  nackAtMs: number;
  expiresAtMs: number;
}

/**
 * A helper nacks after this share of the probe timeout (Lifeguard §IV-A: "80%
 * of the probe timeout"), so the nack reaches the prober before its period
 * ends. With memberlist's full probe timeout, a nack for a ping-req sent at
 * `probeTimeoutMs` arrives at `2 * probeTimeoutMs` = the end of a lan period,
 * a hair too late, and every failed probe of a crashed member counted as
 * missing nacks against the prober's own health.
 */
const NACK_SHARE = 0.8;

/** A SWIM + Lifeguard member. Implements the simulation runner's {@link SimProcess} contract. */
export class SwimNode implements SimProcess<SwimMessage, SwimRecord> {
  readonly id: string;
  readonly config: SwimConfig;
  private readonly prng: Prng;
  private readonly queue = new BroadcastQueue();
  private readonly awareness: Awareness;
  private readonly membership: Membership;
  private outbox: Outbound<SwimMessage>[] = [];
  private events: MemberEvent[] = [];
  /** The incarnation the last Ready persisted (or the one we started from). */
  private persistedIncarnation: number;
  /** A Ready was handed out and not yet advanced. */
  private outstanding = false;
  private readonly packetBudget: number;
  private readonly sizeOf: (message: SwimMessage) => number;
  private seq = 0;

  private probeIndex = 0;
  private probe: PendingProbe | undefined;
  private nextProbeMs: number;
  /** Infinity while the queue is empty: an idle node does not wake up to gossip nothing. */
  private nextGossipMs = Infinity;
  /** Gossip rounds stay on one phase: every round is at gossipPhaseMs + k * gossipIntervalMs. */
  private gossipPhaseMs: number;
  /** Set when a gossip round found nobody to talk to; cleared by any input, so a lone node sleeps. */
  private gossipStarved = false;
  private nextPushPullMs: number;
  private nextReconnectMs: number;
  private pushPullRampMs = 0;
  private readonly relays = new Map<number, Relay>();
  /** Stream exchanges in flight: address -> give-up time. */
  private readonly pushPullsInFlight = new Map<Address, number>();
  private readonly joinAttempts = new Map<Address, number>();
  private readonly joinSucceeded: Address[] = [];
  /** The seed whose reply completed our first join: the ramp's push-pull partner. */
  private joinedVia: Address | undefined;
  private readonly joinFailed: Address[] = [];
  /** The retry schedule of the latest join started with a policy (Consul's retry_join). */
  private joinRetry: JoinRetry | undefined;
  private readonly syncCooldown = new Map<string, number>();
  private readonly counters = {
    packetsSent: 0,
    packetBytesSent: 0,
    streamMessagesSent: 0,
    streamBytesSent: 0,
    messagesReceived: 0,
    pingsSent: 0,
    pingReqsSent: 0,
    acksSent: 0,
    nacksSent: 0,
    gossipPacketsSent: 0,
    pushPullsStarted: 0,
    probesStarted: 0,
    probesFailed: 0,
    streamPingsSent: 0,
    wrongChannel: 0,
    misdirectedPings: 0,
    unknownSenderSyncs: 0,
    reconnects: 0,
    stalledQueries: 0,
  };

  constructor(options: SwimNodeOptions) {
    const { name, addr, config, prng, nowMs } = options;
    const meta = options.meta ?? new Uint8Array(0);
    checkText("name", name);
    checkText("addr", addr);
    if (meta.length > META_MAX_BYTES) throw new RangeError(`meta: at most ${META_MAX_BYTES} bytes, got ${meta.length}`);
    this.id = name;
    this.config = config;
    this.prng = prng;
    this.packetBudget = config.maxPacketBytes - (options.packetOverheadBytes ?? 0);
    this.sizeOf = options.sizeOf ?? encodedSize;
    this.awareness = new Awareness(config.awarenessMaxMultiplier);
    this.persistedIncarnation = options.incarnation ?? 0;
    this.membership = new Membership(
      config,
      name,
      addr,
      meta,
      options.incarnation ?? 0,
      prng,
      {
        broadcast: (key, message) => this.queue.enqueue(key, message, this.sizeOf(message)),
        tell: (addr, message) => this.sendPacket(addr, message),
        emit: (event) => this.events.push(event),
        refuted: () => this.awareness.applyDelta(1),
      },
      nowMs,
    );
    if (options.initialMembers !== undefined) {
      this.membership.bootstrap(options.initialMembers, nowMs);
      // A converged start: everyone already knows us, so there is no news to spread.
      this.queue.clear();
    }
    // Random staggers, as memberlist's triggerFunc, so nodes started together do not probe in lock step.
    this.nextProbeMs = nowMs + prng.nextInt(0, config.probeIntervalMs - 1);
    this.gossipPhaseMs = config.gossipIntervalMs > 0 ? nowMs + prng.nextInt(0, config.gossipIntervalMs - 1) - config.gossipIntervalMs : 0;
    this.nextPushPullMs = config.pushPullIntervalMs > 0 ? nowMs + prng.nextInt(0, config.pushPullIntervalMs - 1) : Infinity;
    this.nextReconnectMs = config.reconnectIntervalMs > 0 ? nowMs + prng.nextInt(0, config.reconnectIntervalMs - 1) : Infinity;
    this.wakeGossip(nowMs);
  }

  // ---- the application's side ------------------------------------------------

  /** Our own name. */
  get name(): string {
    return this.membership.selfName;
  }

  /** Our current incarnation. */
  get incarnation(): number {
    return this.membership.self.incarnation;
  }

  /** True after {@link leave}. */
  get hasLeft(): boolean {
    return this.membership.hasLeft;
  }

  /** Every member we know, ourselves included, sorted by name. */
  members(): MemberInfo[] {
    return this.membership.list();
  }

  /** One member by name. */
  member(name: string): MemberInfo | undefined {
    const m = this.membership.get(name);
    return m === undefined ? undefined : { name: m.name, addr: m.addr, state: m.state, incarnation: m.incarnation, meta: m.meta };
  }

  /**
   * The suspicion running on `name`, if any (Lifeguard §IV-B): when it
   * started, when the suspect is declared dead unless it refutes first, and
   * the independent confirmations counted of the `k` that shorten it most.
   */
  suspicionOf(name: string): { startMs: number; deadlineMs: number; confirmations: number; k: number } | undefined {
    const s = this.membership.suspicionOf(name);
    return s === undefined ? undefined : { startMs: s.startMs, deadlineMs: s.deadlineMs, confirmations: s.confirmationCount, k: s.k };
  }

  /** Counters since start. */
  stats(): SwimStats {
    return { ...this.counters, ...this.membership.counters, healthScore: this.awareness.score };
  }

  /** Lifeguard's local health score (0 = healthy). */
  get healthScore(): number {
    return this.awareness.score;
  }

  /**
   * Starts joining through `seeds` (addresses): a push-pull with each over a
   * stream. Progress is in {@link joinProgress}; our own address is skipped.
   * With `retry`, an attempt in which no seed answered is repeated on the
   * policy's backoff until one does (or `maxAttempts` run out), so a member
   * started before its seeds joins as soon as one is up.
   */
  join(seeds: readonly Address[], nowMs: number, retry?: JoinRetryPolicy): void {
    this.joinRetry?.stop();
    this.joinRetry = undefined;
    const others = seeds.filter((s) => s !== this.membership.self.addr);
    if (retry !== undefined && others.length > 0 && !this.membership.hasLeft) this.joinRetry = new JoinRetry(others, retry);
    this.contactSeeds(others, nowMs);
  }

  private contactSeeds(seeds: readonly Address[], nowMs: number): void {
    for (const seed of seeds) {
      if (this.joinAttempts.has(seed)) continue;
      this.joinAttempts.set(seed, nowMs + this.config.streamTimeoutMs);
      this.sendPushPull(seed, true, nowMs);
    }
  }

  /** A join attempt ended without an answer: if no seed of a retried join is still pending, schedule the next attempt. */
  private joinContactFailed(nowMs: number): void {
    const r = this.joinRetry;
    if (r === undefined || r.status !== "trying") return;
    if (r.seeds.some((s) => this.joinAttempts.has(s))) return;
    r.attemptFailed(nowMs, this.prng);
  }

  /** How the joins started so far went. */
  joinProgress(): JoinProgress {
    const r = this.joinRetry;
    return {
      pending: this.joinAttempts.size,
      succeeded: [...this.joinSucceeded],
      failed: [...this.joinFailed],
      attempts: r?.attempts ?? 1,
      retry: r?.status ?? "none",
      nextAttemptMs: r?.nextAttemptMs ?? Infinity,
    };
  }

  /** Publishes new metadata (raises our incarnation). */
  updateMeta(meta: Uint8Array, nowMs: number): void {
    if (meta.length > META_MAX_BYTES) throw new RangeError(`meta: at most ${META_MAX_BYTES} bytes, got ${meta.length}`);
    if (this.membership.hasLeft) throw new Error("updateMeta: this member has left the cluster");
    this.membership.updateMeta(meta.slice(), nowMs);
    this.wakeGossip(nowMs);
  }

  /**
   * Leaves gracefully: gossips a `dead` about ourselves from ourselves, which
   * others record as `left`, not as a failure. Probing stops; gossip goes on
   * until {@link leaveComplete}.
   */
  leave(nowMs: number): void {
    this.membership.leave(nowMs);
    this.probe = undefined;
    this.nextProbeMs = Infinity;
    this.nextPushPullMs = Infinity;
    this.nextReconnectMs = Infinity;
    this.joinRetry?.stop();
    this.wakeGossip(nowMs);
  }

  /** True once the goodbye has been sent its full retransmit count (or nobody is left to hear it). */
  leaveComplete(): boolean {
    return this.membership.hasLeft && (!this.queue.has(this.name) || this.membership.countLive() === 0);
  }

  // ---- Ready ---------------------------------------------------------------------

  /** Whether {@link ready} has work: messages, events, or an incarnation to persist. False while a Ready is outstanding. */
  hasReady(): boolean {
    return !this.outstanding && (this.outbox.length > 0 || this.events.length > 0 || this.membership.self.incarnation !== this.persistedIncarnation);
  }

  /**
   * Hands out everything since the last batch. A raised incarnation comes
   * first, with `mustSync`: the messages of this batch may announce it (a
   * refutation), and a member that announced k and came back at k-1 would
   * have to reuse k for other news.
   */
  ready(): SwimReady {
    if (this.outstanding) throw new Error("SwimNode.ready: call advance() for the previous Ready first");
    const incarnation = this.membership.self.incarnation;
    const records: readonly SwimRecord[] = incarnation !== this.persistedIncarnation ? [{ incarnation }] : NONE;
    this.persistedIncarnation = incarnation;
    const rd: SwimReady = { snapshot: null, records, mustSync: records.length > 0, messages: this.outbox, events: this.events };
    this.outbox = [];
    this.events = [];
    this.outstanding = true;
    return rd;
  }

  /** Acknowledges the last Ready: its incarnation is durable, its messages sent, its events delivered. */
  advance(): void {
    if (!this.outstanding) throw new Error("SwimNode.advance: no Ready outstanding");
    this.outstanding = false;
  }

  nextDeadlineMs(): number {
    let next = Math.min(this.nextProbeMs, this.nextGossipMs, this.nextPushPullMs, this.nextReconnectMs, this.membership.nextSuspicionDeadlineMs());
    if (this.probe !== undefined) next = Math.min(next, this.probe.indirectSent ? this.probe.deadlineMs : this.probe.indirectAtMs);
    // Size checks first: this runs after every input, and the maps are almost always empty.
    if (this.relays.size > 0) for (const r of this.relays.values()) next = Math.min(next, r.nackAtMs, r.expiresAtMs);
    if (this.joinAttempts.size > 0) for (const t of this.joinAttempts.values()) next = Math.min(next, t);
    if (this.joinRetry !== undefined) next = Math.min(next, this.joinRetry.nextAttemptMs);
    if (this.pushPullsInFlight.size > 0) for (const t of this.pushPullsInFlight.values()) next = Math.min(next, t);
    return next;
  }

  tick(nowMs: number): void {
    this.advanceProbe(nowMs);
    if (nowMs >= this.nextProbeMs) this.startProbe(nowMs);
    if (this.relays.size > 0) this.serveRelays(nowMs);
    if (nowMs >= this.nextGossipMs) {
      this.gossip(nowMs);
      this.gossipPhaseMs = this.nextGossipMs;
      this.nextGossipMs = Infinity;
    }
    if (nowMs >= this.nextPushPullMs) this.periodicPushPull(nowMs);
    if (nowMs >= this.nextReconnectMs) {
      this.nextReconnectMs = nowMs + this.config.reconnectIntervalMs;
      const [lost] = this.membership.randomMembers(1, (m) => m.state === "dead" && !this.pushPullsInFlight.has(m.addr));
      if (lost !== undefined) {
        this.counters.reconnects++;
        this.sendPushPull(lost.addr, false, nowMs);
      }
    }
    if (this.joinAttempts.size > 0) {
      for (const [addr, deadline] of this.joinAttempts) {
        if (deadline > nowMs) continue;
        this.joinAttempts.delete(addr);
        this.joinFailed.push(addr);
        this.joinContactFailed(nowMs);
      }
    }
    const retry = this.joinRetry;
    if (retry !== undefined && nowMs >= retry.nextAttemptMs) {
      retry.attemptStarted();
      this.contactSeeds(retry.seeds, nowMs);
    }
    if (this.pushPullsInFlight.size > 0) for (const [addr, deadline] of this.pushPullsInFlight) if (deadline <= nowMs) this.pushPullsInFlight.delete(addr);
    // Last, because a failed probe above may have confirmed a suspicion and pulled its deadline into the past.
    this.membership.expireSuspicions(nowMs);
    this.wakeGossip(nowMs);
  }

  /** Nacks due and relays expired (helper side of an indirect probe). */
  private serveRelays(nowMs: number): void {
    for (const [localSeq, relay] of this.relays) {
      if (relay.nackAtMs <= nowMs) {
        // Lifeguard nack: "I tried and the target did not answer", so the requester learns its own path works.
        relay.nackAtMs = Infinity;
        this.counters.nacksSent++;
        this.sendPacket(relay.requesterAddr, { type: "nack", seq: relay.requesterSeq });
      }
      // A late ack is still forwarded until the probe timeout.
      if (relay.expiresAtMs <= nowMs) this.relays.delete(localSeq);
    }
  }

  /** Schedules the next gossip round on the gossip phase if updates are waiting and none is scheduled. */
  private wakeGossip(nowMs: number): void {
    if (this.nextGossipMs !== Infinity || this.gossipStarved || this.queue.length === 0 || this.config.gossipIntervalMs <= 0 || this.config.gossipNodes <= 0) return;
    const interval = this.config.gossipIntervalMs;
    let next = this.gossipPhaseMs + (Math.floor((nowMs - this.gossipPhaseMs) / interval) + 1) * interval;
    // Floating point can land the sum on `nowMs` itself (seen with HECK_SEED=433): a deadline must lie ahead.
    if (next <= nowMs) next += interval;
    this.nextGossipMs = next;
  }

  receive(from: Address, message: SwimMessage, channel: Channel, nowMs: number): void {
    this.counters.messagesReceived++;
    this.handle(from, message, channel, nowMs);
    this.gossipStarved = false;
    this.wakeGossip(nowMs);
  }

  private handle(from: Address, message: SwimMessage, channel: Channel, nowMs: number): void {
    if (message.type === "push-pull") {
      if (channel !== "stream") {
        this.counters.wrongChannel++;
        return;
      }
      this.handlePushPull(from, message, nowMs);
      return;
    }
    if (message.type === "compound") {
      if (channel !== "packet") {
        this.counters.wrongChannel++;
        return;
      }
      for (const part of message.parts) this.handlePacketMessage(from, part, channel, nowMs);
      return;
    }
    if (channel === "stream" && message.type !== "ping" && message.type !== "ack") {
      this.counters.wrongChannel++;
      return;
    }
    this.handlePacketMessage(from, message, channel, nowMs);
  }

  /** A stream message could not be delivered: a join or push-pull failed, or the stream ping fallback did. */
  streamFailed(to: Address, message: SwimMessage, nowMs: number): void {
    if (message.type !== "push-pull" || message.reply) return;
    this.pushPullsInFlight.delete(to);
    if (this.joinAttempts.delete(to)) {
      this.joinFailed.push(to);
      this.joinContactFailed(nowMs);
    }
    this.wakeGossip(nowMs);
  }

  // ---- failure detection (SWIM §3.1, Lifeguard §IV) ---------------------------

  private startProbe(nowMs: number): void {
    const interval = this.awareness.scale(this.config.probeIntervalMs);
    this.nextProbeMs = nowMs + interval;
    // Housekeeping rides on the probe tick, so an idle node wakes once per period.
    this.membership.reap(nowMs);
    if (this.syncCooldown.size > 0) for (const [name, until] of this.syncCooldown) if (until <= nowMs) this.syncCooldown.delete(name);
    this.askAboutStalledSuspects(nowMs);
    const target = this.nextProbeTarget();
    if (target === undefined) return;
    const seq = this.nextSeq();
    this.counters.probesStarted++;
    this.probe = {
      seq,
      target: target.name,
      targetAddr: target.addr,
      incarnation: target.incarnation,
      indirectAtMs: nowMs + this.config.probeTimeoutMs,
      // Lifeguard scales the whole probe period, so a sick node waits longer for acks and nacks (§IV-A).
      deadlineMs: nowMs + interval,
      indirectSent: false,
      expectedNacks: 0,
      nacks: 0,
    };
    const ping: PingMessage = { type: "ping", seq, target: target.name, fromName: this.name, fromAddr: this.membership.self.addr };
    this.counters.pingsSent++;
    if (target.state === "suspect" && this.config.buddySystem) {
      // Lifeguard buddy system (§IV-C): the suspect hears about its suspicion in the probe itself.
      this.sendPacket(target.addr, ping, { type: "suspect", name: target.name, incarnation: target.incarnation, from: this.name });
    } else {
      this.sendPacket(target.addr, ping);
    }
  }

  /**
   * A heck addition. A suspicion past its minimum timeout that still waits
   * for confirmations is "stalled": either the others are slow to probe the
   * suspect, or they have already declared it dead and we missed the verdict
   * (gossip sends each update only `retransmitLimit` times, to random members,
   * so now and then a member misses one), and then no confirmation will ever
   * come and we would wait out the long Lifeguard timeout. So once per probe
   * period we ask one random member to probe the suspect (a ping-req); a
   * member that holds the verdict answers with it. The third case is that
   * the suspect refuted and gossip of the refutation missed us: so, with the
   * buddy system on, we also tell the suspect itself that we suspect it, and
   * a live suspect answers with its refutation (see Membership's
   * tellRefutation). That bounds how long a missed refutation lasts by the
   * minimum suspicion timeout plus one probe period, instead of by our next
   * probe of the suspect (up to two probe rounds away) or the next
   * push-pull. Two or three packets per stalled suspicion per period, only
   * while detecting.
   */
  private askAboutStalledSuspects(nowMs: number): void {
    for (const name of this.membership.stalledSuspicions(nowMs)) {
      const m = this.membership.get(name);
      if (m === undefined) continue;
      if (this.config.buddySystem && m.state === "suspect") this.sendPacket(m.addr, { type: "suspect", name, incarnation: m.incarnation, from: this.name });
      const [helper] = this.membership.randomMembers(1, (x) => x.state === "alive" && x.name !== name);
      if (helper === undefined) continue;
      this.counters.stalledQueries++;
      this.counters.pingReqsSent++;
      const seq = this.nextSeq();
      this.sendPacket(helper.addr, { type: "ping-req", seq, target: name, targetAddr: m.addr, fromName: this.name, fromAddr: this.membership.self.addr, nack: false });
    }
  }

  /** The next alive or suspect member in the shuffled round robin; reshuffles at the end of each round (SWIM §4.3). */
  private nextProbeTarget(): Member | undefined {
    const n = this.membership.orderLength;
    for (let checked = 0; checked < n; checked++) {
      if (this.probeIndex >= this.membership.orderLength) {
        this.probeIndex = 0;
        this.membership.reshuffle();
      }
      const name = this.membership.orderAt(this.probeIndex++);
      if (name === undefined || name === this.name) continue;
      const m = this.membership.get(name);
      if (m !== undefined && (m.state === "alive" || m.state === "suspect")) return m;
    }
    return undefined;
  }

  /** Moves the pending probe along: indirect probes at probeTimeoutMs, a verdict at the end of the period. */
  private advanceProbe(nowMs: number): void {
    const p = this.probe;
    if (p === undefined) return;
    if (!p.indirectSent && nowMs >= p.indirectAtMs) {
      p.indirectSent = true;
      const helpers = this.membership.randomMembers(this.config.indirectChecks, (m) => m.state === "alive" && m.name !== p.target);
      for (const helper of helpers) {
        const req: PingReqMessage = {
          type: "ping-req",
          seq: p.seq,
          target: p.target,
          targetAddr: p.targetAddr,
          fromName: this.name,
          fromAddr: this.membership.self.addr,
          nack: this.config.awarenessMaxMultiplier > 1,
        };
        if (req.nack) p.expectedNacks++;
        this.counters.pingReqsSent++;
        this.sendPacket(helper.addr, req);
      }
      if (!this.config.disableStreamPings) {
        // A reliable-stream ping beside the indirect probes catches a member whose UDP is blocked (memberlist).
        this.counters.streamPingsSent++;
        this.sendStream(p.targetAddr, { type: "ping", seq: p.seq, target: p.target, fromName: this.name, fromAddr: this.membership.self.addr });
      }
    }
    if (nowMs >= p.deadlineMs) {
      this.probe = undefined;
      this.counters.probesFailed++;
      // Lifeguard §IV-A: missing nacks mean our own links or CPU are the problem; with no
      // helpers to nack, any failed probe counts against us.
      if (p.expectedNacks > 0) this.awareness.applyDelta(Math.max(0, p.expectedNacks - p.nacks));
      else this.awareness.applyDelta(1);
      this.membership.handleSuspect({ type: "suspect", name: p.target, incarnation: p.incarnation, from: this.name }, nowMs);
    }
  }

  private handlePacketMessage(from: Address, msg: PacketMessage, channel: Channel, nowMs: number): void {
    switch (msg.type) {
      case "ping":
        this.handlePing(from, msg, channel, nowMs);
        return;
      case "ping-req": {
        // A request to probe a member we hold dead or left: the requester missed our verdict
        // (gossip is probabilistic), so tell it (a heck addition). We still relay the ping, in
        // case our verdict is the stale one.
        this.membership.answerWithVerdict(msg.target, msg.fromName);
        const localSeq = this.nextSeq();
        const nackAtMs = msg.nack ? nowMs + Math.floor(NACK_SHARE * this.config.probeTimeoutMs) : Infinity;
        this.relays.set(localSeq, { requesterSeq: msg.seq, requesterAddr: msg.fromAddr, nackAtMs, expiresAtMs: nowMs + this.config.probeTimeoutMs });
        this.counters.pingsSent++;
        this.sendPacket(msg.targetAddr, { type: "ping", seq: localSeq, target: msg.target, fromName: this.name, fromAddr: this.membership.self.addr });
        return;
      }
      case "ack": {
        const p = this.probe;
        if (p !== undefined && p.seq === msg.seq) {
          this.probe = undefined;
          this.awareness.applyDelta(-1);
          return;
        }
        const relay = this.relays.get(msg.seq);
        if (relay !== undefined) {
          this.relays.delete(msg.seq);
          this.counters.acksSent++;
          this.sendPacket(relay.requesterAddr, { type: "ack", seq: relay.requesterSeq });
        }
        return;
      }
      case "nack":
        if (this.probe !== undefined && this.probe.seq === msg.seq) this.probe.nacks++;
        return;
      case "alive":
        this.membership.handleAlive(msg, nowMs);
        return;
      case "suspect":
        this.membership.handleSuspect(msg, nowMs, false, from);
        return;
      case "dead":
        this.membership.handleDead(msg, nowMs, from);
        return;
    }
  }

  private handlePing(from: Address, msg: PingMessage, channel: Channel, nowMs: number): void {
    if (msg.target !== this.name) {
      // Meant for whoever had this address before us: do not vouch for them.
      this.counters.misdirectedPings++;
      return;
    }
    this.counters.acksSent++;
    const sender = msg.fromName === this.name ? undefined : this.membership.get(msg.fromName);
    // A stream ping is answered on the same stream (`from`); a packet ping at the sender's advertised address.
    const goodbye = this.membership.goodbye();
    if (channel === "stream") this.sendStream(from, { type: "ack", seq: msg.seq });
    else if (goodbye !== undefined) {
      // We left, but this member has not heard: our goodbye goes back with the ack.
      this.sendPacket(msg.fromAddr, { type: "ack", seq: msg.seq }, goodbye);
    } else if (sender?.state === "suspect" && this.config.buddySystem) {
      // The buddy system on the way back too: a member we suspect is talking to us, so tell it
      // now. Our own gossip of the suspicion may have been lost (say, we were the isolated one),
      // and without this it would never learn it has to refute.
      this.sendPacket(msg.fromAddr, { type: "ack", seq: msg.seq }, { type: "suspect", name: sender.name, incarnation: sender.incarnation, from: this.name });
    } else this.sendPacket(msg.fromAddr, { type: "ack", seq: msg.seq });
    if (this.config.syncUnknownSenders && !this.membership.hasLeft && msg.fromName !== this.name) {
      if (sender === undefined || sender.state === "dead" || sender.state === "left") this.syncWithStranger(msg.fromName, msg.fromAddr, nowMs);
    }
  }

  /**
   * A member pinged us that we do not count as alive: either gossip missed
   * its join, or it does not know we declared it dead. One push-pull fixes
   * both sides (a heck addition; see config.syncUnknownSenders).
   */
  private syncWithStranger(name: string, addr: Address, nowMs: number): void {
    const until = this.syncCooldown.get(name);
    if ((until !== undefined && until > nowMs) || this.pushPullsInFlight.has(addr)) return;
    this.syncCooldown.set(name, nowMs + 10 * this.config.probeIntervalMs);
    this.counters.unknownSenderSyncs++;
    this.sendPushPull(addr, false, nowMs);
  }

  // ---- dissemination (SWIM §4.1) ----------------------------------------------

  /** Sends `main` (and `first`, if given) with as many queued updates as fit piggybacked. */
  private sendPacket(to: Address, main: PacketMessage, first?: UpdateMessage): void {
    const parts: PacketMessage[] = first === undefined ? [main] : [main, first];
    let used = COMPOUND_HEADER_BYTES;
    for (const p of parts) used += COMPOUND_PART_OVERHEAD_BYTES + this.sizeOf(p);
    if (this.queue.length > 0) {
      const extra = this.queue.take(this.packetBudget - used, COMPOUND_PART_OVERHEAD_BYTES, this.retransmitLimit(), COMPOUND_MAX_PARTS - parts.length);
      for (const e of extra) parts.push(e);
    }
    this.pushPacket(to, parts);
  }

  private pushPacket(to: Address, parts: PacketMessage[]): void {
    const message: SwimMessage = parts.length === 1 ? parts[0]! : { type: "compound", parts };
    this.counters.packetsSent++;
    this.counters.packetBytesSent += this.sizeOf(message);
    this.outbox.push({ to, message, channel: "packet" });
  }

  private sendStream(to: Address, message: SwimMessage): void {
    this.counters.streamMessagesSent++;
    this.counters.streamBytesSent += this.sizeOf(message);
    this.outbox.push({ to, message, channel: "stream" });
  }

  /**
   * One gossip round: queued updates to `gossipNodes` random live members,
   * topped up with recently dead ones only when there are fewer live members
   * than that. memberlist picks among live and recently dead alike, so a
   * falsely declared member hears the news and refutes; but every update sent
   * to a member that really crashed is one of its few transmissions wasted,
   * and in a small cluster (4 transmissions below 10 members) that made a live
   * member miss a death verdict about once in 400 crashes. A member falsely
   * declared dead still learns it at once: its next ping makes the receiver
   * push-pull with it (syncUnknownSenders).
   */
  private gossip(nowMs: number): void {
    if (this.queue.length === 0 || this.config.gossipNodes <= 0) return;
    const fanout = this.config.gossipNodes;
    const targets = this.membership.randomMembers(fanout, (m) => m.state === "alive" || m.state === "suspect");
    if (targets.length < fanout) {
      for (const m of this.membership.randomMembers(fanout - targets.length, (x) => x.state === "dead" && nowMs - x.stateChangeMs <= this.config.gossipToTheDeadMs)) targets.push(m);
    }
    if (targets.length === 0) {
      this.gossipStarved = true;
      return;
    }
    const limit = this.retransmitLimit();
    for (const target of targets) {
      const parts = this.queue.take(this.packetBudget - COMPOUND_HEADER_BYTES, COMPOUND_PART_OVERHEAD_BYTES, limit, COMPOUND_MAX_PARTS);
      if (parts.length === 0) return;
      this.counters.gossipPacketsSent++;
      this.pushPacket(target.addr, parts);
    }
  }

  private retransmitLimit(): number {
    return retransmitLimit(this.config, this.membership.size);
  }

  // ---- anti-entropy ---------------------------------------------------------------

  private periodicPushPull(nowMs: number): void {
    const n = this.membership.size;
    const ramp = this.pushPullRampMs > 0;
    if (ramp && this.pushPullRampMs < this.config.pushPullIntervalMs) {
      this.nextPushPullMs = nowMs + this.pushPullRampMs;
      this.pushPullRampMs *= 2;
    } else {
      this.pushPullRampMs = 0;
      this.nextPushPullMs = this.config.pushPullIntervalMs > 0 ? nowMs + pushPullIntervalFor(this.config, n) : Infinity;
    }
    // A ramp exchange goes back to the member we joined through: it heard every join that went
    // through it, so one exchange after a join burst settles teaches us everyone it knows.
    if (ramp && this.joinedVia !== undefined && !this.pushPullsInFlight.has(this.joinedVia)) {
      const via = this.membership.byAddress(this.joinedVia);
      if (via === undefined || via.state === "alive" || via.state === "suspect") {
        this.sendPushPull(this.joinedVia, false, nowMs);
        return;
      }
    }
    const [peer] = this.membership.randomMembers(1, (m) => m.state === "alive" && !this.pushPullsInFlight.has(m.addr));
    if (peer !== undefined) this.sendPushPull(peer.addr, false, nowMs);
  }

  private sendPushPull(to: Address, join: boolean, nowMs: number): void {
    this.counters.pushPullsStarted++;
    this.pushPullsInFlight.set(to, nowMs + this.config.streamTimeoutMs);
    this.sendStream(to, { type: "push-pull", join, reply: false, members: this.membership.records() });
  }

  private handlePushPull(from: Address, msg: PushPullMessage, nowMs: number): void {
    if (!msg.reply) {
      // Merge first, then answer: if their table says we are dead, the reply already carries our
      // refutation. That is what re-merges two sides of a healed partition in one exchange
      // (memberlist answers before merging, and relies on gossip for the refutation).
      this.membership.mergeRemote(msg.members, nowMs);
      this.sendStream(from, { type: "push-pull", join: msg.join, reply: true, members: this.membership.records() });
      return;
    }
    this.pushPullsInFlight.delete(from);
    this.membership.mergeRemote(msg.members, nowMs);
    if (this.joinAttempts.delete(from)) {
      this.joinRetry?.succeeded();
      const firstJoin = this.joinSucceeded.length === 0;
      this.joinSucceeded.push(from);
      if (firstJoin) this.joinedVia = from;
      if (firstJoin && this.config.pushPullRampStartMs > 0 && this.config.pushPullIntervalMs > 0 && !this.membership.hasLeft) {
        // Heck's ramp: early repair push-pulls at 1x, 2x, 4x... the ramp start, then the normal interval.
        this.pushPullRampMs = this.config.pushPullRampStartMs;
        this.nextPushPullMs = nowMs + this.pushPullRampMs;
        this.pushPullRampMs *= 2;
      }
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }
}

function checkText(field: string, value: string): void {
  const len = utf8Length(value);
  if (len === 0 || len > NAME_MAX_BYTES) throw new RangeError(`${field}: must be 1-${NAME_MAX_BYTES} UTF-8 bytes, got ${len}`);
}
