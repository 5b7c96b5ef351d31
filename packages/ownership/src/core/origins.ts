/**
 * Origins are the things being health-checked (a URL, a host:port). A whole
 * table hashes each origin once; `prepareOrigins` does that up front so a
 * caller that recomputes ownership on every membership change (stage 6) pays
 * the SHA-256 cost once, not once per change.
 */
import { OwnershipInputError } from "./errors.ts";
import { hashId } from "./hash.ts";

/** Validated, de-duplicated origin ids with H(id) precomputed (parallel arrays). */
export interface PreparedOrigins {
  readonly ids: readonly string[];
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
}

/** Validates origins (non-empty strings, no duplicates) and hashes each once. */
export function prepareOrigins(origins: readonly string[], field = "origins"): PreparedOrigins {
  if (!Array.isArray(origins)) throw new OwnershipInputError(field, "must be an array of origin ids");
  const hi = new Uint32Array(origins.length);
  const lo = new Uint32Array(origins.length);
  const seen = new Map<string, number>();
  origins.forEach((o, i) => {
    if (typeof o !== "string" || o.length === 0) throw new OwnershipInputError(`${field}[${i}]`, `must be a non-empty string, got ${JSON.stringify(o)}`);
    const first = seen.get(o);
    if (first !== undefined) throw new OwnershipInputError(`${field}[${i}]`, `duplicate origin ${JSON.stringify(o)} (also at ${field}[${first}])`);
    seen.set(o, i);
    const h = hashId(o);
    hi[i] = h.hi;
    lo[i] = h.lo;
  });
  return { ids: origins.slice(), hi, lo };
}

/** True when `x` is a {@link PreparedOrigins} rather than a plain array of ids. */
export function isPrepared(x: readonly string[] | PreparedOrigins): x is PreparedOrigins {
  return !Array.isArray(x);
}
