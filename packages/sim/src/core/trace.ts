/**
 * The event trace format shared by every stage: JSON lines, one
 * {@link TraceEvent} per line, keys in the order `t, node, event, msg`.
 *
 * A simulated run and a real cluster write the same lines, so one tool
 * (`heck-sim trace`) pretty-prints both, the docs can replay them, and a
 * failing seed's report is just the tail of its trace.
 *
 * This file is pure (strings in, strings out); reading and writing files is in
 * `src/io/trace-file.ts`.
 */
import type { TraceEvent } from "./types.ts";

/**
 * JSON.stringify replacer for trace payloads: byte arrays become
 * `{ bytes: n }`, bigints become strings, Maps and Sets become arrays, and
 * functions are dropped, so any message object can be logged.
 */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: value.length };
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === "function") return undefined;
  return value;
}

/** Rounds simulated times to microseconds so traces stay readable and stable. */
function roundTime(t: number): number {
  return Math.round(t * 1000) / 1000;
}

/** Serialises one event as a JSON line (no trailing newline). */
export function formatTraceLine(event: TraceEvent): string {
  const ordered: TraceEvent = { t: roundTime(event.t), node: event.node, event: event.event };
  if (event.msg !== undefined) ordered.msg = event.msg;
  return JSON.stringify(ordered, replacer);
}

/** The result of parsing one trace line: the event, or an error naming the bad field. */
export type TraceParseResult = { ok: true; event: TraceEvent } | { ok: false; error: string };

/** Parses and validates one JSON line. Never throws. */
export function parseTraceLine(line: string): TraceParseResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, error: "not a JSON object" };
  const v = value as Record<string, unknown>;
  if (typeof v.t !== "number" || !Number.isFinite(v.t)) return { ok: false, error: "field t: expected a finite number" };
  if (typeof v.node !== "string") return { ok: false, error: "field node: expected a string" };
  if (typeof v.event !== "string" || v.event.length === 0) return { ok: false, error: "field event: expected a non-empty string" };
  const event: TraceEvent = { t: v.t, node: v.node, event: v.event };
  if (v.msg !== undefined) event.msg = v.msg;
  return { ok: true, event };
}

/** Parses a whole JSONL text; blank lines are skipped, bad lines are reported with their line number. */
export function parseTrace(text: string): { events: TraceEvent[]; errors: string[] } {
  const events: TraceEvent[] = [];
  const errors: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.length === 0) continue;
    const r = parseTraceLine(line);
    if (r.ok) events.push(r.event);
    else errors.push(`line ${i + 1}: ${r.error}`);
  }
  return { events, errors };
}

/** Serialises events as JSONL (each line ends with a newline). */
export function formatTrace(events: readonly TraceEvent[]): string {
  let out = "";
  for (const e of events) out += formatTraceLine(e) + "\n";
  return out;
}

/** A compact JSON rendering of a payload for humans, cut at `maxChars`. */
export function summarize(value: unknown, maxChars = 160): string {
  if (value === undefined) return "";
  let s: string;
  try {
    s = JSON.stringify(value, replacer) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > maxChars ? s.slice(0, maxChars - 1) + "…" : s;
}

/**
 * One aligned human line: `    1234.567  n1     deliver   {...}`. Used by
 * failure reports and `heck-sim trace`.
 */
export function formatTraceEvent(event: TraceEvent, maxMsgChars = 160): string {
  const t = roundTime(event.t).toFixed(3).padStart(12);
  return `${t}  ${event.node.padEnd(8)} ${event.event.padEnd(12)} ${summarize(event.msg, maxMsgChars)}`.trimEnd();
}

/**
 * Keeps the last `capacity` events (a ring buffer), so a long run can always
 * show its tail without holding its whole history.
 */
export class TraceRing {
  private readonly buf: (TraceEvent | undefined)[];
  private next = 0;
  /** Events ever pushed (the ring keeps only the last `capacity`). */
  total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`TraceRing capacity must be an integer >= 1, got ${capacity}`);
    this.buf = new Array<TraceEvent | undefined>(capacity).fill(undefined);
  }

  push(event: TraceEvent): void {
    this.buf[this.next] = event;
    this.next = (this.next + 1) % this.capacity;
    this.total++;
  }

  /** The kept events, oldest first. */
  toArray(): TraceEvent[] {
    const out: TraceEvent[] = [];
    for (let k = 0; k < this.capacity; k++) {
      const e = this.buf[(this.next + k) % this.capacity];
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  clear(): void {
    this.buf.fill(undefined);
    this.next = 0;
    this.total = 0;
  }
}

/** Which events `heck-sim trace` shows. Every field optional; all given must match. */
export interface TraceFilter {
  /** Only these nodes (exact ids). */
  nodes?: readonly string[];
  /** Only these event names. */
  events?: readonly string[];
  fromMs?: number;
  toMs?: number;
  /** Only events whose JSON mentions this text (a message type, a key...). */
  grep?: string;
}

/** The events matching `filter`, in order. */
export function filterTrace(events: readonly TraceEvent[], filter: TraceFilter): TraceEvent[] {
  const nodes = filter.nodes !== undefined && filter.nodes.length > 0 ? new Set(filter.nodes) : undefined;
  const names = filter.events !== undefined && filter.events.length > 0 ? new Set(filter.events) : undefined;
  return events.filter(
    (e) =>
      (nodes === undefined || nodes.has(e.node)) &&
      (names === undefined || names.has(e.event)) &&
      (filter.fromMs === undefined || e.t >= filter.fromMs) &&
      (filter.toMs === undefined || e.t <= filter.toMs) &&
      (filter.grep === undefined || formatTraceLine(e).includes(filter.grep)),
  );
}
