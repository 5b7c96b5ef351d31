/**
 * The middle of the coordination-cost ladder: coordinate only what needs it.
 * Each member runs both stores side by side, as one process: raft-kv's
 * replica ({@link RaftStoreNode}) for the origin list (`list/...` keys: a
 * change every member must agree on before it acts, since removing an
 * origin retracts a fact), and crdt-kv's replica ({@link CrdtStoreNode}) for
 * the health records (`health/...`: a newer observation only adds to what is
 * known, a join in a lattice, so no write waits for anyone; CALM).
 *
 * The two protocols share the node's network endpoint and its disk: every
 * message is tagged with the part it belongs to, both parts' Readies are
 * drained into one (the parts' persistence first, then their messages), and
 * both parts report to the same meter, so the node's traffic and CPU are the
 * sum of what it runs.
 */
import type { Channel, DiskImage, NodeFactoryArgs, Outbound, SimProcess, SimReady } from "@heck/sim";
import type { RaftNode } from "@heck/raft-kv";
import { CrdtStoreNode, type CrdtStoreOptions } from "./crdt-store.ts";
import { RaftStoreNode, type RaftDisk, type RaftEnvelope, type RaftStoreOptions, type ReadCallback, type WriteCallback } from "./raft-store.ts";
import type { HealthRecord } from "./records.ts";

/** A message of one of the two parts. */
export type HybridMessage = { part: "raft"; message: RaftEnvelope } | { part: "crdt"; message: string };

/** One record on a hybrid member's disk: the Raft part's whole durable state when it changed, or a crdt-kv WAL line. */
export type HybridRecord = { part: "raft"; disk: RaftDisk } | { part: "crdt"; line: string };

/**
 * A snapshot on a hybrid member's disk: crdt-kv's snapshot, which replaces
 * every record before it, so it carries the Raft part's state at that point too.
 */
export interface HybridSnapshot {
  raft: RaftDisk | null;
  crdt: string;
}

/** Splits a hybrid member's disk into each part's own image: the last Raft state written, and crdt-kv's snapshot and WAL lines. */
export function splitHybridDisk(disk: DiskImage<HybridRecord, HybridSnapshot>): { raft: DiskImage<never, RaftDisk>; crdt: DiskImage<string, string> } {
  let raft = disk.snapshot?.raft ?? null;
  const lines: string[] = [];
  for (const r of disk.records) {
    if (r.part === "raft") raft = r.disk;
    else lines.push(r.line);
  }
  return { raft: { snapshot: raft, records: [] }, crdt: { snapshot: disk.snapshot?.crdt ?? null, records: lines } };
}

/** Keys under this prefix (the origin list) go through Raft; every other key through the CRDT. */
export const COORDINATED_PREFIX = "list/";

/** One member running a Raft replica for the origin list and a CRDT replica for the records. */
export class HybridStoreNode implements SimProcess<HybridMessage, HybridRecord, HybridSnapshot> {
  readonly id: string;
  readonly raftPart: RaftStoreNode;
  readonly crdtPart: CrdtStoreNode;
  /** The Raft part's state as last handed to the disk, for the next snapshot. */
  private raftDisk: RaftDisk | null;

  constructor(args: NodeFactoryArgs<HybridRecord, HybridSnapshot>, raft: RaftStoreOptions, crdt: CrdtStoreOptions) {
    this.id = args.id;
    const parts = args.disk === undefined ? undefined : splitHybridDisk(args.disk);
    this.raftDisk = parts?.raft.snapshot ?? null;
    // Each part draws from its own stream, so neither changes the other's randomness.
    this.raftPart = new RaftStoreNode({ ...args, prng: args.prng.fork("raft"), disk: parts?.raft }, raft);
    this.crdtPart = new CrdtStoreNode({ ...args, prng: args.prng.fork("crdt"), disk: parts?.crdt }, crdt);
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

  hasReady(): boolean {
    return this.raftPart.hasReady() || this.crdtPart.hasReady();
  }

  /**
   * Both parts' Readies as one: their persistence (the Raft part's state as a
   * record, crdt-kv's snapshot and WAL lines), then their messages, Raft's
   * first. Each part is advanced here: this node is their driver, and the
   * runner carries out the merged batch in that order.
   */
  ready(): SimReady<HybridMessage, HybridRecord, HybridSnapshot> {
    let snapshot: HybridSnapshot | null = null;
    let records: HybridRecord[] = [];
    let mustSync = false;
    const messages: Outbound<HybridMessage>[] = [];
    if (this.raftPart.hasReady()) {
      const rd = this.raftPart.ready();
      if (rd.snapshot !== null) {
        this.raftDisk = rd.snapshot;
        records.push({ part: "raft", disk: rd.snapshot });
      }
      mustSync ||= rd.mustSync;
      for (const o of rd.messages) messages.push({ to: o.to, message: { part: "raft", message: o.message }, ...(o.channel ? { channel: o.channel } : {}) });
      this.raftPart.advance();
    }
    if (this.crdtPart.hasReady()) {
      const rd = this.crdtPart.ready();
      if (rd.snapshot !== null) {
        // The snapshot replaces every record before it, the Raft part's included: it carries that state.
        snapshot = { raft: this.raftDisk, crdt: rd.snapshot };
        records = [];
      }
      for (const line of rd.records) records.push({ part: "crdt", line });
      mustSync ||= rd.mustSync;
      for (const o of rd.messages) messages.push({ to: o.to, message: { part: "crdt", message: o.message }, ...(o.channel ? { channel: o.channel } : {}) });
      this.crdtPart.advance();
    }
    return { snapshot, records, mustSync, messages };
  }

  advance(): void {}

  nextDeadlineMs(): number {
    return Math.min(this.raftPart.nextDeadlineMs(), this.crdtPart.nextDeadlineMs());
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
export function hybridStoreFactory(raft: RaftStoreOptions, crdt: (id: string) => CrdtStoreOptions): (args: NodeFactoryArgs<HybridRecord, HybridSnapshot>) => HybridStoreNode {
  return (args) => new HybridStoreNode(args, raft, crdt(args.id));
}
