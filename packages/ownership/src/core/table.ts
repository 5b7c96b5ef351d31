/**
 * Whole tables: who owns every origin, how even the load is, and what moves
 * between two tables. This is what a health checker recomputes on every
 * membership change, and what the CLI prints.
 *
 * Bounded loads (Mirrokni, Thorup and Zadimoghaddam, "Consistent hashing with
 * bounded loads", SODA 2018): every member gets a capacity of
 * ceil((1 + eps) * n * w / W) origins (n origins, w its weight, W the total),
 * and an origin whose first choice is full goes to the next member in its own
 * priority list with room. The paper walks the ring clockwise; over
 * rendezvous the walk is the origin's failover order, which spreads the
 * overflow over all members instead of onto ring neighbours. The paper places
 * balls in arrival order; we place origins in order of H(origin) (then id), so
 * the table depends only on the sets of origins and members, and every node
 * computes the same one.
 */
import { OwnershipInputError } from "./errors.ts";
import { createScheme, type SchemeOptions } from "./create-scheme.ts";
import type { Member, MemberId, MemberInput } from "./members.ts";
import { isPrepared, prepareOrigins, type PreparedOrigins } from "./origins.ts";
import type { OwnershipScheme, SchemeName } from "./scheme.ts";

/** Options of {@link assign}: which scheme, its parameters, and bounded loads. */
export interface AssignOptions extends SchemeOptions {
  /** The algorithm; default "rendezvous". */
  readonly scheme?: SchemeName;
  /**
   * Bounded loads: cap every member at ceil((1 + eps) * n * w / W) origins.
   * Smaller eps: flatter load but more origins away from their first choice
   * and more movement on changes (the paper's bound grows as 1/eps^2). Rendezvous
   * and ring only. Unset: no cap.
   */
  readonly boundedLoadEpsilon?: number;
}

/** Who owns each origin: `owners[i]` owns `origins[i]`. */
export interface OwnershipTable {
  readonly scheme: SchemeName;
  /** The scheme with its parameters, e.g. "ring (160 vnodes)", plus " + bounded loads (eps=0.25)". */
  readonly label: string;
  readonly members: readonly Member[];
  readonly origins: readonly string[];
  readonly owners: readonly MemberId[];
  /** Origins owned per member, in member order (0 for members that own none). */
  readonly loads: ReadonlyMap<MemberId, number>;
  /** Set when the table was built with bounded loads. */
  readonly boundedLoadEpsilon?: number;
  /** Each member's cap, when built with bounded loads. */
  readonly capacities?: ReadonlyMap<MemberId, number>;
}

/** What {@link diff} and {@link loadStats} read of a table: any placement of origins on members can be measured. */
export type TableLike = Pick<OwnershipTable, "members" | "origins" | "owners" | "loads">;

/** ceil(x), except that x within float noise of an integer is that integer ((1.05 * 1000) is 1050.0000000000002). */
function ceilTolerant(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) <= 1e-9 * Math.max(1, Math.abs(x)) ? r : Math.ceil(x);
}

/** Each member's bounded-load capacity ceil((1 + eps) * n * w / W), in member order. */
export function boundedCapacities(members: readonly Member[], originCount: number, epsilon: number): number[] {
  const total = members.reduce((s, m) => s + m.weight, 0);
  return members.map((m) => ceilTolerant(((1 + epsilon) * originCount * m.weight) / total));
}

function checkEpsilon(epsilon: number): void {
  if (typeof epsilon !== "number" || !Number.isFinite(epsilon) || epsilon < 0) {
    throw new OwnershipInputError("boundedLoadEpsilon", `must be a finite number >= 0, got ${String(epsilon)}`);
  }
}

/**
 * Assigns every origin to one owner. `origins` may be plain ids or the
 * result of {@link prepareOrigins} (hashed once, reusable across calls).
 * Throws {@link OwnershipInputError} on bad input or on origins with no members.
 */
export function assign(origins: readonly string[] | PreparedOrigins, members: readonly MemberInput[], options: AssignOptions = {}): OwnershipTable {
  const scheme = createScheme(options.scheme ?? "rendezvous", members, options);
  return assignWith(scheme, origins, options.boundedLoadEpsilon);
}

/** Like {@link assign}, with a scheme already built (the benchmark reuses one across runs). */
export function assignWith(scheme: OwnershipScheme, origins: readonly string[] | PreparedOrigins, boundedLoadEpsilon?: number): OwnershipTable {
  const prepared = isPrepared(origins) ? origins : prepareOrigins(origins);
  const members = scheme.members;
  const n = prepared.ids.length;
  if (n > 0 && members.length === 0) throw new OwnershipInputError("members", "at least one member is needed to own origins");
  const ownerIndex = new Int32Array(n);
  for (let i = 0; i < n; i++) ownerIndex[i] = scheme.ownerIndexOf(prepared.hi[i]!, prepared.lo[i]!);

  let capacities: number[] | undefined;
  if (boundedLoadEpsilon !== undefined) {
    checkEpsilon(boundedLoadEpsilon);
    if (scheme.name !== "rendezvous" && scheme.name !== "ring") {
      throw new OwnershipInputError("boundedLoadEpsilon", `bounded loads need a cheap priority list: rendezvous or ring, not ${scheme.name}`);
    }
    capacities = boundedCapacities(members, n, boundedLoadEpsilon);
    placeWithBoundedLoads(scheme, prepared, ownerIndex, capacities);
  }

  const counts = new Array<number>(members.length).fill(0);
  const owners = new Array<MemberId>(n);
  for (let i = 0; i < n; i++) {
    counts[ownerIndex[i]!]!++;
    owners[i] = members[ownerIndex[i]!]!.id;
  }
  const base = {
    scheme: scheme.name,
    label: boundedLoadEpsilon === undefined ? scheme.label : `${scheme.label} + bounded loads (eps=${boundedLoadEpsilon})`,
    members,
    origins: prepared.ids,
    owners,
    loads: new Map(members.map((m, j) => [m.id, counts[j]!])),
  };
  return capacities === undefined
    ? base
    : { ...base, boundedLoadEpsilon: boundedLoadEpsilon!, capacities: new Map(members.map((m, j) => [m.id, capacities[j]!])) };
}

/**
 * Mirrokni et al.'s placement over the scheme's priority lists. `ownerIndex`
 * holds each origin's first choice on entry and its bounded owner on return.
 */
function placeWithBoundedLoads(scheme: OwnershipScheme, origins: PreparedOrigins, ownerIndex: Int32Array, capacities: readonly number[]): void {
  const { hi, lo, ids } = origins;
  const order = Array.from({ length: ids.length }, (_, i) => i);
  order.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || (ids[a]! < ids[b]! ? -1 : 1));
  const load = new Array<number>(capacities.length).fill(0);
  for (const i of order) {
    let j = ownerIndex[i]!;
    if (load[j]! >= capacities[j]!) {
      // First choice full: walk the origin's own failover order. Capacities sum
      // to at least n, so some member always has room.
      const list = scheme.priorityOf(hi[i]!, lo[i]!, capacities.length);
      j = list.find((c) => load[c]! < capacities[c]!)!;
      ownerIndex[i] = j;
    }
    load[j]!++;
  }
}

/** Balance of a table. Loads are normalized by each member's fair share n * w / W. */
export interface LoadStats {
  readonly origins: number;
  readonly members: number;
  /** The fair share of an average member, n / m. */
  readonly mean: number;
  /** Largest and smallest load (raw counts). */
  readonly max: number;
  readonly min: number;
  /** max over members of load / fair share: 1.0 is perfect balance. */
  readonly maxOverMean: number;
  /** Standard deviation of load / fair share, in percent (the papers' "load deviation"). */
  readonly stdDevPct: number;
}

/** Load statistics of a table (all zero for an empty one). */
export function loadStats(table: TableLike): LoadStats {
  const n = table.origins.length;
  const m = table.members.length;
  if (n === 0 || m === 0) return { origins: n, members: m, mean: 0, max: 0, min: 0, maxOverMean: 0, stdDevPct: 0 };
  const total = table.members.reduce((s, x) => s + x.weight, 0);
  const ratios = table.members.map((x) => (table.loads.get(x.id) ?? 0) / ((n * x.weight) / total));
  const meanRatio = ratios.reduce((s, r) => s + r, 0) / m;
  const variance = ratios.reduce((s, r) => s + (r - meanRatio) ** 2, 0) / m;
  const loads = [...table.loads.values()];
  return {
    origins: n,
    members: m,
    mean: n / m,
    max: Math.max(...loads),
    min: Math.min(...loads),
    maxOverMean: Math.max(...ratios),
    stdDevPct: Math.sqrt(variance) * 100,
  };
}

/** One origin that changed owner. */
export interface Move {
  readonly origin: string;
  readonly from: MemberId;
  readonly to: MemberId;
}

/** How many origins went from one member to another. */
export interface Flow {
  readonly from: MemberId;
  readonly to: MemberId;
  readonly count: number;
}

/** What changed between two tables. */
export interface OwnershipDiff {
  /** Origins present in both tables. */
  readonly origins: number;
  /** Origins whose owner changed, in the order of `after.origins`. */
  readonly moved: readonly Move[];
  /** `moved` grouped by (from, to), largest first. */
  readonly flows: readonly Flow[];
  /** Member ids only in `before` / only in `after`. */
  readonly membersRemoved: readonly MemberId[];
  readonly membersAdded: readonly MemberId[];
  /**
   * Moves between two members present in both tables: none of them was forced
   * by a departure or claimed by a newcomer. Zero for a minimally disruptive
   * scheme on an add or a remove.
   */
  readonly collateral: number;
  /** Origins in only one of the tables. */
  readonly onlyBefore: readonly string[];
  readonly onlyAfter: readonly string[];
}

/** Which origins moved between two tables, from whom to whom. */
export function diff(before: TableLike, after: TableLike): OwnershipDiff {
  const beforeOwner = new Map<string, MemberId>();
  before.origins.forEach((o, i) => beforeOwner.set(o, before.owners[i]!));
  const beforeIds = new Set(before.members.map((m) => m.id));
  const afterIds = new Set(after.members.map((m) => m.id));
  const moved: Move[] = [];
  const onlyAfter: string[] = [];
  const seen = new Set<string>();
  let collateral = 0;
  const flowCounts = new Map<string, Flow>();
  after.origins.forEach((origin, i) => {
    const from = beforeOwner.get(origin);
    if (from === undefined) {
      onlyAfter.push(origin);
      return;
    }
    seen.add(origin);
    const to = after.owners[i]!;
    if (from === to) return;
    moved.push({ origin, from, to });
    if (afterIds.has(from) && beforeIds.has(to)) collateral++;
    const key = JSON.stringify([from, to]);
    const f = flowCounts.get(key);
    flowCounts.set(key, { from, to, count: (f?.count ?? 0) + 1 });
  });
  const flows = [...flowCounts.values()].sort((a, b) => b.count - a.count || (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
  return {
    origins: seen.size,
    moved,
    flows,
    membersRemoved: before.members.filter((m) => !afterIds.has(m.id)).map((m) => m.id),
    membersAdded: after.members.filter((m) => !beforeIds.has(m.id)).map((m) => m.id),
    collateral,
    onlyBefore: before.origins.filter((o) => !seen.has(o)),
    onlyAfter,
  };
}
