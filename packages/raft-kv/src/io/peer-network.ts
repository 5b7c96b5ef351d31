/**
 * Peer links for one node over a reliable stream transport (TCP from
 * `@heck/sim/io`, or a simulated one in tests). Like etcd's rafthttp, each
 * node dials one outgoing stream per peer and only writes on it; frames from
 * peers arrive on the streams they dialed to us. Raft tolerates lost
 * messages, so a frame for an unreachable peer is dropped (after telling the
 * core, so the leader probes instead of pipelining) rather than queued forever.
 */
import type { Address, FaultControl, Stream, StreamTransport } from "@heck/sim";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../core/replica/envelope.ts";

/** Inbound streams of removed members that were already told so. */
const told = new WeakSet<Stream>();

/** How the network reaches the rest of the node. */
export interface PeerNetworkHooks {
  /** The current address of a peer (initial peers, conf-change contexts, published attributes). */
  resolve(id: string): Address | undefined;
  /** A decoded frame arrived. */
  onEnvelope(envelope: Envelope): void;
  /** A frame to `id` could not be delivered (dial failed, stream broke). */
  onUnreachable(id: string): void;
  /** Something worth a log line. */
  log(message: string): void;
  /** True for a peer this node has seen removed from the configuration. */
  isRemoved?(id: string): boolean;
}

/** Tuning for {@link PeerNetwork}. */
export interface PeerNetworkOptions {
  /** Give up dialing after this long; the peer counts as unreachable. Default 500 ms: below an election timeout. */
  dialTimeoutMs: number;
  /** Wait at least this long before redialing a peer that failed. Default 100 ms: two heartbeats. */
  redialBackoffMs: number;
  /** Frames held while a dial is in progress; older ones are dropped beyond this. Default 1024. */
  maxQueuedFrames: number;
}

const DEFAULTS: PeerNetworkOptions = { dialTimeoutMs: 500, redialBackoffMs: 100, maxQueuedFrames: 1024 };

interface Link {
  address: Address;
  stream: Stream | null;
  dialing: boolean;
  queue: Uint8Array[];
  retryAtMs: number;
}

/** One node's links to its peers. */
export class PeerNetwork {
  private readonly links = new Map<string, Link>();
  private readonly inbound = new Set<Stream>();
  private readonly options: PeerNetworkOptions;
  private readonly blockedIds = new Set<string>();
  private closed = false;
  /** Frames dropped because they did not decode (counted for /v1/status). */
  malformedFrames = 0;

  constructor(
    readonly selfId: string,
    private readonly transport: StreamTransport & Partial<FaultControl>,
    private readonly hooks: PeerNetworkHooks,
    options: Partial<PeerNetworkOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    transport.onStream((stream) => this.accept(stream));
  }

  /** Sends an envelope to a peer; never throws, never blocks. */
  send(to: string, envelope: Envelope): void {
    if (this.closed || to === this.selfId) return;
    if (this.blockedIds.has(to)) return;
    const address = this.hooks.resolve(to);
    if (!address) {
      this.hooks.onUnreachable(to);
      return;
    }
    let link = this.links.get(to);
    if (link && link.address !== address) {
      link.stream?.close();
      link = undefined;
    }
    if (!link) {
      link = { address, stream: null, dialing: false, queue: [], retryAtMs: 0 };
      this.links.set(to, link);
    }
    const frame = encodeEnvelope(envelope);
    if (frame.length > this.transport.maxFrameBytes) {
      this.hooks.log(`dropping a ${frame.length}-byte frame to ${to}: above the transport's ${this.transport.maxFrameBytes}-byte limit`);
      this.hooks.onUnreachable(to);
      return;
    }
    if (link.stream) {
      try {
        link.stream.send(frame);
        return;
      } catch (error) {
        this.hooks.log(`send to ${to} failed: ${error instanceof Error ? error.message : String(error)}`);
        link.stream.close();
        link.stream = null;
      }
    }
    link.queue.push(frame);
    if (link.queue.length > this.options.maxQueuedFrames) link.queue.shift();
    this.dial(to, link);
  }

  /**
   * Cuts this node off from the given peers (by node id): frames to them are
   * dropped, frames from them ignored, and, when the transport has a fault
   * layer, their addresses are blocked there too so streams break as in a
   * real partition. `unblock()` with no ids heals everything.
   */
  block(ids: readonly string[]): void {
    for (const id of ids) this.blockedIds.add(id);
    const addresses = ids.map((id) => this.hooks.resolve(id)).filter((a): a is string => a !== undefined);
    this.transport.block?.(addresses);
    for (const id of ids) {
      const link = this.links.get(id);
      link?.stream?.close();
      if (link) link.stream = null;
    }
  }

  /** Heals a partition made by {@link block}: the given ids, or all when omitted. */
  unblock(ids?: readonly string[]): void {
    const list = ids ?? [...this.blockedIds];
    for (const id of list) this.blockedIds.delete(id);
    const addresses = list.map((id) => this.hooks.resolve(id)).filter((a): a is string => a !== undefined);
    if (ids === undefined) this.transport.unblock?.();
    else this.transport.unblock?.(addresses);
  }

  /** Sets the transport's random drop rate (if it has a fault layer). */
  setDropRate(rate: number): boolean {
    if (!this.transport.setDropRate) return false;
    this.transport.setDropRate(rate);
    return true;
  }

  /** Current fault settings, for status. */
  faults(): { blocked: string[]; dropRate: number } {
    const t = this.transport.faults?.();
    return { blocked: [...this.blockedIds].sort(), dropRate: t?.dropRate ?? 0 };
  }

  /** Closes every link (the transport itself is closed by its owner). */
  close(): void {
    this.closed = true;
    for (const link of this.links.values()) link.stream?.close();
    for (const s of this.inbound) s.close();
    this.links.clear();
    this.inbound.clear();
  }

  private dial(to: string, link: Link): void {
    if (link.dialing || link.stream) return;
    const now = performance.now();
    if (now < link.retryAtMs) {
      link.queue = [];
      this.hooks.onUnreachable(to);
      return;
    }
    link.dialing = true;
    this.transport.dial(link.address, this.options.dialTimeoutMs).then(
      (stream) => {
        link.dialing = false;
        if (this.closed || this.links.get(to) !== link || this.blockedIds.has(to)) {
          stream.close();
          return;
        }
        link.stream = stream;
        stream.onClose(() => {
          if (link.stream === stream) link.stream = null;
        });
        // Peers write back on our outgoing stream only to say we were removed (as etcd answers a
        // removed member's requests with 410 Gone); anything else there is ignored.
        stream.onFrame((frame) => {
          const decoded = decodeEnvelope(frame);
          if (decoded.ok && decoded.value.kind === "removed" && decoded.value.member === this.selfId) this.hooks.onEnvelope(decoded.value);
        });
        const queued = link.queue;
        link.queue = [];
        for (const f of queued) {
          try {
            stream.send(f);
          } catch {
            break;
          }
        }
      },
      (error: unknown) => {
        link.dialing = false;
        link.retryAtMs = performance.now() + this.options.redialBackoffMs;
        link.queue = [];
        if (!this.closed) {
          this.hooks.log(`dial ${to} at ${link.address} failed: ${error instanceof Error ? error.message : String(error)}`);
          this.hooks.onUnreachable(to);
        }
      },
    );
  }

  private accept(stream: Stream): void {
    if (this.closed) {
      stream.close();
      return;
    }
    this.inbound.add(stream);
    stream.onClose(() => this.inbound.delete(stream));
    stream.onFrame((frame) => {
      const decoded = decodeEnvelope(frame);
      if (!decoded.ok) {
        // A malformed frame never crashes the node; it is counted and dropped.
        this.malformedFrames++;
        if (this.malformedFrames <= 10) this.hooks.log(`dropping a malformed frame from ${stream.remoteAddress}: ${decoded.error}`);
        return;
      }
      const env = decoded.value;
      const from = env.kind === "raft" ? env.message.from : env.from;
      if (this.blockedIds.has(from)) return;
      if (this.hooks.isRemoved?.(from)) {
        // A member removed while it could not hear of it keeps campaigning from its old configuration.
        // Tell it, on the stream it wrote to (we may no longer know its address), once per stream.
        if (!told.has(stream)) {
          told.add(stream);
          try {
            stream.send(encodeEnvelope({ kind: "removed", from: this.selfId, member: from }));
          } catch {
            // It will dial again; we tell it then.
          }
        }
        return;
      }
      this.hooks.onEnvelope(env);
    });
  }
}
