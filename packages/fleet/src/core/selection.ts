import type { Parsed } from "./behaviour.ts";

/** The keys a bulk update (`PUT /origins`) uses to pick origins. */
export const SELECTION_FIELDS: ReadonlySet<string> = new Set(["indices", "from", "to", "all"]);

/**
 * Reads which origins a bulk update targets: `"indices": [1, 5, 9]`, or
 * `"from": 0, "to": 99` (both inclusive), or `"all": true`. Exactly one form.
 */
export function parseSelection(input: Record<string, unknown>, count: number): Parsed<number[]> {
  const forms = [input["indices"] !== undefined, input["from"] !== undefined || input["to"] !== undefined, input["all"] !== undefined].filter(Boolean).length;
  if (forms !== 1) return { ok: false, errors: ["selection: give exactly one of indices: [..], from/to, or all: true"] };
  if (input["all"] !== undefined) {
    if (input["all"] !== true) return { ok: false, errors: ["all: must be true"] };
    return { ok: true, value: Array.from({ length: count }, (_, i) => i) };
  }
  if (input["indices"] !== undefined) {
    const raw = input["indices"];
    if (!Array.isArray(raw) || raw.length === 0) return { ok: false, errors: ["indices: must be a non-empty array of origin indices"] };
    const errors: string[] = [];
    raw.forEach((v, k) => {
      if (!isIndex(v, count)) errors.push(`indices[${k}]: must be an integer from 0 to ${count - 1}, got ${JSON.stringify(v)}`);
    });
    return errors.length > 0 ? { ok: false, errors } : { ok: true, value: [...new Set(raw as number[])] };
  }
  const from = input["from"];
  const to = input["to"];
  const errors: string[] = [];
  if (!isIndex(from, count)) errors.push(`from: must be an integer from 0 to ${count - 1}, got ${JSON.stringify(from)}`);
  if (!isIndex(to, count)) errors.push(`to: must be an integer from 0 to ${count - 1}, got ${JSON.stringify(to)}`);
  if (errors.length > 0) return { ok: false, errors };
  if ((to as number) < (from as number)) return { ok: false, errors: [`to: must be >= from (${String(from)}), got ${String(to)}`] };
  const out: number[] = [];
  for (let i = from as number; i <= (to as number); i++) out.push(i);
  return { ok: true, value: out };
}

/** True when `v` is a valid origin index for a fleet of `count`. */
export function isIndex(v: unknown, count: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < count;
}

/**
 * Parses a CLI range list such as `"0-9,15,20-22"` into indices, for
 * `heck-fleet --set 0-9=failing`. Errors name the offending piece.
 */
export function parseIndexList(text: string, count: number): Parsed<number[]> {
  const out = new Set<number>();
  for (const piece of text.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(piece);
    if (!m) return { ok: false, errors: [`"${piece}": expected an index or a range like 3-7`] };
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return { ok: false, errors: [`"${piece}": range end is before its start`] };
    if (b >= count) return { ok: false, errors: [`"${piece}": index ${b} is out of range (the fleet has ${count} origins, 0-${count - 1})`] };
    for (let i = a; i <= b; i++) out.add(i);
  }
  return { ok: true, value: [...out].sort((x, y) => x - y) };
}
