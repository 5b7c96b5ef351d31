/**
 * Members are the nodes that can own origins. Each has an id (what every node
 * agrees on through membership, e.g. a SWIM member name) and a weight
 * (relative capacity: a member of weight 2 should own twice as many origins
 * as one of weight 1).
 */
import { OwnershipInputError } from "./errors.ts";
import { hashId, type Hash64 } from "./hash.ts";

/** A member's id: a non-empty string, unique within a membership. */
export type MemberId = string;

/** A validated member: its id and its weight (a finite number > 0; 1 by default). */
export interface Member {
  readonly id: MemberId;
  readonly weight: number;
}

/** What callers may pass: a bare id (weight 1) or `{ id, weight }`. */
export type MemberInput = MemberId | { readonly id: MemberId; readonly weight?: number };

/**
 * Validates and normalizes a membership: ids non-empty and unique, weights
 * finite and > 0. Keeps the caller's order (jump hash numbers buckets by it).
 */
export function normalizeMembers(input: readonly MemberInput[], field = "members"): Member[] {
  if (!Array.isArray(input)) throw new OwnershipInputError(field, "must be an array of member ids or { id, weight } objects");
  const seen = new Map<string, number>();
  return input.map((m, i) => {
    const id: unknown = typeof m === "string" ? m : (m as { id?: unknown } | null)?.id;
    const weight: unknown = typeof m === "string" ? 1 : ((m as { weight?: unknown } | null)?.weight ?? 1);
    const at = typeof m === "string" ? `${field}[${i}]` : `${field}[${i}].id`;
    if (typeof id !== "string" || id.length === 0) throw new OwnershipInputError(at, `must be a non-empty string, got ${JSON.stringify(id)}`);
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0) {
      throw new OwnershipInputError(`${field}[${i}].weight`, `must be a finite number > 0, got ${String(weight)}`);
    }
    const first = seen.get(id);
    if (first !== undefined) throw new OwnershipInputError(`${field}[${i}]`, `duplicate member id ${JSON.stringify(id)} (also at ${field}[${first}])`);
    seen.set(id, i);
    return { id, weight };
  });
}

/** True when every member has the same weight (then schemes use their exact, unweighted form). */
export function uniformWeights(members: readonly Member[]): boolean {
  return members.every((m) => m.weight === members[0]!.weight);
}

/** Member ids hashed once: H(id) halves in parallel typed arrays, for the hot loops. */
export interface HashedMembers {
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
}

/** Hashes every member id once (H from hash.ts). */
export function hashMembers(members: readonly Member[], hash: (id: string) => Hash64 = hashId): HashedMembers {
  const hi = new Uint32Array(members.length);
  const lo = new Uint32Array(members.length);
  members.forEach((m, i) => {
    const h = hash(m.id);
    hi[i] = h.hi;
    lo[i] = h.lo;
  });
  return { hi, lo };
}

/** Code-unit order of ids: the tie-breaker every scheme uses so input order never matters. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
