/**
 * A tiny binary writer/reader (unsigned varints, length-prefixed bytes and
 * strings) used to encode KV commands for the Raft log and KV snapshots.
 * Compact and deterministic: the same command always encodes to the same
 * bytes, so every replica stores identical log entries.
 */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Thrown by {@link Reader} on truncated or malformed input; decoders catch it and return a typed error. */
export class WireError extends Error {
  override readonly name = "WireError";
}

/** Appends values to a growing buffer. */
export class Writer {
  private buf: Uint8Array;
  private len = 0;

  /** `capacity`: the size to start with; a good guess saves the copies and garbage of growing (snapshots are megabytes). */
  constructor(capacity = 64) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** An unsigned integer up to 2^53 - 1, LEB128. */
  uint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new WireError(`not an unsigned safe integer: ${value}`);
    this.reserve(8);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
    return this;
  }

  /** A boolean as one byte. */
  bool(value: boolean): this {
    return this.uint(value ? 1 : 0);
  }

  /** Length-prefixed raw bytes. */
  bytes(value: Uint8Array): this {
    const n = value.length;
    this.uint(n);
    this.reserve(n);
    if (n <= 32) {
      // A short key or value: a loop costs less than TypedArray.set's call into the runtime.
      const buf = this.buf;
      for (let i = 0, at = this.len; i < n; i++) buf[at + i] = value[i]!;
    } else {
      this.buf.set(value, this.len);
    }
    this.len += n;
    return this;
  }

  /** Length-prefixed UTF-8 text. */
  string(value: string): this {
    return this.bytes(textEncoder.encode(value));
  }

  /** The encoded bytes (a copy-free view; do not write after calling). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** Reads what a {@link Writer} wrote; throws {@link WireError} past the end or on bad values. */
export class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  /** True when every byte was consumed. */
  done(): boolean {
    return this.pos === this.buf.length;
  }

  uint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) throw new WireError("truncated varint");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new WireError("varint out of range");
        return result;
      }
      scale *= 0x80;
    }
    throw new WireError("varint too long");
  }

  bool(): boolean {
    const v = this.uint();
    if (v > 1) throw new WireError(`bad boolean ${v}`);
    return v === 1;
  }

  bytes(): Uint8Array {
    const n = this.uint();
    if (this.pos + n > this.buf.length) throw new WireError(`truncated bytes: need ${n}, have ${this.buf.length - this.pos}`);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    try {
      return textDecoder.decode(this.bytes());
    } catch (error) {
      if (error instanceof WireError) throw error;
      throw new WireError("invalid UTF-8 string");
    }
  }
}
