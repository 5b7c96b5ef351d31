import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import type { Prng } from "./types.ts";

type Generator = ReturnType<typeof xoroshiro128plus>;

/**
 * Mixes a parent seed and a stream name into a child seed. FNV-1a over the
 * name's UTF-16 code units, folded with the parent seed and finished with a
 * murmur3-style avalanche, so "n1" and "n2" land far apart. This is seed
 * derivation, not the generator: the numbers themselves come from pure-rand.
 */
function deriveSeed(parentSeed: number, name: string): number {
  let h = 0x811c9dc5 ^ parentSeed;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

class XoroshiroPrng implements Prng {
  readonly seed: number;
  private readonly gen: Generator;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.gen = xoroshiro128plus(this.seed);
  }

  nextUint32(): number {
    return this.gen.next() >>> 0;
  }

  nextFloat(): number {
    // 53 random bits from two draws: the standard way to fill a double's mantissa.
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  nextInt(minInclusive: number, maxInclusive: number): number {
    if (!Number.isSafeInteger(minInclusive) || !Number.isSafeInteger(maxInclusive) || maxInclusive < minInclusive) {
      throw new RangeError(`nextInt: bad range [${minInclusive}, ${maxInclusive}]`);
    }
    return uniformInt(this.gen, minInclusive, maxInclusive);
  }

  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.nextFloat() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick: empty array");
    return items[this.nextInt(0, items.length - 1)] as T;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(0, i);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  exponential(mean: number): number {
    // Inverse transform; 1 - u is in (0, 1] so the log is finite.
    return -Math.log(1 - this.nextFloat()) * mean;
  }

  fork(name: string): Prng {
    return new XoroshiroPrng(deriveSeed(this.seed, name));
  }
}

/** Creates a seeded stream (xoroshiro128+ from pure-rand). Seeds are folded to 32 bits. */
export function createPrng(seed: number): Prng {
  if (!Number.isFinite(seed)) throw new RangeError(`createPrng: seed must be a finite number, got ${seed}`);
  return new XoroshiroPrng(Math.trunc(seed));
}
