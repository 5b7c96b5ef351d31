/**
 * Maglev hashing (Eisenbud et al., "Maglev: a fast and reliable software
 * network load balancer", NSDI 2016, §3.4). Every member walks its own
 * permutation of a lookup table of prime size M; members take turns claiming
 * their next free slot until the table is full (the paper's Pseudocode 1).
 * A lookup is one array read: table[H(o) mod M].
 *
 * Balance is near perfect (each member gets floor(M/N) or ceil(M/N) slots:
 * with M >= 100 * N the spread is at most 1%, §3.4). Disruption is small but
 * not minimal: when a member goes, its slots are refilled and a few other
 * slots change hands too (§5.3 measures this). The table must keep its size
 * across membership changes (a new M remaps everything), so M is fixed per
 * scheme: 65537 by default, the paper's own choice, good to ~650 members.
 *
 * Permutation of member m (§3.4): offset = H(m) mod M,
 * skip = (fmix64(H(m)) mod (M - 1)) + 1, slot j = (offset + j * skip) mod M.
 * M is prime, so every skip visits every slot. Members take turns in id
 * order, so the table depends on the membership, not on the list's order.
 * Weights: a member of weight w takes a turn in round r while its slot count
 * is below r * w / max weight (unweighted: every round, as in the paper).
 */
import { OwnershipInputError, checkK } from "./errors.ts";
import { fmix64 } from "./hash.ts";
import { compareIds, hashMembers, normalizeMembers, type Member, type MemberInput } from "./members.ts";
import { BaseScheme } from "./scheme.ts";

/** Maglev parameters. */
export interface MaglevOptions {
  /**
   * Lookup-table size M: a prime (so every skip is a full permutation), at
   * least the member count, below 2^26. Bigger: finer balance, more memory
   * and a slower rebuild. Default 65537, the paper's size (§3.4).
   */
  readonly tableSize?: number;
}

/** The paper's table size, and ours by default. */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/** True when n is a prime (trial division; n < 2^26 here, so at most ~4,000 steps). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** (hi * 2^32 + lo) mod m, exact for m < 2^26 (every product stays below 2^53). */
export function mod64(hi: number, lo: number, m: number): number {
  return ((hi % m) * (4294967296 % m) + (lo % m)) % m;
}

/**
 * Builds the Maglev lookup table (Pseudocode 1 with weighted turns): slot ->
 * index into `members`. `members` must be non-empty; the order of turns is
 * by member id.
 */
export function buildMaglevTable(members: readonly Member[], tableSize: number): Int32Array {
  const n = members.length;
  const hashed = hashMembers(members);
  const offset = new Float64Array(n);
  const skip = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const h = { hi: hashed.hi[i]!, lo: hashed.lo[i]! };
    offset[i] = mod64(h.hi, h.lo, tableSize);
    const s = fmix64(h);
    skip[i] = mod64(s.hi, s.lo, tableSize - 1) + 1;
  }
  const turnOrder = members.map((_, i) => i).sort((a, b) => compareIds(members[a]!.id, members[b]!.id));
  const maxWeight = Math.max(...members.map((m) => m.weight));
  const relative = members.map((m) => m.weight / maxWeight);
  const next = new Float64Array(n); // how far along its permutation each member is
  const claimed = new Float64Array(n); // slots each member holds
  const table = new Int32Array(tableSize).fill(-1);
  let filled = 0;
  for (let round = 1; filled < tableSize; round++) {
    for (const i of turnOrder) {
      if (claimed[i]! >= round * relative[i]!) continue; // a lighter member sits this round out
      let slot = (offset[i]! + next[i]! * skip[i]!) % tableSize;
      while (table[slot]! >= 0) {
        next[i]!++;
        slot = (offset[i]! + next[i]! * skip[i]!) % tableSize;
      }
      table[slot] = i;
      next[i]!++;
      claimed[i]!++;
      if (++filled === tableSize) break;
    }
  }
  return table;
}

/** Maglev hashing with a fixed-size lookup table; weights scale each member's turns. */
export class MaglevScheme extends BaseScheme {
  readonly name = "maglev" as const;
  readonly label: string;
  /** M, the lookup table's size. */
  readonly tableSize: number;
  private readonly table: Int32Array;
  // Tables without some members, for priority lists; bounded, rebuilt on demand.
  private readonly reduced = new Map<string, { members: Member[]; table: Int32Array; index: number[] }>();

  constructor(members: readonly MemberInput[], options: MaglevOptions = {}) {
    const ms = normalizeMembers(members);
    super(ms);
    const m = options.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    if (!isPrime(m) || m >= 2 ** 26) throw new OwnershipInputError("tableSize", `must be a prime below 2^26 (Maglev §3.4), got ${String(m)}`);
    if (m < ms.length) throw new OwnershipInputError("tableSize", `must be at least the member count (${ms.length}), got ${m}`);
    this.tableSize = m;
    this.label = `maglev (M=${m})`;
    this.table = ms.length === 0 ? new Int32Array(0) : buildMaglevTable(ms, m);
  }

  ownerIndexOf(hi: number, lo: number): number {
    if (this.members.length === 0) return -1;
    return this.table[mod64(hi, lo, this.tableSize)]!;
  }

  /** Slots held by each member, in member order (the balance before any origin is placed). */
  slotCounts(): number[] {
    const counts = new Array<number>(this.members.length).fill(0);
    for (const i of this.table) counts[i]!++;
    return counts;
  }

  priorityOf(hi: number, lo: number, k: number): number[] {
    checkK(k);
    const result: number[] = [];
    const slot = mod64(hi, lo, this.tableSize);
    while (result.length < k && result.length < this.members.length) {
      if (result.length === 0) {
        result.push(this.table[slot]!);
        continue;
      }
      // The owner once every member picked so far is gone: Maglev's own table for the rest.
      const gone = [...result].sort((a, b) => a - b);
      const key = gone.join(",");
      let r = this.reduced.get(key);
      if (r === undefined) {
        const index = this.members.map((_, i) => i).filter((i) => !gone.includes(i));
        const members = index.map((i) => this.members[i]!);
        r = { members, table: buildMaglevTable(members, this.tableSize), index };
        if (this.reduced.size >= 256) this.reduced.clear();
        this.reduced.set(key, r);
      }
      result.push(r.index[r.table[slot]!]!);
    }
    return result;
  }
}
