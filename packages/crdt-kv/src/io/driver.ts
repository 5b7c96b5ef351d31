/**
 * The driver: runs one {@link KvNode} on real time, a real transport and a
 * real disk. It owns everything the core must not touch:
 *
 * - time: a timer at the core's `nextDeadlineMs()`, monotonic clock for
 *   `nowMs`, the wall clock for default LWW timestamps;
 * - the transport: packets for small messages, one cached TCP stream per
 *   peer for large ones, through the fault-injection layer so an admin
 *   command can partition the node;
 * - the disk: after every step it drains the core's Ready batches and
 *   writes, in order, the snapshot, the WAL lines (fsync), then sends the
 *   messages, then resolves the client calls, then notifies subscribers.
 *   "Persist before you send or acknowledge" is what makes an acknowledged
 *   write survive kill -9 and an acknowledged delta never be lost;
 * - the wire: every packet and frame is decoded here (`receiveWire`), so
 *   the core only ever sees valid, typed messages, and every message it
 *   sends is the text it encoded when it sent it (`wireOf`).
 */
import { SystemClock, keyringFromBase64, openTransport, type FaultInjectingTransport, type Keyring } from "@heck/sim/io";
import { createPrng, type Stream } from "@heck/sim";
import type { CausalContext } from "../core/causality/causal-context.ts";
import type { Json } from "../core/json.ts";
import type { ReadResult } from "../core/store/kv-state.ts";
import { KvNode, type BatchWrite, type ChangeEvent, type KvNodeConfig, type NodeStats, type PeerStatus, type WriteResult } from "../core/store/node.ts";
import { wireOf, type KvMessage } from "../core/store/messages.ts";
import { receiveWire } from "../core/store/wire-input.ts";
import type { Mode } from "../core/store/version.ts";
import type { SyncAlgorithm } from "../core/sync/delta-sync.ts";
import { DataDir } from "./disk.ts";

/** How to start a node. */
export interface DriverOptions {
  /** Replica id (unique, stable across restarts). */
  id: string;
  /** Data directory: state, delta log, lock. */
  dataDir: string;
  /** Interface for gossip (UDP+TCP on one port). Default 127.0.0.1. */
  host?: string;
  /** Gossip port; 0 picks one. Default 0. */
  port?: number;
  /** Peer gossip addresses, or a provider asked every round (e.g. SWIM's live members). */
  peers?: readonly string[] | (() => readonly string[]);
  /** Gossip period. Default 1000 ms. */
  syncIntervalMs?: number;
  /** Peers per round. Default 3. */
  fanout?: number;
  /** Write mode for new keys. Default "lww". */
  defaultMode?: Mode;
  /** Default "bprr"; the others exist to be measured. */
  algorithm?: SyncAlgorithm;
  /** Anything else of the core's configuration. */
  core?: Partial<Omit<KvNodeConfig, "id" | "address" | "peers" | "prng">>;
  /** Seed for peer choice; default random. */
  seed?: number;
  /**
   * Gossip encryption: AES-256-GCM keys as base64 (32 bytes each), primary
   * first (@heck/sim/io's keyring). Every packet and stream frame is sealed
   * with the primary and opened with any key, so keys rotate without a
   * flag day; what does not open (a wrong key, plaintext, tampering) is
   * dropped before the node reads it and counted in `status().encryption`.
   * Omit for plaintext (loopback demos); a node with a key does not talk to
   * one without.
   */
  keys?: readonly string[];
  /** The same, as a live Keyring shared with another component (e.g. SWIM's); wins over `keys`. */
  keyring?: Keyring;
}

const NO_MESSAGES: ReadonlyArray<{ to: string; message: KvMessage }> = [];

/** A running node. */
export class KvDriver {
  private timer: ReturnType<SystemClock["setTimer"]> | undefined;
  private readonly streams = new Map<string, { stream: Stream | null; queue: Uint8Array[] }>();
  private readonly listeners = new Set<(e: ChangeEvent) => void>();
  private closed = false;
  private readonly encoder = new TextEncoder();
  /** Steps whose WAL records were written (page cache) / are known durable (fsynced); see {@link step}. */
  private writtenMark = 0;
  private durableMark = 0;
  private flushing = false;
  /** Messages and write completions waiting for their records to be durable, oldest first. */
  private held: Array<{ mark: number; messages: ReadonlyArray<{ to: string; message: KvMessage; channel?: "packet" | "stream" }>; done: (() => void) | undefined }> = [];
  /** WAL fsyncs (background and synchronous); each covers every record written before it. */
  flushes = 0;
  private malformedRequests = 0;

  private constructor(
    readonly node: KvNode,
    readonly transport: FaultInjectingTransport,
    private readonly disk: DataDir,
    private readonly clock: SystemClock,
  ) {}

  /** Errors thrown while handling network input (a bug if ever non-zero); the node keeps running. */
  internalErrors = 0;

  /** Opens the data directory, restores the state, binds the transport and starts gossiping. */
  static async start(options: DriverOptions): Promise<KvDriver> {
    const { dataDir, loaded } = DataDir.open(options.dataDir, options.id);
    let transport: FaultInjectingTransport | undefined;
    try {
      const keyring = options.keyring ?? (options.keys !== undefined && options.keys.length > 0 ? keyringFromBase64(options.keys) : undefined);
      transport = await openTransport({ host: options.host ?? "127.0.0.1", port: options.port ?? 0, ...(keyring !== undefined ? { keyring } : {}) });
      const seed = options.seed ?? Math.floor(Math.random() * 0x100000000);
      const clock = new SystemClock();
      const node = new KvNode(
        {
          ...options.core,
          id: options.id,
          address: transport.localAddress,
          peers: options.peers ?? [],
          prng: createPrng(seed).fork(options.id),
          emitEvents: true,
          ...(options.syncIntervalMs !== undefined ? { syncIntervalMs: options.syncIntervalMs } : {}),
          ...(options.fanout !== undefined ? { fanout: options.fanout } : {}),
          ...(options.defaultMode !== undefined ? { defaultMode: options.defaultMode } : {}),
          ...(options.algorithm !== undefined ? { algorithm: options.algorithm } : {}),
          maxPacketBytes: Math.min(options.core?.maxPacketBytes ?? 60_000, transport.maxPacketBytes),
          maxMessageBytes: Math.min(options.core?.maxMessageBytes ?? 4 << 20, transport.maxFrameBytes),
        },
        clock.nowMs(),
        { snapshot: loaded.snapshot, records: loaded.records, incarnation: loaded.incarnation },
      );
      const driver = new KvDriver(node, transport, dataDir, clock);
      driver.wire();
      return driver;
    } catch (e) {
      await transport?.close();
      dataDir.close();
      throw e;
    }
  }

  /** The gossip address peers use. */
  get address(): string {
    return this.transport.localAddress;
  }

  private wire(): void {
    this.transport.onPacket((from, payload) => this.input(() => receiveWire(this.node, from, payload, "packet", this.clock.nowMs())));
    this.transport.onStream((stream) => {
      stream.onFrame((frame) => this.input(() => receiveWire(this.node, stream.remoteAddress, frame, "stream", this.clock.nowMs())));
      stream.onClose(() => {});
    });
    this.schedule();
  }

  /** A step triggered by the network or a timer: never throws into the event loop. */
  private input(body: () => void): void {
    if (this.closed) return;
    try {
      this.step(body);
    } catch (e) {
      this.internalErrors++;
      process.stderr.write(`heck-crdt ${this.node.id}: internal error: ${(e as Error).stack ?? String(e)}\n`);
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    const delay = Math.max(0, this.node.nextDeadlineMs() - this.clock.nowMs());
    this.timer = this.clock.setTimer(delay, () => {
      this.timer = undefined;
      this.input(() => this.node.tick(this.clock.nowMs()));
    });
  }

  /**
   * Runs one core step, then does what its Ready asks, in order: snapshot,
   * WAL lines, messages, events, then `advance()`. "Persist before you send
   * or acknowledge": a step's messages (deltas built from its records, acks
   * of the deltas it joined) leave only once every record written so far
   * is durable. `durable: "now"` fsyncs before returning (the synchronous
   * client calls); "later" leaves the fsync to {@link flush}, which runs on
   * the thread pool and covers every step written meanwhile (group commit),
   * so network steps never block the event loop on the disk. A held Ready
   * is advanced at once: its messages wait in {@link held}, in order.
   */
  private step<R>(body: () => R, durable: "now" | "later" = "later", onDurable?: (r: R) => void): R {
    if (this.closed) throw new Error("node is closed");
    const result = body();
    if (!this.node.hasReady()) {
      // Nothing written, nothing to send: done as soon as everything before it is.
      if (onDurable !== undefined) this.whenDurable(() => onDurable(result));
      this.schedule();
      return result;
    }
    const ready = this.node.ready();
    if (ready.snapshot !== null) {
      // Synchronous and rare (every snapshotEveryRecords records): it also makes everything before it durable.
      this.disk.writeSnapshot(ready.snapshot);
      this.durableMark = this.writtenMark;
    }
    if (ready.records.length > 0) {
      this.disk.write(ready.records);
      this.writtenMark++;
    }
    if (durable === "now" && this.durableMark < this.writtenMark) {
      this.flushes++;
      this.disk.sync();
      this.durableMark = this.writtenMark;
    }
    if (this.durableMark >= this.writtenMark && this.held.length === 0) {
      for (const m of ready.messages) this.send(m.to, m.message, m.channel ?? "packet");
      onDurable?.(result);
    } else {
      this.held.push({ mark: this.writtenMark, messages: ready.messages, done: onDurable === undefined ? undefined : () => onDurable(result) });
      this.release();
      this.flush();
    }
    for (const e of ready.events) for (const l of this.listeners) l(e);
    this.node.advance();
    this.schedule();
    return result;
  }

  /** Runs `done` once everything written so far is durable: now, or after the held steps before it. */
  private whenDurable(done: () => void): void {
    if (this.durableMark >= this.writtenMark && this.held.length === 0) {
      done();
      return;
    }
    this.held.push({ mark: this.writtenMark, messages: NO_MESSAGES, done });
    this.release();
    this.flush();
  }

  /** Starts an fsync of everything written so far unless one is running; when it ends, releases what waited on it and goes again if more was written. */
  private flush(): void {
    if (this.flushing || this.closed || this.durableMark >= this.writtenMark) return;
    const target = this.writtenMark;
    this.flushing = true;
    this.flushes++;
    this.disk.syncAsync((err) => {
      this.flushing = false;
      if (this.closed) return;
      if (err !== null) {
        // The disk refused: nothing may be released on its word. Count it and retry with the next step.
        this.internalErrors++;
        process.stderr.write(`heck-crdt ${this.node.id}: WAL fsync failed: ${err.message}\n`);
        return;
      }
      this.durableMark = Math.max(this.durableMark, target);
      this.release();
      this.flush();
    });
  }

  /** Sends the held messages and resolves the held writes whose records are now durable, in step order. */
  private release(): void {
    while (this.held.length > 0 && this.held[0]!.mark <= this.durableMark) {
      const h = this.held.shift()!;
      for (const m of h.messages) this.send(m.to, m.message, m.channel ?? "packet");
      h.done?.();
    }
  }

  private send(to: string, message: KvMessage, channel: "packet" | "stream"): void {
    const bytes = this.encoder.encode(wireOf(message));
    if (channel === "packet" && bytes.length <= this.transport.maxPacketBytes) {
      this.transport.sendPacket(to, bytes);
      return;
    }
    let s = this.streams.get(to);
    if (s === undefined) {
      s = { stream: null, queue: [] };
      this.streams.set(to, s);
      const entry = s;
      this.transport.dial(to, 2000).then(
        (stream) => {
          if (this.closed) {
            stream.close();
            return;
          }
          entry.stream = stream;
          stream.onFrame((frame) => this.input(() => receiveWire(this.node, to, frame, "stream", this.clock.nowMs())));
          stream.onClose(() => {
            if (this.streams.get(to) === entry) this.streams.delete(to);
          });
          for (const f of entry.queue) stream.send(f);
          entry.queue = [];
        },
        () => {
          // Unreachable: the queued messages are lost, as anti-entropy expects; the next round retries.
          if (this.streams.get(to) === entry) this.streams.delete(to);
        },
      );
    }
    if (s.stream !== null) s.stream.send(bytes);
    else if (s.queue.length < 64) s.queue.push(bytes);
  }

  // ---------------------------------------------------------------------------
  // Client API: every write returns after its record is fsynced.
  // ---------------------------------------------------------------------------

  /** Writes a value; LWW timestamps default to the wall clock (epoch ms). Returns once durable (a synchronous fsync). */
  put(key: string, value: Json, options: { mode?: Mode; context?: CausalContext; ts?: number } = {}): WriteResult {
    return this.step(() => this.node.put(key, value, { ...options, ts: options.ts ?? Date.now() }), "now");
  }

  /** Deletes a key (LWW: a timestamped delete marker; MV: removes the versions in `context`, all seen when omitted). Returns once durable. */
  delete(key: string, options: { mode?: Mode; context?: CausalContext; ts?: number } = {}): WriteResult {
    return this.step(() => this.node.delete(key, { ...options, ts: options.ts ?? Date.now() }), "now");
  }

  /**
   * Writes and deletes as one step ({@link KvNode.putMany}): one delta, one
   * WAL record, one fsync; returns once durable. Results are in input order.
   */
  putMany(writes: readonly BatchWrite[]): WriteResult[] {
    return this.step(() => this.node.putMany(this.stamped(writes)), "now");
  }

  /**
   * Like {@link putMany}, without blocking the event loop on the disk: the
   * batch is applied (readable) at once and its results returned; `durable`
   * resolves once its record is fsynced, sharing one background fsync with
   * every step written meanwhile (group commit). Nothing of the batch is
   * gossiped before that, so a crash before `durable` loses it everywhere.
   */
  putManyAsync(writes: readonly BatchWrite[]): { results: WriteResult[]; durable: Promise<void> } {
    let done!: () => void;
    const durable = new Promise<void>((resolve) => (done = resolve));
    const results = this.step(() => this.node.putMany(this.stamped(writes)), "later", () => done());
    return { results, durable };
  }

  private stamped(writes: readonly BatchWrite[]): BatchWrite[] {
    const now = Date.now();
    return writes.map((w) => (w.ts === undefined ? { ...w, ts: now } : w));
  }

  /** Reads a key. */
  get(key: string): ReadResult {
    return this.node.get(key);
  }

  /** Lists keys by prefix. */
  list(prefix = "", limit = Infinity): string[] {
    return this.node.list(prefix, limit);
  }

  /** Calls `listener` for every change to a key (local or merged); returns the unsubscribe function. */
  subscribe(listener: (e: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces the static peer list. */
  setPeers(peers: readonly string[]): void {
    this.node.setPeers(peers);
  }

  /** Status for the HTTP API and the embedding: vector, peers, traffic, sizes, faults. */
  status(): {
    id: string;
    address: string;
    algorithm: SyncAlgorithm;
    vector: Record<string, number>;
    cloud: Record<string, Array<[number, number]>>;
    peers: PeerStatus[];
    stats: NodeStats & { diskBytesWritten: number; walFsyncs: number };
    sizes: ReturnType<KvNode["sizes"]>;
    faults: { dropRate: number; blocked: string[] };
    /** Gossip encryption: on or off, and what was dropped because it did not open (wrong key, plaintext, tampered). */
    encryption: { enabled: boolean; decryptFailures: number; notEncrypted: number };
    /**
     * Input dropped as malformed since start: `gossip`, messages that failed
     * to decode (`stats.rejected`) and connections whose framing was not
     * ours; `api`, HTTP requests refused with 400 or 413 or that were not HTTP.
     */
    malformed: { gossip: number; api: number };
  } {
    return {
      id: this.node.id,
      address: this.address,
      algorithm: this.node.config.algorithm,
      vector: Object.fromEntries([...this.node.vector()].sort()),
      cloud: Object.fromEntries([...this.node.context().cloud()].sort()),
      peers: this.node.peers(),
      stats: { ...this.node.stats, diskBytesWritten: this.disk.bytesWritten, walFsyncs: this.flushes },
      sizes: this.node.sizes(),
      faults: this.transport.faults(),
      encryption: { enabled: this.transport.keyring !== undefined, decryptFailures: this.transport.stats.decryptFailures, notEncrypted: this.transport.stats.notEncrypted },
      malformed: { gossip: this.node.stats.rejected + this.transport.stats.malformedStreams, api: this.malformedRequests },
    };
  }

  /** Counts one request the node's HTTP API refused as malformed (shown in `status().malformed.api`). */
  countMalformedRequest(): void {
    this.malformedRequests += 1;
  }

  /** Stops gossiping, closes the transport and releases the data directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    // What was written becomes durable before the descriptor closes; held writes complete, held messages are dropped.
    if (this.durableMark < this.writtenMark) {
      try {
        this.disk.sync();
        this.durableMark = this.writtenMark;
        for (const h of this.held.splice(0)) h.done?.();
      } catch {
        // closing anyway; unacknowledged writes were never promised
      }
    }
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.clock.clearAll();
    for (const s of this.streams.values()) s.stream?.close();
    this.streams.clear();
    await this.transport.close();
    this.disk.close();
  }
}
