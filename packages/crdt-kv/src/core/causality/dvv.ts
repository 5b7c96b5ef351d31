/**
 * Dotted version vectors (Preguiça, Baquero, Almeida, Fonte, Gonçalves,
 * "Dotted Version Vectors: Logical Clocks for Optimistic Replication", 2010,
 * §4-5). A DVV is a dot plus a version vector: the dot names one write, the
 * vector summarises what that write's client had seen. Separating the two is
 * the whole trick: a plain version vector must count the new write into the
 * same vector, so it cannot say "I saw a:1..3 and I am a:7", and concurrent
 * writes through one server look ordered (lost updates) or pile up forever
 * (sibling explosion). With a DVV, a new write obsoletes exactly the versions
 * its client saw.
 *
 * In the store every sibling is identified by its dot and the context a
 * client sends back is the set of dots it read; {@link dvvObsoletes} is the
 * rule the MV register applies when a write with that context arrives.
 */
import { compareDots, type Dot } from "./dot.ts";
import { vvCovers, vvJoin, type VersionVector } from "./version-vector.ts";

/** One write's clock: its own dot and the (gap-free) history its writer had seen. */
export interface Dvv {
  readonly dot: Dot;
  readonly past: VersionVector;
}

/** True when the history of `dvv` (its past plus its dot) contains `dot`. */
export function dvvCovers(dvv: Dvv, dot: Dot): boolean {
  return compareDots(dvv.dot, dot) === 0 || vvCovers(dvv.past, dot);
}

/**
 * True when the write `newer` makes `older` obsolete: `older`'s dot is in
 * `newer`'s history. This is the DVV paper's ordering (§5): comparing one dot
 * against one vector, O(1), instead of comparing two whole vectors.
 */
export function dvvObsoletes(newer: Dvv, older: Dvv): boolean {
  return compareDots(newer.dot, older.dot) !== 0 && vvCovers(newer.past, older.dot);
}

/** Two writes are concurrent when neither's history contains the other's dot. */
export function dvvConcurrent(a: Dvv, b: Dvv): boolean {
  return !dvvCovers(a, b.dot) && !dvvCovers(b, a.dot);
}

/**
 * The version vector that summarises a set of sibling DVVs: what a client
 * reading all of them has seen. Each dot is folded in only when it extends a
 * gap-free prefix, so the result never claims a dot nobody wrote.
 */
export function dvvJoinAll(siblings: readonly Dvv[]): VersionVector {
  let vv: VersionVector = new Map();
  for (const s of siblings) vv = vvJoin(vv, s.past);
  // Fold dots in counter order so consecutive dots (a:3 then a:4) both extend the prefix.
  const dots = siblings.map((s) => s.dot).sort(compareDots);
  const out = new Map(vv);
  for (const d of dots) if ((out.get(d.node) ?? 0) === d.counter - 1) out.set(d.node, d.counter);
  return out;
}

/** True when `a`'s whole history (past and dot) is contained in `b`'s. */
export function dvvDescendedBy(a: Dvv, b: Dvv): boolean {
  if (!dvvCovers(b, a.dot)) return false;
  for (const [node, n] of a.past) {
    const have = b.past.get(node) ?? 0;
    if (n <= have) continue;
    // b's own dot extends its past by one when it directly follows it.
    if (node === b.dot.node && n === b.dot.counter && have === n - 1) continue;
    return false;
  }
  return true;
}
