/**
 * heck's own wire on a {@link Transport}: the compact codec (core/codec.ts),
 * each message sealed by heck's keyring (AES-256-GCM, @heck/sim/io) when
 * one is given, packets over UDP, and stream messages as frames on TCP
 * connections that stay open and are reused (one per peer, the newest
 * carrying our next message; idle ones closed after the stream timeout).
 */
import type { Address, Clock, Stream, TimerHandle, Transport } from "@heck/sim";
import { ENCRYPTED_VERSION, parseKey, type Keyring } from "@heck/sim/io";
import { decodeMessage, encodeMessage } from "../core/codec.ts";
import type { SwimMessage } from "../core/messages.ts";
import type { DriverCounters, Endpoint, EndpointSink } from "./endpoint.ts";

interface StreamEntry {
  stream: Stream;
  addr: Address;
  lastUsedMs: number;
  closed: boolean;
}

/** Options for {@link HeckEndpoint}. */
export interface HeckEndpointOptions {
  transport: Transport;
  clock: Clock;
  counters: DriverCounters;
  /** Largest packet accepted (the node's maxPacketBytes). */
  maxPacketBytes: number;
  /** Dial timeout, and how long an idle stream stays open. */
  streamTimeoutMs: number;
  keyring?: Keyring;
}

/** heck's wire: see the file comment. */
export class HeckEndpoint implements Endpoint {
  readonly wire = "heck" as const;
  readonly keyring: Keyring | undefined;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly counters: DriverCounters;
  private sink!: EndpointSink;
  private sweepTimer: TimerHandle | undefined;
  private readonly streams = new Set<StreamEntry>();
  private readonly streamByAddr = new Map<Address, StreamEntry>();
  private readonly dialing = new Map<Address, Array<{ bytes: Uint8Array; message: SwimMessage }>>();
  /** Addresses whose last dial connected: a seed here that never answers a join is listening but refusing us. */
  private readonly connected = new Set<Address>();
  private stopped = false;

  constructor(private readonly options: HeckEndpointOptions) {
    this.transport = options.transport;
    this.clock = options.clock;
    this.counters = options.counters;
    this.keyring = options.keyring;
  }

  parseKey(text: string): Uint8Array {
    return parseKey(text);
  }

  /** See {@link Endpoint.connectedTo}. */
  connectedTo(address: Address): boolean {
    return this.connected.has(address);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  start(sink: EndpointSink): void {
    this.sink = sink;
    this.transport.onPacket((from, payload) => this.onPacket(from, payload));
    this.transport.onStream((stream) => this.adopt(stream, stream.remoteAddress));
  }

  stop(): void {
    this.stopped = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    for (const e of this.streams) e.stream.close();
    this.streams.clear();
    this.streamByAddr.clear();
  }

  // ---- inputs ------------------------------------------------------------------

  private onPacket(from: Address, payload: Uint8Array): void {
    if (this.stopped) return;
    this.counters.packetsIn++;
    this.counters.packetBytesIn += payload.length;
    const message = this.unwrap(payload, this.options.maxPacketBytes, "packet", from);
    // The hot path (two packets a second in steady state): no closures, straight into the node.
    if (message !== undefined) this.sink.receive(from, message, "packet");
  }

  private adopt(stream: Stream, addr: Address): StreamEntry {
    const entry: StreamEntry = { stream, addr, lastUsedMs: this.clock.nowMs(), closed: false };
    this.streams.add(entry);
    // The newest connection to a peer carries our next message to it; older ones still deliver.
    this.streamByAddr.set(addr, entry);
    stream.onFrame((frame) => this.onFrame(entry, frame));
    stream.onClose(() => {
      entry.closed = true;
      this.streams.delete(entry);
      if (this.streamByAddr.get(addr) === entry) this.streamByAddr.delete(addr);
    });
    this.scheduleSweep();
    return entry;
  }

  private onFrame(entry: StreamEntry, frame: Uint8Array): void {
    if (this.stopped) return;
    entry.lastUsedMs = this.clock.nowMs();
    this.counters.framesIn++;
    const message = this.unwrap(frame, this.transport.maxFrameBytes, "stream frame", entry.addr);
    if (message === undefined) {
      // A peer that sends garbage on a stream gets the stream closed; packets are just dropped.
      entry.stream.close();
      return;
    }
    this.sink.receive(entry.addr, message, "stream");
  }

  /** Decrypts and decodes; counts, logs and returns undefined for anything unusable. */
  private unwrap(payload: Uint8Array, maxBytes: number, kind: string, from: Address): SwimMessage | undefined {
    // The description is built only when something goes wrong.
    const what = (): string => `${kind} from ${from}`;
    if (payload.length > maxBytes) {
      // Checked before decrypting: an oversized packet costs us nothing but this comparison.
      this.counters.decodeErrors["too-large"] = (this.counters.decodeErrors["too-large"] ?? 0) + 1;
      this.sink.warn("decode-too-large", `dropped a ${what()} of ${payload.length} bytes: the limit is ${maxBytes}`);
      return undefined;
    }
    let plain = payload;
    if (this.keyring !== undefined) {
      const opened = this.keyring.open(payload);
      if (!opened.ok) {
        if (opened.reason === "not-encrypted") {
          this.counters.plaintextRejected++;
          this.sink.warn("plaintext", `dropped an unencrypted ${what()}: encryption is on`);
        } else {
          this.counters.wrongKey++;
          this.sink.warn("wrong-key", `dropped a ${what()} that no installed key opens (${opened.reason})`);
        }
        return undefined;
      }
      plain = opened.plaintext;
    } else if (payload.length > 0 && payload[0] === ENCRYPTED_VERSION) {
      this.counters.encryptedWithoutKeyring++;
      this.sink.warn("encrypted", `dropped an encrypted ${what()}: this node has no keyring (start it with --key)`);
      return undefined;
    }
    const decoded = decodeMessage(plain, maxBytes);
    if (!decoded.ok) {
      const errorKind = decoded.error.kind;
      this.counters.decodeErrors[errorKind] = (this.counters.decodeErrors[errorKind] ?? 0) + 1;
      this.sink.warn(`decode-${errorKind}`, `dropped a malformed ${what()}: ${decoded.error.message}`);
      return undefined;
    }
    return decoded.message;
  }

  // ---- outputs -----------------------------------------------------------------

  private seal(message: SwimMessage): Uint8Array {
    const bytes = encodeMessage(message);
    return this.keyring !== undefined ? this.keyring.seal(bytes) : bytes;
  }

  sendPacket(to: Address, message: SwimMessage): void {
    const bytes = this.seal(message);
    try {
      this.transport.sendPacket(to, bytes);
      this.counters.packetsOut++;
      this.counters.packetBytesOut += bytes.length;
    } catch (e) {
      this.counters.sendErrors++;
      this.sink.warn("send", `could not send a packet to ${to}: ${(e as Error).message}`);
    }
  }

  sendStream(to: Address, message: SwimMessage): void {
    const bytes = this.seal(message);
    const entry = this.streamByAddr.get(to);
    if (entry !== undefined && !entry.closed) {
      entry.lastUsedMs = this.clock.nowMs();
      this.counters.framesOut++;
      try {
        entry.stream.send(bytes);
      } catch (e) {
        this.counters.sendErrors++;
        this.sink.warn("send", `could not send a frame to ${to}: ${(e as Error).message}`);
        this.sink.streamFailed(to, message);
      }
      return;
    }
    const queued = this.dialing.get(to);
    if (queued !== undefined) {
      queued.push({ bytes, message });
      return;
    }
    const pending = [{ bytes, message }];
    this.dialing.set(to, pending);
    this.transport.dial(to, this.options.streamTimeoutMs).then(
      (stream) => {
        this.dialing.delete(to);
        this.connected.add(to);
        if (this.stopped) {
          stream.close();
          return;
        }
        const fresh = this.adopt(stream, to);
        for (const p of pending) {
          this.counters.framesOut++;
          fresh.stream.send(p.bytes);
        }
      },
      (err: Error) => {
        this.dialing.delete(to);
        this.connected.delete(to);
        if (this.stopped) return;
        this.counters.dialFailures++;
        this.sink.warn(`dial-${to}`, `could not reach ${to}: ${err.message}`);
        for (const p of pending) this.sink.streamFailed(to, p.message);
      },
    );
  }

  /** Closes streams idle for longer than the stream timeout; runs only while streams are open. */
  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined || this.stopped) return;
    const idleMs = this.options.streamTimeoutMs;
    this.sweepTimer = this.clock.setTimer(idleMs, () => {
      this.sweepTimer = undefined;
      const now = this.clock.nowMs();
      for (const e of [...this.streams]) if (now - e.lastUsedMs >= idleMs) e.stream.close();
      if (this.streams.size > 0) this.scheduleSweep();
    });
  }
}
