/**
 * Jump consistent hash (Lamping and Veach, "A fast, minimal memory,
 * consistent hash algorithm", 2014). No ring and no table: a 64-bit key and a
 * bucket count give a bucket in [0, n) in O(ln n) steps, with even balance
 * and minimal movement when n grows to n + 1 (1/(n+1) of the keys move, all
 * to the new last bucket).
 *
 * Why it does not fit a health checker on its own (the paper's own stated
 * limitation, in its abstract: "the buckets must be numbered sequentially"):
 * buckets are numbered 0..n-1, and the algorithm only knows how to add or
 * remove the LAST bucket. When an arbitrary member dies, the survivors must
 * be renumbered: keep the order and every member after the dead one shifts
 * down a bucket, so most origins move; or move the last member into the hole,
 * so the dead member's origins and most of the last member's move (almost
 * twice the optimum). The paper's setting is data storage with replicated buckets
 * that never disappear; SWIM membership removes arbitrary nodes.
 *
 * Here the member list's ORDER is the bucket numbering, so "add" appends and
 * "remove" keeps the order of the rest, and weights are not supported (the
 * paper has none). The priority list follows this package's definition: entry
 * i is the owner once entries 0..i-1 are removed from the list.
 */
import { OwnershipInputError, checkK } from "./errors.ts";
import { mul64Into } from "./hash.ts";
import { normalizeMembers, uniformWeights, type MemberInput } from "./members.ts";
import { BaseScheme } from "./scheme.ts";

// The paper's 64-bit LCG multiplier 2862933555777941757, in 32-bit halves.
const LCG_HI = 0x27bb2ee6;
const LCG_LO = 0x87b0b0fd;
const TWO_31 = 2147483648;

const scratch = new Uint32Array(2);

/**
 * The paper's JumpConsistentHash(key, buckets), for key = (hi:lo): a bucket
 * in [0, buckets), or -1 when buckets is 0. Bit-for-bit the paper's C++ code,
 * with the 64-bit LCG in 32-bit halves.
 */
export function jumpConsistentHash(hi: number, lo: number, buckets: number): number {
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    // key = key * 2862933555777941757 + 1 (mod 2^64)
    mul64Into(hi, lo, LCG_HI, LCG_LO, scratch);
    hi = scratch[0]!;
    lo = (scratch[1]! + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    // j = (b + 1) * (double(1 << 31) / double((key >> 33) + 1)), truncated.
    j = Math.floor((b + 1) * (TWO_31 / ((hi >>> 1) + 1)));
  }
  return b;
}

/** Jump consistent hash over members numbered by their order in the list; no weights. */
export class JumpScheme extends BaseScheme {
  readonly name = "jump" as const;
  readonly label = "jump";

  constructor(members: readonly MemberInput[]) {
    const ms = normalizeMembers(members);
    if (!uniformWeights(ms)) {
      const i = ms.findIndex((m) => m.weight !== ms[0]!.weight);
      throw new OwnershipInputError(`members[${i}].weight`, "jump consistent hash has no weights (Lamping and Veach 2014); use rendezvous, ring or maglev");
    }
    super(ms);
  }

  ownerIndexOf(hi: number, lo: number): number {
    return jumpConsistentHash(hi, lo, this.members.length);
  }

  priorityOf(hi: number, lo: number, k: number): number[] {
    checkK(k);
    // Remove each pick and jump again over the remaining buckets, renumbered in order.
    const remaining = this.members.map((_, i) => i);
    const result: number[] = [];
    while (result.length < k && remaining.length > 0) {
      const b = jumpConsistentHash(hi, lo, remaining.length);
      result.push(remaining[b]!);
      remaining.splice(b, 1);
    }
    return result;
  }
}
