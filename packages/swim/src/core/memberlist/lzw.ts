/**
 * LZW as memberlist compresses with it: Go's `compress/lzw` with LSB bit
 * order and 8-bit literals (the GIF flavour), codes 9 to 12 bits wide.
 *
 * Codes 0-255 are the bytes themselves, 256 is "clear" (forget the
 * dictionary) and 257 "end of data"; every code written after the first
 * adds one dictionary entry (the previous string plus the first byte of
 * this one). The writer starts with a clear code, widens its codes the
 * moment the next entry would not fit, and when the table reaches 4095
 * entries writes a clear code and starts over; it ends with the pending
 * code, an end code, and the last partial byte. The encoder below makes
 * the same choices at the same moments, so its output is byte for byte
 * what memberlist's would be (the golden fixtures check this).
 *
 * Decoding never throws: a bad code, a missing end code or output past the
 * caller's limit is an error result. The limit matters: a few hundred bytes
 * of LZW can expand to megabytes.
 */

const LIT_WIDTH = 8;
const CLEAR = 1 << LIT_WIDTH; // 256
const EOF = CLEAR + 1; // 257
const MAX_WIDTH = 12;
const MAX_CODE = (1 << MAX_WIDTH) - 1; // 4095

/** Compresses `input` exactly as Go's `lzw.NewWriter(w, lzw.LSB, 8)` does. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let nBits = 0;
  let width = LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << width;
  // (prefix code << 8 | next byte) -> code of that string.
  let table = new Map<number, number>();

  const write = (code: number): void => {
    bits |= code << nBits;
    nBits += width;
    while (nBits >= 8) {
      out.push(bits & 0xff);
      bits >>>= 8;
      nBits -= 8;
    }
  };
  /** One more code is in use: widen at a power of two, start over when the table is full. Returns false when it started over. */
  const nextCode = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow <<= 1;
    }
    if (hi === MAX_CODE) {
      write(CLEAR);
      width = LIT_WIDTH + 1;
      hi = EOF;
      overflow = 1 << width;
      table = new Map();
      return false;
    }
    return true;
  };

  // A clear code starts every stream (Go writes it with the first byte, or at Close when there was none).
  write(CLEAR);
  if (input.length > 0) {
    let code = input[0]!;
    for (let i = 1; i < input.length; i++) {
      const literal = input[i]!;
      const key = code * 256 + literal;
      const known = table.get(key);
      if (known !== undefined) {
        code = known;
        continue;
      }
      write(code);
      code = literal;
      if (nextCode()) table.set(key, hi);
    }
    write(code);
    nextCode();
  }
  write(EOF);
  if (nBits > 0) out.push(bits & 0xff);
  return Uint8Array.from(out);
}

/** The outcome of {@link lzwDecompress}. */
export type LzwResult = { ok: true; bytes: Uint8Array } | { ok: false; reason: string };

/**
 * Decompresses Go-flavoured LZW (LSB, 8-bit literals). Fails on an invalid
 * code, on data that ends before the end code, on whole bytes after it, and
 * on output longer than `maxBytes`.
 */
export function lzwDecompress(input: Uint8Array, maxBytes: number): LzwResult {
  const prefix = new Uint16Array(1 << MAX_WIDTH);
  const suffix = new Uint8Array(1 << MAX_WIDTH);
  const stack = new Uint8Array(1 << MAX_WIDTH);
  let out = new Uint8Array(Math.min(maxBytes, Math.max(64, input.length * 4)));
  let o = 0;
  let pos = 0;
  let bits = 0;
  let nBits = 0;
  let width = LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << width;
  let last = -1;

  const emit = (from: number, n: number): boolean => {
    if (o + n > maxBytes) return false;
    if (o + n > out.length) {
      let size = out.length * 2;
      while (size < o + n) size *= 2;
      const next = new Uint8Array(Math.min(size, maxBytes));
      next.set(out.subarray(0, o));
      out = next;
    }
    out.set(stack.subarray(from, from + n), o);
    o += n;
    return true;
  };

  for (;;) {
    while (nBits < width) {
      if (pos >= input.length) return { ok: false, reason: "data ends before the end code" };
      bits |= input[pos++]! << nBits;
      nBits += 8;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    nBits -= width;

    if (code === CLEAR) {
      width = LIT_WIDTH + 1;
      hi = EOF;
      overflow = 1 << width;
      last = -1;
      continue;
    }
    if (code === EOF) break;
    if (code > hi) return { ok: false, reason: `invalid code ${code} (next free code ${hi})` };

    // Spell out the string for `code` backwards into the stack. A code equal to `hi` is the
    // entry being defined right now: the previous string plus its own first byte.
    let i = stack.length;
    let c = code;
    if (code < CLEAR) stack[--i] = code;
    else {
      if (code === hi) {
        if (last < 0) return { ok: false, reason: `invalid code ${code} right after a clear code` };
        let first = last;
        while (first >= CLEAR) first = prefix[first]!;
        stack[--i] = first;
        c = last;
      }
      while (c >= CLEAR) {
        stack[--i] = suffix[c]!;
        c = prefix[c]!;
      }
      stack[--i] = c;
    }
    if (!emit(i, stack.length - i)) return { ok: false, reason: `output exceeds the ${maxBytes}-byte limit` };
    if (last >= 0) {
      suffix[hi] = stack[i]!;
      prefix[hi] = last;
    }
    last = code;
    hi++;
    if (hi >= overflow) {
      if (width === MAX_WIDTH) {
        // The table is full: keep decoding with it, adding nothing, until a clear code.
        last = -1;
        hi--;
      } else {
        width++;
        overflow <<= 1;
      }
    }
  }
  if (pos < input.length) return { ok: false, reason: `${input.length - pos} bytes after the end code` };
  return { ok: true, bytes: out.subarray(0, o) };
}
