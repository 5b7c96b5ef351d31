/**
 * The real transport: UDP packets and TCP streams on one port, as
 * hashicorp/memberlist's NetTransport does. A node advertises `host:port`;
 * peers send it packets on that UDP port and dial that TCP port.
 *
 * Streams are framed: each frame is a 4-byte big-endian length and then the
 * bytes. The first frame a dialer sends is a hello carrying its advertised
 * address, so the accepting side knows *who* dialed (the socket's own remote
 * port is an ephemeral one) and `Stream.remoteAddress` is an address the
 * fault layer can block and the protocol can reply to.
 *
 * With `streams: "raw"` a stream is a bare TCP connection instead: no
 * hello, no length headers, each `send` written as is and each chunk the
 * socket delivers handed up as one "frame", and an accepted stream's
 * `remoteAddress` is the dialer's own (ephemeral) socket address. That is
 * memberlist's NetTransport, for a protocol that does its own framing (a
 * swim member speaking memberlist's wire).
 *
 * With a {@link Keyring} every UDP packet and every frame, the hello
 * included, is sealed with AES-256-GCM (the envelope of `keyring.ts`); what
 * does not open (wrong key, plaintext, tampering) is dropped and counted in
 * `stats`, and a stream whose frame does not open is closed. Stream frames
 * also authenticate their direction and sequence number, so a frame cannot
 * be replayed, reordered or sent back to its sender within a connection.
 */
import * as dgram from "node:dgram";
import * as dns from "node:dns";
import * as net from "node:net";
import type { Address, Stream } from "../core/types.ts";
import type { Transport } from "./transport.ts";
import { ByteQueue } from "./byte-queue.ts";
import { ENCRYPTION_OVERHEAD_BYTES, type Keyring, type OpenFailure } from "./keyring.ts";

/** Options for {@link UdpTcpTransport.listen}. */
export interface UdpTcpTransportOptions {
  /** Interface to bind. Default "127.0.0.1" (tests and demos stay on loopback). */
  host?: string;
  /** Port for both UDP and TCP; 0 lets the OS choose (then UDP binds the port TCP got). Default 0. */
  port?: number;
  /** Host part of the advertised address, when binding 0.0.0.0. Default: `host`. */
  advertiseHost?: string;
  /**
   * Largest packet payload. Default 65507, the largest UDP/IPv4 payload; a
   * protocol that must cross real MTUs should keep its own packets near 1400
   * bytes (memberlist's UDPBufferSize) and this limit only as a backstop.
   */
  maxPacketBytes?: number;
  /** Largest stream frame, both ways: a bigger incoming length header breaks the stream. Default 4 MiB. */
  maxFrameBytes?: number;
  /** How long an accepted connection may take to send its hello. Default 5000 ms. */
  helloTimeoutMs?: number;
  /**
   * Encrypt and authenticate every packet and frame with these keys (primary
   * first); omit for plaintext. The keyring is used live: `install`/`use`/
   * `remove` on it rotate keys without reopening the transport.
   * `maxPacketBytes`/`maxFrameBytes` stay payload limits; the wire carries
   * ENCRYPTION_OVERHEAD_BYTES more.
   */
  keyring?: Keyring;
  /**
   * "frames" (the default): length-prefixed frames after a hello naming the
   * dialer. "raw": bare TCP connections for a protocol that frames its own
   * bytes (see the file comment); incompatible with `keyring`.
   */
  streams?: "frames" | "raw";
}

/** Counters of a transport's encryption layer (all zero without a keyring). */
export interface TransportStats {
  /** Packets and frames (hellos included) that no installed key opened: wrong key, plaintext or tampered. */
  decryptFailures: number;
  /** The UDP share of decryptFailures. */
  packetDecryptFailures: number;
  /** The TCP share of decryptFailures (each one closed its connection). */
  frameDecryptFailures: number;
  /** Of decryptFailures, those that were not an envelope at all: a plaintext peer (or noise), rather than a wrong key or tampering. */
  notEncrypted: number;
  /**
   * TCP connections closed because their bytes were not this transport's
   * framing: a frame header past the size limit, or a first frame that is
   * no "host:port" hello. Nothing of them reaches the protocol.
   */
  malformedStreams: number;
}

/** The largest UDP/IPv4 payload. */
const MAX_UDP_PAYLOAD = 65507;

const HEADER_BYTES = 4;
/** Entries kept in each per-transport address cache before it is cleared (a bound, not a tuning knob). */
const ADDRESS_CACHE_MAX = 4096;

/**
 * The `lookup` dgram calls before every send. Node's default is dns.lookup,
 * which for an IP literal still defers the send to process.nextTick; a
 * member sends to IP literals only, so answering those synchronously saves a
 * tick and two closures per packet. Names still go to dns.lookup.
 */
function lookupIpLiteral(hostname: string, options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  let family = ipFamilies.get(hostname);
  if (family === undefined) {
    family = net.isIP(hostname);
    if (ipFamilies.size >= ADDRESS_CACHE_MAX) ipFamilies.clear();
    ipFamilies.set(hostname, family);
  }
  if (family !== 0) callback(null, hostname, family);
  else dns.lookup(hostname, options as dns.LookupOneOptions, callback);
}
/** net.isIP's answers (a regular expression per call otherwise). */
const ipFamilies = new Map<string, number>();

/** Parses "host:port" (IPv6 as "[::1]:port"); throws a TypeError naming the bad part. */
export function parseAddress(address: Address): { host: string; port: number } {
  if (typeof address !== "string") throw new TypeError(`address must be a "host:port" string, got ${String(address)}`);
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (m === null) throw new TypeError(`address must look like "host:port", got ${JSON.stringify(address)}`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`address ${JSON.stringify(address)}: port must be 1-65535`);
  return { host: m[1]!, port };
}

function formatAddress(host: string, port: number): Address {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Splits a TCP byte stream into length-prefixed frames. Chunks are kept in a
 * list and copied only when a frame spans them, so big frames cost one copy.
 */
export class FrameDecoder {
  private readonly queue = new ByteQueue();

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the complete frames, or throws RangeError on an oversized header. */
  push(chunk: Buffer): Uint8Array[] {
    this.queue.push(chunk);
    const frames: Uint8Array[] = [];
    while (this.queue.length >= HEADER_BYTES) {
      const length = this.queue.peek(HEADER_BYTES).readUInt32BE(0);
      if (length > this.maxFrameBytes) throw new RangeError(`incoming frame of ${length} bytes exceeds maxFrameBytes ${this.maxFrameBytes}`);
      if (this.queue.length < HEADER_BYTES + length) break;
      this.queue.take(HEADER_BYTES);
      // Copied when it lies in one chunk, so the frame does not pin the socket chunk.
      const body = this.queue.take(length, true);
      frames.push(new Uint8Array(body.buffer, body.byteOffset, body.length));
    }
    return frames;
  }
}

/** The "decoder" of a raw stream: every chunk is one frame (copied, so it does not pin the socket's buffer). */
class RawChunks {
  push(chunk: Buffer): Uint8Array[] {
    return [new Uint8Array(chunk)];
  }
}

/** Prepends the 4-byte length header to a frame. */
export function encodeFrame(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, HEADER_BYTES);
  return out;
}

/** Sealing for one direction pair of a stream: the keyring, our side, the frame counters, the failure count. */
interface StreamCipher {
  keyring: Keyring;
  /** True on the dialing side: it sent the hello, its frames are "d", the acceptor's "a". */
  dialer: boolean;
  stats: TransportStats;
}

/**
 * The authenticated context of frame `seq` sent by the dialer (`fromDialer`)
 * or the acceptor: a direction byte and a 64-bit frame number. Frame 0 from
 * the dialer is the hello.
 */
function frameContext(fromDialer: boolean, seq: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = fromDialer ? 0x64 : 0x61; // "d" | "a"
  new DataView(out.buffer).setBigUint64(1, BigInt(seq));
  return out;
}

/** An error for a frame that failed to open; the stream is closed with it. */
class FrameDecryptError extends Error {
  constructor(remote: string) {
    super(`stream from ${remote}: a frame failed to decrypt (wrong key, plaintext or tampered); connection closed`);
    this.name = "FrameDecryptError";
  }
}

/** One framed TCP connection. */
class TcpStream implements Stream {
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  private closeHandler: ((error?: Error) => void) | undefined;
  private pending: Uint8Array[] = [];
  private closed = false;
  private closeError: Error | undefined;
  private decoder: FrameDecoder | RawChunks;
  /** Frames sealed and opened so far, each way (the hello is the dialer's frame 0). */
  private sentSeq: number;
  private receivedSeq: number;

  /**
   * @param initialFrames frames already opened (the accept path decrypts what arrived with the hello)
   * @param cipher present when the transport has a keyring
   */
  constructor(
    private readonly socket: net.Socket,
    readonly remoteAddress: Address,
    private readonly maxFrameBytes: number,
    initialFrames: Uint8Array[],
    decoder: FrameDecoder | RawChunks,
    private readonly cipher?: StreamCipher,
    private readonly stats?: TransportStats,
  ) {
    this.decoder = decoder;
    // The dialer has sent the hello (its frame 0); the acceptor has opened it and initialFrames.
    this.sentSeq = cipher?.dialer === true ? 1 : 0;
    this.receivedSeq = cipher?.dialer === false ? 1 + initialFrames.length : 0;
    this.pending.push(...initialFrames);
    socket.removeAllListeners("data");
    socket.on("data", (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = this.decoder.push(chunk);
      } catch (e) {
        if (this.stats !== undefined) this.stats.malformedStreams++;
        this.fail(e as Error);
        return;
      }
      for (const f of frames) {
        if (this.closed) return;
        if (this.cipher === undefined) {
          this.deliver(f);
          continue;
        }
        const opened = this.cipher.keyring.open(f, frameContext(!this.cipher.dialer, this.receivedSeq++));
        if (!opened.ok) {
          this.cipher.stats.decryptFailures++;
          this.cipher.stats.frameDecryptFailures++;
          if (opened.reason === "not-encrypted") this.cipher.stats.notEncrypted++;
          this.fail(new FrameDecryptError(this.remoteAddress));
          return;
        }
        this.deliver(opened.plaintext);
      }
    });
    socket.on("error", (e) => this.fail(e));
    socket.on("close", () => this.finish(undefined));
  }

  private deliver(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.frameHandler === undefined) this.pending.push(frame);
    else this.frameHandler(frame);
  }

  private fail(error: Error): void {
    this.finish(error);
    this.socket.destroy();
  }

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    this.closeHandler?.(error);
  }

  send(frame: Uint8Array): void {
    if (!(frame instanceof Uint8Array)) throw new TypeError("Stream.send: frame must be a Uint8Array");
    if (frame.length > this.maxFrameBytes) throw new RangeError(`Stream.send: frame of ${frame.length} bytes exceeds maxFrameBytes ${this.maxFrameBytes}`);
    if (this.closed || this.socket.destroyed) return;
    if (this.decoder instanceof RawChunks) {
      this.socket.write(frame);
      return;
    }
    const wire = this.cipher === undefined ? frame : this.cipher.keyring.seal(frame, frameContext(this.cipher.dialer, this.sentSeq++));
    this.socket.write(encodeFrame(wire));
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
    const pending = this.pending;
    this.pending = [];
    for (const f of pending) handler(f);
  }

  onClose(handler: (error?: Error) => void): void {
    this.closeHandler = handler;
    if (this.closed) {
      const err = this.closeError;
      queueMicrotask(() => handler(err));
    }
  }

  close(): void {
    if (this.closed) return;
    // end() sends our queued frames and then a FIN; the peer closes in turn.
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    timer.unref();
  }

  /** Tears the connection down at once (transport shutdown, fault injection). */
  destroy(error?: Error): void {
    this.finish(error);
    this.socket.destroy();
  }
}

/**
 * UDP packets and TCP framed streams on one loopback (or any) port.
 * Create with {@link UdpTcpTransport.listen}.
 */
export class UdpTcpTransport implements Transport {
  readonly localAddress: Address;
  readonly maxPacketBytes: number;
  readonly maxFrameBytes: number;
  /** The keys every packet and frame is sealed with, or undefined for plaintext. */
  readonly keyring: Keyring | undefined;
  /** Encryption counters; read them to see wrong-key peers (they never crash the node). */
  readonly stats: TransportStats = { decryptFailures: 0, packetDecryptFailures: 0, frameDecryptFailures: 0, notEncrypted: 0, malformedStreams: 0 };
  /** Bytes sealing adds to each packet and frame on the wire (0 without a keyring). */
  private readonly overhead: number;
  /** Bare TCP connections (no hello, no frames), see UdpTcpTransportOptions.streams. */
  private readonly raw: boolean;
  private packetHandler: ((from: Address, payload: Uint8Array) => void) | undefined;
  private streamHandler: ((stream: Stream) => void) | undefined;
  private readonly streams = new Set<TcpStream>();
  private readonly sockets = new Set<net.Socket>();
  /** Parsed destinations: a member sends to the same few addresses every period. */
  private readonly destinations = new Map<Address, { host: string; port: number }>();
  /** Formatted sources, by host then port: the same few peers send to us every period. */
  private readonly sources = new Map<string, Map<number, Address>>();
  private sourceCount = 0;
  private closed = false;

  private constructor(
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    localAddress: Address,
    options: Required<Pick<UdpTcpTransportOptions, "maxPacketBytes" | "maxFrameBytes" | "helloTimeoutMs" | "streams">> & { keyring: Keyring | undefined },
  ) {
    this.localAddress = localAddress;
    this.raw = options.streams === "raw";
    this.maxPacketBytes = options.maxPacketBytes;
    this.maxFrameBytes = options.maxFrameBytes;
    this.keyring = options.keyring;
    this.overhead = options.keyring === undefined ? 0 : ENCRYPTION_OVERHEAD_BYTES;
    udp.on("message", (msg, rinfo) => {
      if (this.closed || this.packetHandler === undefined) return;
      let payload: Uint8Array = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      if (this.keyring !== undefined) {
        const opened = this.keyring.open(payload);
        if (!opened.ok) {
          this.stats.decryptFailures++;
          this.stats.packetDecryptFailures++;
          if (opened.reason === "not-encrypted") this.stats.notEncrypted++;
          return;
        }
        payload = opened.plaintext;
      }
      this.packetHandler(this.source(rinfo.address, rinfo.port), payload);
    });
    // A send error (ICMP unreachable on some systems) must never kill the node.
    udp.on("error", () => {});
    tcp.on("connection", (socket) => this.accept(socket, options.helloTimeoutMs));
  }

  /** Binds TCP and UDP on the same port and returns the transport. */
  static async listen(options: UdpTcpTransportOptions = {}): Promise<UdpTcpTransport> {
    const host = options.host ?? "127.0.0.1";
    const requested = options.port ?? 0;
    if (!Number.isInteger(requested) || requested < 0 || requested > 65535) throw new RangeError(`port must be an integer 0-65535, got ${requested}`);
    const keyring = options.keyring;
    if (keyring !== undefined && (typeof keyring !== "object" || typeof keyring.seal !== "function")) throw new TypeError("keyring must be a Keyring (see keyringFromBase64)");
    const streams = options.streams ?? "frames";
    if (streams !== "frames" && streams !== "raw") throw new TypeError(`streams must be "frames" or "raw", got ${String(streams)}`);
    if (streams === "raw" && keyring !== undefined) throw new TypeError("a keyring seals frames; raw streams have none (encrypt above the transport)");
    // Sealing adds bytes on the wire: the payload limits shrink so a sealed packet still fits a datagram.
    const overhead = keyring === undefined ? 0 : ENCRYPTION_OVERHEAD_BYTES;
    const packetLimit = MAX_UDP_PAYLOAD - overhead;
    const maxPacketBytes = options.maxPacketBytes ?? packetLimit;
    const maxFrameBytes = options.maxFrameBytes ?? 4 * 1024 * 1024;
    if (!(maxPacketBytes >= 1 && maxPacketBytes <= packetLimit)) {
      throw new RangeError(`maxPacketBytes must be 1-${packetLimit}${overhead > 0 ? ` (65507 less ${overhead} bytes of encryption)` : ""}, got ${maxPacketBytes}`);
    }
    if (!(maxFrameBytes >= 1 && maxFrameBytes <= 0xffffffff - overhead)) throw new RangeError(`maxFrameBytes must be 1-${0xffffffff - overhead}, got ${maxFrameBytes}`);
    const helloTimeoutMs = options.helloTimeoutMs ?? 5000;
    // With port 0, TCP picks a port and UDP must get the same one; another
    // process may hold that UDP port, so try a few times.
    for (let attempt = 0; ; attempt++) {
      const tcp = net.createServer();
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen({ host, port: requested, exclusive: true }, () => {
          tcp.off("error", reject);
          resolve();
        });
      });
      const port = (tcp.address() as net.AddressInfo).port;
      const udp = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4", lookup: lookupIpLiteral as never });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once("error", reject);
          udp.bind({ address: host, port, exclusive: true }, () => {
            udp.off("error", reject);
            resolve();
          });
        });
      } catch (e) {
        udp.close();
        await new Promise<void>((r) => tcp.close(() => r()));
        if (requested === 0 && attempt < 10 && (e as NodeJS.ErrnoException).code === "EADDRINUSE") continue;
        throw e;
      }
      return new UdpTcpTransport(udp, tcp, formatAddress(options.advertiseHost ?? host, port), { maxPacketBytes, maxFrameBytes, helloTimeoutMs, keyring, streams });
    }
  }

  sendPacket(to: Address, payload: Uint8Array): void {
    if (!(payload instanceof Uint8Array)) throw new TypeError("sendPacket: payload must be a Uint8Array");
    if (payload.length > this.maxPacketBytes) throw new RangeError(`sendPacket: ${payload.length} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`);
    const { host, port } = this.destination(to);
    if (this.closed) return;
    const wire = this.keyring === undefined ? payload : this.keyring.seal(payload);
    try {
      // No callback: a send that completes at once then needs no request object, no completion
      // callback and no extra event-loop turn; errors (ICMP unreachable...) are a lost packet.
      this.udp.send(wire, port, host);
    } catch {
      // Unreachable or closed: a lost packet, by contract.
    }
  }

  /** parseAddress, remembered. */
  private destination(to: Address): { host: string; port: number } {
    let parsed = this.destinations.get(to);
    if (parsed === undefined) {
      parsed = parseAddress(to);
      if (this.destinations.size >= ADDRESS_CACHE_MAX) this.destinations.clear();
      this.destinations.set(to, parsed);
    }
    return parsed;
  }

  /** formatAddress, remembered. */
  private source(host: string, port: number): Address {
    let byPort = this.sources.get(host);
    if (byPort === undefined) {
      byPort = new Map();
      this.sources.set(host, byPort);
    }
    let addr = byPort.get(port);
    if (addr === undefined) {
      if (this.sourceCount >= ADDRESS_CACHE_MAX) {
        this.sources.clear();
        this.sourceCount = 0;
        byPort = new Map();
        this.sources.set(host, byPort);
      }
      addr = formatAddress(host, port);
      byPort.set(port, addr);
      this.sourceCount++;
    }
    return addr;
  }

  onPacket(handler: (from: Address, payload: Uint8Array) => void): void {
    this.packetHandler = handler;
  }

  onStream(handler: (stream: Stream) => void): void {
    this.streamHandler = handler;
  }

  dial(to: Address, timeoutMs: number): Promise<Stream> {
    const { host, port } = this.destination(to);
    return new Promise<Stream>((resolve, reject) => {
      if (this.closed) {
        reject(new Error(`dial ${to}: transport closed`));
        return;
      }
      const socket = net.connect({ host, port });
      this.track(socket);
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`dial ${to}: timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`dial ${to}: ${e.message}`));
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        if (this.raw) {
          const stream = new TcpStream(socket, to, this.maxFrameBytes, [], new RawChunks());
          this.adopt(stream);
          resolve(stream);
          return;
        }
        const hello = new TextEncoder().encode(this.localAddress);
        socket.write(encodeFrame(this.keyring === undefined ? hello : this.keyring.seal(hello, frameContext(true, 0))));
        const stream = new TcpStream(socket, to, this.maxFrameBytes, [], new FrameDecoder(this.maxFrameBytes + this.overhead), this.streamCipher(true), this.stats);
        this.adopt(stream);
        resolve(stream);
      });
    });
  }

  private streamCipher(dialer: boolean): StreamCipher | undefined {
    return this.keyring === undefined ? undefined : { keyring: this.keyring, dialer, stats: this.stats };
  }

  /** Counts a hello or early frame that did not open, and drops the connection. */
  private rejectUndecryptable(socket: net.Socket, reason: OpenFailure): void {
    this.stats.decryptFailures++;
    this.stats.frameDecryptFailures++;
    if (reason === "not-encrypted") this.stats.notEncrypted++;
    socket.destroy();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  private adopt(stream: TcpStream): void {
    this.streams.add(stream);
    stream.onClose(() => this.streams.delete(stream));
  }

  /** Reads the hello frame, then hands the stream to the protocol. */
  private accept(socket: net.Socket, helloTimeoutMs: number): void {
    this.track(socket);
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    if (this.raw) {
      // No hello: the dialer is known only by its socket address, and the protocol reads its bytes.
      const stream = new TcpStream(socket, this.source(socket.remoteAddress ?? "?", socket.remotePort ?? 0), this.maxFrameBytes, [], new RawChunks());
      this.adopt(stream);
      if (this.streamHandler === undefined) stream.destroy(new Error("no stream handler"));
      else this.streamHandler(stream);
      return;
    }
    const decoder = new FrameDecoder(Math.max(this.maxFrameBytes, 1024) + this.overhead);
    const timer = setTimeout(() => socket.destroy(), helloTimeoutMs);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => clearTimeout(timer));
    socket.on("data", (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = decoder.push(chunk);
      } catch {
        this.stats.malformedStreams++;
        socket.destroy();
        return;
      }
      if (frames.length === 0) return;
      clearTimeout(timer);
      if (this.keyring !== undefined) {
        // Open the hello and whatever arrived with it; one failure and the peer is not one of ours.
        for (let i = 0; i < frames.length; i++) {
          const opened = this.keyring.open(frames[i]!, frameContext(true, i));
          if (!opened.ok) {
            this.rejectUndecryptable(socket, opened.reason);
            return;
          }
          frames[i] = opened.plaintext;
        }
      }
      const hello = new TextDecoder().decode(frames[0]!);
      try {
        parseAddress(hello);
      } catch {
        this.stats.malformedStreams++;
        socket.destroy(); // not one of ours: malformed input never reaches the protocol
        return;
      }
      socket.removeAllListeners("error");
      socket.removeAllListeners("close");
      const stream = new TcpStream(socket, hello, this.maxFrameBytes, frames.slice(1), decoder, this.streamCipher(false), this.stats);
      this.adopt(stream);
      if (this.streamHandler === undefined) stream.destroy(new Error("no stream handler"));
      else this.streamHandler(stream);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.destroy(new Error("transport closed"));
    for (const s of this.sockets) s.destroy();
    await Promise.all([new Promise<void>((r) => this.tcp.close(() => r())), new Promise<void>((r) => this.udp.close(() => r()))]);
  }
}
