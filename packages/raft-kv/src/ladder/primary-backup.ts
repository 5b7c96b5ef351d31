/**
 * The agreement ladder's first rung: primary-backup replication with a fixed
 * order of primaries and a heartbeat failure detector: no terms, no quorum.
 * It is what a team writes before reading the Raft paper, and it works as
 * long as the failure detector is right.
 *
 * - Every node heartbeats every other every `heartbeatMs`, and holds a peer
 *   dead after `failAfterMs` of silence.
 * - The primary is the first node of the fixed order that this node holds
 *   alive (itself included). Only the primary takes client requests.
 * - A write is applied at the primary, sent to every backup the primary holds
 *   alive, and acknowledged to the client once those backups acknowledged it
 *   (synchronous replication, so a backup that takes over has every write).
 *   Reads are answered from the primary's own copy.
 * - When a node comes back (the primary hears it again), the primary sends it
 *   its whole state, and a node takes the state of the primary it follows.
 *
 * What breaks is the one assumption: "a node I cannot hear is dead". Cut the
 * primary off and both sides are right by their own evidence: the old primary
 * holds everybody else dead and carries on alone, the others elect the next
 * in line, and two primaries acknowledge writes. A client that reads from the
 * old one reads the past (a stale read); when the network heals, the first
 * in line is primary again and its state overwrites the writes the other
 * side acknowledged (a lost write). Raft's answer is the two things this
 * design lacks: terms, so an old leader is recognised as old, and majorities,
 * so only one side can commit at all (Raft §5.2, §5.4).
 */
import type { Channel, Outbound } from "@heck/sim";

/** What primary-backup nodes say to each other. */
export type PrimaryBackupMessage =
  | { type: "heartbeat" }
  | { type: "replicate"; id: number; key: string; value: string }
  | { type: "replicated"; id: number }
  | { type: "state"; data: ReadonlyArray<[string, string]> };

/** Timing of the failure detector. */
export interface PrimaryBackupConfig {
  /** Heartbeat period. Default 20 ms: two Raft ticks in the ladder's cluster. */
  heartbeatMs: number;
  /** Silence after which a peer is held dead. Default 150 ms: within Raft's election timeout there (100-190 ms). */
  failAfterMs: number;
}

/** The defaults, each explained on its field. */
export const PRIMARY_BACKUP_DEFAULTS: PrimaryBackupConfig = { heartbeatMs: 20, failAfterMs: 150 };

interface PendingWrite {
  waitingFor: Set<string>;
  done: () => void;
}

/** One node of a primary-backup group. */
export class PrimaryBackupNode {
  readonly data = new Map<string, string>();
  private outbox: Outbound<PrimaryBackupMessage>[] = [];
  private readonly lastHeardMs = new Map<string, number>();
  private readonly alive = new Set<string>();
  private readonly pending = new Map<number, PendingWrite>();
  private nextId = 1;
  private nextBeatMs: number;

  constructor(
    readonly id: string,
    /** Every node, in the fixed order of primaries (this one included). */
    readonly order: readonly string[],
    nowMs: number,
    readonly config: PrimaryBackupConfig = PRIMARY_BACKUP_DEFAULTS,
  ) {
    for (const p of order) {
      if (p === id) continue;
      this.lastHeardMs.set(p, nowMs);
      this.alive.add(p);
    }
    this.nextBeatMs = nowMs;
  }

  /** The node this one takes for primary: the first in the order it holds alive. */
  get primary(): string {
    return this.order.find((p) => p === this.id || this.alive.has(p))!;
  }

  /** The peers this node holds alive now, in the fixed order. */
  get holdsAlive(): string[] {
    return this.order.filter((p) => this.alive.has(p));
  }

  /** Whether this node takes client requests. */
  get isPrimary(): boolean {
    return this.primary === this.id;
  }

  /** A client write; false (nothing done) unless this node is primary. `done` runs once every backup it holds alive has it. */
  put(key: string, value: string, done: () => void): boolean {
    if (!this.isPrimary) return false;
    this.data.set(key, value);
    const id = this.nextId++;
    const waitingFor = new Set(this.alive);
    for (const b of waitingFor) this.send(b, { type: "replicate", id, key, value });
    if (waitingFor.size === 0) done();
    else this.pending.set(id, { waitingFor, done });
    return true;
  }

  /** A client read, from this node's own copy; undefined (refused) unless this node is primary. */
  get(key: string): { value: string | null } | undefined {
    if (!this.isPrimary) return undefined;
    return { value: this.data.get(key) ?? null };
  }

  tick(nowMs: number): void {
    if (nowMs < this.nextBeatMs) return;
    this.nextBeatMs += this.config.heartbeatMs;
    if (this.nextBeatMs <= nowMs) this.nextBeatMs = nowMs + this.config.heartbeatMs;
    for (const p of this.lastHeardMs.keys()) this.send(p, { type: "heartbeat" });
    for (const [p, heard] of this.lastHeardMs) {
      if (this.alive.has(p) && nowMs - heard >= this.config.failAfterMs) this.markDead(p);
    }
  }

  receive(from: string, message: PrimaryBackupMessage, _channel: Channel, nowMs: number): void {
    if (!this.lastHeardMs.has(from)) return;
    this.lastHeardMs.set(from, nowMs);
    if (!this.alive.has(from)) {
      this.alive.add(from);
      // A node we held dead is back: the primary brings it up to date with its whole state.
      if (this.isPrimary) this.send(from, { type: "state", data: [...this.data] });
    }
    switch (message.type) {
      case "heartbeat":
        return;
      case "replicate":
        this.data.set(message.key, message.value);
        this.send(from, { type: "replicated", id: message.id });
        return;
      case "replicated": {
        const p = this.pending.get(message.id);
        if (p !== undefined && p.waitingFor.delete(from) && p.waitingFor.size === 0) this.finish(message.id);
        return;
      }
      case "state":
        // Only the primary we follow may replace our copy.
        if (from !== this.primary) return;
        this.data.clear();
        for (const [k, v] of message.data) this.data.set(k, v);
        return;
    }
  }

  /** A backup held dead no longer holds up the writes waiting for it. */
  private markDead(peer: string): void {
    this.alive.delete(peer);
    for (const [id, p] of this.pending) if (p.waitingFor.delete(peer) && p.waitingFor.size === 0) this.finish(id);
  }

  private finish(id: number): void {
    const p = this.pending.get(id)!;
    this.pending.delete(id);
    p.done();
  }

  private send(to: string, message: PrimaryBackupMessage): void {
    this.outbox.push({ to, message });
  }

  nextDeadlineMs(): number {
    return this.nextBeatMs;
  }

  /** Messages to send since the last `advance()`. */
  ready(): { messages: readonly Outbound<PrimaryBackupMessage>[] } {
    return { messages: this.outbox };
  }

  advance(): void {
    if (this.outbox.length > 0) this.outbox = [];
  }
}
