/**
 * Every scheme side by side on the same input: how even the load is, and
 * what moves when one member dies and when one joins. This is the table the
 * CLI's `compare` prints; the benchmark adds timings around the same idea.
 *
 * "Optimal" movement is the least any scheme that keeps load even can do:
 * when one of m members goes, its n/m origins must move; when one joins a
 * group of m, it must take n/(m+1) (with weights: its share n * w / W). A
 * ratio of 1 is minimal disruption; a single run lands near 1, not on it,
 * because a member's actual load varies around its fair share.
 * "Collateral" counts moves between two members that were there before and
 * after: the part of the movement that was not necessary at all.
 */
import { OwnershipInputError } from "./errors.ts";
import { createScheme, type SchemeOptions } from "./create-scheme.ts";
import { normalizeMembers, type Member, type MemberInput } from "./members.ts";
import { isPrepared, prepareOrigins, type PreparedOrigins } from "./origins.ts";
import { SCHEME_NAMES, type SchemeName } from "./scheme.ts";
import { assignWith, diff, loadStats, type LoadStats, type TableLike } from "./table.ts";

/** Options of {@link compareSchemes}. */
export interface CompareOptions extends SchemeOptions {
  /** The member that dies; default the first in the list (for jump: bucket 0, the hard case). */
  readonly remove?: string;
  /** The member that joins (weight 1); default "new" (or "new-2", ... if taken). */
  readonly add?: string;
  /** Also show rendezvous with bounded loads at this eps (default 0.05); null leaves that row out. */
  readonly boundedLoadEpsilon?: number | null;
  /** Which schemes to compare; default all. */
  readonly schemes?: readonly SchemeName[];
}

/** Movement on one membership change. */
export interface MovementFigures {
  /** The member removed or added. */
  readonly member: string;
  /** Origins that changed owner. */
  readonly moved: number;
  /** The unavoidable movement: n/m on remove, n/(m+1) on add. */
  readonly optimal: number;
  /** moved / optimal: 1.0 is minimal disruption. */
  readonly movedOverOptimal: number;
  /** Moves between members present before and after (unnecessary ones). */
  readonly collateral: number;
}

/** One line of the comparison. `unsupported` explains a scheme that cannot take this input. */
export interface ComparisonRow {
  readonly scheme: SchemeName;
  readonly label: string;
  readonly boundedLoadEpsilon?: number;
  readonly load?: LoadStats;
  readonly remove?: MovementFigures;
  readonly add?: MovementFigures;
  readonly unsupported?: string;
}

/** Default eps of the bounded-loads row: the design target of max/mean <= 1.05, tight enough that the cap visibly bites. */
export const DEFAULT_BOUNDED_LOAD_EPSILON = 0.05;

/**
 * The movement between `before` and `after` on one membership change:
 * origins moved, against the `optimal` that had to, and the collateral.
 */
export function movementFigures(before: TableLike, after: TableLike, member: string, optimal: number): MovementFigures {
  const d = diff(before, after);
  return { member, moved: d.moved.length, optimal, movedOverOptimal: optimal === 0 ? 0 : d.moved.length / optimal, collateral: d.collateral };
}

function pickNewId(members: readonly Member[]): string {
  const ids = new Set(members.map((m) => m.id));
  if (!ids.has("new")) return "new";
  let i = 2;
  while (ids.has(`new-${i}`)) i++;
  return `new-${i}`;
}

/** Runs every scheme (plus rendezvous with bounded loads) on the same origins and membership changes. */
export function compareSchemes(origins: readonly string[] | PreparedOrigins, members: readonly MemberInput[], options: CompareOptions = {}): ComparisonRow[] {
  const prepared = isPrepared(origins) ? origins : prepareOrigins(origins);
  const ms = normalizeMembers(members);
  if (ms.length < 2) throw new OwnershipInputError("members", `compare needs at least 2 members (one is removed), got ${ms.length}`);
  const removeId = options.remove ?? ms[0]!.id;
  if (!ms.some((m) => m.id === removeId)) throw new OwnershipInputError("remove", `${JSON.stringify(removeId)} is not a member`);
  const addId = options.add ?? pickNewId(ms);
  if (ms.some((m) => m.id === addId)) throw new OwnershipInputError("add", `${JSON.stringify(addId)} is already a member`);
  // Removal keeps the others' order (jump numbers buckets by it); a newcomer is appended.
  const afterRemove = ms.filter((m) => m.id !== removeId);
  const afterAdd = [...ms, { id: addId, weight: 1 }];
  const n = prepared.ids.length;
  const totalWeight = ms.reduce((s, m) => s + m.weight, 0);
  const removedWeight = ms.find((m) => m.id === removeId)!.weight;
  const eps = options.boundedLoadEpsilon === undefined ? DEFAULT_BOUNDED_LOAD_EPSILON : options.boundedLoadEpsilon;

  const variants: Array<{ scheme: SchemeName; eps?: number }> = [];
  for (const s of options.schemes ?? SCHEME_NAMES) {
    variants.push({ scheme: s });
    if (s === "rendezvous" && eps !== null) variants.push({ scheme: s, eps });
  }
  return variants.map(({ scheme, eps: e }): ComparisonRow => {
    let before;
    try {
      before = createScheme(scheme, ms, options);
    } catch (err) {
      if (err instanceof OwnershipInputError) return { scheme, label: scheme, unsupported: err.message };
      throw err;
    }
    const t0 = assignWith(before, prepared, e);
    const tRemove = assignWith(createScheme(scheme, afterRemove, options), prepared, e);
    const tAdd = assignWith(createScheme(scheme, afterAdd, options), prepared, e);
    const figures = (after: typeof t0, member: string, optimal: number): MovementFigures => movementFigures(t0, after, member, optimal);
    return {
      scheme,
      label: t0.label,
      ...(e === undefined ? {} : { boundedLoadEpsilon: e }),
      load: loadStats(t0),
      // The dead member's fair share must move; the newcomer must take its fair share.
      remove: figures(tRemove, removeId, (n * removedWeight) / totalWeight),
      add: figures(tAdd, addId, n / (totalWeight + 1)),
    };
  });
}
