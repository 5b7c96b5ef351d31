/**
 * The one hash every scheme in this package is built on, defined exactly so
 * that any implementation (another language, another Node version, a browser)
 * computes the same ownership table bit for bit.
 *
 *   H(s)        = the first 8 bytes of SHA-256(UTF-8(s)), read big-endian
 *                 as an unsigned 64-bit integer.
 *   fmix64(k)   = MurmurHash3's 64-bit finalizer (Appleby, MurmurHash3.cpp):
 *                 k ^= k >> 33; k *= 0xff51afd7ed558ccd;
 *                 k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53; k ^= k >> 33
 *                 (all arithmetic modulo 2^64).
 *   score(o, m) = fmix64(H(o) XOR H(m)), the rendezvous weight of member m
 *                 for origin o.
 *
 * Why two steps instead of hashing the pair: a full table of 100,000
 * origins x 100 members would need 10,000,000 SHA-256 calls (about 10 s in
 * pure JS). Hashing every id once and combining the pair with a bijective
 * 64-bit mixer costs one SHA-256 per id and a few multiplies per pair. SHA-256
 * makes H(o) and H(m) look independent and uniform, and fmix64 (full
 * avalanche: each input bit flips each output bit with probability ~1/2) makes
 * the scores of one origin across members look independent too.
 *
 * JavaScript has no fast 64-bit integers (BigInt allocates), so every 64-bit
 * value is carried as two unsigned 32-bit halves, `hi` and `lo`. The tests
 * check this arithmetic against a BigInt transcription of the definition.
 */
import { sha256 } from "@noble/hashes/sha2.js";

/** An unsigned 64-bit value as two unsigned 32-bit halves (value = hi * 2^32 + lo). */
export interface Hash64 {
  readonly hi: number;
  readonly lo: number;
}

const utf8 = new TextEncoder();

/** H(s): the first 8 bytes of SHA-256 of the UTF-8 bytes of `s`, big-endian. */
export function hashId(id: string): Hash64 {
  const d = sha256(utf8.encode(id));
  // Non-null: a SHA-256 digest always has 32 bytes.
  const hi = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
  const lo = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0;
  return { hi, lo };
}

// fmix64's multipliers, split into 32-bit halves.
const C1_HI = 0xff51afd7;
const C1_LO = 0xed558ccd;
const C2_HI = 0xc4ceb9fe;
const C2_LO = 0x1a85ec53;
const TWO_16 = 65536;

/**
 * The low 64 bits of (hi:lo) * (chi:clo), written into `out` as [hi, lo].
 * The 32x32 -> 64-bit low product is computed in doubles, exactly: a
 * 16x32-bit partial product is below 2^48, well inside a double's 53 bits.
 */
export function mul64Into(hi: number, lo: number, chi: number, clo: number, out: Uint32Array): void {
  const t = (lo & 0xffff) * clo; // < 2^48
  const u = (lo >>> 16) * clo; // < 2^48
  // floor(lo * clo / 2^32), via floor((t + u * 2^16) / 2^32) = floor((floor(t / 2^16) + u) / 2^16).
  const carry = Math.floor((u + Math.floor(t / TWO_16)) / TWO_16);
  out[0] = carry + Math.imul(lo, chi) + Math.imul(hi, clo); // Uint32Array stores modulo 2^32.
  out[1] = Math.imul(lo, clo);
}

/**
 * fmix64 of (hi:lo), written into `out` as [hi, lo]. Exported so the hot
 * loops elsewhere can mix without allocating; `out` may be reused.
 */
export function fmix64Into(hi: number, lo: number, out: Uint32Array): void {
  lo = (lo ^ (hi >>> 1)) >>> 0; // k ^= k >> 33: only hi's top 31 bits reach lo.
  mul64Into(hi, lo, C1_HI, C1_LO, out);
  hi = out[0]!;
  lo = (out[1]! ^ (hi >>> 1)) >>> 0;
  mul64Into(hi, lo, C2_HI, C2_LO, out);
  hi = out[0]!;
  out[1] = out[1]! ^ (hi >>> 1);
}

/** fmix64 (MurmurHash3's finalizer) of a 64-bit value; a bijection on 64 bits. */
export function fmix64(k: Hash64): Hash64 {
  const out = new Uint32Array(2);
  fmix64Into(k.hi, k.lo, out);
  return { hi: out[0]!, lo: out[1]! };
}

/** score(o, m) = fmix64(H(o) XOR H(m)): the rendezvous weight of a member for an origin. */
export function pairScore(origin: Hash64, member: Hash64): Hash64 {
  return fmix64({ hi: (origin.hi ^ member.hi) >>> 0, lo: (origin.lo ^ member.lo) >>> 0 });
}

/** Compares two 64-bit values: negative, zero or positive as a < b, a = b, a > b. */
export function compare64(aHi: number, aLo: number, bHi: number, bLo: number): number {
  return aHi !== bHi ? aHi - bHi : aLo - bLo;
}

/**
 * The top 52 bits of a 64-bit value as a float strictly inside (0, 1):
 * (floor(v / 2^12) + 0.5) / 2^52. Exact in a double, and never 0 or 1, so
 * `Math.log` of it is finite and negative (weighted rendezvous needs that).
 */
export function unitInterval(hi: number, lo: number): number {
  return (hi * 1048576 + (lo >>> 12) + 0.5) / 4503599627370496;
}

/** A 64-bit value as 16 lower-case hex digits (for test vectors and JSON). */
export function toHex(h: Hash64): string {
  return h.hi.toString(16).padStart(8, "0") + h.lo.toString(16).padStart(8, "0");
}
