/**
 * The middle of the coordination-cost ladder: coordinate only what needs it.
 * Each member runs both stores side by side, as one process: raft-kv's
 * replica ({@link RaftStoreNode}) for the origin list (`list/...` keys: a
 * change every member must agree on before it acts, since removing an
 * origin retracts a fact), and crdt-kv's replica ({@link CrdtStoreNode}) for
 * the health records (`health/...`: a newer observation only adds to what is
 * known, a join in a lattice, so no write waits for anyone; CALM).
 *
 * The two protocols share the node's network endpoint: every message is
 * tagged with the part it belongs to, and both parts report to the same
 * meter, so the node's traffic and CPU are the sum of what it runs.
 */
import type { Channel, NodeFactoryArgs, Outbound, SimProcess } from "@heck/sim";
import type { KvPersisted } from "@heck/crdt-kv";
import type { RaftNode } from "@heck/raft-kv";
import { CrdtStoreNode, type CrdtStoreOptions } from "./crdt-store.ts";
import { RaftStoreNode, type RaftDisk, type RaftEnvelope, type RaftStoreOptions, type ReadCallback, type WriteCallback } from "./raft-store.ts";
import type { HealthRecord } from "./records.ts";

/** A message of one of the two parts. */
export type HybridMessage = { part: "raft"; message: RaftEnvelope } | { part: "crdt"; message: string };

/** What survives a crash: each part's own durable state. */
export interface HybridDisk {
  raft: RaftDisk | undefined;
  crdt: KvPersisted | undefined;
}

/** Keys under this prefix (the origin list) go through Raft; every other key through the CRDT. */
export const COORDINATED_PREFIX = "list/";

/** One member running a Raft replica for the origin list and a CRDT replica for the records. */
export class HybridStoreNode implements SimProcess<HybridMessage, HybridDisk> {
  readonly id: string;
  readonly raftPart: RaftStoreNode;
  readonly crdtPart: CrdtStoreNode;

  constructor(args: NodeFactoryArgs<HybridDisk>, raft: RaftStoreOptions, crdt: CrdtStoreOptions) {
    this.id = args.id;
    // Each part draws from its own stream, so neither changes the other's randomness.
    this.raftPart = new RaftStoreNode({ ...args, prng: args.prng.fork("raft"), persisted: args.persisted?.raft }, raft);
    this.crdtPart = new CrdtStoreNode({ ...args, prng: args.prng.fork("crdt"), persisted: args.persisted?.crdt }, crdt);
  }

  /** The Raft core of the list part (the runner moves leadership and changes membership through it). */
  get raft(): RaftNode {
    return this.raftPart.raft;
  }

  tick(nowMs: number): void {
    if (this.raftPart.nextDeadlineMs() <= nowMs) this.raftPart.tick(nowMs);
    if (this.crdtPart.nextDeadlineMs() <= nowMs) this.crdtPart.tick(nowMs);
  }

  receive(from: string, message: HybridMessage, channel: Channel, nowMs: number): void {
    if (message.part === "raft") this.raftPart.receive(from, message.message, channel, nowMs);
    else this.crdtPart.receive(from, message.message, channel, nowMs);
  }

  streamFailed(to: string, message: HybridMessage, nowMs: number): void {
    if (message.part === "raft") this.raftPart.streamFailed(to, message.message, nowMs);
  }

  takeOutbox(): Outbound<HybridMessage>[] {
    const out: Outbound<HybridMessage>[] = [];
    for (const o of this.raftPart.takeOutbox()) out.push({ to: o.to, message: { part: "raft", message: o.message }, ...(o.channel ? { channel: o.channel } : {}) });
    for (const o of this.crdtPart.takeOutbox()) out.push({ to: o.to, message: { part: "crdt", message: o.message }, ...(o.channel ? { channel: o.channel } : {}) });
    return out;
  }

  nextDeadlineMs(): number {
    return Math.min(this.raftPart.nextDeadlineMs(), this.crdtPart.nextDeadlineMs());
  }

  persisted(): HybridDisk {
    return { raft: this.raftPart.persisted(), crdt: this.crdtPart.persisted() };
  }

  /** A list change goes through Raft (acknowledged once committed); a record into the CRDT (acknowledged at once). */
  write(key: string, record: HealthRecord, cb: WriteCallback): void {
    if (key.startsWith(COORDINATED_PREFIX)) this.raftPart.write(key, record, cb);
    else this.crdtPart.write(key, record, cb);
  }

  readLocal(key: string): HealthRecord | undefined {
    return key.startsWith(COORDINATED_PREFIX) ? this.raftPart.readLocal(key) : this.crdtPart.readLocal(key);
  }

  /** Linearizable reads exist for the list only: records are never coordinated, so none is offered for them. */
  readLinearizable(key: string, cb: ReadCallback): void {
    if (key.startsWith(COORDINATED_PREFIX)) this.raftPart.readLinearizable(key, cb);
    else cb({ ok: false });
  }

  /** One anti-entropy round of the record part now (a graceful leave). */
  syncNow(): void {
    this.crdtPart.syncNow();
  }
}

/** A factory for the simulation runner. */
export function hybridStoreFactory(raft: RaftStoreOptions, crdt: (id: string) => CrdtStoreOptions): (args: NodeFactoryArgs<HybridDisk>) => HybridStoreNode {
  return (args) => new HybridStoreNode(args, raft, crdt(args.id));
}
