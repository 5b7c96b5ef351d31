/**
 * @packageDocumentation
 * `@heck/ownership`: Stage 2 of Heck: which node checks which origin.
 *
 * Every node computes, from the same membership, the same owner for every
 * origin, plus a failover order: rendezvous (highest-random-weight) hashing
 * by default, with weights and optional bounded loads, and the alternatives
 * (a ring with virtual nodes, jump consistent hash, Maglev) behind one
 * {@link OwnershipScheme} interface. The hash is defined exactly (SHA-256,
 * then MurmurHash3's fmix64; see README "The hash") so any implementation can
 * reproduce a table.
 *
 * ```ts
 * import { ownersOf, assign, diff } from "@heck/ownership";
 * ownersOf("https://example.com/health", ["n1", "n2", "n3"], 2); // owner first, then its successor
 * const before = assign(origins, ["n1", "n2", "n3"]);
 * const after = assign(origins, ["n1", "n3"]);
 * diff(before, after).moved; // only n2's origins, each to its own second choice
 * ```
 */
export { OwnershipInputError } from "./core/errors.ts";
export { hashId, fmix64, pairScore, toHex, unitInterval, type Hash64 } from "./core/hash.ts";
export { normalizeMembers, type Member, type MemberId, type MemberInput } from "./core/members.ts";
export { prepareOrigins, type PreparedOrigins } from "./core/origins.ts";
export { SCHEME_NAMES, type OwnershipScheme, type SchemeName } from "./core/scheme.ts";
export { RendezvousScheme, ownersOf } from "./core/rendezvous.ts";
export { RingScheme, DEFAULT_VNODES, type RingOptions } from "./core/ring.ts";
export { JumpScheme, jumpConsistentHash } from "./core/jump.ts";
export { MaglevScheme, DEFAULT_MAGLEV_TABLE_SIZE, buildMaglevTable, type MaglevOptions } from "./core/maglev.ts";
export { createScheme, isSchemeName, type SchemeOptions } from "./core/create-scheme.ts";
export {
  assign,
  assignWith,
  boundedCapacities,
  diff,
  loadStats,
  type AssignOptions,
  type Flow,
  type LoadStats,
  type Move,
  type OwnershipDiff,
  type OwnershipTable,
} from "./core/table.ts";
export { compareSchemes, DEFAULT_BOUNDED_LOAD_EPSILON, type CompareOptions, type ComparisonRow, type MovementFigures } from "./core/compare.ts";
