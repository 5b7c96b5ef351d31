/**
 * Wire format for Raft messages and conf changes: encode to bytes, and decode
 * with validation that names the bad field instead of throwing.
 *
 * Messages use a small binary layout (entry data is raw bytes, so a 256-byte
 * value costs about 256 bytes on the wire, not a base64 string): a version
 * byte, a type byte, then `from`, `to`, `term` and the type's fields in
 * declaration order. Integers are unsigned LEB128 varints (up to 2^53 - 1),
 * strings and byte arrays are length-prefixed. Conf changes are JSON, since
 * they are rare and a person reading a log dump should understand them.
 */
import type { ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType, Snapshot } from "./types.ts";

/** Why bytes did not decode: the field that was wrong and what was wrong with it. */
export interface DecodeError {
  readonly code: "malformed";
  readonly field: string;
  readonly message: string;
}

/** A decoded value or a {@link DecodeError}. */
export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DecodeError };

/** The format version byte; a decoder refuses other versions rather than guess. */
export const WIRE_VERSION = 1;

/** Longest node id or context string accepted, in UTF-8 bytes. */
const MAX_ID_BYTES = 256;
/** Longest ReadIndex context accepted, in UTF-8 bytes. */
const MAX_CONTEXT_BYTES = 1024;

const TYPE_CODES: Readonly<Record<MessageType, number>> = {
  append: 1,
  appendResponse: 2,
  heartbeat: 3,
  heartbeatResponse: 4,
  requestVote: 5,
  requestPreVote: 6,
  voteResponse: 7,
  preVoteResponse: 8,
  installSnapshot: 9,
  timeoutNow: 10,
  readIndex: 11,
  readIndexResponse: 12,
};
const TYPE_BY_CODE = new Map<number, MessageType>(Object.entries(TYPE_CODES).map(([k, v]) => [v, k as MessageType]));

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

class Writer {
  private buf: Uint8Array;
  private len = 0;

  /** `capacity`: the expected size; a right guess saves the copies and garbage of growing (an append of a batch is tens of KiB). */
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  uint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`encode: ${v} is not a non-negative safe integer`);
    this.ensure(8);
    // Division instead of >>> so values above 2^32 survive.
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  str(s: string): void {
    this.bytes(textEncoder.encode(s));
  }

  optStr(s: string | null): void {
    if (s === null) {
      this.u8(0);
    } else {
      this.u8(1);
      this.str(s);
    }
  }

  bool(b: boolean): void {
    this.u8(b ? 1 : 0);
  }

  /** The encoded bytes: a view when the buffer is mostly used (no copy), else a copy (no large buffer pinned by a small message). */
  finish(): Uint8Array {
    return this.len * 2 >= this.buf.length ? this.buf.subarray(0, this.len) : this.buf.slice(0, this.len);
  }
}

function writeEntry(w: Writer, e: Entry): void {
  w.uint(e.index);
  w.uint(e.term);
  w.u8(e.type === "normal" ? 0 : 1);
  w.bytes(e.data);
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  w.uint(s.metadata.index);
  w.uint(s.metadata.term);
  w.uint(s.metadata.confState.voters.length);
  for (const v of s.metadata.confState.voters) w.str(v);
  w.uint(s.metadata.confState.learners.length);
  for (const l of s.metadata.confState.learners) w.str(l);
  w.bytes(s.data);
}

/** About how many bytes `m` encodes to: its entries' or snapshot's data plus room for the fields around them. */
function encodedSizeHint(m: Message): number {
  if (m.type === "append") {
    let n = 128;
    for (const e of m.entries) n += e.data.length + 32;
    return n;
  }
  if (m.type === "installSnapshot") return m.snapshot.data.length + 1024;
  return 128;
}

/**
 * Encodes a message to bytes (one frame). Throws only for a message the core
 * could not have produced (e.g. a negative term). `prefix`: a byte written
 * before the message, for a caller that frames it (saves copying the frame).
 */
export function encodeMessage(m: Message, prefix?: number): Uint8Array {
  const w = new Writer(encodedSizeHint(m));
  if (prefix !== undefined) w.u8(prefix);
  w.u8(WIRE_VERSION);
  w.u8(TYPE_CODES[m.type]);
  w.str(m.from);
  w.str(m.to);
  w.uint(m.term);
  switch (m.type) {
    case "append":
      w.uint(m.prevLogIndex);
      w.uint(m.prevLogTerm);
      w.uint(m.commit);
      w.uint(m.entries.length);
      for (const e of m.entries) writeEntry(w, e);
      break;
    case "appendResponse":
      w.bool(m.reject);
      w.uint(m.index);
      w.uint(m.rejectHint);
      w.uint(m.logTerm);
      break;
    case "heartbeat":
      w.uint(m.commit);
      w.optStr(m.context);
      break;
    case "heartbeatResponse":
      w.optStr(m.context);
      break;
    case "requestVote":
    case "requestPreVote":
      w.uint(m.lastLogIndex);
      w.uint(m.lastLogTerm);
      w.bool(m.transfer);
      break;
    case "voteResponse":
    case "preVoteResponse":
      w.bool(m.granted);
      break;
    case "installSnapshot":
      writeSnapshot(w, m.snapshot);
      break;
    case "timeoutNow":
      break;
    case "readIndex":
      w.str(m.context);
      break;
    case "readIndexResponse":
      w.str(m.context);
      // -1 ("not served") is shifted to 0 so the varint stays unsigned.
      w.uint(m.index + 1);
      break;
  }
  return w.finish();
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/** Thrown inside the reader only; decodeMessage turns it into a DecodeError. */
class Malformed extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(reason);
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(field: string): number {
    if (this.pos >= this.buf.length) throw new Malformed(field, "truncated");
    return this.buf[this.pos++]!;
  }

  uint(field: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(field);
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new Malformed(field, "integer too large");
        return result;
      }
      scale *= 0x80;
    }
    throw new Malformed(field, "integer too long");
  }

  bytes(field: string, max = Infinity): Uint8Array {
    const n = this.uint(`${field}.length`);
    if (n > max) throw new Malformed(field, `longer than ${max} bytes`);
    if (n > this.remaining()) throw new Malformed(field, "truncated");
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(field: string, max: number): string {
    const b = this.bytes(field, max);
    try {
      return textDecoder.decode(b);
    } catch {
      throw new Malformed(field, "not valid UTF-8");
    }
  }

  id(field: string): string {
    const s = this.str(field, MAX_ID_BYTES);
    if (s.length === 0) throw new Malformed(field, "empty node id");
    return s;
  }

  optStr(field: string, max: number): string | null {
    const flag = this.u8(field);
    if (flag === 0) return null;
    if (flag !== 1) throw new Malformed(field, "bad presence flag");
    return this.str(field, max);
  }

  bool(field: string): boolean {
    const b = this.u8(field);
    if (b > 1) throw new Malformed(field, "not a boolean");
    return b === 1;
  }

  /** A count of items that each take at least `minItemBytes`, bounded by what is left (no huge allocations). */
  count(field: string, minItemBytes: number): number {
    const n = this.uint(field);
    if (n * minItemBytes > this.remaining()) throw new Malformed(field, `count ${n} exceeds the frame`);
    return n;
  }
}

function readEntry(r: Reader, field: string): Entry {
  const index = r.uint(`${field}.index`);
  const term = r.uint(`${field}.term`);
  const t = r.u8(`${field}.type`);
  if (t > 1) throw new Malformed(`${field}.type`, `unknown entry type ${t}`);
  const type: EntryType = t === 0 ? "normal" : "confChange";
  const data = r.bytes(`${field}.data`);
  return { index, term, type, data };
}

function readIds(r: Reader, field: string): string[] {
  const n = r.count(`${field}.length`, 2);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.id(`${field}[${i}]`));
  return out;
}

function readSnapshot(r: Reader): Snapshot {
  const index = r.uint("snapshot.metadata.index");
  const term = r.uint("snapshot.metadata.term");
  const voters = readIds(r, "snapshot.metadata.confState.voters");
  const learners = readIds(r, "snapshot.metadata.confState.learners");
  const confState: ConfState = { voters, learners };
  const data = r.bytes("snapshot.data");
  if (index > 0 && term === 0) throw new Malformed("snapshot.metadata.term", "a snapshot of a non-empty log has a term >= 1");
  return { metadata: { index, term, confState }, data };
}

function readMessage(r: Reader): Message {
  const version = r.u8("version");
  if (version !== WIRE_VERSION) throw new Malformed("version", `unsupported version ${version} (expected ${WIRE_VERSION})`);
  const code = r.u8("type");
  const type = TYPE_BY_CODE.get(code);
  if (type === undefined) throw new Malformed("type", `unknown message type ${code}`);
  const from = r.id("from");
  const to = r.id("to");
  const term = r.uint("term");
  const base = { from, to, term };
  switch (type) {
    case "append": {
      const prevLogIndex = r.uint("prevLogIndex");
      const prevLogTerm = r.uint("prevLogTerm");
      const commit = r.uint("commit");
      const n = r.count("entries.length", 4);
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) {
        const e = readEntry(r, `entries[${i}]`);
        // The log is contiguous (§5.3): anything else is a corrupted or forged frame.
        if (e.index !== prevLogIndex + 1 + i) throw new Malformed(`entries[${i}].index`, `expected ${prevLogIndex + 1 + i}, got ${e.index}`);
        if (e.term > term) throw new Malformed(`entries[${i}].term`, `entry term ${e.term} exceeds the leader's term ${term}`);
        entries.push(e);
      }
      return { type, ...base, prevLogIndex, prevLogTerm, commit, entries };
    }
    case "appendResponse":
      return { type, ...base, reject: r.bool("reject"), index: r.uint("index"), rejectHint: r.uint("rejectHint"), logTerm: r.uint("logTerm") };
    case "heartbeat":
      return { type, ...base, commit: r.uint("commit"), context: r.optStr("context", MAX_CONTEXT_BYTES) };
    case "heartbeatResponse":
      return { type, ...base, context: r.optStr("context", MAX_CONTEXT_BYTES) };
    case "requestVote":
    case "requestPreVote":
      return { type, ...base, lastLogIndex: r.uint("lastLogIndex"), lastLogTerm: r.uint("lastLogTerm"), transfer: r.bool("transfer") };
    case "voteResponse":
    case "preVoteResponse":
      return { type, ...base, granted: r.bool("granted") };
    case "installSnapshot":
      return { type, ...base, snapshot: readSnapshot(r) };
    case "timeoutNow":
      return { type, ...base };
    case "readIndex":
      return { type, ...base, context: r.str("context", MAX_CONTEXT_BYTES) };
    case "readIndexResponse":
      return { type, ...base, context: r.str("context", MAX_CONTEXT_BYTES), index: r.uint("index") - 1 };
  }
}

/** Decodes and validates one frame; never throws. */
export function decodeMessage(bytes: Uint8Array): DecodeResult<Message> {
  const r = new Reader(bytes);
  try {
    const value = readMessage(r);
    if (r.remaining() !== 0) return malformed("frame", `${r.remaining()} trailing bytes`);
    return { ok: true, value };
  } catch (err) {
    if (err instanceof Malformed) return malformed(err.field, err.message);
    return malformed("frame", String(err));
  }
}

function malformed<T>(field: string, message: string): DecodeResult<T> {
  return { ok: false, error: { code: "malformed", field, message: `${field}: ${message}` } };
}

// ---------------------------------------------------------------------------
// Conf changes
// ---------------------------------------------------------------------------

const CONF_CHANGE_TYPES: readonly ConfChangeType[] = ["addVoter", "removeVoter", "addLearner", "promoteLearner"];

/** Encodes a membership change as the data of a "confChange" entry. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  const plain: { type: ConfChangeType; nodeId: string; context?: string } = { type: change.type, nodeId: change.nodeId };
  if (change.context !== undefined) plain.context = change.context;
  return textEncoder.encode(JSON.stringify(plain));
}

/** Checks a conf change built by a caller (the same rules the decoder applies). */
export function validateConfChange(value: unknown): DecodeResult<ConfChange> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return malformed("confChange", "not an object");
  const v = value as Record<string, unknown>;
  if (typeof v.type !== "string" || !(CONF_CHANGE_TYPES as readonly string[]).includes(v.type)) {
    return malformed("confChange.type", `must be one of ${CONF_CHANGE_TYPES.join(", ")}`);
  }
  if (typeof v.nodeId !== "string" || v.nodeId.length === 0 || textEncoder.encode(v.nodeId).length > MAX_ID_BYTES) {
    return malformed("confChange.nodeId", `must be a non-empty string of at most ${MAX_ID_BYTES} bytes`);
  }
  if (v.context !== undefined && (typeof v.context !== "string" || textEncoder.encode(v.context).length > MAX_CONTEXT_BYTES)) {
    return malformed("confChange.context", `must be a string of at most ${MAX_CONTEXT_BYTES} bytes`);
  }
  const change: ConfChange =
    v.context === undefined ? { type: v.type as ConfChangeType, nodeId: v.nodeId } : { type: v.type as ConfChangeType, nodeId: v.nodeId, context: v.context as string };
  return { ok: true, value: change };
}

/** Decodes a "confChange" entry's data; never throws. */
export function decodeConfChange(bytes: Uint8Array): DecodeResult<ConfChange> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(textDecoder.decode(bytes));
  } catch {
    return malformed("confChange", "not UTF-8 JSON");
  }
  return validateConfChange(parsed);
}
