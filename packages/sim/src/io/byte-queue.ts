/**
 * The bytes a socket delivered and a reader has not consumed yet, kept as
 * the chunks they arrived in: a length-prefixed reader (our TCP frames,
 * gRPC's messages) peeks at a header and takes a body, and only a body that
 * spans chunks is copied, so big messages cost one copy at most.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Bytes held. */
  length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first `n` bytes without consuming them (n <= length); a view when they lie in one chunk. */
  peek(n: number): Buffer {
    const first = this.chunks[0]!;
    return first.length >= n ? first.subarray(0, n) : Buffer.concat(this.chunks, n);
  }

  /**
   * Consumes and returns the first `n` bytes (n <= length). Inside one chunk
   * they are a view of it, unless `copy` is set: a small message kept for
   * long should not pin the (possibly large) socket chunk it arrived in.
   */
  take(n: number, copy = false): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.length -= n;
      return copy ? Buffer.from(out) : out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.length -= n;
    return out;
  }
}
