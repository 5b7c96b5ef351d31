/**
 * Rendezvous, or highest-random-weight (HRW), hashing (Thaler and Ravishankar
 * 1998): every member gets a pseudo-random score for each origin, and the
 * origin belongs to the member with the highest score. Sorting all members by
 * score gives the priority list, which is exactly the failover order: when
 * the owner dies, the member with the next-highest score already was second.
 *
 * Why this fits a health checker better than a ring:
 * - no state beyond the member list: every node computes the same owner from
 *   the same membership, with nothing to build or synchronize;
 * - minimal disruption by construction (Thaler and Ravishankar): removing
 *   a member changes only the origins it owned (each goes to its own
 *   second-highest), and adding one moves only the origins it now wins;
 * - the load of a dead owner spreads evenly over all survivors, instead of
 *   landing on its ring neighbour.
 * The cost is O(members) per lookup, which is cheap at health-checker scale
 * (100 members: about a microsecond).
 *
 * Weights follow weighted rendezvous hashing (Schindelhauer and Schomaker,
 * "Weighted distributed hash tables", SPAA 2005; Resch, "New hashing
 * algorithms for data storage", 2015): with u the score as a uniform number in
 * (0, 1), the weighted score is w / -ln(u). Member i then wins with
 * probability exactly w_i / sum(w), and removing or adding a member still
 * moves only what it must.
 */
import { OwnershipInputError, checkK } from "./errors.ts";
import { fmix64Into, unitInterval } from "./hash.ts";
import { compareIds, hashMembers, normalizeMembers, uniformWeights, type HashedMembers, type MemberInput } from "./members.ts";
import { BaseScheme } from "./scheme.ts";

/**
 * Rendezvous (HRW) hashing over a membership. Unweighted (all weights equal):
 * the winner has the highest 64-bit score(o, m). Weighted: the highest
 * w / -ln(u(score)). Ties (never seen in practice) go to the smaller id.
 */
export class RendezvousScheme extends BaseScheme {
  readonly name = "rendezvous" as const;
  readonly label: string;
  private readonly hashed: HashedMembers;
  private readonly weights: Float64Array;
  private readonly weighted: boolean;
  private readonly ids: readonly string[];
  // Scratch for fmix64: reused so the hot loop allocates nothing.
  private readonly out = new Uint32Array(2);

  constructor(members: readonly MemberInput[]) {
    const ms = normalizeMembers(members);
    super(ms);
    this.hashed = hashMembers(ms);
    this.weights = Float64Array.from(ms, (m) => m.weight);
    this.weighted = ms.length > 0 && !uniformWeights(ms);
    this.ids = ms.map((m) => m.id);
    this.label = this.weighted ? "rendezvous (weighted)" : "rendezvous";
  }

  ownerIndexOf(hi: number, lo: number): number {
    return this.weighted ? this.bestWeighted(hi, lo) : this.bestUnweighted(hi, lo);
  }

  /** The hot loop of a whole table: one fmix64 per member, no allocation, no BigInt. */
  private bestUnweighted(hi: number, lo: number): number {
    const { hi: mhi, lo: mlo } = this.hashed;
    const out = this.out;
    let best = -1;
    let bestHi = 0;
    let bestLo = 0;
    for (let j = 0; j < mhi.length; j++) {
      fmix64Into((hi ^ mhi[j]!) >>> 0, (lo ^ mlo[j]!) >>> 0, out);
      const h = out[0]!;
      const l = out[1]!;
      if (best < 0 || h > bestHi || (h === bestHi && (l > bestLo || (l === bestLo && this.ids[j]! < this.ids[best]!)))) {
        best = j;
        bestHi = h;
        bestLo = l;
      }
    }
    return best;
  }

  private bestWeighted(hi: number, lo: number): number {
    let best = -1;
    let bestScore = 0;
    let bestHi = 0;
    let bestLo = 0;
    const out = this.out;
    for (let j = 0; j < this.ids.length; j++) {
      fmix64Into((hi ^ this.hashed.hi[j]!) >>> 0, (lo ^ this.hashed.lo[j]!) >>> 0, out);
      const h = out[0]!;
      const l = out[1]!;
      const s = this.weights[j]! / -Math.log(unitInterval(h, l));
      if (best < 0 || s > bestScore || (s === bestScore && (h > bestHi || (h === bestHi && (l > bestLo || (l === bestLo && this.ids[j]! < this.ids[best]!)))))) {
        best = j;
        bestScore = s;
        bestHi = h;
        bestLo = l;
      }
    }
    return best;
  }

  priorityOf(hi: number, lo: number, k: number): number[] {
    checkK(k);
    const n = this.ids.length;
    if (k === 1) return n === 0 ? [] : [this.ownerIndexOf(hi, lo)];
    const sHi = new Uint32Array(n);
    const sLo = new Uint32Array(n);
    const sW = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      fmix64Into((hi ^ this.hashed.hi[j]!) >>> 0, (lo ^ this.hashed.lo[j]!) >>> 0, this.out);
      sHi[j] = this.out[0]!;
      sLo[j] = this.out[1]!;
      if (this.weighted) sW[j] = this.weights[j]! / -Math.log(unitInterval(sHi[j]!, sLo[j]!));
    }
    const order = Array.from({ length: n }, (_, j) => j);
    // Highest first; the same total order as the single-winner loops above.
    order.sort((a, b) => (sW[b]! - sW[a]!) || (sHi[b]! - sHi[a]!) || (sLo[b]! - sLo[a]!) || compareIds(this.ids[a]!, this.ids[b]!));
    return order.slice(0, k);
  }
}

// Member hashes memoized for the functional API, so a caller passing the same
// membership on every lookup does not pay n SHA-256s each time. Bounded: a
// long-lived process with churning member names does not grow it forever.
const schemeCache = new Map<string, RendezvousScheme>();
const SCHEME_CACHE_MAX = 64;

function membershipKey(members: readonly MemberInput[]): string {
  // Anything that is not a string or an object is left for normalizeMembers to reject by name.
  return JSON.stringify(members.map((m: unknown) => (m !== null && typeof m === "object" ? [(m as { id?: unknown }).id, (m as { weight?: unknown }).weight ?? 1] : m)));
}

/**
 * The top-k members for `origin` in priority (failover) order under
 * rendezvous hashing: entry 0 owns it, entry 1 takes over if 0 dies, and so
 * on. Independent of the order of `members`. Returns min(k, members) ids.
 */
export function ownersOf(origin: string, members: readonly MemberInput[], k = 1): string[] {
  if (typeof origin !== "string" || origin.length === 0) throw new OwnershipInputError("origin", `must be a non-empty string, got ${JSON.stringify(origin)}`);
  checkK(k);
  if (!Array.isArray(members)) throw new OwnershipInputError("members", "must be an array of member ids or { id, weight } objects");
  const key = membershipKey(members);
  let scheme = schemeCache.get(key);
  if (scheme === undefined) {
    scheme = new RendezvousScheme(members);
    if (schemeCache.size >= SCHEME_CACHE_MAX) schemeCache.clear();
    schemeCache.set(key, scheme);
  }
  return scheme.ownersOf(origin, k);
}
