/**
 * One factory for every scheme, so callers (the table functions, the CLI, the
 * benchmark) pick an algorithm by name.
 */
import { OwnershipInputError } from "./errors.ts";
import { JumpScheme } from "./jump.ts";
import { MaglevScheme } from "./maglev.ts";
import type { MemberInput } from "./members.ts";
import { RendezvousScheme } from "./rendezvous.ts";
import { RingScheme } from "./ring.ts";
import { SCHEME_NAMES, type OwnershipScheme, type SchemeName } from "./scheme.ts";

/** Parameters of the schemes that have any; each is ignored by the others. */
export interface SchemeOptions {
  /** Ring: virtual nodes per member of average weight (default 160). */
  readonly vnodes?: number;
  /** Maglev: lookup-table size, a prime (default 65537). */
  readonly maglevTableSize?: number;
}

/** True when `name` is one of {@link SCHEME_NAMES}. */
export function isSchemeName(name: unknown): name is SchemeName {
  return typeof name === "string" && (SCHEME_NAMES as readonly string[]).includes(name);
}

/** Builds the named scheme over `members`; throws {@link OwnershipInputError} on bad input. */
export function createScheme(name: SchemeName, members: readonly MemberInput[], options: SchemeOptions = {}): OwnershipScheme {
  switch (name) {
    case "rendezvous":
      return new RendezvousScheme(members);
    case "ring":
      return new RingScheme(members, options.vnodes === undefined ? {} : { vnodes: options.vnodes });
    case "jump":
      return new JumpScheme(members);
    case "maglev":
      return new MaglevScheme(members, options.maglevTableSize === undefined ? {} : { tableSize: options.maglevTableSize });
    default:
      throw new OwnershipInputError("scheme", `must be one of ${SCHEME_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
  }
}
