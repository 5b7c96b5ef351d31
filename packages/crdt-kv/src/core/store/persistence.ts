/**
 * What a node makes durable, as text: a snapshot (the whole state, the
 * delta log, the sequence counter, the peers' acknowledgements and the
 * replica's incarnation) plus a write-ahead log of records, one per delta
 * the node joined since the snapshot. Replaying is just joining again: joins
 * are idempotent, so a record replayed twice (a crash between writing a
 * snapshot and truncating the log) changes nothing.
 *
 * A WAL record is one line, `<crc32 hex> <json>`, and the node's Ready
 * hands out exactly these lines: the real driver appends them to `wal.log`
 * (src/io/disk.ts), the simulation runner to its simulated disk, and both
 * recover through {@link parseWal} and the node's constructor, so a seeded
 * crash replays the bytes a real crash would leave, a torn last line
 * included.
 */
import { isValidNodeId } from "../causality/dot.ts";
import { fail, isInt, isObject, ok, type Decoded } from "../result.ts";
import { crc32Text, utf8Length } from "@heck/sim";
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
  /** The replica's incarnation (absent in snapshots written before it was kept here). */
  readonly inc?: string;
  readonly c: number;
  readonly state: KvDelta;
  readonly log: ReadonlyArray<{ seq: number; origin: string | null; delta: KvDelta }>;
  readonly acks: ReadonlyArray<[string, number]>;
}

/**
 * What a replica finds when it starts: its newest snapshot, the WAL records
 * after it (checked lines, oldest first: {@link parseWal} output, or the
 * Ready records as written), and, from a data directory, its incarnation.
 */
export interface KvDisk {
  readonly snapshot: string | null;
  readonly records: readonly string[];
  /** Chosen when the data directory was created; without one (simulation) the snapshot carries it. */
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
  return `${JSON.stringify({ v: 1, id: s.id, inc: s.inc, c: s.c, acks: s.acks }).slice(0, -1)},"state":${encodeDeltaText(s.state)},"log":[${log}]}`;
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
  if (json.inc !== undefined && (typeof json.inc !== "string" || !/^[0-9a-z]{1,32}$/.test(json.inc))) return fail("snapshot.inc: expected an incarnation of 1-32 characters [0-9a-z]");
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
  return ok({ id: json.id, ...(json.inc !== undefined ? { inc: json.inc as string } : {}), c: json.c, state: state.value, log, acks: json.acks as Array<[string, number]> });
}

// ---------------------------------------------------------------------------
// WAL lines: a checksum per record, so a torn last line is told from damage
// ---------------------------------------------------------------------------

/** CRC-32 (IEEE) of a string's UTF-8 bytes: the shared kit's `crc32Text`. */
export const crc32 = crc32Text;

/** One WAL line for a record (no newline): `<crc32 of the record, 8 hex digits> <record>`. */
export function walLine(record: string): string {
  if (record.includes("\n")) throw new Error("WAL records must be single lines");
  return `${crc32(record).toString(16).padStart(8, "0")} ${record}`;
}

/** A WAL's text from its lines, each ending in a newline (a torn last line is just a line with a bad checksum). */
export function walText(lines: readonly string[]): string {
  let text = "";
  for (const l of lines) text += l + "\n";
  return text;
}

/**
 * Parses WAL text into records, checking every line's checksum. A bad line
 * with no good line after it is a torn tail (a crash mid-append): it is
 * dropped, which is safe because its record was never acknowledged. A bad
 * line followed by good ones means the file was damaged, and parsing
 * refuses rather than silently losing data.
 */
export function parseWal(text: string, name = "wal.log"): { records: string[]; truncatedTail: boolean; validBytes: number } {
  const lines = text.split("\n");
  const partial = lines.pop()!; // "" when the text ends with a newline, else a torn line
  const valid = (line: string): string | undefined => {
    const m = /^([0-9a-f]{8}) (.*)$/.exec(line);
    return m !== null && parseInt(m[1]!, 16) === crc32(m[2]!) ? m[2]! : undefined;
  };
  const records: string[] = [];
  let validBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const record = valid(lines[i]!);
    if (record === undefined) {
      // A crash mid-append leaves only bad lines after this point; a good one later means damage.
      if (lines.slice(i + 1).some((l) => valid(l) !== undefined)) {
        throw new Error(`${name}: record ${i + 1} is damaged (bad checksum) and later records are intact; refusing to start`);
      }
      return { records, truncatedTail: true, validBytes };
    }
    records.push(record);
    validBytes += utf8Length(lines[i]!) + 1;
  }
  return { records, truncatedTail: partial !== "", validBytes };
}

/**
 * What a replica recovers from the lines its Readies wrote (the simulation
 * keeps them on its simulated disk): the WAL is read back through
 * {@link parseWal}, exactly as a data directory's `wal.log` is.
 */
export function diskFromWal(image: { readonly snapshot: string | null; readonly records: readonly string[] }): KvDisk {
  return { snapshot: image.snapshot, records: parseWal(walText(image.records)).records };
}
