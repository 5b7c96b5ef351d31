/**
 * The subset of MessagePack that hashicorp/memberlist 0.2.2 puts on the wire,
 * read and written the way its msgpack library (hashicorp/go-msgpack 0.5, an
 * early ugorji codec, with `MsgpackHandle{}` defaults) does:
 *
 * - a Go struct is a map from field name to value, keys sorted by name
 *   (byte order), fields tagged `omitempty` left out when zero;
 * - every integer, signed or not, takes the smallest unsigned form
 *   (positive fixint, then 0xcc/0xcd/0xce/0xcf);
 * - strings *and* byte slices are "raw" strings (fixstr below 32 bytes, then
 *   0xda with a 16-bit length, then 0xdb): the old spec had no bin type, and
 *   `WriteExt` is off, so even the 8-bit str form (0xd9) is never written;
 * - a nil slice is nil (0xc0).
 *
 * The reader accepts every MessagePack form (str8, bin, arrays, floats, ext)
 * because a peer built with a newer codec may use them, and skips map keys
 * it does not know, as go-msgpack does. It never throws: the first problem
 * is recorded as a typed error naming the field, and every read after it
 * returns a harmless zero value.
 */
import type { DecodeErrorKind } from "../codec.ts";

/** Why a memberlist buffer was rejected: heck's decode kinds, plus a bad CRC and a bad LZW stream. */
export type MemberlistDecodeErrorKind = DecodeErrorKind | "checksum" | "compression";

/** A rejected buffer: what went wrong and in which field. */
export interface MemberlistDecodeError {
  kind: MemberlistDecodeErrorKind;
  /** The field being read, e.g. "alive.Vsn" or "push-pull.nodes[2].Addr". */
  field: string;
  message: string;
}

/** How deep `skip` follows nested maps and arrays of unknown fields before giving up. */
const MAX_SKIP_DEPTH = 8;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** A cursor over MessagePack bytes that records the first error instead of throwing. */
export class MsgpackReader {
  pos: number;
  error: MemberlistDecodeError | undefined;
  /** Prefix for field names in errors ("compound.parts[1]."), set by callers reading nested messages. */
  prefix = "";

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Records the first error; later ones are consequences of it. */
  fail(kind: MemberlistDecodeErrorKind, field: string, detail: string): void {
    if (this.error !== undefined) return;
    const name = this.prefix + field;
    this.error = { kind, field: name, message: `${name}: ${detail}` };
  }

  private byte(field: string): number {
    if (this.error) return 0;
    if (this.pos >= this.bytes.length) {
      this.fail("truncated", field, "buffer ends before this field");
      return 0;
    }
    return this.bytes[this.pos++]!;
  }

  private be(n: number, field: string): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.byte(field);
    return v;
  }

  /** True (and consumed) if the next value is nil. */
  nil(): boolean {
    if (this.error || this.pos >= this.bytes.length || this.bytes[this.pos] !== 0xc0) return false;
    this.pos++;
    return true;
  }

  /** A non-negative integer no larger than `max`, in any integer form. */
  uint(field: string, max: number): number {
    const b = this.byte(field);
    if (this.error) return 0;
    let v: number;
    if (b <= 0x7f) v = b;
    else if (b >= 0xe0) v = b - 0x100;
    else
      switch (b) {
        case 0xcc:
          v = this.be(1, field);
          break;
        case 0xcd:
          v = this.be(2, field);
          break;
        case 0xce:
          v = this.be(4, field);
          break;
        case 0xcf: {
          const hi = this.be(4, field);
          const lo = this.be(4, field);
          // Anything at or above 2^32 is out of range for every field memberlist sends.
          v = hi > 0 ? Infinity : lo;
          break;
        }
        case 0xd0: {
          const x = this.be(1, field);
          v = x >= 0x80 ? x - 0x100 : x;
          break;
        }
        case 0xd1: {
          const x = this.be(2, field);
          v = x >= 0x8000 ? x - 0x10000 : x;
          break;
        }
        case 0xd2: {
          const x = this.be(4, field);
          v = x >= 0x80000000 ? x - 0x100000000 : x;
          break;
        }
        case 0xd3: {
          const hi = this.be(4, field);
          const lo = this.be(4, field);
          v = hi >= 0x80000000 ? -1 : hi > 0 ? Infinity : lo;
          break;
        }
        default:
          this.fail("invalid-field", field, `expected an integer, got ${describe(b)}`);
          return 0;
      }
    if (this.error) return 0;
    if (v < 0 || v > max) {
      this.fail("invalid-field", field, `${v === Infinity ? "a 64-bit value" : v} is outside 0-${max}`);
      return 0;
    }
    return v;
  }

  bool(field: string): boolean {
    const b = this.byte(field);
    if (this.error) return false;
    if (b === 0xc2) return false;
    if (b === 0xc3) return true;
    this.fail("invalid-field", field, `expected a boolean, got ${describe(b)}`);
    return false;
  }

  /** The length of a str or bin value, its header consumed; -1 for nil. */
  private rawLength(field: string): number {
    const b = this.byte(field);
    if (this.error) return 0;
    if (b === 0xc0) return -1;
    if (b >= 0xa0 && b <= 0xbf) return b & 0x1f;
    switch (b) {
      case 0xd9:
      case 0xc4:
        return this.be(1, field);
      case 0xda:
      case 0xc5:
        return this.be(2, field);
      case 0xdb:
      case 0xc6:
        return this.be(4, field);
    }
    this.fail("invalid-field", field, `expected a string or bytes, got ${describe(b)}`);
    return 0;
  }

  /** A byte slice of at most `maxLen` bytes; `null` for nil (a view into the buffer). */
  bytesOrNil(field: string, maxLen: number): Uint8Array | null {
    const len = this.rawLength(field);
    if (this.error) return EMPTY;
    if (len < 0) return null;
    if (len > maxLen) {
      this.fail("invalid-field", field, `${len} bytes exceeds the ${maxLen}-byte limit`);
      return EMPTY;
    }
    if (len > this.remaining) {
      this.fail("truncated", field, `needs ${len} bytes, ${this.remaining} left`);
      return EMPTY;
    }
    const out = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A UTF-8 string of at most `maxLen` bytes; nil reads as "". */
  string(field: string, maxLen: number): string {
    const raw = this.bytesOrNil(field, maxLen);
    if (this.error || raw === null || raw.length === 0) return "";
    // Field names, node names and most everything else are ASCII: no decoder call for those.
    if (raw.length <= 64) {
      let ascii = true;
      for (let i = 0; i < raw.length; i++) if (raw[i]! >= 0x80) ascii = false;
      if (ascii) return String.fromCharCode.apply(null, raw as unknown as number[]);
    }
    try {
      return utf8.decode(raw);
    } catch (_e) {
      this.fail("invalid-field", field, "not valid UTF-8");
      return "";
    }
  }

  /** A map header: the number of key/value pairs. */
  mapLength(field: string): number {
    const b = this.byte(field);
    if (this.error) return 0;
    let n: number;
    if (b >= 0x80 && b <= 0x8f) n = b & 0x0f;
    else if (b === 0xde) n = this.be(2, field);
    else if (b === 0xdf) n = this.be(4, field);
    else {
      this.fail("invalid-field", field, `expected a map, got ${describe(b)}`);
      return 0;
    }
    // Each pair takes at least two bytes: a larger count is a lie, and checking first keeps a
    // five-byte packet from making us loop four billion times.
    if (!this.error && n * 2 > this.remaining) this.fail("truncated", field, `${n} entries cannot fit in ${this.remaining} bytes`);
    return this.error ? 0 : n;
  }

  /** Skips one value of any type (an unknown map key's value). */
  skip(field: string, depth = 0): void {
    if (depth > MAX_SKIP_DEPTH) {
      this.fail("invalid-field", field, `nested deeper than ${MAX_SKIP_DEPTH} levels`);
      return;
    }
    const b = this.byte(field);
    if (this.error) return;
    const take = (n: number): void => {
      if (n > this.remaining) this.fail("truncated", field, `needs ${n} bytes, ${this.remaining} left`);
      else this.pos += n;
    };
    const items = (n: number): void => {
      if (n > this.remaining) {
        this.fail("truncated", field, `${n} items cannot fit in ${this.remaining} bytes`);
        return;
      }
      for (let i = 0; i < n && !this.error; i++) this.skip(field, depth + 1);
    };
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return;
    if (b >= 0xa0 && b <= 0xbf) return take(b & 0x1f);
    if (b >= 0x90 && b <= 0x9f) return items(b & 0x0f);
    if (b >= 0x80 && b <= 0x8f) return items(2 * (b & 0x0f));
    switch (b) {
      case 0xcc:
      case 0xd0:
        return take(1);
      case 0xcd:
      case 0xd1:
        return take(2);
      case 0xce:
      case 0xd2:
      case 0xca:
        return take(4);
      case 0xcf:
      case 0xd3:
      case 0xcb:
        return take(8);
      case 0xd9:
      case 0xc4:
        return take(this.be(1, field));
      case 0xda:
      case 0xc5:
        return take(this.be(2, field));
      case 0xdb:
      case 0xc6:
        return take(this.be(4, field));
      case 0xdc:
        return items(this.be(2, field));
      case 0xdd:
        return items(this.be(4, field));
      case 0xde:
        return items(2 * this.be(2, field));
      case 0xdf:
        return items(2 * this.be(4, field));
      case 0xd4:
        return take(2);
      case 0xd5:
        return take(3);
      case 0xd6:
        return take(5);
      case 0xd7:
        return take(9);
      case 0xd8:
        return take(17);
      case 0xc7:
        return take(this.be(1, field) + 1);
      case 0xc8:
        return take(this.be(2, field) + 1);
      case 0xc9:
        return take(this.be(4, field) + 1);
    }
    this.fail("invalid-field", field, `${describe(b)} is not a MessagePack value`);
  }

  /**
   * Reads a Go struct encoded as a map: calls `read(key)` for each key and
   * skips the value itself when `read` returns false (an unknown field).
   */
  struct(field: string, read: (key: string) => boolean): void {
    const n = this.mapLength(field);
    for (let i = 0; i < n && !this.error; i++) {
      const key = this.string(`${field} key`, 64);
      if (this.error) return;
      if (!read(key)) this.skip(`${field}.${key}`);
    }
  }
}

function describe(b: number): string {
  return `byte 0x${b.toString(16).padStart(2, "0")}`;
}

/** Writes MessagePack exactly as go-msgpack 0.5 with `MsgpackHandle{}` does (see the file comment). */
export class MsgpackWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialBytes = 128) {
    this.buf = new Uint8Array(initialBytes);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  private be(v: number, n: number): void {
    this.room(n);
    for (let i = n - 1; i >= 0; i--) {
      this.buf[this.pos + i] = v & 0xff;
      v = Math.floor(v / 256);
    }
    this.pos += n;
  }

  /** Raw bytes, with no header (a message type byte, a user message's payload). */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  uint(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`msgpack: ${v} is not a uint32`);
    if (v <= 0x7f) this.byte(v);
    else if (v <= 0xff) {
      this.byte(0xcc);
      this.be(v, 1);
    } else if (v <= 0xffff) {
      this.byte(0xcd);
      this.be(v, 2);
    } else {
      this.byte(0xce);
      this.be(v, 4);
    }
  }

  bool(v: boolean): void {
    this.byte(v ? 0xc3 : 0xc2);
  }

  nil(): void {
    this.byte(0xc0);
  }

  private rawHeader(len: number): void {
    if (len < 32) this.byte(0xa0 | len);
    else if (len < 0x10000) {
      this.byte(0xda);
      this.be(len, 2);
    } else {
      this.byte(0xdb);
      this.be(len, 4);
    }
  }

  /** A byte slice as go-msgpack writes `[]byte` (a raw string); `null` is a nil slice. */
  bytes(v: Uint8Array | null): void {
    if (v === null) return this.nil();
    this.rawHeader(v.length);
    this.raw(v);
  }

  string(s: string): void {
    const n = s.length;
    if (n < 32) {
      // ASCII (names, field names): written in place, no encoder call.
      this.room(1 + n);
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        this.buf[start + i] = c;
      }
      if (i === n) {
        this.buf[this.pos] = 0xa0 | n;
        this.pos = start + n;
        return;
      }
    }
    this.bytes(utf8Encoder.encode(s));
  }

  /**
   * A struct field's name. Callers write a struct's fields in byte order of
   * their names, as go-msgpack does (see writeStruct for the general form).
   */
  key(name: string): void {
    this.string(name);
  }

  mapHeader(n: number): void {
    if (n < 16) this.byte(0x80 | n);
    else {
      this.byte(0xde);
      this.be(n, 2);
    }
  }

  /** Bytes written so far (a copy-free view). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  get length(): number {
    return this.pos;
  }
}

/**
 * Writes a Go struct as go-msgpack does: a map of the given fields, keys in
 * byte order. `undefined` values are left out (the `omitempty` fields).
 */
export function writeStruct(w: MsgpackWriter, fields: ReadonlyArray<readonly [string, (w: MsgpackWriter) => void] | undefined>): void {
  const present = fields.filter((f): f is readonly [string, (w: MsgpackWriter) => void] => f !== undefined);
  present.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  w.mapHeader(present.length);
  for (const [name, write] of present) {
    w.string(name);
    write(w);
  }
}
