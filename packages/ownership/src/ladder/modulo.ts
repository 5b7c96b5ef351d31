/**
 * The first rung of the ownership ladder: `owner = members[H(origin) mod n]`,
 * what everyone writes first. It is even (each member gets n/m origins, give
 * or take the binomial noise) and costs one hash, but n is in the formula:
 * when it changes, almost every origin's residue names another member. With
 * m members going to m - 1, an origin keeps its owner only when H mod m and
 * H mod (m - 1) point at the same survivor, which by the Chinese remainder
 * theorem happens for 1 residue pair in m among the survivors' origins: so
 * (m - 1)/m of all origins move, m - 1 times what had to (the dead member's
 * 1/m). A join moves m/(m + 1) of them. For a health checker that is a storm
 * of hand-overs on every membership change.
 */
import type { Member } from "../core/members.ts";
import type { PreparedOrigins } from "../core/origins.ts";
import type { TableLike } from "../core/table.ts";

const TWO_32 = 4294967296;

/** H mod m for the 64-bit hash (hi:lo), exactly, with no BigInt: (hi * 2^32 + lo) mod m. */
export function hashModulo(hi: number, lo: number, m: number): number {
  if (!Number.isInteger(m) || m < 1 || m > 0x3ffffff) throw new RangeError(`m must be an integer in [1, 2^26), got ${m}`);
  return ((hi % m) * (TWO_32 % m) + (lo % m)) % m;
}

/** The modulo-n table: origin i goes to `members[H(origin i) mod members.length]`. */
export function moduloTable(members: readonly Member[], origins: PreparedOrigins): TableLike {
  const m = members.length;
  if (m === 0) throw new RangeError("modulo placement needs at least one member");
  const counts = new Array<number>(m).fill(0);
  const owners = new Array<string>(origins.ids.length);
  for (let i = 0; i < origins.ids.length; i++) {
    const j = hashModulo(origins.hi[i]!, origins.lo[i]!, m);
    counts[j]!++;
    owners[i] = members[j]!.id;
  }
  return { members, origins: origins.ids, owners, loads: new Map(members.map((x, j) => [x.id, counts[j]!])) };
}
