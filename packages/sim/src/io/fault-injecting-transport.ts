/**
 * Fault injection for real transports, switchable at runtime: a drop rate
 * for packets and a set of blocked peers. Wrapping the transport (rather
 * than using iptables) lets a test, or an admin command of a running node,
 * partition real processes on loopback without root.
 *
 * A block behaves like a partition as TCP would see it: packets to and from
 * the peer vanish, its open streams break (onClose with an error), new dials
 * to it time out, and its dials to us are closed as soon as they arrive.
 */
import { createPrng } from "../core/prng.ts";
import type { Address, FaultControl, Prng, Stream } from "../core/types.ts";
import type { Transport } from "./transport.ts";
import type { Keyring } from "./keyring.ts";
import type { TransportStats } from "./udp-tcp-transport.ts";

/** A stream that the fault layer can break. */
class GuardedStream implements Stream {
  private closeHandler: ((error?: Error) => void) | undefined;
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  /** Frames that arrived before the protocol registered onFrame (e.g. sent right after dial). */
  private pending: Uint8Array[] = [];
  private done = false;
  private doneError: Error | undefined;

  constructor(
    private readonly inner: Stream,
    private readonly onDone: (s: GuardedStream) => void,
  ) {
    inner.onFrame((f) => {
      if (this.done) return;
      if (this.frameHandler === undefined) this.pending.push(f);
      else this.frameHandler(f);
    });
    inner.onClose((e) => this.finish(e));
  }

  get remoteAddress(): Address {
    return this.inner.remoteAddress;
  }

  send(frame: Uint8Array): void {
    if (this.done) return;
    this.inner.send(frame);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
    const pending = this.pending;
    this.pending = [];
    for (const f of pending) handler(f);
  }

  onClose(handler: (error?: Error) => void): void {
    this.closeHandler = handler;
    if (this.done) {
      const e = this.doneError;
      queueMicrotask(() => handler(e));
    }
  }

  close(): void {
    this.inner.close();
  }

  /** Breaks the stream because its peer was blocked. */
  break(error: Error): void {
    this.finish(error);
    this.inner.close();
  }

  private finish(error: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    this.doneError = error;
    this.onDone(this);
    this.closeHandler?.(error);
  }
}

/** Options for {@link FaultInjectingTransport}. */
export interface FaultInjectionOptions {
  /** Stream for drop decisions; default a fresh random seed. Pass one to make drops reproducible. */
  prng?: Prng;
  /** Initial packet drop probability. Default 0. */
  dropRate?: number;
  /** Initially blocked peers. */
  blocked?: readonly Address[];
}

/** Wraps any {@link Transport} with runtime {@link FaultControl}. */
export class FaultInjectingTransport implements Transport, FaultControl {
  private dropRate = 0;
  private readonly blocked = new Set<Address>();
  private readonly streams = new Set<GuardedStream>();
  private readonly prng: Prng;
  private packetHandler: ((from: Address, payload: Uint8Array) => void) | undefined;
  private streamHandler: ((stream: Stream) => void) | undefined;

  constructor(
    readonly inner: Transport,
    options: FaultInjectionOptions = {},
  ) {
    this.prng = options.prng ?? createPrng(Math.floor(Math.random() * 0x100000000));
    this.setDropRate(options.dropRate ?? 0);
    this.block(options.blocked ?? []);
    inner.onPacket((from, payload) => {
      if (this.blocked.has(from) || this.prng.chance(this.dropRate)) return;
      this.packetHandler?.(from, payload);
    });
    inner.onStream((stream) => {
      if (this.blocked.has(stream.remoteAddress)) {
        stream.close();
        return;
      }
      this.streamHandler?.(this.guard(stream));
    });
  }

  get localAddress(): Address {
    return this.inner.localAddress;
  }

  get maxPacketBytes(): number {
    return this.inner.maxPacketBytes;
  }

  get maxFrameBytes(): number {
    return this.inner.maxFrameBytes;
  }

  /** The inner transport's keyring (see `openTransport({ keyring })`), or undefined for plaintext. */
  get keyring(): Keyring | undefined {
    return (this.inner as { keyring?: Keyring }).keyring;
  }

  /** The inner transport's encryption counters (zeros for an inner transport that has none). */
  get stats(): TransportStats {
    return (this.inner as { stats?: TransportStats }).stats ?? { decryptFailures: 0, packetDecryptFailures: 0, frameDecryptFailures: 0, notEncrypted: 0, malformedStreams: 0 };
  }

  sendPacket(to: Address, payload: Uint8Array): void {
    if (payload.length > this.inner.maxPacketBytes) throw new RangeError(`sendPacket: ${payload.length} bytes exceeds maxPacketBytes ${this.inner.maxPacketBytes}`);
    if (this.blocked.has(to) || this.prng.chance(this.dropRate)) return;
    this.inner.sendPacket(to, payload);
  }

  onPacket(handler: (from: Address, payload: Uint8Array) => void): void {
    this.packetHandler = handler;
  }

  onStream(handler: (stream: Stream) => void): void {
    this.streamHandler = handler;
  }

  async dial(to: Address, timeoutMs: number): Promise<Stream> {
    if (this.blocked.has(to)) {
      // A partitioned peer never answers: the dial times out, as TCP's would.
      await new Promise((r) => setTimeout(r, timeoutMs));
      throw new Error(`dial ${to}: timed out after ${timeoutMs} ms (peer blocked by fault injection)`);
    }
    const stream = await this.inner.dial(to, timeoutMs);
    if (this.blocked.has(to)) {
      stream.close();
      throw new Error(`dial ${to}: peer blocked by fault injection`);
    }
    return this.guard(stream);
  }

  private guard(stream: Stream): GuardedStream {
    const g = new GuardedStream(stream, (s) => this.streams.delete(s));
    this.streams.add(g);
    return g;
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  setDropRate(rate: number): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`dropRate must be a probability in [0, 1], got ${rate}`);
    this.dropRate = rate;
  }

  block(addresses: readonly Address[]): void {
    for (const a of addresses) {
      if (typeof a !== "string" || a.length === 0) throw new TypeError(`block: addresses must be non-empty strings, got ${String(a)}`);
      this.blocked.add(a);
    }
    for (const s of [...this.streams]) {
      if (this.blocked.has(s.remoteAddress)) s.break(new Error(`connection broken: peer ${s.remoteAddress} blocked by fault injection`));
    }
  }

  unblock(addresses?: readonly Address[]): void {
    if (addresses === undefined) this.blocked.clear();
    else for (const a of addresses) this.blocked.delete(a);
  }

  faults(): { dropRate: number; blocked: Address[] } {
    return { dropRate: this.dropRate, blocked: [...this.blocked].sort() };
  }
}
