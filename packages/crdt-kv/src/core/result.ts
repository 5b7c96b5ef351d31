/**
 * Decoders return a typed result instead of throwing from deep inside, so a
 * malformed packet becomes one clear error naming the field (STYLE.md).
 */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** A successful decode. */
export function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

/** A failed decode; `error` names the field, e.g. "delta.state.cc.a: run [3, 1] is not ascending". */
export function fail<T>(error: string): Decoded<T> {
  return { ok: false, error };
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True for a safe integer >= min. */
export function isInt(v: unknown, min = 0): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= min;
}
