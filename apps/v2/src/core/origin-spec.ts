/**
 * Helpers for origin specs. Validation itself is v1-checker's `parseTarget`
 * (the engine that checks the origin is the one that judges its fields), so
 * an origin accepted by one agent is accepted by all.
 */
import type { OriginSpec } from "./types.ts";

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** Two specs describe the same check, whatever their key order (used to skip no-op updates from the store). */
export function sameSpec(a: OriginSpec, b: OriginSpec): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
