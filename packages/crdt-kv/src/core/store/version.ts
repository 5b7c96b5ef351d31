/**
 * One version of a key: what a single write stored, named by its dot. A key
 * holds several versions only while writes to it are concurrent (siblings).
 *
 * Two write modes share this shape (chosen per write, see kv-state.ts):
 * - "mv": multi-value. Concurrent versions are all kept and returned; a
 *   write with a read's context replaces exactly the versions read.
 * - "lww": last writer wins by (timestamp, delete-beats-write, replica id,
 *   counter). A write that already lost to a visible version is refused; a
 *   delete is a timestamped tombstone version, as in roshi, so an older write
 *   arriving late cannot resurrect the key.
 */
import type { Dot } from "../causality/dot.ts";
import { isValidNodeId } from "../causality/dot.ts";
import { isJson, type Json } from "../json.ts";
import { fail, isInt, ok, type Decoded } from "../result.ts";

/** Per-write conflict mode. */
export type Mode = "lww" | "mv";

/** One stored version. `value` is null for an LWW tombstone. */
export interface Version {
  readonly dot: Dot;
  readonly mode: Mode;
  /** LWW timestamp (caller's clock, e.g. epoch ms or a check time); 0 in MV mode. */
  readonly ts: number;
  /** True for an LWW delete marker. */
  readonly deleted: boolean;
  readonly value: Json | null;
}

/**
 * LWW order between versions; > 0 when `a` wins. Timestamp, then a delete
 * beats a write at the same timestamp, then replica id, then counter: total,
 * so every replica picks the same winner.
 */
export function compareVersions(a: Version, b: Version): number {
  if (a.ts !== b.ts) return a.ts > b.ts ? 1 : -1;
  if (a.deleted !== b.deleted) return a.deleted ? 1 : -1;
  if (a.dot.node !== b.dot.node) return a.dot.node > b.dot.node ? 1 : -1;
  return a.dot.counter - b.dot.counter;
}

/** Wire form: [node, counter, "m", value] | [node, counter, "l", ts, value] | [node, counter, "d", ts]. */
export type EncodedVersion = [string, number, "m", Json] | [string, number, "l", number, Json] | [string, number, "d", number];

/** Encodes one version. */
export function encodeVersion(v: Version): EncodedVersion {
  if (v.mode === "mv") return [v.dot.node, v.dot.counter, "m", v.value as Json];
  if (v.deleted) return [v.dot.node, v.dot.counter, "d", v.ts];
  return [v.dot.node, v.dot.counter, "l", v.ts, v.value as Json];
}

/** Decodes and validates one version; `field` names it in errors. */
export function decodeVersion(json: unknown, field: string): Decoded<Version> {
  if (!Array.isArray(json) || json.length < 4) return fail(`${field}: expected [node, counter, kind, ...]`);
  const [node, counter, kind] = json as unknown[];
  if (!isValidNodeId(node)) return fail(`${field}[0]: bad replica id`);
  if (!isInt(counter, 1)) return fail(`${field}[1]: counter must be an integer >= 1`);
  const dot = { node, counter };
  if (kind === "m") {
    if (json.length !== 4 || !isJson(json[3])) return fail(`${field}: mv version must be [node, counter, "m", value] with a JSON value`);
    return ok({ dot, mode: "mv", ts: 0, deleted: false, value: json[3] });
  }
  if (kind === "l" || kind === "d") {
    const ts = json[3];
    if (typeof ts !== "number" || !Number.isFinite(ts)) return fail(`${field}[3]: timestamp must be a finite number`);
    if (kind === "d") {
      if (json.length !== 4) return fail(`${field}: delete marker must be [node, counter, "d", ts]`);
      return ok({ dot, mode: "lww", ts, deleted: true, value: null });
    }
    if (json.length !== 5 || !isJson(json[4])) return fail(`${field}: lww version must be [node, counter, "l", ts, value] with a JSON value`);
    return ok({ dot, mode: "lww", ts, deleted: false, value: json[4] });
  }
  return fail(`${field}[2]: kind must be "m", "l" or "d"`);
}
