/**
 * hashicorp/memberlist 0.2.2's wire on a transport with raw streams, so a
 * heck member and a Go memberlist node can be in one cluster.
 *
 * Packets: heck's messages become memberlist's structs (translate.ts) and
 * bytes (codec.ts): compressed when `compress` is on and it helps, prefixed
 * with a CRC-32 (protocol 5), sealed by a {@link MemberlistKeyring}.
 *
 * Streams work the way memberlist's do: one exchange per TCP connection,
 * no framing beyond the messages themselves. To push-pull (or to ping over
 * TCP when UDP probes failed) we dial, write our message, read one reply,
 * and hang up. A peer that dials us writes one message; we read it as the
 * bytes arrive, hand it to the node as coming from that connection (its
 * socket address, e.g. "127.0.0.1:53122", which is nobody's member
 * address), write the node's answer back on the same connection and close
 * it; a message that gets no answer (a user message, a ping meant for
 * someone else) just closes it. A stream we cannot read gets memberlist's
 * error reply, as memberlist sends one, and is closed.
 */
import type { Address, Clock, Stream, TimerHandle, Transport } from "@heck/sim";
import {
  decodeWirePacket,
  decodeWireStream,
  encodeWirePacket,
  encodeWireStream,
  openWirePacket,
  type OpenError,
  type WireLimits,
  type WireStreamMessage,
} from "../core/memberlist/codec.ts";
import { dialableAddress } from "../core/memberlist/address.ts";
import type { MemberlistDecodeError } from "../core/memberlist/msgpack.ts";
import { packetFromWire, packetToWire, streamFromWire, streamToWire } from "../core/memberlist/translate.ts";
import type { SwimMessage } from "../core/messages.ts";
import type { DriverCounters, Endpoint, EndpointSink } from "./endpoint.ts";
import { MemberlistKeyring, parseMemberlistKey } from "./memberlist-keyring.ts";

/** The largest packet memberlist reads (its udpPacketBufSize), and our limit for one decompressed. */
export const MEMBERLIST_MAX_PACKET_BYTES = 65_536;
/** Bytes a CRC prefix adds to a packet. */
export const MEMBERLIST_CRC_BYTES = 5;

/** Options for {@link MemberlistEndpoint}. */
export interface MemberlistEndpointOptions {
  /** A transport opened with `streams: "raw"`. */
  transport: Transport;
  clock: Clock;
  counters: DriverCounters;
  /** Our member name: a ping naming nobody is for us. */
  selfName: string;
  /** Dial timeout, and how long one stream exchange may take (memberlist's TCPTimeout). */
  streamTimeoutMs: number;
  keyring?: MemberlistKeyring;
  /** LZW-compress what we send, as memberlist's EnableCompression does (we read compressed messages either way). Default false. */
  compress?: boolean;
  /** Prefix packets with a CRC-32, as memberlist does for peers speaking protocol 5 (all of 0.2.x). Default true. */
  crc?: boolean;
  /** Largest stream message read. Default: the transport's maxFrameBytes. */
  maxStreamBytes?: number;
}

/** One TCP connection carrying one exchange. */
interface Exchange {
  stream: Stream;
  /** Accepted: the connection's socket address (the node's `from`). Dialed: the peer's member address. */
  addr: Address;
  dialed: boolean;
  /** Dialed: what we sent, to report a failure against. */
  request?: SwimMessage;
  chunks: Uint8Array[];
  size: number;
  /** A message has been read (dialed: the reply; accepted: the request). */
  read: boolean;
  /** Accepted: our answer has been written. */
  answered: boolean;
  timer: TimerHandle | undefined;
  closed: boolean;
}

/** memberlist's wire: see the file comment. */
export class MemberlistEndpoint implements Endpoint {
  readonly wire = "memberlist" as const;
  readonly keyring: MemberlistKeyring | undefined;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly counters: DriverCounters;
  private readonly packetLimits: WireLimits = { maxBytes: MEMBERLIST_MAX_PACKET_BYTES };
  private readonly streamLimits: WireLimits;
  private readonly envelope: { compress: boolean; crc: boolean; cipher?: MemberlistKeyring };
  private sink!: EndpointSink;
  /** Connections peers dialed, by socket address, until answered or closed. */
  private readonly accepted = new Map<Address, Exchange>();
  private readonly exchanges = new Set<Exchange>();
  private stopped = false;

  constructor(private readonly options: MemberlistEndpointOptions) {
    this.transport = options.transport;
    this.clock = options.clock;
    this.counters = options.counters;
    this.keyring = options.keyring;
    this.streamLimits = { maxBytes: options.maxStreamBytes ?? options.transport.maxFrameBytes };
    this.envelope = { compress: options.compress ?? false, crc: options.crc ?? true, ...(options.keyring !== undefined ? { cipher: options.keyring } : {}) };
  }

  parseKey(text: string): Uint8Array {
    return parseMemberlistKey(text);
  }

  get openStreams(): number {
    return this.exchanges.size;
  }

  start(sink: EndpointSink): void {
    this.sink = sink;
    this.transport.onPacket((from, payload) => this.onPacket(from, payload));
    this.transport.onStream((stream) => this.onAccepted(stream));
  }

  stop(): void {
    this.stopped = true;
    for (const x of [...this.exchanges]) this.finish(x);
  }

  // ---- packets ------------------------------------------------------------------

  private onPacket(from: Address, payload: Uint8Array): void {
    if (this.stopped) return;
    this.counters.packetsIn++;
    this.counters.packetBytesIn += payload.length;
    if (payload.length > MEMBERLIST_MAX_PACKET_BYTES) {
      this.decodeError({ kind: "too-large", field: "length", message: `length: ${payload.length} bytes exceeds the ${MEMBERLIST_MAX_PACKET_BYTES}-byte limit` }, "packet", from);
      return;
    }
    const opened = openWirePacket(payload, this.keyring, this.packetLimits);
    if (!opened.ok) {
      this.openError(opened.reason, `packet from ${from}`, opened.detail);
      return;
    }
    const decoded = decodeWirePacket(opened.plaintext, this.packetLimits);
    if (!decoded.ok) {
      const hint = this.keyring === undefined && payload.length >= 29 && payload[0]! <= 1 ? " (an encrypted packet? this member has no --key)" : "";
      this.decodeError(decoded.error, "packet", from, hint);
      return;
    }
    const translated = packetFromWire(decoded.message, { from, selfName: this.options.selfName });
    if (!translated.ok) {
      this.decodeError(translated.error, "packet", from);
      return;
    }
    this.counters.userMessages += translated.userMessages;
    if (translated.message !== undefined) this.sink.receive(from, translated.message, "packet");
  }

  sendPacket(to: Address, message: SwimMessage): void {
    let bytes: Uint8Array;
    try {
      if (message.type === "push-pull") throw new RangeError("a push-pull does not travel in a packet");
      bytes = encodeWirePacket(packetToWire(message), this.envelope);
    } catch (e) {
      this.counters.sendErrors++;
      this.sink.warn("encode", `could not encode a ${message.type} for ${to}: ${(e as Error).message}`);
      return;
    }
    try {
      this.transport.sendPacket(dialableAddress(to), bytes);
      this.counters.packetsOut++;
      this.counters.packetBytesOut += bytes.length;
    } catch (e) {
      this.counters.sendErrors++;
      this.sink.warn("send", `could not send a packet to ${to}: ${(e as Error).message}`);
    }
  }

  // ---- streams ------------------------------------------------------------------

  sendStream(to: Address, message: SwimMessage): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeWireStream(streamToWire(message), this.envelope);
    } catch (e) {
      this.counters.sendErrors++;
      this.sink.warn("encode", `could not encode a ${message.type} for ${to}: ${(e as Error).message}`);
      return;
    }
    const answering = this.accepted.get(to);
    if (answering !== undefined) {
      // The node's answer to a connection a peer opened: write it and hang up, as memberlist does.
      answering.answered = true;
      this.write(answering, bytes);
      this.finish(answering);
      return;
    }
    if ((message.type === "push-pull" && message.reply) || message.type === "ack") {
      // An answer for a connection that is gone (it timed out or the peer hung up).
      this.counters.sendErrors++;
      this.sink.warn("stream-gone", `dropped a ${message.type} for ${to}: its connection has closed`);
      return;
    }
    this.transport.dial(dialableAddress(to), this.options.streamTimeoutMs).then(
      (stream) => {
        if (this.stopped) {
          stream.close();
          return;
        }
        const x = this.adopt(stream, to, true);
        x.request = message;
        this.write(x, bytes);
      },
      (err: Error) => {
        if (this.stopped) return;
        this.counters.dialFailures++;
        this.sink.warn(`dial-${to}`, `could not reach ${to}: ${err.message}`);
        this.sink.streamFailed(to, message);
      },
    );
  }

  private onAccepted(stream: Stream): void {
    if (this.stopped) {
      stream.close();
      return;
    }
    const x = this.adopt(stream, stream.remoteAddress, false);
    this.accepted.set(x.addr, x);
  }

  private adopt(stream: Stream, addr: Address, dialed: boolean): Exchange {
    const x: Exchange = { stream, addr, dialed, chunks: [], size: 0, read: false, answered: false, timer: undefined, closed: false };
    this.exchanges.add(x);
    // One exchange gets the stream timeout, start to finish (memberlist sets TCPTimeout as the deadline).
    x.timer = this.clock.setTimer(this.options.streamTimeoutMs, () => {
      x.timer = undefined;
      if (x.closed) return;
      if (!x.read) this.sink.warn(`stream-timeout-${x.dialed ? addr : "in"}`, `${x.dialed ? `no reply from ${addr}` : `no message from ${addr}`} within ${this.options.streamTimeoutMs} ms`);
      this.failed(x);
    });
    stream.onFrame((chunk) => this.onChunk(x, chunk));
    // Closed before a message was read: a dialed exchange failed (an answered one is already finished).
    stream.onClose(() => this.failed(x));
    return x;
  }

  private onChunk(x: Exchange, chunk: Uint8Array): void {
    if (this.stopped || x.closed || x.read) return;
    x.chunks.push(chunk);
    x.size += chunk.length;
    const bytes = x.chunks.length === 1 ? x.chunks[0]! : concat(x.chunks, x.size);
    if (x.chunks.length > 1) x.chunks = [bytes];
    const result = decodeWireStream(bytes, this.keyring, this.streamLimits);
    if (result.status === "incomplete") return;
    x.read = true;
    const what = x.dialed ? `reply from ${x.addr}` : `stream from ${x.addr}`;
    if (result.status === "error") {
      if (result.openError !== undefined) this.openError(result.openError, what, result.error.message);
      else this.decodeError(result.error, "stream", x.addr);
      this.reject(x, result.error.message);
      return;
    }
    if (result.consumed !== bytes.length) {
      this.decodeError({ kind: "trailing-bytes", field: "length", message: `length: ${bytes.length - result.consumed} bytes after the message` }, "stream", x.addr);
      this.reject(x, "bytes after the message");
      return;
    }
    this.counters.framesIn++;
    this.deliver(x, result.message);
  }

  private deliver(x: Exchange, wire: WireStreamMessage): void {
    const translated = streamFromWire(wire, { from: x.addr, selfName: this.options.selfName }, x.dialed);
    if (!translated.ok) {
      this.decodeError(translated.error, "stream", x.addr);
      this.reject(x, translated.error.message);
      return;
    }
    this.counters.userMessages += translated.userMessages;
    if (translated.remoteError !== undefined) {
      this.counters.remoteErrors++;
      this.sink.warn(`remote-error-${x.addr}`, `${x.addr} answered with an error: ${translated.remoteError}`);
    }
    const message = translated.message;
    if (x.dialed) {
      this.finish(x);
      if (message === undefined || !isReplyTo(x.request!, message)) this.sink.streamFailed(x.addr, x.request!);
      else this.sink.receive(x.addr, message, "stream");
      return;
    }
    // The node answers (if it does) inside receive, through sendStream to this connection.
    if (message !== undefined) this.sink.receive(x.addr, message, "stream");
    if (!x.answered) this.finish(x);
  }

  /** We could not read the peer's message: tell it why, as memberlist does, then hang up. */
  private reject(x: Exchange, why: string): void {
    if (!x.dialed) {
      try {
        this.write(x, encodeWireStream({ type: "err", error: why.slice(0, 1000) }, this.envelope));
      } catch (e) {
        this.sink.internalError(e);
      }
    }
    this.failed(x);
  }

  private write(x: Exchange, bytes: Uint8Array): void {
    if (x.closed) return;
    try {
      x.stream.send(bytes);
      this.counters.framesOut++;
    } catch (e) {
      this.counters.sendErrors++;
      this.sink.warn("send", `could not write to ${x.addr}: ${(e as Error).message}`);
    }
  }

  /** The exchange ended without a usable message: a dialed one reports its request as failed. */
  private failed(x: Exchange): void {
    const wasOpen = !x.closed;
    this.finish(x);
    if (wasOpen && x.dialed && x.request !== undefined) this.sink.streamFailed(x.addr, x.request);
  }

  private finish(x: Exchange): void {
    if (x.closed) return;
    x.closed = true;
    if (x.timer !== undefined) this.clock.clearTimer(x.timer);
    x.timer = undefined;
    this.exchanges.delete(x);
    if (!x.dialed && this.accepted.get(x.addr) === x) this.accepted.delete(x.addr);
    x.stream.close();
  }

  private openError(reason: OpenError, what: string, detail: string): void {
    if (reason === "plaintext") {
      this.counters.plaintextRejected++;
      this.sink.warn("plaintext", `dropped an unencrypted ${what}: encryption is on`);
    } else if (reason === "wrong-key") {
      this.counters.wrongKey++;
      this.sink.warn("wrong-key", `dropped a ${what} that no installed key opens (${detail})`);
    } else {
      this.counters.encryptedWithoutKeyring++;
      this.sink.warn("encrypted", `dropped an encrypted ${what}: this member has no keyring (start it with --key)`);
    }
  }

  private decodeError(error: MemberlistDecodeError, kind: string, from: Address, hint = ""): void {
    this.counters.decodeErrors[error.kind] = (this.counters.decodeErrors[error.kind] ?? 0) + 1;
    this.sink.warn(`decode-${error.kind}`, `dropped a malformed ${kind} from ${from}: ${error.message}${hint}`);
  }
}

/** A push-pull is answered by a push-pull, a ping by an ack. */
function isReplyTo(request: SwimMessage, reply: SwimMessage): boolean {
  return (request.type === "push-pull" && reply.type === "push-pull") || (request.type === "ping" && reply.type === "ack");
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
