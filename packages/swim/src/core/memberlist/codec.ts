/**
 * hashicorp/memberlist 0.2.2's wire format (`net.go`, `util.go`,
 * `security.go`), read and written byte for byte.
 *
 * A message is one type byte and a msgpack body (see msgpack.ts): the Go
 * structs `ping`, `indirectPingReq`, `ackResp`, `nackResp`, `suspect`,
 * `alive`, `dead`, `errResp`, a push-pull (a header, one `pushNodeState` per
 * member, then the delegate's opaque state), or a user message (opaque
 * bytes for the application's delegate). Layers wrap it:
 *
 *   packet (UDP)   [encrypt [crc [compress [message | compound]]]]
 *   stream (TCP)   [encrypt [compress [message]]], one message per direction
 *
 * - compound (7): a count byte, a 16-bit length per part, then the parts,
 *   each itself a message (SWIM's piggybacking);
 * - compress (9): a msgpack `{Algo: 0, Buf}` whose Buf is LZW (lzw.ts) of a
 *   whole message, used when it is shorter;
 * - crc (12): a big-endian CRC-32 of the rest, sent to peers that speak
 *   protocol 5;
 * - encrypt: AES-GCM by the keyring (a {@link MemberlistCipher}, since the
 *   cipher is I/O and this file is pure); a packet is sealed whole, a stream
 *   is `10 | length (4 bytes) | sealed`, with those five bytes
 *   authenticated too.
 *
 * The structs here mirror memberlist's field for field (`WirePing` is Go's
 * `ping`), so a decoded message re-encodes to the same bytes; translate.ts
 * maps them to heck's own messages. Decoding never throws: every field is
 * checked (type, range, length, UTF-8; no trailing bytes, no truncated
 * compound parts, nesting at most {@link MAX_NESTING} deep) and the first
 * problem is a typed {@link MemberlistDecodeError}.
 */
import { META_MAX_BYTES, NAME_MAX_BYTES } from "../config.ts";
import { crc32 } from "@heck/sim";
import { lzwCompress, lzwDecompress } from "./lzw.ts";
import { MsgpackReader, MsgpackWriter, type MemberlistDecodeError } from "./msgpack.ts";

/** memberlist's `messageType` values. */
export const MEMBERLIST_TYPES = {
  ping: 0,
  "indirect-ping": 1,
  ack: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  "push-pull": 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nack: 11,
  crc: 12,
  err: 13,
} as const;

/** memberlist's `NodeStateType`: alive, suspect, dead, left. */
export const MEMBERLIST_STATES = ["alive", "suspect", "dead", "left"] as const;

/** Go's `ping`: a direct probe. `node` is the name meant (empty: anyone); the source fields say where to ack. */
export interface WirePing {
  type: "ping";
  seqNo: number;
  node: string;
  /** Omitted (null) by senders older than memberlist 0.2; then the ack goes to the packet's source. */
  sourceAddr: Uint8Array | null;
  sourcePort: number;
  sourceNode: string;
}

/** Go's `indirectPingReq`: "ping `node` at target:port for me", with `nack` asking for Lifeguard's nack. */
export interface WireIndirectPing {
  type: "indirect-ping";
  seqNo: number;
  target: Uint8Array | null;
  port: number;
  node: string;
  nack: boolean;
  sourceAddr: Uint8Array | null;
  sourcePort: number;
  sourceNode: string;
}

/** Go's `ackResp`; `payload` is the ping delegate's (nil without one). */
export interface WireAck {
  type: "ack";
  seqNo: number;
  payload: Uint8Array | null;
}

/** Go's `nackResp`. */
export interface WireNack {
  type: "nack";
  seqNo: number;
}

/** Go's `errResp`: a stream reader's complaint, sent back before it hangs up. */
export interface WireErr {
  type: "err";
  error: string;
}

/** Go's `suspect`. */
export interface WireSuspect {
  type: "suspect";
  incarnation: number;
  node: string;
  from: string;
}

/** Go's `alive`; `vsn` is [pmin, pmax, pcur, dmin, dmax, dcur], the protocol and delegate versions the node speaks. */
export interface WireAlive {
  type: "alive";
  incarnation: number;
  node: string;
  addr: Uint8Array | null;
  port: number;
  meta: Uint8Array | null;
  vsn: Uint8Array | null;
}

/** Go's `dead`; `from === node` is a graceful leave. */
export interface WireDead {
  type: "dead";
  incarnation: number;
  node: string;
  from: string;
}

/** Go's `pushNodeState`: one row of a push-pull; `state` indexes {@link MEMBERLIST_STATES}. */
export interface WireNodeState {
  name: string;
  addr: Uint8Array | null;
  port: number;
  meta: Uint8Array | null;
  incarnation: number;
  state: number;
  vsn: Uint8Array | null;
}

/** A push-pull: Go's `pushPullHeader`, the node states, then the delegate's state (opaque). */
export interface WirePushPull {
  type: "push-pull";
  join: boolean;
  nodes: WireNodeState[];
  userState: Uint8Array;
}

/** A user message for the application's delegate (heck has none: it counts and drops them). */
export interface WireUser {
  type: "user";
  payload: Uint8Array;
}

/** Several messages in one packet. */
export interface WireCompound {
  type: "compound";
  parts: WirePacketMessage[];
}

/** A message compressed with LZW (Go's `compress` struct with Algo 0). */
export interface WireCompressed {
  type: "compress";
  inner: WirePacketMessage;
}

/** What a packet carries. */
export type WirePacketMessage = WirePing | WireIndirectPing | WireAck | WireNack | WireSuspect | WireAlive | WireDead | WireUser | WireCompound | WireCompressed;

/** What a stream carries, one per direction. */
export type WireStreamMessage = WirePushPull | WirePing | WireAck | WireUser | WireErr;

/**
 * AES-GCM sealing with a keyring, as memberlist's security.go does it:
 * `seal` returns `version | nonce | ciphertext | tag` authenticating `aad`;
 * `open` tries every installed key. Implemented in src/io (node:crypto).
 */
export interface MemberlistCipher {
  /** Bytes sealing adds: 29 (version 1: version, 12-byte nonce, 16-byte tag). */
  readonly overheadBytes: number;
  seal(plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  open(sealed: Uint8Array, aad: Uint8Array): { ok: true; plaintext: Uint8Array } | { ok: false; reason: string };
}

/** Limits for decoding; every size a peer claims is checked against them before anything is allocated. */
export interface WireLimits {
  /** Largest decompressed packet or stream message. */
  maxBytes: number;
}

/** Compound and compress wrappers may nest this deep (memberlist recurses without a limit; we do not). */
export const MAX_NESTING = 4;
/** Longest `errResp` text we keep. */
const ERROR_MAX_BYTES = 4096;
/** Longest Vsn we accept: memberlist reads six bytes and, given one to five, crashes; more it ignores. */
const VSN_MAX_BYTES = 32;
const EMPTY = new Uint8Array(0);

// ---- encoding -------------------------------------------------------------------

/*
 * Each struct is written as go-msgpack writes it: a map whose keys are the
 * Go field names in byte order (so "SeqNo" before "SourceAddr", "Addr"
 * before "Incarnation"), `omitempty` fields left out when zero. The golden
 * fixtures pin the order down byte for byte.
 */
function writeBody(w: MsgpackWriter, msg: WirePacketMessage | WireStreamMessage, channel: "packet" | "stream"): void {
  switch (msg.type) {
    case "ping": {
      // `codec:",omitempty"`: Go leaves zero source fields out.
      const addr = msg.sourceAddr !== null && msg.sourceAddr.length > 0;
      w.mapHeader(2 + (addr ? 1 : 0) + (msg.sourceNode !== "" ? 1 : 0) + (msg.sourcePort !== 0 ? 1 : 0));
      w.key("Node");
      w.string(msg.node);
      w.key("SeqNo");
      w.uint(msg.seqNo);
      writeSource(w, msg, addr);
      return;
    }
    case "indirect-ping": {
      const addr = msg.sourceAddr !== null && msg.sourceAddr.length > 0;
      w.mapHeader(5 + (addr ? 1 : 0) + (msg.sourceNode !== "" ? 1 : 0) + (msg.sourcePort !== 0 ? 1 : 0));
      w.key("Nack");
      w.bool(msg.nack);
      w.key("Node");
      w.string(msg.node);
      w.key("Port");
      w.uint(msg.port);
      w.key("SeqNo");
      w.uint(msg.seqNo);
      writeSource(w, msg, addr);
      w.key("Target");
      w.bytes(msg.target);
      return;
    }
    case "ack":
      w.mapHeader(2);
      w.key("Payload");
      w.bytes(msg.payload);
      w.key("SeqNo");
      w.uint(msg.seqNo);
      return;
    case "nack":
      w.mapHeader(1);
      w.key("SeqNo");
      w.uint(msg.seqNo);
      return;
    case "err":
      w.mapHeader(1);
      w.key("Error");
      w.string(msg.error);
      return;
    case "suspect":
    case "dead":
      w.mapHeader(3);
      w.key("From");
      w.string(msg.from);
      w.key("Incarnation");
      w.uint(msg.incarnation);
      w.key("Node");
      w.string(msg.node);
      return;
    case "alive":
      w.mapHeader(6);
      w.key("Addr");
      w.bytes(msg.addr);
      w.key("Incarnation");
      w.uint(msg.incarnation);
      w.key("Meta");
      w.bytes(msg.meta);
      w.key("Node");
      w.string(msg.node);
      w.key("Port");
      w.uint(msg.port);
      w.key("Vsn");
      w.bytes(msg.vsn);
      return;
    case "push-pull":
      w.mapHeader(3);
      w.key("Join");
      w.bool(msg.join);
      w.key("Nodes");
      w.uint(msg.nodes.length);
      w.key("UserStateLen");
      w.uint(msg.userState.length);
      for (const n of msg.nodes) {
        w.mapHeader(7);
        w.key("Addr");
        w.bytes(n.addr);
        w.key("Incarnation");
        w.uint(n.incarnation);
        w.key("Meta");
        w.bytes(n.meta);
        w.key("Name");
        w.string(n.name);
        w.key("Port");
        w.uint(n.port);
        w.key("State");
        w.uint(n.state);
        w.key("Vsn");
        w.bytes(n.vsn);
      }
      w.raw(msg.userState);
      return;
    case "user":
      // On a packet the payload is simply the rest; on a stream a header gives its length.
      if (channel === "stream") {
        w.mapHeader(1);
        w.key("UserMsgLen");
        w.uint(msg.payload.length);
      }
      w.raw(msg.payload);
      return;
    case "compound": {
      if (msg.parts.length === 0 || msg.parts.length > 255) throw new RangeError(`memberlist: a compound holds 1-255 parts, got ${msg.parts.length}`);
      const parts = msg.parts.map(encodeWireMessage);
      w.byte(parts.length);
      for (const p of parts) {
        if (p.length > 0xffff) throw new RangeError(`memberlist: a compound part of ${p.length} bytes does not fit its 16-bit length`);
        w.byte(p.length >> 8);
        w.byte(p.length & 0xff);
      }
      for (const p of parts) w.raw(p);
      return;
    }
    case "compress":
      writeCompressBody(w, encodeWireMessage(msg.inner));
      return;
  }
}

/** The optional source fields of a ping or indirect ping, in key order (SourceAddr, SourceNode, SourcePort). */
function writeSource(w: MsgpackWriter, msg: { sourceAddr: Uint8Array | null; sourcePort: number; sourceNode: string }, addr: boolean): void {
  if (addr) {
    w.key("SourceAddr");
    w.bytes(msg.sourceAddr);
  }
  if (msg.sourceNode !== "") {
    w.key("SourceNode");
    w.string(msg.sourceNode);
  }
  if (msg.sourcePort !== 0) {
    w.key("SourcePort");
    w.uint(msg.sourcePort);
  }
}

function writeCompressBody(w: MsgpackWriter, plain: Uint8Array): void {
  w.mapHeader(2);
  w.key("Algo");
  w.uint(0);
  w.key("Buf");
  w.bytes(lzwCompress(plain));
}

/** Encodes one packet message (type byte and body; a compound with its parts; a compressed one with its LZW). */
export function encodeWireMessage(msg: WirePacketMessage): Uint8Array {
  const w = new MsgpackWriter();
  w.byte(MEMBERLIST_TYPES[msg.type]);
  writeBody(w, msg, "packet");
  return w.finish();
}

/** How to wrap an outgoing packet or stream message. */
export interface WireEnvelopeOptions {
  /** LZW-compress (a packet only when that makes it shorter, as memberlist does; a stream always). */
  compress?: boolean;
  /** Prefix a CRC-32 (packets only; peers speaking protocol 5 check it). */
  crc?: boolean;
  /** Seal with the keyring's primary key. */
  cipher?: MemberlistCipher;
}

/** Encodes a packet as memberlist's rawSendMsgPacket would send it: compress, then CRC, then encrypt. */
export function encodeWirePacket(msg: WirePacketMessage, options: WireEnvelopeOptions = {}): Uint8Array {
  let bytes = encodeWireMessage(msg);
  if (options.compress && msg.type !== "compress") {
    const w = new MsgpackWriter();
    w.byte(MEMBERLIST_TYPES.compress);
    writeCompressBody(w, bytes);
    if (w.length < bytes.length) bytes = w.finish();
  }
  if (options.crc) {
    const out = new Uint8Array(5 + bytes.length);
    out[0] = MEMBERLIST_TYPES.crc;
    new DataView(out.buffer).setUint32(1, crc32(bytes));
    out.set(bytes, 5);
    bytes = out;
  }
  return options.cipher ? options.cipher.seal(bytes, EMPTY) : bytes;
}

/** Encodes a stream message as memberlist's rawSendMsgStream would write it: compress, then encrypt. */
export function encodeWireStream(msg: WireStreamMessage, options: WireEnvelopeOptions = {}): Uint8Array {
  const w = new MsgpackWriter(msg.type === "push-pull" ? 64 + msg.nodes.length * 96 : 64);
  w.byte(MEMBERLIST_TYPES[msg.type]);
  writeBody(w, msg, "stream");
  let bytes = w.finish();
  if (options.compress) {
    const c = new MsgpackWriter(bytes.length);
    c.byte(MEMBERLIST_TYPES.compress);
    writeCompressBody(c, bytes);
    bytes = c.finish();
  }
  if (options.cipher === undefined) return bytes;
  const header = new Uint8Array(5);
  header[0] = MEMBERLIST_TYPES.encrypt;
  new DataView(header.buffer).setUint32(1, bytes.length + options.cipher.overheadBytes);
  const sealed = options.cipher.seal(bytes, header);
  const out = new Uint8Array(5 + sealed.length);
  out.set(header);
  out.set(sealed, 5);
  return out;
}

// ---- decoding -------------------------------------------------------------------

/** A decoded packet, and whether it carried a CRC (the rest of the envelope is in the message). */
export type WirePacketResult = { ok: true; message: WirePacketMessage; crc: boolean } | { ok: false; error: MemberlistDecodeError };

/**
 * Decodes a packet already decrypted (see {@link openWirePacket}): an
 * optional CRC, then one message, compound or compressed one.
 */
export function decodeWirePacket(bytes: Uint8Array, limits: WireLimits): WirePacketResult {
  if (bytes.length === 0) return { ok: false, error: { kind: "empty", field: "type", message: "empty packet" } };
  if (bytes.length > limits.maxBytes) return { ok: false, error: tooLarge(bytes.length, limits.maxBytes) };
  let body = bytes;
  let crc = false;
  if (bytes[0] === MEMBERLIST_TYPES.crc) {
    if (bytes.length < 6) return { ok: false, error: { kind: "truncated", field: "crc", message: "crc: a checksummed packet needs 5 header bytes and a message" } };
    const expected = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0);
    body = bytes.subarray(5);
    const actual = crc32(body);
    if (actual !== expected) {
      return { ok: false, error: { kind: "checksum", field: "crc", message: `crc: checksum ${hex(actual)} does not match ${hex(expected)}` } };
    }
    crc = true;
  }
  const r = new MsgpackReader(body);
  const message = readPacketMessage(r, body.length, limits, 0);
  if (r.error === undefined && r.remaining > 0) r.fail("trailing-bytes", "length", `${r.remaining} bytes after the message`);
  if (r.error !== undefined || message === undefined) return { ok: false, error: r.error ?? invalid("type", "undecodable") };
  return { ok: true, message, crc };
}

/** Why an encrypted packet or stream did not open. */
export type OpenError = "wrong-key" | "plaintext" | "encrypted-without-key";

/**
 * Decrypts a packet when a cipher is given. A packet no key opens is
 * "plaintext" if it decodes as a message on its own (a peer without
 * encryption), otherwise "wrong-key" (a peer with another key, or garbage).
 */
export function openWirePacket(bytes: Uint8Array, cipher: MemberlistCipher | undefined, limits: WireLimits): { ok: true; plaintext: Uint8Array } | { ok: false; reason: OpenError; detail: string } {
  if (cipher === undefined) return { ok: true, plaintext: bytes };
  const opened = cipher.open(bytes, EMPTY);
  if (opened.ok) return { ok: true, plaintext: opened.plaintext };
  const plain = decodeWirePacket(bytes, limits).ok;
  return plain ? { ok: false, reason: "plaintext", detail: "a plaintext packet while encryption is on" } : { ok: false, reason: "wrong-key", detail: opened.reason };
}

/**
 * The outcome of reading a stream so far: a whole message (and how many
 * bytes it took), "incomplete" (wait for more bytes), or an error. A stream
 * that closes while incomplete is truncated.
 */
export type WireStreamResult =
  | { status: "complete"; message: WireStreamMessage; consumed: number; encrypted: boolean; compressed: boolean }
  | { status: "incomplete" }
  | { status: "error"; error: MemberlistDecodeError; openError?: OpenError };

/**
 * Reads one stream message from the bytes received so far, as memberlist's
 * readStream and readRemoteState do: an optional encryption envelope (with
 * `cipher`, a plaintext stream is an error; without, an encrypted one is),
 * an optional compression wrapper, then a push-pull, ping, ack, user
 * message or error reply.
 */
export function decodeWireStream(bytes: Uint8Array, cipher: MemberlistCipher | undefined, limits: WireLimits): WireStreamResult {
  if (bytes.length === 0) return { status: "incomplete" };
  if (bytes[0] === MEMBERLIST_TYPES.encrypt) {
    if (cipher === undefined) {
      return { status: "error", openError: "encrypted-without-key", error: invalid("type", "the stream is encrypted and this member has no keyring") };
    }
    if (bytes.length < 5) return { status: "incomplete" };
    const length = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0);
    if (length > limits.maxBytes) return { status: "error", error: tooLarge(length, limits.maxBytes) };
    if (bytes.length < 5 + length) return { status: "incomplete" };
    const opened = cipher.open(bytes.subarray(5, 5 + length), bytes.subarray(0, 5));
    if (!opened.ok) return { status: "error", openError: "wrong-key", error: invalid("encrypt", `no installed key opens it (${opened.reason})`) };
    const inner = decodeStreamBody(opened.plaintext, limits, false);
    if (inner.status === "incomplete") return { status: "error", error: { kind: "truncated", field: "encrypt", message: "encrypt: the sealed message is incomplete" } };
    if (inner.status === "error") return inner;
    if (inner.consumed !== opened.plaintext.length) return { status: "error", error: { kind: "trailing-bytes", field: "encrypt", message: "encrypt: bytes after the sealed message" } };
    return { ...inner, consumed: 5 + length, encrypted: true };
  }
  if (cipher !== undefined) {
    return { status: "error", openError: "plaintext", error: invalid("type", "a plaintext stream while encryption is on") };
  }
  if (bytes.length > limits.maxBytes) {
    // Checked only while incomplete would be too late: a complete message may sit in a long buffer.
    const attempt = decodeStreamBody(bytes.subarray(0, limits.maxBytes), limits, true);
    if (attempt.status === "complete") return attempt;
    return { status: "error", error: tooLarge(bytes.length, limits.maxBytes) };
  }
  return decodeStreamBody(bytes, limits, true);
}

/** A stream message with an optional compression wrapper; `outer` turns a truncation into "incomplete". */
function decodeStreamBody(bytes: Uint8Array, limits: WireLimits, outer: boolean): WireStreamResult {
  const r = new MsgpackReader(bytes);
  let type = bytes[0]!;
  r.pos = 1;
  let compressed = false;
  let source = r;
  if (type === MEMBERLIST_TYPES.compress) {
    const plain = readCompressed(r, "compress", limits);
    if (r.error !== undefined) return streamError(r, outer);
    if (plain.length === 0) return { status: "error", error: invalid("compress", "decompresses to nothing") };
    compressed = true;
    type = plain[0]!;
    source = new MsgpackReader(plain, 1);
    source.prefix = "compress.";
  }
  const message = readStreamMessage(source, type, limits);
  if (source.error !== undefined) return source === r ? streamError(r, outer) : { status: "error", error: source.error };
  if (source !== r && source.remaining > 0) return { status: "error", error: { kind: "trailing-bytes", field: "compress", message: `compress: ${source.remaining} bytes after the message` } };
  if (message === undefined) return { status: "error", error: invalid("type", "undecodable") };
  return { status: "complete", message, consumed: r.pos, encrypted: false, compressed };
}

function streamError(r: MsgpackReader, outer: boolean): WireStreamResult {
  if (outer && r.error!.kind === "truncated") return { status: "incomplete" };
  return { status: "error", error: r.error! };
}

function readStreamMessage(r: MsgpackReader, type: number, limits: WireLimits): WireStreamMessage | undefined {
  switch (type) {
    case MEMBERLIST_TYPES["push-pull"]:
      return readPushPull(r);
    case MEMBERLIST_TYPES.ping:
      return readPing(r);
    case MEMBERLIST_TYPES.ack:
      return readAck(r);
    case MEMBERLIST_TYPES.err: {
      let error = "";
      r.struct("err", (k) => (k === "Error" ? ((error = r.string("err.Error", ERROR_MAX_BYTES)), true) : false));
      return { type: "err", error };
    }
    case MEMBERLIST_TYPES.user: {
      let length = 0;
      r.struct("user", (k) => (k === "UserMsgLen" ? ((length = r.uint("user.UserMsgLen", limits.maxBytes)), true) : false));
      if (r.error) return undefined;
      if (length > r.remaining) {
        r.fail("truncated", "user.payload", `needs ${length} bytes, ${r.remaining} left`);
        return undefined;
      }
      const payload = r.bytes.slice(r.pos, r.pos + length);
      r.pos += length;
      return { type: "user", payload };
    }
  }
  r.fail("unknown-type", "type", `message type ${type} is not a stream message`);
  return undefined;
}

function readPushPull(r: MsgpackReader): WirePushPull | undefined {
  let count = 0;
  let userLength = 0;
  let join = false;
  r.struct("push-pull", (k) => {
    if (k === "Nodes") count = r.uint("push-pull.Nodes", 0x7fffffff);
    else if (k === "UserStateLen") userLength = r.uint("push-pull.UserStateLen", 0x7fffffff);
    else if (k === "Join") join = r.bool("push-pull.Join");
    else return false;
    return true;
  });
  if (r.error) return undefined;
  // A node state takes at least 9 bytes (a map of its names alone); more states than fit is a
  // truncated stream (or a lie), and checking first bounds the loop by the bytes we hold.
  if (count * 9 > r.remaining) {
    r.fail("truncated", "push-pull.Nodes", `${count} node states cannot fit in ${r.remaining} bytes`);
    return undefined;
  }
  const nodes: WireNodeState[] = [];
  for (let i = 0; i < count && !r.error; i++) {
    const f = `push-pull.nodes[${i}]`;
    const n: WireNodeState = { name: "", addr: null, port: 0, meta: null, incarnation: 0, state: 0, vsn: null };
    r.struct(f, (k) => {
      switch (k) {
        case "Name":
          n.name = r.string(`${f}.Name`, NAME_MAX_BYTES);
          return true;
        case "Addr":
          n.addr = ipBytes(r, `${f}.Addr`);
          return true;
        case "Port":
          n.port = r.uint(`${f}.Port`, 0xffff);
          return true;
        case "Meta":
          n.meta = copyOrNull(r.bytesOrNil(`${f}.Meta`, META_MAX_BYTES));
          return true;
        case "Incarnation":
          n.incarnation = r.uint(`${f}.Incarnation`, 0xffffffff);
          return true;
        case "State":
          n.state = r.uint(`${f}.State`, 0x7fffffff);
          return true;
        case "Vsn":
          n.vsn = vsnBytes(r, `${f}.Vsn`);
          return true;
      }
      return false;
    });
    nodes.push(n);
  }
  if (r.error) return undefined;
  if (userLength > r.remaining) {
    r.fail("truncated", "push-pull.userState", `needs ${userLength} bytes, ${r.remaining} left`);
    return undefined;
  }
  const userState = r.bytes.slice(r.pos, r.pos + userLength);
  r.pos += userLength;
  return { type: "push-pull", join, nodes, userState };
}

function readPacketMessage(r: MsgpackReader, end: number, limits: WireLimits, depth: number): WirePacketMessage | undefined {
  const type = r.bytes[r.pos];
  if (type === undefined) {
    r.fail("empty", "type", "no message");
    return undefined;
  }
  r.pos++;
  switch (type) {
    case MEMBERLIST_TYPES.ping:
      return readPing(r);
    case MEMBERLIST_TYPES["indirect-ping"]: {
      const m: WireIndirectPing = { type: "indirect-ping", seqNo: 0, target: null, port: 0, node: "", nack: false, sourceAddr: null, sourcePort: 0, sourceNode: "" };
      r.struct("indirect-ping", (k) => {
        switch (k) {
          case "SeqNo":
            m.seqNo = r.uint("indirect-ping.SeqNo", 0xffffffff);
            return true;
          case "Target":
            m.target = ipBytes(r, "indirect-ping.Target");
            return true;
          case "Port":
            m.port = r.uint("indirect-ping.Port", 0xffff);
            return true;
          case "Node":
            m.node = r.string("indirect-ping.Node", NAME_MAX_BYTES);
            return true;
          case "Nack":
            m.nack = r.bool("indirect-ping.Nack");
            return true;
        }
        return readSource(r, "indirect-ping", k, m);
      });
      return m;
    }
    case MEMBERLIST_TYPES.ack:
      return readAck(r);
    case MEMBERLIST_TYPES.nack: {
      let seqNo = 0;
      r.struct("nack", (k) => (k === "SeqNo" ? ((seqNo = r.uint("nack.SeqNo", 0xffffffff)), true) : false));
      return { type: "nack", seqNo };
    }
    case MEMBERLIST_TYPES.suspect:
    case MEMBERLIST_TYPES.dead: {
      const name = type === MEMBERLIST_TYPES.suspect ? "suspect" : "dead";
      const m = { type: name, incarnation: 0, node: "", from: "" } as WireSuspect | WireDead;
      r.struct(name, (k) => {
        if (k === "Incarnation") m.incarnation = r.uint(`${name}.Incarnation`, 0xffffffff);
        else if (k === "Node") m.node = r.string(`${name}.Node`, NAME_MAX_BYTES);
        else if (k === "From") m.from = r.string(`${name}.From`, NAME_MAX_BYTES);
        else return false;
        return true;
      });
      return m;
    }
    case MEMBERLIST_TYPES.alive: {
      const m: WireAlive = { type: "alive", incarnation: 0, node: "", addr: null, port: 0, meta: null, vsn: null };
      r.struct("alive", (k) => {
        switch (k) {
          case "Incarnation":
            m.incarnation = r.uint("alive.Incarnation", 0xffffffff);
            return true;
          case "Node":
            m.node = r.string("alive.Node", NAME_MAX_BYTES);
            return true;
          case "Addr":
            m.addr = ipBytes(r, "alive.Addr");
            return true;
          case "Port":
            m.port = r.uint("alive.Port", 0xffff);
            return true;
          case "Meta":
            m.meta = copyOrNull(r.bytesOrNil("alive.Meta", META_MAX_BYTES));
            return true;
          case "Vsn":
            m.vsn = vsnBytes(r, "alive.Vsn");
            return true;
        }
        return false;
      });
      return m;
    }
    case MEMBERLIST_TYPES.user: {
      // The rest of the packet (of this compound part) is the payload.
      const payload = r.bytes.slice(r.pos, end);
      r.pos = end;
      return { type: "user", payload };
    }
    case MEMBERLIST_TYPES.compound:
      return readCompound(r, end, limits, depth);
    case MEMBERLIST_TYPES.compress: {
      if (depth >= MAX_NESTING) {
        r.fail("invalid-field", "compress", `wrappers nested deeper than ${MAX_NESTING}`);
        return undefined;
      }
      const plain = readCompressed(r, "compress", limits);
      if (r.error) return undefined;
      const sub = new MsgpackReader(plain);
      sub.prefix = `${r.prefix}compress.`;
      const inner = readPacketMessage(sub, plain.length, limits, depth + 1);
      if (!sub.error && sub.remaining > 0) sub.fail("trailing-bytes", "length", `${sub.remaining} bytes after the message`);
      if (sub.error) {
        r.error = sub.error;
        return undefined;
      }
      return inner === undefined ? undefined : { type: "compress", inner };
    }
  }
  r.fail("unknown-type", "type", `message type ${type} is not a packet message`);
  return undefined;
}

function readCompound(r: MsgpackReader, end: number, limits: WireLimits, depth: number): WireCompound | undefined {
  if (depth >= MAX_NESTING) {
    r.fail("invalid-field", "compound", `wrappers nested deeper than ${MAX_NESTING}`);
    return undefined;
  }
  if (r.pos >= end) {
    r.fail("truncated", "compound.count", "missing the part count");
    return undefined;
  }
  const count = r.bytes[r.pos++]!;
  if (count === 0) {
    r.fail("invalid-field", "compound.count", "must be at least 1");
    return undefined;
  }
  if (r.pos + 2 * count > end) {
    r.fail("truncated", "compound.lengths", `${count} part lengths do not fit`);
    return undefined;
  }
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) lengths.push((r.bytes[r.pos + 2 * i]! << 8) | r.bytes[r.pos + 2 * i + 1]!);
  r.pos += 2 * count;
  const parts: WirePacketMessage[] = [];
  for (let i = 0; i < count; i++) {
    const len = lengths[i]!;
    if (len === 0) {
      r.fail("invalid-field", `compound.parts[${i}].length`, "must not be 0");
      return undefined;
    }
    if (r.pos + len > end) {
      // memberlist handles the parts that fit and logs the rest; a truncated compound means a
      // corrupted packet, so we drop all of it.
      r.fail("truncated", `compound.parts[${i}]`, `needs ${len} bytes, ${end - r.pos} left`);
      return undefined;
    }
    const sub = new MsgpackReader(r.bytes.subarray(r.pos, r.pos + len));
    sub.prefix = `${r.prefix}compound.parts[${i}].`;
    const part = readPacketMessage(sub, len, limits, depth + 1);
    if (!sub.error && sub.remaining > 0) sub.fail("trailing-bytes", "length", `${sub.remaining} bytes after the message`);
    if (sub.error) {
      r.error = sub.error;
      return undefined;
    }
    parts.push(part!);
    r.pos += len;
  }
  return { type: "compound", parts };
}

/** Reads Go's `compress` struct and returns the decompressed bytes. */
function readCompressed(r: MsgpackReader, field: string, limits: WireLimits): Uint8Array {
  let algo = -1;
  let buf: Uint8Array | null = null;
  r.struct(field, (k) => {
    if (k === "Algo") algo = r.uint(`${field}.Algo`, 0xff);
    else if (k === "Buf") buf = r.bytesOrNil(`${field}.Buf`, limits.maxBytes);
    else return false;
    return true;
  });
  if (r.error) return EMPTY;
  if (algo !== 0) {
    r.fail("compression", `${field}.Algo`, algo < 0 ? "missing" : `unknown algorithm ${algo} (only 0, LZW, exists)`);
    return EMPTY;
  }
  const out = lzwDecompress(buf ?? EMPTY, limits.maxBytes);
  if (!out.ok) {
    r.fail("compression", `${field}.Buf`, out.reason);
    return EMPTY;
  }
  return out.bytes;
}

function readPing(r: MsgpackReader): WirePing {
  const m: WirePing = { type: "ping", seqNo: 0, node: "", sourceAddr: null, sourcePort: 0, sourceNode: "" };
  r.struct("ping", (k) => {
    if (k === "SeqNo") m.seqNo = r.uint("ping.SeqNo", 0xffffffff);
    else if (k === "Node") m.node = r.string("ping.Node", NAME_MAX_BYTES);
    else return readSource(r, "ping", k, m);
    return true;
  });
  return m;
}

function readAck(r: MsgpackReader): WireAck {
  const m: WireAck = { type: "ack", seqNo: 0, payload: null };
  r.struct("ack", (k) => {
    if (k === "SeqNo") m.seqNo = r.uint("ack.SeqNo", 0xffffffff);
    else if (k === "Payload") m.payload = copyOrNull(r.bytesOrNil("ack.Payload", 0xffff));
    else return false;
    return true;
  });
  return m;
}

function readSource(r: MsgpackReader, name: string, key: string, m: { sourceAddr: Uint8Array | null; sourcePort: number; sourceNode: string }): boolean {
  switch (key) {
    case "SourceAddr": {
      const ip = ipBytes(r, `${name}.SourceAddr`);
      m.sourceAddr = ip !== null && ip.length > 0 ? ip : null;
      return true;
    }
    case "SourcePort":
      m.sourcePort = r.uint(`${name}.SourcePort`, 0xffff);
      return true;
    case "SourceNode":
      m.sourceNode = r.string(`${name}.SourceNode`, NAME_MAX_BYTES);
      return true;
  }
  return false;
}

/** An IP: nil, or 4 or 16 bytes (a copy: the packet buffer may be reused). */
function ipBytes(r: MsgpackReader, field: string): Uint8Array | null {
  const b = r.bytesOrNil(field, 16);
  if (r.error || b === null) return null;
  if (b.length !== 0 && b.length !== 4 && b.length !== 16) {
    r.fail("invalid-field", field, `an IP has 4 or 16 bytes, got ${b.length}`);
    return null;
  }
  return b.slice();
}

function vsnBytes(r: MsgpackReader, field: string): Uint8Array | null {
  const b = r.bytesOrNil(field, VSN_MAX_BYTES);
  if (r.error || b === null) return null;
  if (b.length > 0 && b.length < 6) {
    // memberlist indexes Vsn[0..5] whenever it is not empty: relaying a short one would crash it.
    r.fail("invalid-field", field, `protocol versions need 6 bytes, got ${b.length}`);
    return null;
  }
  return b.slice();
}

function copyOrNull(b: Uint8Array | null): Uint8Array | null {
  return b === null ? null : b.slice();
}

function invalid(field: string, detail: string): MemberlistDecodeError {
  return { kind: "invalid-field", field, message: `${field}: ${detail}` };
}

function tooLarge(length: number, max: number): MemberlistDecodeError {
  return { kind: "too-large", field: "length", message: `length: ${length} bytes exceeds the ${max}-byte limit` };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}
