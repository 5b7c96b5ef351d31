/**
 * The ownership table as one agent sees it: for every origin, the top-k
 * alive members in rendezvous (highest-random-weight) order. Every agent
 * computes it from its own membership view, with no messages: agents with
 * the same view compute the same table (Thaler and Ravishankar 1998, the
 * rendezvous property). The hashing itself comes from `@heck/ownership`
 * through {@link OwnershipScheme}; this file only caches and diffs.
 */
import type { MemberId, OwnershipEntry } from "./types.ts";

/**
 * What v2 needs from an ownership scheme: the top-k members of an origin in
 * priority order. Must be deterministic and independent of the order of
 * `members` (the `@heck/ownership` properties guarantee both).
 */
export interface OwnershipScheme {
  ownersOf(originId: string, members: readonly MemberId[], k: number): MemberId[];
}

/** Where one origin moved when the view changed. */
export interface OwnerMove {
  originId: string;
  from: MemberId | undefined;
  to: MemberId | undefined;
}

/**
 * A cached table of owners for the current member list. Recomputing is
 * O(origins x members) hash evaluations, so it is done once per view change
 * and per added origin, never per query.
 */
export class OwnershipView {
  private membersSorted: MemberId[] = [];
  private memberSet = new Set<MemberId>();
  private readonly owners = new Map<string, MemberId[]>();

  constructor(
    private readonly scheme: OwnershipScheme,
    /** Replication factor k: how many members each origin lists (primary first). */
    readonly replicas: number,
  ) {
    if (!Number.isInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be an integer >= 1, got ${replicas}`);
  }

  /** The members the table is computed over, sorted. */
  members(): readonly MemberId[] {
    return this.membersSorted;
  }

  /** True when `member` is in the view (alive or suspect). */
  hasMember(member: MemberId): boolean {
    return this.memberSet.has(member);
  }

  /** A stable key for the member list (equal views have equal keys). */
  viewKey(): string {
    return this.membersSorted.join(",");
  }

  /**
   * Replaces the member list and recomputes every origin's owners. Returns
   * the origins whose primary changed (for metrics and the "minimal
   * movement" tests). A no-op when the list is the same set.
   */
  setMembers(members: readonly MemberId[]): OwnerMove[] {
    const sorted = [...new Set(members)].sort();
    if (sorted.length === this.membersSorted.length && sorted.every((m, i) => m === this.membersSorted[i])) return [];
    this.membersSorted = sorted;
    this.memberSet = new Set(sorted);
    const moves: OwnerMove[] = [];
    for (const [originId, before] of this.owners) {
      const after = this.compute(originId);
      this.owners.set(originId, after);
      if (before[0] !== after[0]) moves.push({ originId, from: before[0], to: after[0] });
    }
    return moves;
  }

  /** Adds an origin (or recomputes it) and returns its owners. */
  addOrigin(originId: string): MemberId[] {
    const owners = this.compute(originId);
    this.owners.set(originId, owners);
    return owners;
  }

  /** Forgets an origin. */
  removeOrigin(originId: string): void {
    this.owners.delete(originId);
  }

  /** The top-k owners of a known origin (empty when no member is alive or the origin is unknown). */
  ownersOf(originId: string): readonly MemberId[] {
    return this.owners.get(originId) ?? [];
  }

  /** 0 for the primary, 1.. for backups, -1 when `member` is not among the top k. */
  rankOf(originId: string, member: MemberId): number {
    return this.ownersOf(originId).indexOf(member);
  }

  /** The whole table, sorted by origin id (for the API and the dashboard). */
  table(): OwnershipEntry[] {
    return [...this.owners.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([originId, owners]) => ({ originId, owners: [...owners] }));
  }

  /** How many origins each member is primary for (members with none included). */
  load(): Map<MemberId, number> {
    const load = new Map<MemberId, number>(this.membersSorted.map((m) => [m, 0]));
    for (const owners of this.owners.values()) {
      const p = owners[0];
      if (p !== undefined) load.set(p, (load.get(p) ?? 0) + 1);
    }
    return load;
  }

  private compute(originId: string): MemberId[] {
    if (this.membersSorted.length === 0) return [];
    return this.scheme.ownersOf(originId, this.membersSorted, Math.min(this.replicas, this.membersSorted.length));
  }
}
