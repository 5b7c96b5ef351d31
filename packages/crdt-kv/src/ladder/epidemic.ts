/**
 * The gossip ladder's lower rungs: the four epidemics of Demers et al.,
 * "Epidemic Algorithms for Replicated Database Maintenance" (PODC 1987),
 * spreading one update through n replicas. Each replica is a pure state
 * machine with the verbs of every core in Heck: `tick(nowMs)` at
 * `nextDeadlineMs()`, `receive(from, message, channel, nowMs)`, then one
 * `ready()` batch of messages, acknowledged with `advance()`.
 *
 * Every round (one per `periodMs`, at a random phase per replica) a replica
 * contacts one partner chosen uniformly at random:
 *
 * - **push** anti-entropy (§1.3): send my state. The informed fraction grows
 *   fast at first and slowly at the end: the last few uninformed replicas
 *   wait to be picked by someone, about log2 n + ln n rounds in all (Pittel).
 * - **pull** anti-entropy: ask the partner for what I lack. Slow at first,
 *   fast at the end: the uninformed fraction p becomes p² each round.
 * - **push-pull** anti-entropy: both in one exchange; log3 n + O(ln ln n)
 *   rounds (Karp, Schindelhauer, Shenker, Vöcking, "Randomized Rumor
 *   Spreading", FOCS 2000).
 *
 * Anti-entropy never stops: every replica contacts a partner every round
 * whether or not anything is new, so its messages are per round, not per
 * update. **Rumor mongering** (§1.4) sends only while the update is "hot":
 * a replica pushes it each round and stops after `k` partners answered that
 * they already knew it (the feedback/counter stop rule). Far fewer messages,
 * but a residue of replicas never hears the rumor (about 3.7% of them with
 * k = 2, the paper's Table 1), which is why Demers et al. back it with
 * anti-entropy.
 */
import type { Channel, Outbound, Prng } from "@heck/sim";

/** Which epidemic a replica runs. */
export type EpidemicMode = "push" | "pull" | "push-pull" | "rumor";

/**
 * The messages. `has` says whether the sender holds the update (a one-entry
 * digest); `update` carries it. A real replica's state is a database, so
 * pushes and digests are sent whether or not there is news.
 */
export type EpidemicMessage =
  /** Anti-entropy push, and the first half of push-pull: my state. */
  | { type: "state"; has: boolean; update: boolean }
  /** Pull: my digest, send me what I lack. */
  | { type: "pull"; has: boolean }
  /** The answer to a pull or a push-pull: the update the asker lacked. */
  | { type: "reply"; update: true }
  /** Rumor mongering: a hot rumor. */
  | { type: "rumor" }
  /** Rumor mongering's feedback: whether the receiver already knew it. */
  | { type: "feedback"; knew: boolean };

/** Wire size of a message: a type byte, a one-entry digest or the update (a key, a value and a dot: about 40 bytes). */
export function epidemicBytes(message: EpidemicMessage): number {
  const UPDATE = 40;
  switch (message.type) {
    case "state":
      return 2 + (message.update ? UPDATE : 0);
    case "pull":
      return 2;
    case "reply":
    case "rumor":
      return 1 + UPDATE;
    case "feedback":
      return 2;
  }
}

/** Settings of one epidemic replica. */
export interface EpidemicConfig {
  mode: EpidemicMode;
  /** One round per period. Default 1 s, crdt-kv's syncIntervalMs. */
  periodMs: number;
  /** Rumor mongering's stop rule: lose interest after this many partners already knew. Default 2 (Demers et al. Table 1: 3.7% residue). */
  stopAfterKnown: number;
}

/** One replica of an epidemic. */
export class EpidemicReplica {
  private readonly others: string[];
  private outbox: Outbound<EpidemicMessage>[] = [];
  private nextRoundMs: number;
  /** Rumor mongering: whether the update is still hot here, and how many partners already knew it. */
  private hot = false;
  private alreadyKnew = 0;
  /** Whether this replica holds the update, and since when. */
  has = false;
  hadAtMs: number | undefined;

  constructor(
    readonly id: string,
    peers: readonly string[],
    private readonly prng: Prng,
    nowMs: number,
    readonly config: EpidemicConfig,
  ) {
    this.others = peers.filter((p) => p !== id);
    this.nextRoundMs = nowMs + prng.nextFloat() * config.periodMs;
  }

  /** A client writes the update here. */
  write(nowMs: number): void {
    this.learn(nowMs);
  }

  /** True while this replica will still send something about the update (always, for anti-entropy). */
  get active(): boolean {
    return this.config.mode === "rumor" ? this.hot : true;
  }

  private learn(nowMs: number): void {
    if (this.has) return;
    this.has = true;
    this.hadAtMs = nowMs;
    this.hot = true;
  }

  tick(nowMs: number): void {
    if (nowMs < this.nextRoundMs) return;
    this.nextRoundMs += this.config.periodMs;
    if (this.nextRoundMs <= nowMs) this.nextRoundMs = nowMs + this.config.periodMs;
    if (this.others.length === 0) return;
    const partner = this.others[this.prng.nextInt(0, this.others.length - 1)]!;
    switch (this.config.mode) {
      case "push":
      case "push-pull":
        this.send(partner, { type: "state", has: this.has, update: this.has });
        return;
      case "pull":
        this.send(partner, { type: "pull", has: this.has });
        return;
      case "rumor":
        if (this.hot) this.send(partner, { type: "rumor" });
        return;
    }
  }

  receive(from: string, message: EpidemicMessage, _channel: Channel, nowMs: number): void {
    switch (message.type) {
      case "state":
        if (message.update) this.learn(nowMs);
        // Push-pull: the partner answers with what the initiator lacked.
        else if (this.config.mode === "push-pull" && this.has) this.send(from, { type: "reply", update: true });
        return;
      case "pull":
        if (!message.has && this.has) this.send(from, { type: "reply", update: true });
        return;
      case "reply":
        this.learn(nowMs);
        return;
      case "rumor": {
        const knew = this.has;
        this.learn(nowMs);
        this.send(from, { type: "feedback", knew });
        return;
      }
      case "feedback":
        if (message.knew && this.hot && ++this.alreadyKnew >= this.config.stopAfterKnown) this.hot = false;
        return;
    }
  }

  private send(to: string, message: EpidemicMessage): void {
    this.outbox.push({ to, message });
  }

  nextDeadlineMs(): number {
    return this.nextRoundMs;
  }

  /** The messages to send since the last `advance()`. */
  ready(): { messages: readonly Outbound<EpidemicMessage>[] } {
    return { messages: this.outbox };
  }

  advance(): void {
    if (this.outbox.length > 0) this.outbox = [];
  }
}
