/**
 * Byte helpers for the pure KV core. etcd keys and values are byte strings,
 * not text, and ranges are ordered by byte comparison. Inside the store a key
 * is held as a "byte string": a JS string whose char codes are the bytes
 * (0-255), so `<` on two byte strings is exactly etcd's `bytes.Compare`.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 bytes of a text string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Text of UTF-8 bytes (invalid sequences become U+FFFD). */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** True when the bytes are valid UTF-8 (so the HTTP API can return them as text). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The byte string of `bytes` (one char per byte), usable as a Map key that sorts like the bytes. */
export function toByteString(bytes: Uint8Array): string {
  // apply() passes a typed array as the argument list without spreading it
  // into a temporary array first (about 4x faster for a short key, and every
  // put converts its key at least once on every replica).
  if (bytes.length <= 4096) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let out = "";
  // Chunked so a large key never overflows the argument limit of fromCharCode.
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(bytes.length, i + 4096)) as unknown as number[]);
  }
  return out;
}

/** The bytes of a byte string made by {@link toByteString}. */
export function fromByteString(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** etcd's bytes.Compare: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Byte equality. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The range end that selects every key starting with `prefix` (etcd's
 * `clientv3.GetPrefixRangeEnd`): the prefix with its last non-0xff byte
 * incremented; all-0xff (or empty) prefixes get "\0", meaning "to the end".
 */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.slice(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

/** Lower-case hex of bytes (for logs and error messages). */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
