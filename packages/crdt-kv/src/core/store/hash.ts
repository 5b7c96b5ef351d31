/**
 * A 64-bit non-cryptographic string hash (two 32-bit lanes), for the digest's
 * bucket summaries. Collisions only cost a missed difference in one bucket
 * until that bucket changes again, so speed matters more than strength; 64
 * bits make an accidental collision among a few thousand buckets negligible
 * (about n^2 / 2^65). Mixing in the style of cyrb53 (public domain).
 */
export function hash64(s: string, seed = 0): [number, number] {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

/** Which of 2^bits buckets a key falls in (the low bits of its hash, so coarser bucketings nest). */
export function bucketOf(key: string, bits: number): number {
  return hash64(key, 0x9e3779b9)[0] & ((1 << bits) - 1);
}

/** 8 hex digits of a uint32. */
export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}
