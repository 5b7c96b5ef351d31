/**
 * The one interface every ownership scheme implements, so tables, diffs, the
 * CLI's `compare` and the benchmark treat rendezvous, the ring, jump hash and
 * Maglev alike.
 *
 * The priority list is defined the same way for every scheme: entry i is the
 * member that owns the origin once entries 0..i-1 are gone. That is the
 * failover order a health checker needs (who takes over when the owner
 * dies). Rendezvous and the ring get it for free (sort by score; walk
 * clockwise); jump hash and Maglev compute it by removing members.
 */
import { checkK } from "./errors.ts";
import { hashId } from "./hash.ts";
import type { Member, MemberId } from "./members.ts";

/** The schemes this package implements. */
export type SchemeName = "rendezvous" | "ring" | "jump" | "maglev";

/** Every scheme name, in the order the CLI and the benchmark print them. */
export const SCHEME_NAMES: readonly SchemeName[] = ["rendezvous", "ring", "jump", "maglev"];

/** A deterministic map from origins to members, with a failover order. */
export interface OwnershipScheme {
  /** Which algorithm this is. */
  readonly name: SchemeName;
  /** The validated membership, in the caller's order. */
  readonly members: readonly Member[];
  /** A short label with the parameters, e.g. "ring (160 vnodes)". */
  readonly label: string;
  /** The owner of `origin`, or undefined when there are no members. */
  ownerOf(origin: string): MemberId | undefined;
  /** The first min(k, members) members in failover order; entry 0 is the owner. */
  ownersOf(origin: string, k: number): MemberId[];
  /** Index into `members` of the owner of an origin with hash (hi:lo); -1 with no members. */
  ownerIndexOf(hi: number, lo: number): number;
  /** Failover order as indices into `members` for an origin with hash (hi:lo). */
  priorityOf(hi: number, lo: number, k: number): number[];
}

/** Shared plumbing: string-level lookups in terms of the hashed-origin methods. */
export abstract class BaseScheme implements OwnershipScheme {
  abstract readonly name: SchemeName;
  abstract readonly label: string;
  readonly members: readonly Member[];

  protected constructor(members: readonly Member[]) {
    this.members = members;
  }

  abstract ownerIndexOf(hi: number, lo: number): number;
  abstract priorityOf(hi: number, lo: number, k: number): number[];

  ownerOf(origin: string): MemberId | undefined {
    const h = hashId(origin);
    return this.members[this.ownerIndexOf(h.hi, h.lo)]?.id;
  }

  ownersOf(origin: string, k: number): MemberId[] {
    checkK(k);
    const h = hashId(origin);
    return this.priorityOf(h.hi, h.lo, k).map((i) => this.members[i]!.id);
  }
}
