/**
 * A crdt-kv replica as a simulation process: the package's own `KvNode`
 * (delta-state CRDT store with BP+RR anti-entropy), which already is a
 * SimProcess, wrapped to play its driver's edge (messages travel as their
 * JSON wire text and are decoded on arrival) and to measure it: bytes per
 * message, payload bytes (the record values inside deltas and diffs), and
 * every record version that a local write or a merge makes visible (the
 * node's own change events, which the driver, not the simulator, normally
 * drains). Its WAL lines and snapshots go to the runner's simulated disk.
 *
 * A health record is written in LWW mode with the record's HLC stamp as the
 * timestamp, as v2 does: the newest observation wins every merge.
 */
import { utf8Length, type Channel, type NodeFactoryArgs, type Outbound, type SimProcess, type SimReady } from "@heck/sim";
import { KvNode, diskFromWal, receiveWire, wireOf, type Json, type KvNodeConfig } from "@heck/crdt-kv";
import type { Meter } from "./meter.ts";
import { isRecord, type HealthRecord } from "./records.ts";

/** Settings of a simulated crdt-kv cluster. */
export interface CrdtStoreOptions {
  meter: Meter;
  /** The current members, as the membership layer (SWIM in v2) would report them. */
  members: () => readonly string[];
  /** Anti-entropy period (crdt-kv default 1000 ms). */
  syncIntervalMs: number;
  /** Peers per round (crdt-kv default 3). */
  fanout: number;
  /** Any other KvNode settings. */
  overrides?: Partial<KvNodeConfig>;
}

/**
 * Record-value bytes inside a delta or diff message (0 for acks and
 * digests). Health records are flat JSON objects starting with `{"id":`, so
 * they are found by scanning the wire text, without parsing it again.
 */
export function crdtPayloadBytes(wire: string): number {
  if (!wire.startsWith('{"type":"delta"') && !wire.startsWith('{"type":"diff"')) return 0;
  let n = 0;
  let i = wire.indexOf('{"id":', 1);
  while (i >= 0) {
    const end = wire.indexOf("}", i);
    if (end < 0) break;
    n += end + 1 - i;
    i = wire.indexOf('{"id":', end);
  }
  return n;
}

/** A crdt-kv replica driven by the simulation runner. */
export class CrdtStoreNode implements SimProcess<string, string, string> {
  readonly id: string;
  readonly inner: KvNode;
  private readonly opts: CrdtStoreOptions;
  private readonly meterIndex: number;
  private now: number;

  constructor(args: NodeFactoryArgs<string, string>, opts: CrdtStoreOptions) {
    this.id = args.id;
    this.opts = opts;
    this.meterIndex = opts.meter.indexOf(args.id);
    this.now = args.nowMs;
    const self = args.id;
    this.inner = new KvNode(
      {
        id: args.id,
        address: args.id,
        // Gossip only with current members; a node that is not (yet, or any more) a member gossips with nobody.
        peers: () => {
          const members = opts.members();
          return members.includes(self) ? members.filter((m) => m !== self) : [];
        },
        prng: args.prng,
        syncIntervalMs: opts.syncIntervalMs,
        fanout: opts.fanout,
        emitEvents: true,
        ...opts.overrides,
      },
      args.nowMs,
      args.disk === undefined ? undefined : diskFromWal(args.disk),
    );
  }

  // --- SimProcess ----------------------------------------------------------------

  tick(nowMs: number): void {
    this.now = nowMs;
    this.inner.tick(nowMs);
  }

  receive(from: string, wire: string, channel: Channel, nowMs: number): void {
    this.now = nowMs;
    this.opts.meter.received(this.meterIndex, utf8Length(wire));
    receiveWire(this.inner, from, wire, channel, nowMs);
  }

  hasReady(): boolean {
    return this.inner.hasReady();
  }

  /** The replica's Ready with its messages as wire text, after metering them and its change events. */
  ready(): SimReady<string, string, string> {
    const ready = this.inner.ready();
    const meter = this.opts.meter;
    if (ready.events.length > 0) {
      meter.applied(this.meterIndex, ready.events.length);
      for (const e of ready.events) {
        const v = e.result.value;
        if (isRecord(v)) meter.observe(this.id, e.key, v, this.now);
      }
    }
    const messages: Outbound<string>[] = [];
    for (const m of ready.messages) {
      const wire = wireOf(m.message);
      meter.sent(this.meterIndex, utf8Length(wire), crdtPayloadBytes(wire));
      messages.push(m.channel !== undefined ? { to: m.to, message: wire, channel: m.channel } : { to: m.to, message: wire });
    }
    return { snapshot: ready.snapshot, records: ready.records, mustSync: ready.mustSync, messages };
  }

  advance(): void {
    this.inner.advance();
  }

  nextDeadlineMs(): number {
    return this.inner.nextDeadlineMs();
  }

  // --- client operations -----------------------------------------------------------

  /**
   * Writes locally and returns at once: nobody is asked (the coordination-free
   * write). LWW with the record's HLC stamp: a write older than what the
   * replica holds is refused as superseded (ok, but not applied).
   */
  write(key: string, record: HealthRecord, cb: (ok: boolean, applied: boolean) => void): void {
    this.opts.meter.op(this.meterIndex);
    const r = this.inner.put(key, record as unknown as Json, { mode: "lww", ts: record.hlcMs });
    cb(r.ok, r.ok && r.applied);
  }

  /** Reads this replica's current value. */
  readLocal(key: string): HealthRecord | undefined {
    const r = this.inner.get(key);
    return r.exists && isRecord(r.value) ? r.value : undefined;
  }

  /** One anti-entropy round now (a graceful leave pushes what it has before it stops). */
  syncNow(): void {
    this.inner.syncRound();
  }
}

/** A factory for the simulation runner. */
export function crdtStoreFactory(opts: CrdtStoreOptions): (args: NodeFactoryArgs<string, string>) => CrdtStoreNode {
  return (args) => new CrdtStoreNode(args, opts);
}
