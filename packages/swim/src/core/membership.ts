/**
 * The member table and the rules that change it (SWIM §4.2, memberlist's
 * aliveNode/suspectNode/deadNode/mergeState).
 *
 * Every claim about a member carries the member's incarnation number. Only
 * the member itself raises it, so the rules are a small lattice:
 * - `alive` at incarnation i overrides `suspect`/`dead` at incarnation < i
 *   (the member refuted), and anything at a lower incarnation is stale;
 * - `suspect` at i overrides `alive` at i (and starts a suspicion timer);
 * - `dead` at i overrides `alive`/`suspect` at i, and is final for i.
 * A claim that this node itself is suspect or dead is refuted by raising
 * our incarnation past it and gossiping `alive`; that is how a live member
 * survives a false suspicion.
 *
 * Every accepted change is queued for dissemination (one entry per member)
 * and reported as a {@link MemberEvent}.
 */
import type { Address, Prng } from "@heck/sim";
import { expectedConfirmations, suspicionTimeoutMs, type SwimConfig } from "./config.ts";
import type { AliveMessage, DeadMessage, MemberRecord, SuspectMessage, UpdateMessage } from "./messages.ts";
import { Suspicion } from "./suspicion.ts";
import { toInfo, type Member, type MemberEvent, type MemberEventType, type MemberInfo } from "./types.ts";

/** What the table needs from the node around it. */
export interface MembershipHooks {
  /** Queue an update for dissemination. */
  broadcast(key: string, message: UpdateMessage): void;
  /** Send one update straight to `addr` (no gossip). */
  tell(addr: Address, message: UpdateMessage): void;
  /** Report a change to the application. */
  emit(event: MemberEvent): void;
  /** We had to refute a suspicion of ourselves: Lifeguard counts it against our health (§IV-A). */
  refuted(): void;
}

/** Counters the table keeps, for stats endpoints and tests. */
export interface MembershipCounters {
  refutes: number;
  suspicionsStarted: number;
  deadDeclared: number;
  addressConflicts: number;
  reaped: number;
}

/** The member table of one node. */
export class Membership {
  private readonly table = new Map<string, Member>();
  /**
   * Every member in a shuffled order (memberlist's `nodes` slice): the probe
   * round robin walks it and random peer picks index into it. New members
   * are inserted at a random position so a join does not bunch up the probe
   * schedule.
   */
  private readonly order: string[] = [];
  private readonly suspicions = new Map<string, Suspicion>();
  /** Names currently dead or left, so reaping does not scan the whole table. */
  private readonly departed = new Set<string>();
  private leftCluster = false;
  readonly counters: MembershipCounters = { refutes: 0, suspicionsStarted: 0, deadDeclared: 0, addressConflicts: 0, reaped: 0 };
  readonly self: Member;

  constructor(
    private readonly config: SwimConfig,
    selfName: string,
    selfAddr: Address,
    meta: Uint8Array,
    incarnation: number,
    private readonly prng: Prng,
    private readonly hooks: MembershipHooks,
    nowMs: number,
  ) {
    this.self = { name: selfName, addr: selfAddr, meta, incarnation, state: "alive", stateChangeMs: nowMs };
    this.table.set(selfName, this.self);
    this.order.push(selfName);
    this.emit("join", this.self, nowMs);
    // Announce ourselves: our own alive message rides on the first packets we send.
    this.hooks.broadcast(selfName, this.aliveMessageForSelf());
  }

  /** Our own name. */
  get selfName(): string {
    return this.self.name;
  }

  /** True once `leave` ran: we no longer refute and never rejoin in this life. */
  get hasLeft(): boolean {
    return this.leftCluster;
  }

  /** Members in the table, ourselves and not yet reaped dead/left included (memberlist's estNumNodes). */
  get size(): number {
    return this.table.size;
  }

  /** The member called `name`, if known. Do not mutate it. */
  get(name: string): Member | undefined {
    return this.table.get(name);
  }

  /** The member at `addr`, if any (a linear scan: for rare lookups only). */
  byAddress(addr: Address): Member | undefined {
    for (const m of this.table.values()) if (m.addr === addr) return m;
    return undefined;
  }

  /** Snapshots of every member, sorted by name. */
  list(): MemberInfo[] {
    return [...this.table.values()].map(toInfo).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Members alive or suspect, ourselves excluded. */
  countLive(): number {
    let n = 0;
    for (const m of this.table.values()) if (m !== this.self && (m.state === "alive" || m.state === "suspect")) n++;
    return n;
  }

  /** The probe order's length and entry `i` (names of members possibly reaped since are skipped by callers). */
  get orderLength(): number {
    return this.order.length;
  }
  orderAt(i: number): string | undefined {
    return this.order[i];
  }
  /** Reshuffles the probe order (SWIM §4.3: a new random permutation every round bounds detection time). */
  reshuffle(): void {
    this.prng.shuffle(this.order);
  }

  /**
   * Up to `k` distinct members, excluding ourselves, that pass `accept`,
   * picked at random (memberlist's kRandomNodes: up to 3n random draws, then a scan).
   */
  randomMembers(k: number, accept: (m: Member) => boolean): Member[] {
    const n = this.order.length;
    const out: Member[] = [];
    if (k <= 0 || n <= 1) return out;
    const chosen = new Set<string>();
    const consider = (name: string): void => {
      if (name === this.self.name || chosen.has(name)) return;
      const m = this.table.get(name);
      if (m === undefined || !accept(m)) return;
      chosen.add(name);
      out.push(m);
    };
    for (let tries = 0; tries < 3 * n && out.length < k; tries++) consider(this.order[this.prng.nextInt(0, n - 1)]!);
    // Random draws can miss in a small or mostly dead table; a scan from a random offset fills
    // the rest, so we never ask fewer helpers than exist (memberlist can).
    if (out.length < k) {
      const start = this.prng.nextInt(0, n - 1);
      for (let i = 0; i < n && out.length < k; i++) consider(this.order[(start + i) % n]!);
    }
    return out;
  }

  /** The earliest suspicion deadline, or Infinity. */
  nextSuspicionDeadlineMs(): number {
    if (this.suspicions.size === 0) return Infinity;
    let min = Infinity;
    for (const s of this.suspicions.values()) if (s.deadlineMs < min) min = s.deadlineMs;
    return min;
  }

  /** Names whose suspicion has run past its minimum timeout and still waits for confirmations. */
  stalledSuspicions(nowMs: number): readonly string[] {
    if (this.suspicions.size === 0) return NONE;
    const out: string[] = [];
    for (const [name, s] of this.suspicions) if (nowMs >= s.startMs + s.minMs && nowMs < s.deadlineMs) out.push(name);
    return out;
  }

  /** The suspicion timer on `name`, if one runs (for tests and stats). */
  suspicionOf(name: string): Suspicion | undefined {
    return this.suspicions.get(name);
  }

  /** When the next dead/left member becomes reapable, or Infinity. */
  nextReapMs(): number {
    let min = Infinity;
    for (const name of this.departed) {
      const m = this.table.get(name);
      if (m !== undefined && m.stateChangeMs + this.config.reapDeadAfterMs < min) min = m.stateChangeMs + this.config.reapDeadAfterMs;
    }
    return min;
  }

  /** Inserts members known to be alive at incarnation 0 without events or gossip (a converged start). */
  bootstrap(members: ReadonlyArray<{ name: string; addr: Address }>, nowMs: number): void {
    for (const { name, addr } of members) {
      if (this.table.has(name)) continue;
      this.table.set(name, { name, addr, meta: new Uint8Array(0), incarnation: 0, state: "alive", stateChangeMs: nowMs });
      this.order.push(name);
    }
    this.prng.shuffle(this.order);
  }

  // ---- the rules -------------------------------------------------------------

  /**
   * An `alive` claim (memberlist's aliveNode). Accepts it if it is news: an
   * unknown member, a higher incarnation, or a dead member coming back. A
   * claim about ourselves that differs from the truth is refuted.
   */
  handleAlive(msg: AliveMessage, nowMs: number): void {
    if (msg.name === this.self.name) {
      // A stale or rival claim about us: if it is not exactly what we say, out-vote it.
      if (this.leftCluster || msg.incarnation < this.self.incarnation) return;
      if (msg.incarnation === this.self.incarnation && msg.addr === this.self.addr && bytesEqual(msg.meta, this.self.meta)) return;
      this.refute(msg.incarnation, nowMs);
      return;
    }
    let member = this.table.get(msg.name);
    let addressChanges = false;
    if (member === undefined) {
      member = { name: msg.name, addr: msg.addr, meta: msg.meta, incarnation: msg.incarnation, state: "alive", stateChangeMs: nowMs };
      if (msg.vsn !== undefined) member.vsn = msg.vsn;
      this.table.set(msg.name, member);
      // Insert at a random offset, as memberlist does, so new members are not all probed last.
      const offset = this.prng.nextInt(0, this.order.length);
      this.order.push(msg.name);
      const tmp = this.order[offset]!;
      this.order[offset] = msg.name;
      this.order[this.order.length - 1] = tmp;
      this.hooks.broadcast(msg.name, msg);
      this.emit("join", member, nowMs);
      return;
    }
    if (member.addr !== msg.addr) {
      const reclaimable =
        member.state === "left" ||
        (member.state === "dead" && this.config.deadNodeReclaimMs > 0 && nowMs - member.stateChangeMs > this.config.deadNodeReclaimMs);
      if (!reclaimable) {
        // Two nodes claim one name; keep the one we know (memberlist logs a conflict).
        this.counters.addressConflicts++;
        return;
      }
      addressChanges = true;
    }
    if (msg.incarnation <= member.incarnation && !addressChanges) return;

    this.suspicions.delete(msg.name);
    const oldState = member.state;
    const metaChanged = !bytesEqual(member.meta, msg.meta) || member.addr !== msg.addr;
    member.incarnation = msg.incarnation;
    member.meta = msg.meta;
    member.addr = msg.addr;
    if (msg.vsn !== undefined) member.vsn = msg.vsn;
    if (oldState !== "alive") {
      member.state = "alive";
      member.stateChangeMs = nowMs;
      this.departed.delete(msg.name);
    }
    this.hooks.broadcast(msg.name, msg);
    if (oldState === "dead" || oldState === "left") this.emit("join", member, nowMs);
    else if (oldState === "suspect") {
      this.emit("alive", member, nowMs);
      if (metaChanged) this.emit("update", member, nowMs);
    } else if (metaChanged) this.emit("update", member, nowMs);
  }

  /**
   * A `suspect` claim (memberlist's suspectNode). Confirms a running
   * suspicion (Lifeguard: independent accusers shorten the timeout), starts
   * one on an alive member, or refutes it if it is about us.
   */
  handleSuspect(msg: SuspectMessage, nowMs: number, hearsay = false, sender?: Address): void {
    const member = this.table.get(msg.name);
    if (member === undefined) return;
    if ((member.state === "dead" || member.state === "left") && msg.incarnation <= member.incarnation && !hearsay) {
      // The accuser is behind: it still thinks the member was alive. Tell it the verdict we hold
      // (heck addition), so a member that missed a goodbye records "left", not a failure.
      this.tellVerdict(member, msg.from);
      return;
    }
    if (msg.incarnation < member.incarnation) {
      this.tellRefutation(member, sender);
      return;
    }

    const running = this.suspicions.get(msg.name);
    if (running !== undefined) {
      // Re-gossip only news, so each independent confirmation reaches the others once.
      if (!hearsay && running.confirm(msg.from)) this.hooks.broadcast(msg.name, msg);
      return;
    }
    if (member.state !== "alive") return;
    if (member === this.self) {
      if (!this.leftCluster) this.refute(msg.incarnation, nowMs);
      return;
    }

    if (hearsay) {
      // Another member's table said so; we did not see it fail. Gossiping it under our name
      // would count as an independent confirmation and shorten everyone's timer (Lifeguard
      // §IV-B) on the strength of one accusation, so we only tell the member, which refutes.
      this.hooks.tell(member.addr, msg);
    } else {
      this.hooks.broadcast(msg.name, msg);
    }
    member.incarnation = msg.incarnation;
    member.state = "suspect";
    member.stateChangeMs = nowMs;
    this.counters.suspicionsStarted++;

    // k confirmations are expected so that, with no phase relation between
    // probers, the nominal timeout is hit about two probe periods early;
    // a cluster too small to supply them expects none (memberlist).
    const n = this.table.size;
    const k = expectedConfirmations(this.config, n);
    const min = suspicionTimeoutMs(this.config, n);
    const max = this.config.suspicionMaxTimeoutMult * min;
    this.suspicions.set(msg.name, new Suspicion(msg.from, k, min, max, nowMs));
    this.emit("suspect", member, nowMs);
  }

  /**
   * A `dead` claim (memberlist's deadNode): final for that incarnation.
   * `from === name` means the member left gracefully. About us: refuted,
   * unless we are the one leaving.
   */
  handleDead(msg: DeadMessage, nowMs: number, sender?: Address): void {
    const member = this.table.get(msg.name);
    if (member === undefined) return;
    if (msg.incarnation < member.incarnation) {
      this.tellRefutation(member, sender);
      return;
    }
    this.suspicions.delete(msg.name);
    if (member.state === "dead" || member.state === "left") return;
    if (member === this.self && !this.leftCluster) {
      this.refute(msg.incarnation, nowMs);
      return;
    }
    this.hooks.broadcast(msg.name, msg);
    member.incarnation = msg.incarnation;
    member.state = msg.from === msg.name ? "left" : "dead";
    member.stateChangeMs = nowMs;
    this.departed.add(msg.name);
    if (member.state === "dead") this.counters.deadDeclared++;
    this.emit(member.state === "left" ? "leave" : "dead", member, nowMs);
  }

  /**
   * Merges a push-pull state transfer (memberlist's mergeState). A remote
   * "dead" becomes only a suspicion here: we give the member the chance to
   * refute rather than trusting one peer's possibly stale verdict. Unlike
   * memberlist, that suspicion is hearsay: it is not gossiped as our own
   * accusation (see handleSuspect).
   */
  mergeRemote(records: readonly MemberRecord[], nowMs: number): void {
    for (const r of records) {
      switch (r.state) {
        case "alive":
          this.handleAlive({ type: "alive", name: r.name, addr: r.addr, incarnation: r.incarnation, meta: r.meta, ...(r.vsn !== undefined ? { vsn: r.vsn } : {}) }, nowMs);
          break;
        case "left":
          this.handleDead({ type: "dead", name: r.name, incarnation: r.incarnation, from: r.name }, nowMs);
          break;
        case "dead":
        case "suspect":
          this.handleSuspect({ type: "suspect", name: r.name, incarnation: r.incarnation, from: this.self.name }, nowMs, true);
          break;
      }
    }
  }

  /** Our table as push-pull records. */
  records(): MemberRecord[] {
    const out: MemberRecord[] = [];
    for (const m of this.table.values()) {
      const r: MemberRecord = { name: m.name, addr: m.addr, incarnation: m.incarnation, state: m.state, meta: m.meta };
      if (m.vsn !== undefined) r.vsn = m.vsn;
      out.push(r);
    }
    return out;
  }

  /** Declares every suspect whose timer ran out dead, as this node's own verdict. */
  expireSuspicions(nowMs: number): void {
    if (this.suspicions.size === 0) return;
    for (const [name, s] of this.suspicions) {
      if (s.deadlineMs > nowMs) continue;
      const member = this.table.get(name);
      this.suspicions.delete(name);
      if (member === undefined || member.state !== "suspect") continue;
      this.handleDead({ type: "dead", name, incarnation: member.incarnation, from: this.self.name }, nowMs);
    }
  }

  /** Forgets dead and left members older than reapDeadAfterMs; returns how many. */
  reap(nowMs: number): number {
    if (this.departed.size === 0) return 0;
    const gone: string[] = [];
    for (const name of this.departed) {
      const m = this.table.get(name);
      if (m === undefined || m.stateChangeMs + this.config.reapDeadAfterMs <= nowMs) gone.push(name);
    }
    if (gone.length === 0) return 0;
    for (const name of gone) {
      this.departed.delete(name);
      this.table.delete(name);
    }
    const goneSet = new Set(gone);
    let w = 0;
    for (let r = 0; r < this.order.length; r++) {
      const name = this.order[r]!;
      if (!goneSet.has(name)) this.order[w++] = name;
    }
    this.order.length = w;
    this.counters.reaped += gone.length;
    return gone.length;
  }

  /** Publishes new metadata by raising our incarnation (SWIM's only way to make a newer claim about ourselves). */
  updateMeta(meta: Uint8Array, nowMs: number): void {
    this.self.incarnation += 1;
    this.self.meta = meta;
    this.hooks.broadcast(this.self.name, this.aliveMessageForSelf());
    this.emit("update", this.self, nowMs);
  }

  /** Marks ourselves left and queues the goodbye: a `dead` about us, from us. */
  leave(nowMs: number): void {
    if (this.leftCluster) return;
    this.leftCluster = true;
    this.self.state = "left";
    this.self.stateChangeMs = nowMs;
    this.hooks.broadcast(this.self.name, { type: "dead", name: this.self.name, incarnation: this.self.incarnation, from: this.self.name });
    this.emit("leave", this.self, nowMs);
  }

  /** If we hold `name` dead or left, sends that verdict to the member called `to`. */
  answerWithVerdict(name: string, to: string): void {
    const member = this.table.get(name);
    if (member !== undefined && member !== this.self && (member.state === "dead" || member.state === "left")) this.tellVerdict(member, to);
  }

  /** Sends our dead/left verdict on `member` to the member called `to`, if we know where it is. */
  private tellVerdict(member: Member, to: string): void {
    const target = this.table.get(to);
    if (target === undefined || target === this.self || target.state === "dead" || target.state === "left") return;
    this.hooks.tell(target.addr, { type: "dead", name: member.name, incarnation: member.incarnation, from: member.state === "left" ? member.name : this.self.name });
  }

  /**
   * A heck addition. `sender` just sent us a suspicion or death of `member`
   * at an incarnation below the one we hold alive: it missed the refutation
   * (SWIM §4.2 spreads it by gossip, which reaches each member only with high
   * probability, and memberlist drops such stale claims in silence). Nothing
   * else would repair its view before the next push-pull, and it would keep
   * the member suspect for the whole Lifeguard timeout, then declare it dead.
   * So we answer the sender with the newer `alive`. This covers the suspect
   * itself too (it is alive in its own table): the buddy-system suspicion a
   * lagging prober attaches to its ping is answered with the refutation the
   * prober missed. One packet per stale claim, and a sender stops sending
   * stale claims once it has the news, since the news replaces them in its
   * queue.
   */
  private tellRefutation(member: Member, sender: Address | undefined): void {
    if (sender === undefined || member.state !== "alive" || sender === this.self.addr) return;
    this.hooks.tell(sender, member === this.self ? this.aliveMessageForSelf() : aliveMessageOf(member));
  }

  /** Our goodbye, while we are leaving: a `dead` about us, from us. */
  goodbye(): DeadMessage | undefined {
    return this.leftCluster ? { type: "dead", name: this.self.name, incarnation: this.self.incarnation, from: this.self.name } : undefined;
  }

  /** Our current `alive` claim. */
  aliveMessageForSelf(): AliveMessage {
    return { type: "alive", name: this.self.name, addr: this.self.addr, incarnation: this.self.incarnation, meta: this.self.meta };
  }

  /**
   * Raises our incarnation past `accusedIncarnation` and gossips `alive`
   * (SWIM §4.2). Lifeguard counts it against our health: being suspected
   * often means we are the slow one.
   */
  private refute(accusedIncarnation: number, _nowMs: number): void {
    this.self.incarnation = Math.max(this.self.incarnation + 1, accusedIncarnation + 1);
    this.counters.refutes++;
    this.hooks.refuted();
    this.hooks.broadcast(this.self.name, this.aliveMessageForSelf());
  }

  private emit(type: MemberEventType, member: Member, atMs: number): void {
    this.hooks.emit({ type, member: toInfo(member), atMs });
  }
}

const NONE: readonly string[] = [];

/** The `alive` claim we hold about `member`. */
function aliveMessageOf(member: Member): AliveMessage {
  return { type: "alive", name: member.name, addr: member.addr, incarnation: member.incarnation, meta: member.meta, ...(member.vsn !== undefined ? { vsn: member.vsn } : {}) };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
