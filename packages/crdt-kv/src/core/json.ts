/**
 * Values the store holds are plain JSON. Canonical JSON (object keys sorted)
 * gives every value one spelling, so equal values compare equal and LWW can
 * break a tie between two different values deterministically.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON.stringify with object keys sorted at every level. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x)).join(",")}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/** Deep equality of JSON values via their canonical spelling. */
export function jsonEquals(a: unknown, b: unknown): boolean {
  return a === b || canonicalJson(a) === canonicalJson(b);
}

/**
 * True when `v` is JSON data: finite numbers, strings, booleans, null, arrays
 * and plain objects, nested at most `maxDepth` deep.
 */
export function isJson(v: unknown, maxDepth = 32): v is Json {
  if (maxDepth < 0) return false;
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  if (typeof v === "number") return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isJson(x, maxDepth - 1));
  if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.values(v as Record<string, unknown>).every((x) => isJson(x, maxDepth - 1));
  }
  return false;
}
