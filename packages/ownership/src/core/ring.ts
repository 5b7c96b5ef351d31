/**
 * Consistent hashing on a ring with virtual nodes (Karger et al., "Consistent
 * hashing and random trees", STOC 1997; virtual nodes as in Dynamo,
 * DeCandia et al. 2007, §4.2). Every member places `vnodes` points on a
 * 64-bit circle; an origin belongs to the first point at or after its own
 * position H(o), wrapping around. Walking on clockwise and collecting
 * distinct members gives the priority list (Dynamo's "preference list").
 *
 * Why virtual nodes: with one point per member the arcs are very unequal
 * (the largest is about ln(m)/m of the circle). With v points per member the
 * standard deviation of a member's share falls roughly as 1/sqrt(v): about
 * 10% at v = 100 and 3.2% at v = 1,000, which is the figure the README puts
 * beside ours. The price is memory (m * v points) and a binary search per
 * lookup; the dead member's load goes to the members next to its points.
 *
 * Point i of member m sits at fmix64(H(m) XOR H(decimal i)), i.e. score(i, m)
 * in hash.ts's terms: one SHA-256 per distinct i, shared by all members.
 * Ties between points (never seen in practice) are broken by member id.
 */
import { OwnershipInputError, checkK } from "./errors.ts";
import { fmix64Into, hashId, type Hash64 } from "./hash.ts";
import { compareIds, hashMembers, normalizeMembers, type MemberInput } from "./members.ts";
import { BaseScheme } from "./scheme.ts";

/** Ring parameters. */
export interface RingOptions {
  /**
   * Points per member of average weight; a member of weight w gets
   * max(1, round(vnodes * w / mean weight)). More points: smoother balance,
   * more memory and a slower build. Default 160: libketama's 40 x 4, so the
   * comparison with the npm `hashring` package (a ketama ring) is like for like.
   */
  readonly vnodes?: number;
}

/** The default number of virtual nodes per member (libketama's 160). */
export const DEFAULT_VNODES = 160;

// H(decimal i) for the vnode labels, grown on demand and shared by every ring.
const vnodeKeys: Hash64[] = [];
function vnodeKey(i: number): Hash64 {
  while (vnodeKeys.length <= i) vnodeKeys.push(hashId(String(vnodeKeys.length)));
  return vnodeKeys[i]!;
}

/** A consistent-hash ring with virtual nodes; weights scale each member's point count. */
export class RingScheme extends BaseScheme {
  readonly name = "ring" as const;
  readonly label: string;
  /** Point positions (hi, lo halves) and owners, sorted clockwise. */
  private readonly pointHi: Uint32Array;
  private readonly pointLo: Uint32Array;
  private readonly pointMember: Int32Array;

  constructor(members: readonly MemberInput[], options: RingOptions = {}) {
    const ms = normalizeMembers(members);
    super(ms);
    const vnodes = options.vnodes ?? DEFAULT_VNODES;
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > 100_000) {
      throw new OwnershipInputError("vnodes", `must be an integer from 1 to 100000, got ${String(vnodes)}`);
    }
    this.label = `ring (${vnodes} vnode${vnodes === 1 ? "" : "s"})`;
    const meanWeight = ms.reduce((s, m) => s + m.weight, 0) / Math.max(1, ms.length);
    const counts = ms.map((m) => Math.max(1, Math.round((vnodes * m.weight) / meanWeight)));
    const total = counts.reduce((s, c) => s + c, 0);
    const hashed = hashMembers(ms);
    const hi = new Uint32Array(total);
    const lo = new Uint32Array(total);
    const owner = new Int32Array(total);
    const out = new Uint32Array(2);
    let p = 0;
    counts.forEach((count, j) => {
      for (let i = 0; i < count; i++) {
        const key = vnodeKey(i);
        fmix64Into((hashed.hi[j]! ^ key.hi) >>> 0, (hashed.lo[j]! ^ key.lo) >>> 0, out);
        hi[p] = out[0]!;
        lo[p] = out[1]!;
        owner[p] = j;
        p++;
      }
    });
    const order = Array.from({ length: total }, (_, i) => i);
    order.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || compareIds(ms[owner[a]!]!.id, ms[owner[b]!]!.id));
    this.pointHi = Uint32Array.from(order, (i) => hi[i]!);
    this.pointLo = Uint32Array.from(order, (i) => lo[i]!);
    this.pointMember = Int32Array.from(order, (i) => owner[i]!);
  }

  /** Number of points on the ring (sum of every member's virtual nodes). */
  get pointCount(): number {
    return this.pointHi.length;
  }

  /** Index of the first point at or after (hi:lo), wrapping to 0 past the last. */
  private firstPointAtOrAfter(hi: number, lo: number): number {
    let low = 0;
    let high = this.pointHi.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const ph = this.pointHi[mid]!;
      if (ph < hi || (ph === hi && this.pointLo[mid]! < lo)) low = mid + 1;
      else high = mid;
    }
    return low === this.pointHi.length ? 0 : low;
  }

  ownerIndexOf(hi: number, lo: number): number {
    if (this.pointHi.length === 0) return -1;
    return this.pointMember[this.firstPointAtOrAfter(hi, lo)]!;
  }

  priorityOf(hi: number, lo: number, k: number): number[] {
    checkK(k);
    const n = this.pointHi.length;
    if (n === 0) return [];
    const want = Math.min(k, this.members.length);
    const seen = new Uint8Array(this.members.length);
    const result: number[] = [];
    const start = this.firstPointAtOrAfter(hi, lo);
    for (let step = 0; step < n && result.length < want; step++) {
      const m = this.pointMember[(start + step) % n]!;
      if (seen[m] === 0) {
        seen[m] = 1;
        result.push(m);
      }
    }
    return result;
  }

  /**
   * Each member's share of the circle (fractions summing to 1), in member
   * order: the balance the ring promises before any origin is placed.
   */
  arcShares(): number[] {
    const shares = new Array<number>(this.members.length).fill(0);
    const n = this.pointHi.length;
    const two32 = 4294967296;
    for (let i = 0; i < n; i++) {
      // A point owns the arc from the previous point (exclusive) up to itself.
      const prev = i === 0 ? n - 1 : i - 1;
      let arc = (this.pointHi[i]! - this.pointHi[prev]!) * two32 + (this.pointLo[i]! - this.pointLo[prev]!);
      if (i === 0) arc += two32 * two32;
      if (n === 1) arc = two32 * two32;
      shares[this.pointMember[i]!]! += arc / (two32 * two32);
    }
    return shares;
  }
}
