/**
 * The wire codec: a compact binary encoding of {@link SwimMessage}.
 *
 * Layout: one type byte, then the fields in declaration order. Unsigned
 * integers (seq, incarnation, counts) are LEB128 varints of at most 32 bits,
 * so a typical incarnation costs one byte; strings are a length byte plus
 * UTF-8; metadata is a 2-byte length plus bytes. A compound is a count byte
 * and each part prefixed by a 2-byte length, as memberlist does, so a
 * receiver can skip a part it cannot decode without losing the rest.
 *
 * Decoding never throws: every field is checked (bounds, UTF-8, enum ranges,
 * no trailing bytes) and the first problem comes back as a typed
 * {@link DecodeError} naming the field. Encrypted envelopes (@heck/sim/io keyring.ts)
 * start with 0xE1, which is never a message type here.
 */
import { utf8Length } from "@heck/sim";
import { META_MAX_BYTES, NAME_MAX_BYTES } from "./config.ts";
import type { MemberRecord, PacketMessage, SwimMessage } from "./messages.ts";
import { MEMBER_STATES, type MemberState } from "./types.ts";

const TYPE_CODES = {
  ping: 1,
  "ping-req": 2,
  ack: 3,
  nack: 4,
  alive: 5,
  suspect: 6,
  dead: 7,
  compound: 8,
  "push-pull": 9,
} as const satisfies Record<SwimMessage["type"], number>;

/** Most parts in one compound message (the count is one byte). */
export const COMPOUND_MAX_PARTS = 255;
/** Bytes a compound adds before its parts: type + count. */
export const COMPOUND_HEADER_BYTES = 2;
/** Bytes a compound adds per part: the 2-byte length. */
export const COMPOUND_PART_OVERHEAD_BYTES = 2;

/** Why a buffer was rejected. */
export type DecodeErrorKind = "empty" | "too-large" | "truncated" | "unknown-type" | "invalid-field" | "trailing-bytes";

/** A rejected buffer: what went wrong and in which field, for counters and logs. */
export interface DecodeError {
  kind: DecodeErrorKind;
  /** The field being read, e.g. "ping.target" or "push-pull.members[3].state". */
  field: string;
  message: string;
}

/** The outcome of {@link decodeMessage}: a message or a typed error, never an exception. */
export type DecodeResult = { ok: true; message: SwimMessage } | { ok: false; error: DecodeError };

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function varintLength(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  return 5;
}

function stringLength(s: string): number {
  return 1 + utf8Length(s);
}

function recordLength(r: MemberRecord): number {
  return 1 + varintLength(r.incarnation) + stringLength(r.name) + stringLength(r.addr) + 2 + r.meta.length;
}

/** Exact encoded size of a message in bytes, computed without encoding it. */
export function encodedSize(msg: SwimMessage): number {
  switch (msg.type) {
    case "ping":
      return 1 + varintLength(msg.seq) + stringLength(msg.target) + stringLength(msg.fromName) + stringLength(msg.fromAddr);
    case "ping-req":
      return (
        1 + varintLength(msg.seq) + stringLength(msg.target) + stringLength(msg.targetAddr) + stringLength(msg.fromName) + stringLength(msg.fromAddr) + 1
      );
    case "ack":
    case "nack":
      return 1 + varintLength(msg.seq);
    case "alive":
      return 1 + varintLength(msg.incarnation) + stringLength(msg.name) + stringLength(msg.addr) + 2 + msg.meta.length;
    case "suspect":
    case "dead":
      return 1 + varintLength(msg.incarnation) + stringLength(msg.name) + stringLength(msg.from);
    case "compound": {
      let size = COMPOUND_HEADER_BYTES;
      for (const part of msg.parts) size += COMPOUND_PART_OVERHEAD_BYTES + encodedSize(part);
      return size;
    }
    case "push-pull": {
      let size = 2 + varintLength(msg.members.length);
      for (const r of msg.members) size += recordLength(r);
      return size;
    }
  }
}

class Writer {
  readonly bytes: Uint8Array;
  private pos = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  u8(v: number): void {
    this.bytes[this.pos++] = v;
  }
  u16(v: number): void {
    this.bytes[this.pos++] = (v >>> 8) & 0xff;
    this.bytes[this.pos++] = v & 0xff;
  }
  varint(v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`encode: ${field} must be a uint32, got ${v}`);
    while (v >= 0x80) {
      this.bytes[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.bytes[this.pos++] = v;
  }
  str(s: string, field: string): void {
    const n = s.length;
    if (n > 0 && n <= NAME_MAX_BYTES) {
      // ASCII (names, addresses): one byte per char, written in place with no temporary array.
      const bytes = this.bytes;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        bytes[start + i] = c;
      }
      if (i === n) {
        bytes[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    const encoded = utf8Encoder.encode(s);
    if (encoded.length === 0 || encoded.length > NAME_MAX_BYTES) {
      throw new RangeError(`encode: ${field} must be 1-${NAME_MAX_BYTES} UTF-8 bytes, got ${encoded.length}`);
    }
    this.u8(encoded.length);
    this.raw(encoded);
  }
  meta(m: Uint8Array, field: string): void {
    if (m.length > META_MAX_BYTES) throw new RangeError(`encode: ${field} must be at most ${META_MAX_BYTES} bytes, got ${m.length}`);
    this.u16(m.length);
    this.raw(m);
  }
  raw(b: Uint8Array): void {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }
  get position(): number {
    return this.pos;
  }
}

function writeMessage(w: Writer, msg: SwimMessage): void {
  w.u8(TYPE_CODES[msg.type]);
  switch (msg.type) {
    case "ping":
      w.varint(msg.seq, "ping.seq");
      w.str(msg.target, "ping.target");
      w.str(msg.fromName, "ping.fromName");
      w.str(msg.fromAddr, "ping.fromAddr");
      return;
    case "ping-req":
      w.varint(msg.seq, "ping-req.seq");
      w.str(msg.target, "ping-req.target");
      w.str(msg.targetAddr, "ping-req.targetAddr");
      w.str(msg.fromName, "ping-req.fromName");
      w.str(msg.fromAddr, "ping-req.fromAddr");
      w.u8(msg.nack ? 1 : 0);
      return;
    case "ack":
    case "nack":
      w.varint(msg.seq, `${msg.type}.seq`);
      return;
    case "alive":
      w.varint(msg.incarnation, "alive.incarnation");
      w.str(msg.name, "alive.name");
      w.str(msg.addr, "alive.addr");
      w.meta(msg.meta, "alive.meta");
      return;
    case "suspect":
    case "dead":
      w.varint(msg.incarnation, `${msg.type}.incarnation`);
      w.str(msg.name, `${msg.type}.name`);
      w.str(msg.from, `${msg.type}.from`);
      return;
    case "compound":
      if (msg.parts.length === 0 || msg.parts.length > COMPOUND_MAX_PARTS) {
        throw new RangeError(`encode: compound.parts must hold 1-${COMPOUND_MAX_PARTS} messages, got ${msg.parts.length}`);
      }
      w.u8(msg.parts.length);
      for (const part of msg.parts) {
        w.u16(encodedSize(part));
        writeMessage(w, part);
      }
      return;
    case "push-pull":
      w.u8((msg.join ? 1 : 0) | (msg.reply ? 2 : 0));
      w.varint(msg.members.length, "push-pull.members.length");
      for (const r of msg.members) {
        w.u8(MEMBER_STATES.indexOf(r.state));
        w.varint(r.incarnation, "push-pull.members.incarnation");
        w.str(r.name, "push-pull.members.name");
        w.str(r.addr, "push-pull.members.addr");
        w.meta(r.meta, "push-pull.members.meta");
      }
      return;
  }
}

/**
 * Encodes a message. Throws a RangeError only for a message the node should
 * never build (a name over 255 bytes, metadata over 512 bytes): a bug, not input.
 */
export function encodeMessage(msg: SwimMessage): Uint8Array {
  const w = new Writer(encodedSize(msg));
  writeMessage(w, msg);
  if (w.position !== w.bytes.length) throw new RangeError(`encode: size mismatch for ${msg.type} (${w.position} != ${w.bytes.length})`);
  return w.bytes;
}

/**
 * A cursor that records the first error instead of throwing, so decoding
 * never unwinds. Field names are constants; the full name of a field inside
 * a compound part or a push-pull record ("compound.parts[2].ping.target") is
 * only built when something is wrong, so a valid packet costs no strings.
 */
class Reader {
  private pos = 0;
  error: DecodeError | undefined;
  /** Index of the compound part being read, or -1. */
  part = -1;
  /** Index of the push-pull record being read, or -1. */
  record = -1;
  constructor(private readonly bytes: Uint8Array) {}

  /** The full name of `field` where the cursor is. */
  name(field: string): string {
    const inRecord = this.record >= 0 ? `push-pull.members[${this.record}]${field}` : field;
    return this.part >= 0 ? `compound.parts[${this.part}].${inRecord}` : inRecord;
  }
  fail(kind: DecodeErrorKind, field: string, detail: string): void {
    if (this.error !== undefined) return;
    const name = this.name(field);
    this.error = { kind, field: name, message: `${name}: ${detail}` };
  }
  get remaining(): number {
    return this.bytes.length - this.pos;
  }
  u8(field: string): number {
    if (this.error) return 0;
    if (this.pos >= this.bytes.length) {
      this.fail("truncated", field, "buffer ends before this field");
      return 0;
    }
    return this.bytes[this.pos++]!;
  }
  u16(field: string): number {
    const hi = this.u8(field);
    const lo = this.u8(field);
    return (hi << 8) | lo;
  }
  varint(field: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8(field);
      if (this.error) return 0;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) this.fail("invalid-field", field, "varint exceeds 32 bits");
        return result;
      }
      scale *= 128;
    }
    this.fail("invalid-field", field, "varint longer than 5 bytes");
    return 0;
  }
  take(n: number, field: string): Uint8Array {
    if (this.error) return EMPTY;
    if (n > this.remaining) {
      this.fail("truncated", field, `needs ${n} bytes, ${this.remaining} left`);
      return EMPTY;
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  str(field: string): string {
    const len = this.u8(field);
    if (this.error) return "";
    if (len === 0) {
      this.fail("invalid-field", field, "must not be empty");
      return "";
    }
    if (len > this.remaining) {
      this.fail("truncated", field, `needs ${len} bytes, ${this.remaining} left`);
      return "";
    }
    const start = this.pos;
    this.pos += len;
    // Names and addresses are almost always ASCII: read those without a decoder call.
    const bytes = this.bytes;
    let ascii = true;
    for (let i = start; i < start + len; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return len <= 64 ? String.fromCharCode.apply(null, bytes.subarray(start, start + len) as unknown as number[]) : latin1.decode(bytes.subarray(start, start + len));
    try {
      return utf8Decoder.decode(bytes.subarray(start, start + len));
    } catch (_e) {
      this.fail("invalid-field", field, "not valid UTF-8");
      return "";
    }
  }
  meta(field: string): Uint8Array {
    const len = this.u16(field);
    if (this.error) return EMPTY;
    if (len > META_MAX_BYTES) {
      this.fail("invalid-field", field, `${len} bytes exceeds the ${META_MAX_BYTES}-byte limit`);
      return EMPTY;
    }
    if (len === 0) return new Uint8Array(0);
    // Copy: the caller's buffer may be reused by the transport.
    return this.take(len, field).slice();
  }
}

const EMPTY = new Uint8Array(0);
const latin1 = new TextDecoder("latin1");

function readPacketMessage(r: Reader, type: number): PacketMessage | undefined {
  switch (type) {
    case TYPE_CODES.ping:
      return { type: "ping", seq: r.varint("ping.seq"), target: r.str("ping.target"), fromName: r.str("ping.fromName"), fromAddr: r.str("ping.fromAddr") };
    case TYPE_CODES["ping-req"]: {
      const seq = r.varint("ping-req.seq");
      const target = r.str("ping-req.target");
      const targetAddr = r.str("ping-req.targetAddr");
      const fromName = r.str("ping-req.fromName");
      const fromAddr = r.str("ping-req.fromAddr");
      const flag = r.u8("ping-req.nack");
      if (flag > 1) r.fail("invalid-field", "ping-req.nack", `must be 0 or 1, got ${flag}`);
      return { type: "ping-req", seq, target, targetAddr, fromName, fromAddr, nack: flag === 1 };
    }
    case TYPE_CODES.ack:
      return { type: "ack", seq: r.varint("ack.seq") };
    case TYPE_CODES.nack:
      return { type: "nack", seq: r.varint("nack.seq") };
    case TYPE_CODES.alive: {
      const incarnation = r.varint("alive.incarnation");
      const name = r.str("alive.name");
      const addr = r.str("alive.addr");
      const meta = r.meta("alive.meta");
      return { type: "alive", incarnation, name, addr, meta };
    }
    case TYPE_CODES.suspect: {
      const incarnation = r.varint("suspect.incarnation");
      const name = r.str("suspect.name");
      const from = r.str("suspect.from");
      return { type: "suspect", incarnation, name, from };
    }
    case TYPE_CODES.dead: {
      const incarnation = r.varint("dead.incarnation");
      const name = r.str("dead.name");
      const from = r.str("dead.from");
      return { type: "dead", incarnation, name, from };
    }
    default:
      return undefined;
  }
}

function readMessage(r: Reader): SwimMessage | undefined {
  const type = r.u8("type");
  if (r.error) return undefined;
  if (type === TYPE_CODES.compound) {
    const count = r.u8("compound.count");
    if (!r.error && count === 0) r.fail("invalid-field", "compound.count", "must be at least 1");
    const parts: PacketMessage[] = [];
    for (let i = 0; i < count && !r.error; i++) {
      r.part = i;
      const len = r.u16("length");
      if (r.error) break;
      if (len === 0) {
        r.fail("invalid-field", "length", "must not be 0");
        break;
      }
      const body = r.take(len, "body");
      if (r.error) break;
      const sub = new Reader(body);
      sub.part = i;
      const partType = sub.u8("type");
      const part = readPacketMessage(sub, partType);
      if (part === undefined && !sub.error) {
        const nested = partType === TYPE_CODES.compound || partType === TYPE_CODES["push-pull"];
        sub.fail(nested ? "invalid-field" : "unknown-type", "type", `type ${partType} is ${nested ? "not allowed inside a compound" : "unknown"}`);
      }
      if (!sub.error && sub.remaining > 0) {
        const name = `compound.parts[${i}]`;
        sub.error = { kind: "trailing-bytes", field: name, message: `${name}: ${sub.remaining} bytes after the message` };
      }
      if (sub.error) {
        r.error = sub.error;
        break;
      }
      parts.push(part!);
    }
    r.part = -1;
    return { type: "compound", parts };
  }
  if (type === TYPE_CODES["push-pull"]) {
    const flags = r.u8("push-pull.flags");
    if (flags > 3) r.fail("invalid-field", "push-pull.flags", `unknown bits in ${flags}`);
    const count = r.varint("push-pull.members.length");
    // Each record takes at least 8 bytes, so a count larger than that is a lie; checking first
    // keeps a 5-byte packet from making us loop billions of times.
    if (!r.error && count * 8 > r.remaining) {
      r.fail("truncated", "push-pull.members.length", `${count} records cannot fit in ${r.remaining} bytes`);
    }
    const members: MemberRecord[] = [];
    for (let i = 0; i < count && !r.error; i++) {
      r.record = i;
      const stateIndex = r.u8(".state");
      const state: MemberState | undefined = MEMBER_STATES[stateIndex];
      if (!r.error && state === undefined) r.fail("invalid-field", ".state", `unknown state ${stateIndex}`);
      const incarnation = r.varint(".incarnation");
      const name = r.str(".name");
      const addr = r.str(".addr");
      const meta = r.meta(".meta");
      if (!r.error) members.push({ name, addr, incarnation, state: state!, meta });
    }
    r.record = -1;
    return { type: "push-pull", join: (flags & 1) === 1, reply: (flags & 2) === 2, members };
  }
  const msg = readPacketMessage(r, type);
  if (msg === undefined && !r.error) r.fail("unknown-type", "type", `unknown message type ${type}`);
  return msg;
}

/**
 * Decodes one message, rejecting buffers longer than `maxBytes` before
 * reading them. Returns `{ ok: false, error }` for anything malformed.
 */
export function decodeMessage(bytes: Uint8Array, maxBytes = Number.MAX_SAFE_INTEGER): DecodeResult {
  if (bytes.length === 0) return { ok: false, error: { kind: "empty", field: "type", message: "empty buffer" } };
  if (bytes.length > maxBytes) {
    return { ok: false, error: { kind: "too-large", field: "length", message: `length: ${bytes.length} bytes exceeds the ${maxBytes}-byte limit` } };
  }
  const r = new Reader(bytes);
  const message = readMessage(r);
  if (!r.error && r.remaining > 0) r.fail("trailing-bytes", "length", `${r.remaining} bytes after the message`);
  if (r.error || message === undefined) {
    return { ok: false, error: r.error ?? { kind: "invalid-field", field: "type", message: "undecodable" } };
  }
  return { ok: true, message };
}
