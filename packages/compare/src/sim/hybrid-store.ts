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
 * sum of what it runs. On the disk, the Raft part's WAL records and snapshot
 * images sit between crdt-kv's WAL lines, each tagged with its part; a
 * restart splits them apart and each part recovers through its own replay.
 */
import type { Channel, DiskImage, NodeFactoryArgs, Outbound, SimProcess, SimReady } from "@heck/sim";
import type { RaftNode, SnapshotImage } from "@heck/raft-kv";
import { CrdtStoreNode, type CrdtStoreOptions } from "./crdt-store.ts";
import { RaftStoreNode, type RaftDisk, type RaftEnvelope, type RaftRecord, type RaftStoreOptions, type ReadCallback, type WriteCallback } from "./raft-store.ts";
import type { HealthRecord } from "./records.ts";

/** A message of one of the two parts. */
export type HybridMessage = { part: "raft"; message: RaftEnvelope } | { part: "crdt"; message: string };

/**
 * One record on a hybrid member's disk: a Raft WAL record, a Raft snapshot
 * image (which replaces the Raft records before it, not crdt-kv's), or a
 * crdt-kv WAL line.
 */
export type HybridRecord = { part: "raft"; record: RaftRecord } | { part: "raft-snapshot"; image: SnapshotImage } | { part: "crdt"; line: string };

/**
 * A snapshot on a hybrid member's disk: crdt-kv's snapshot, which replaces
 * every record before it, so it carries the Raft part's disk at that point too.
 */
export interface HybridSnapshot {
  raft: RaftDisk;
  crdt: string;
}

/** Splits a hybrid member's disk into each part's own image: the Raft part's snapshot image and WAL records, and crdt-kv's snapshot and WAL lines. */
export function splitHybridDisk(disk: DiskImage<HybridRecord, HybridSnapshot>): { raft: RaftDisk; crdt: DiskImage<string, string> } {
  let raftSnapshot = disk.snapshot?.raft.snapshot ?? null;
  let raftRecords = [...(disk.snapshot?.raft.records ?? [])];
  const lines: string[] = [];
  for (const r of disk.records) {
    if (r.part === "raft") raftRecords.push(r.record);
    else if (r.part === "raft-snapshot") {
      raftSnapshot = r.image;
      raftRecords = [];
    } else lines.push(r.line);
  }
  return { raft: { snapshot: raftSnapshot, records: raftRecords }, crdt: { snapshot: disk.snapshot?.crdt ?? null, records: lines } };
}

/** Keys under this prefix (the origin list) go through Raft; every other key through the CRDT. */
export const COORDINATED_PREFIX = "list/";

/** One member running a Raft replica for the origin list and a CRDT replica for the records. */
export class HybridStoreNode implements SimProcess<HybridMessage, HybridRecord, HybridSnapshot> {
  readonly id: string;
  readonly raftPart: RaftStoreNode;
  readonly crdtPart: CrdtStoreNode;
  /** The Raft part's disk as handed out so far (its last snapshot image, the records after it), for the next crdt-kv snapshot to carry. */
  private raftSnapshot: SnapshotImage | null;
  private raftRecords: RaftRecord[];

  constructor(args: NodeFactoryArgs<HybridRecord, HybridSnapshot>, raft: RaftStoreOptions, crdt: CrdtStoreOptions) {
    this.id = args.id;
    const parts = args.disk === undefined ? undefined : splitHybridDisk(args.disk);
    this.raftSnapshot = parts?.raft.snapshot ?? null;
    this.raftRecords = [...(parts?.raft.records ?? [])];
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
   * Both parts' Readies as one: their persistence (the Raft part's WAL
   * records and snapshot images, crdt-kv's snapshot and WAL lines), then
   * their messages, Raft's first. The Raft part's Readies are drained
   * whole (its `advance()` applies committed entries, which may make more),
   * then crdt-kv's: this node is their driver, and the runner carries out
   * the merged batch in that order, so nothing leaves before what it rests
   * on is written.
   */
  ready(): SimReady<HybridMessage, HybridRecord, HybridSnapshot> {
    let snapshot: HybridSnapshot | null = null;
    let records: HybridRecord[] = [];
    let mustSync = false;
    const messages: Outbound<HybridMessage>[] = [];
    while (this.raftPart.hasReady()) {
      const rd = this.raftPart.ready();
      if (rd.snapshot !== null) {
        this.raftSnapshot = rd.snapshot;
        this.raftRecords = [];
        records.push({ part: "raft-snapshot", image: rd.snapshot });
      }
      for (const record of rd.records) {
        this.raftRecords.push(record);
        records.push({ part: "raft", record });
      }
      mustSync ||= rd.mustSync;
      for (const o of rd.messages) messages.push({ to: o.to, message: { part: "raft", message: o.message }, ...(o.channel ? { channel: o.channel } : {}) });
      this.raftPart.advance();
    }
    if (this.crdtPart.hasReady()) {
      const rd = this.crdtPart.ready();
      if (rd.snapshot !== null) {
        // The snapshot replaces every record before it, the Raft part's included: it carries that part's disk.
        snapshot = { raft: { snapshot: this.raftSnapshot, records: [...this.raftRecords] }, crdt: rd.snapshot };
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
