/**
 * What a node makes durable, as text: a snapshot (the whole state, the
 * delta log, the sequence counter and the peers' acknowledgements) plus a
 * write-ahead log of records, one per delta the node joined since the
 * snapshot. Replaying is just joining again: joins are idempotent, so a
 * record replayed twice (a crash between writing a snapshot and truncating
 * the log) changes nothing.
 *
 * The same text serves the real disk (src/io/disk.ts: snapshot file written
 * atomically, records appended and fsynced before a write is acknowledged)
 * and the simulation runner (`persisted()` returns it after every step).
 */
import { isValidNodeId } from "../causality/dot.ts";
import { fail, isInt, isObject, ok, type Decoded } from "../result.ts";
import { decodeDelta, encodeDeltaText, type KvDelta } from "./kv-state.ts";

/** One WAL record: a joined delta, with its log position when it was logged. */
export interface WalRecord {
  /** Log sequence number, or null for a join that was not logged (state-based sync). */
  readonly seq: number | null;
  readonly origin: string | null;
  readonly delta: KvDelta;
}

/** A snapshot's content. */
export interface Snapshot {
  readonly id: string;
  readonly c: number;
  readonly state: KvDelta;
  readonly log: ReadonlyArray<{ seq: number; origin: string | null; delta: KvDelta }>;
  readonly acks: ReadonlyArray<[string, number]>;
}

/** An immutable list of records, newest first: persisted() shares it instead of copying. */
export interface WalList {
  readonly record: string;
  readonly prev: WalList | null;
}

/** The durable image the simulation runner keeps across a crash. */
export interface KvPersisted {
  readonly snapshot: string | null;
  readonly wal: WalList | null;
  /** Chosen when the replica first started with nothing; kept for life (see messages.ts `inc`). */
  readonly incarnation?: string;
}

/** Encodes one record as a single line of JSON. */
export function encodeRecord(r: WalRecord): string {
  return `${JSON.stringify({ seq: r.seq, origin: r.origin }).slice(0, -1)},"delta":${encodeDeltaText(r.delta)}}`;
}

/** Decodes a record line. */
export function decodeRecord(line: string): Decoded<WalRecord> {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    return fail(`record: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) return fail("record: expected an object");
  if (json.seq !== null && !isInt(json.seq)) return fail("record.seq: expected an integer or null");
  if (json.origin !== null && typeof json.origin !== "string") return fail("record.origin: expected a string or null");
  const delta = decodeDelta(json.delta, "record.delta");
  if (!delta.ok) return delta;
  return ok({ seq: json.seq as number | null, origin: json.origin as string | null, delta: delta.value });
}

/** Encodes a snapshot. */
export function encodeSnapshot(s: Snapshot): string {
  const log = s.log.map((e) => `[${e.seq},${JSON.stringify(e.origin)},${encodeDeltaText(e.delta)}]`).join(",");
  return `${JSON.stringify({ v: 1, id: s.id, c: s.c, acks: s.acks }).slice(0, -1)},"state":${encodeDeltaText(s.state)},"log":[${log}]}`;
}

/** Decodes a snapshot, validating every field. */
export function decodeSnapshot(text: string): Decoded<Snapshot> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`snapshot: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json) || json.v !== 1) return fail("snapshot.v: expected version 1");
  if (!isValidNodeId(json.id)) return fail("snapshot.id: bad replica id");
  if (!isInt(json.c)) return fail("snapshot.c: expected an integer >= 0");
  const state = decodeDelta(json.state, "snapshot.state");
  if (!state.ok) return state;
  if (!Array.isArray(json.log)) return fail("snapshot.log: expected an array");
  const log: Array<{ seq: number; origin: string | null; delta: KvDelta }> = [];
  for (let i = 0; i < json.log.length; i++) {
    const e: unknown = json.log[i];
    if (!Array.isArray(e) || e.length !== 3 || !isInt(e[0]) || (e[1] !== null && typeof e[1] !== "string")) {
      return fail(`snapshot.log[${i}]: expected [seq, origin, delta]`);
    }
    const d = decodeDelta(e[2], `snapshot.log[${i}][2]`);
    if (!d.ok) return d;
    log.push({ seq: e[0], origin: e[1] as string | null, delta: d.value });
  }
  if (!Array.isArray(json.acks) || !json.acks.every((a) => Array.isArray(a) && a.length === 2 && typeof a[0] === "string" && isInt(a[1]))) {
    return fail("snapshot.acks: expected [[peer, seq], ...]");
  }
  return ok({ id: json.id, c: json.c, state: state.value, log, acks: json.acks as Array<[string, number]> });
}

/** The records of a WalList, oldest first. */
export function walRecords(list: WalList | null): string[] {
  const out: string[] = [];
  for (let l = list; l !== null; l = l.prev) out.push(l.record);
  return out.reverse();
}
