/**
 * Key-value histories: what clients of raft-kv and crdt-kv record, the
 * sequential key-value model they are checked against, and a checker that
 * explains a failure with a small history a learner can read.
 *
 * The checker partitions by key (linearizability is local, Herlihy & Wing
 * §3.3) and runs the Wing-Gong-Lowe search on each key. When a key fails it
 * shrinks that key's history with reductions that are *sound*: each keeps a
 * linearizable history linearizable, so the small history it prints is by
 * itself proof of the violation:
 *
 * 1. Cut at the earliest time T at which the history up to T is already not
 *    linearizable (binary search). Operations called after T are dropped;
 *    ones still running at T become "outcome unknown" (Knossos' :info).
 * 2. Forget what deletes reported about existence, if the failure does not
 *    need it (weakening an answer only removes constraints).
 * 3. Delta debugging (ddmin, Zeller 2002) over the reads (get, failed cas):
 *    dropping a read never makes a legal order illegal.
 * 4. ddmin over the writes, dropping one only when nothing left in the
 *    history could have observed it (see `writeRemovable`). Steps 3-4
 *    repeat until neither removes anything.
 */
import { searchLinearization, type Model, type Operation, type SearchResult } from "./linearizability.ts";
import { ddmin } from "./seeded-run.ts";

/** A client request to the store. `null` means "absent" wherever a value is expected. */
export type KvInput =
  | { type: "get"; key: string }
  | { type: "put"; key: string; value: string }
  | { type: "delete"; key: string }
  /** Sets `value` only if the current value equals `expected` (null: only if absent). */
  | { type: "cas"; key: string; expected: string | null; value: string };

/** What the store answered. */
export type KvOutput =
  | { type: "get"; value: string | null }
  | { type: "put" }
  /** `existed` is optional: checked only when the store reports it. */
  | { type: "delete"; existed?: boolean }
  | { type: "cas"; ok: boolean };

/** One recorded key-value operation. */
export type KvOperation = Operation<KvInput, KvOutput>;

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The sequential model of one key: its state is the value, or null when
 * absent. An unknown outcome applies the operation as the store would.
 */
export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.type) {
      case "get":
        if (output === undefined) return state;
        return output.type === "get" && output.value === state ? state : undefined;
      case "put":
        return input.value;
      case "delete":
        if (output !== undefined && output.type === "delete" && output.existed !== undefined && output.existed !== (state !== null)) return undefined;
        return null;
      case "cas": {
        const matches = state === input.expected;
        if (output === undefined) return matches ? input.value : state;
        if (output.type !== "cas") return undefined;
        if (output.ok) return matches ? input.value : undefined;
        return matches ? undefined : state;
      }
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? 0x9e3779b9 : hashString(s)),
};

/** Checker options. */
export interface KvCheckOptions {
  /** Search steps per key before giving up. Default 20 million. */
  maxStepsPerKey?: number;
  /** Most re-checks spent shrinking a failing key (the witness is sound but less small when it runs out). Default 400. */
  maxShrinkChecks?: number;
}

/** The verdict on a whole history. */
export interface KvCheckResult {
  /** true, false, or undefined when the search gave up on some key. */
  linearizable: boolean | undefined;
  /** Keys checked. */
  keys: number;
  /** Total search steps. */
  steps: number;
  /** The first key found not linearizable. */
  failingKey?: string;
  /** A small history of that key that is already not linearizable (see the file comment). */
  witness?: KvOperation[];
  /** Keys on which the search gave up. */
  undecidedKeys: string[];
  /** A readable explanation (empty when linearizable). */
  report: string;
}

function validateOp(op: KvOperation): void {
  const where = `operation ${String(op?.id)}`;
  if (typeof op !== "object" || op === null) throw new TypeError("history: every operation must be an object");
  if (!Number.isFinite(op.callMs)) throw new TypeError(`${where}: callMs must be a finite number`);
  if (op.returnMs !== undefined && !(op.returnMs >= op.callMs)) throw new TypeError(`${where}: returnMs must be >= callMs`);
  if ((op.returnMs === undefined) !== (op.output === undefined)) throw new TypeError(`${where}: give both returnMs and output, or neither (unknown outcome)`);
  const t = op.input?.type;
  if (t !== "get" && t !== "put" && t !== "delete" && t !== "cas") throw new TypeError(`${where}: input.type must be get, put, delete or cas`);
  if (typeof op.input.key !== "string") throw new TypeError(`${where}: input.key must be a string`);
  if (op.output !== undefined && op.output.type !== t) throw new TypeError(`${where}: output.type ${String(op.output.type)} does not match input.type ${t}`);
}

/**
 * Checks a key-value history for linearizability, key by key, and explains
 * the first failure with a minimal history.
 */
export function checkKvHistory(history: readonly KvOperation[], options: KvCheckOptions = {}): KvCheckResult {
  const byKey = new Map<string, KvOperation[]>();
  for (const op of history) {
    validateOp(op);
    // A read whose answer never came constrains nothing: drop it (Knossos does too).
    if (op.output === undefined && op.input.type === "get") continue;
    let list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, (list = []));
    list.push(op);
  }
  const keys = [...byKey.keys()].sort();
  let steps = 0;
  const undecidedKeys: string[] = [];
  const maxSteps = options.maxStepsPerKey ?? 20_000_000;
  for (const key of keys) {
    const ops = byKey.get(key)!;
    const r = searchLinearization(kvModel, ops, { maxSteps });
    steps += r.steps;
    if (r.linearizable === undefined) {
      undecidedKeys.push(key);
      continue;
    }
    if (r.linearizable) continue;
    const witness = shrink(ops, options.maxShrinkChecks ?? 400, maxSteps);
    const detail = searchLinearization(kvModel, witness, { maxSteps });
    return {
      linearizable: false,
      keys: keys.length,
      steps,
      failingKey: key,
      witness,
      undecidedKeys,
      report: describeFailure(key, ops.length, witness, detail),
    };
  }
  return {
    linearizable: undecidedKeys.length > 0 ? undefined : true,
    keys: keys.length,
    steps,
    undecidedKeys,
    report: undecidedKeys.length > 0 ? `Undecided: the search gave up on key(s) ${undecidedKeys.map((k) => JSON.stringify(k)).join(", ")} after ${maxSteps} steps each.` : "",
  };
}

/** The history as it looked at time `t`: later calls dropped, running operations' outcomes unknown. */
function truncate(ops: readonly KvOperation[], t: number): KvOperation[] {
  const out: KvOperation[] = [];
  for (const op of ops) {
    if (op.callMs > t) continue;
    if (op.returnMs !== undefined && op.returnMs > t) {
      if (op.input.type === "get") continue; // an unknown read constrains nothing
      out.push({ id: op.id, client: op.client, input: op.input, callMs: op.callMs });
    } else {
      out.push(op);
    }
  }
  return out;
}

function isRead(op: KvOperation): boolean {
  return op.input.type === "get" || (op.input.type === "cas" && op.output?.type === "cas" && !op.output.ok);
}

/**
 * Whether dropping write `w` from a history that keeps `rest` can never hide
 * a linearization. In any legal order, only operations that run after `w`
 * and before the next effective write could have seen `w`'s value; the
 * others are shielded by real time: they returned before `w` was called, or
 * were called after some kept put/delete/successful cas that itself began
 * after `w` returned. Every unshielded operation must not depend on the
 * state `w` left: no failed or unknown cas, no delete reporting existence.
 * And no kept operation at all may read `w`'s value or expect it in a cas.
 */
function writeRemovable(w: KvOperation, rest: readonly KvOperation[]): boolean {
  const written = w.input.type === "put" || w.input.type === "cas" ? w.input.value : null;
  // The earliest return of a kept effective write that began after w returned.
  let shieldAfter = Infinity;
  if (w.returnMs !== undefined) {
    for (const s of rest) {
      const effective = s.input.type === "put" || s.input.type === "delete" || (s.input.type === "cas" && s.output?.type === "cas" && s.output.ok);
      if (effective && s.returnMs !== undefined && s.output !== undefined && s.callMs > w.returnMs && s.returnMs < shieldAfter) shieldAfter = s.returnMs;
    }
  }
  for (const op of rest) {
    const i = op.input;
    const o = op.output;
    // Anything that names w's value keeps w, even when shielded: the witness
    // must show where a value came from, not claim nobody wrote it. (Absence
    // is no one write's identity, so for deletes only unshielded readers count.)
    const names = (i.type === "get" && o !== undefined && o.type === "get" && o.value === written) || (i.type === "cas" && i.expected === written);
    if (names && written !== null) return false;
    if (op.returnMs !== undefined && op.returnMs < w.callMs) continue;
    if (op.callMs > shieldAfter) continue;
    if (names) return false;
    if (i.type === "cas" && (o === undefined || (o.type === "cas" && !o.ok))) return false;
    if (i.type === "delete" && o !== undefined && o.type === "delete" && o.existed !== undefined) return false;
  }
  return true;
}

function notLinearizable(ops: readonly KvOperation[], maxSteps: number): boolean {
  return searchLinearization(kvModel, ops, { maxSteps }).linearizable === false;
}

/** Sound shrinking of one key's non-linearizable history (see the file comment). */
function shrink(ops: readonly KvOperation[], maxChecks: number, maxSteps: number): KvOperation[] {
  let checks = 0;
  const fails = (candidate: readonly KvOperation[]): boolean => {
    if (checks >= maxChecks) return false;
    checks++;
    return notLinearizable(candidate, maxSteps);
  };

  // 1. The earliest cut that already fails. Failing is monotone in the cut
  // time (a cut of a linearizable history is linearizable), so bisect.
  const times = [...new Set(ops.flatMap((o) => (o.returnMs === undefined ? [o.callMs] : [o.callMs, o.returnMs])))].sort((a, b) => a - b);
  let current: KvOperation[] = [...ops];
  let lo = 0;
  let hi = times.length - 1;
  if (notLinearizable(truncate(ops, times[hi]!), maxSteps)) {
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (notLinearizable(truncate(ops, times[mid]!), maxSteps)) hi = mid;
      else lo = mid + 1;
    }
    current = truncate(ops, times[hi]!);
  }

  // 2. Forget what deletes said about existence when the failure does not
  // need it: weakening an answer only removes constraints, so it is sound,
  // and it lets step 4 drop writes a delete would otherwise have observed.
  const weakened = current.map((o) => (o.input.type === "delete" && o.output?.type === "delete" && o.output.existed !== undefined ? { ...o, output: { type: "delete" as const } } : o));
  if (fails(weakened)) current = weakened;

  // 3-4. Drop reads (always sound), then writes nothing left could have
  // observed, until neither pass removes anything.
  for (let round = 0; round < 4; round++) {
    const before = current.length;
    const reads = current.filter(isRead);
    const others = current.filter((o) => !isRead(o));
    const keptReads = ddmin(reads, (cand) => fails([...others, ...cand]));
    current = [...others, ...keptReads];
    const writes = current.filter((o) => !isRead(o));
    const readsNow = current.filter(isRead);
    const keptWrites = ddmin(writes, (cand) => {
      const rest = [...readsNow, ...cand];
      const kept = new Set(cand);
      for (const w of writes) if (!kept.has(w) && !writeRemovable(w, rest)) return false;
      return fails(rest);
    });
    current = [...readsNow, ...keptWrites];
    if (current.length === before || checks >= maxChecks) break;
  }
  return current.sort((a, b) => a.callMs - b.callMs || a.id - b.id);
}

/** "put x=\"v1\"", "get x", "cas x \"a\"->\"b\"". */
export function describeKvInput(input: KvInput): string {
  const v = (x: string | null): string => (x === null ? "absent" : JSON.stringify(x));
  switch (input.type) {
    case "get":
      return `get ${input.key}`;
    case "put":
      return `put ${input.key}=${v(input.value)}`;
    case "delete":
      return `delete ${input.key}`;
    case "cas":
      return `cas ${input.key} ${v(input.expected)}->${v(input.value)}`;
  }
}

/** "\"v1\"", "ok", "failed", "unknown". */
export function describeKvOutput(output: KvOutput | undefined): string {
  if (output === undefined) return "unknown (may or may not have happened)";
  switch (output.type) {
    case "get":
      return output.value === null ? "absent" : JSON.stringify(output.value);
    case "put":
      return "ok";
    case "delete":
      return output.existed === undefined ? "ok" : output.existed ? "ok (existed)" : "ok (was absent)";
    case "cas":
      return output.ok ? "ok" : "failed (value differed)";
  }
}

/** A table and a timeline of a (small) history. */
export function formatKvHistory(ops: readonly KvOperation[]): string {
  if (ops.length === 0) return "  (empty)";
  const t0 = Math.min(...ops.map((o) => o.callMs));
  const known = ops.flatMap((o) => (o.returnMs === undefined ? [o.callMs] : [o.returnMs]));
  const t1 = Math.max(t0 + 1, ...known);
  const width = 40;
  const col = (t: number): number => Math.min(width - 1, Math.round(((t - t0) / (t1 - t0)) * (width - 1)));
  const rows = ops.map((o) => {
    const start = col(o.callMs);
    const end = o.returnMs === undefined ? width - 1 : Math.max(start, col(o.returnMs));
    let bar = " ".repeat(start) + "|" + "-".repeat(Math.max(0, end - start - 1)) + (end > start ? (o.returnMs === undefined ? ">" : "|") : "");
    bar = bar.padEnd(width);
    const when = `${o.callMs.toFixed(1)}..${o.returnMs === undefined ? "?" : o.returnMs.toFixed(1)}`;
    return `  #${String(o.id).padEnd(5)} ${String(o.client).padEnd(6)} ${describeKvInput(o.input).padEnd(26)} -> ${describeKvOutput(o.output).padEnd(12)} ${when.padEnd(18)} ${bar}`;
  });
  return rows.join("\n");
}

function describeFailure(key: string, keyOps: number, witness: readonly KvOperation[], detail: SearchResult): string {
  const byId = new Map(witness.map((o) => [o.id, o]));
  const lines = [
    `Not linearizable: key ${JSON.stringify(key)} (${keyOps} operations on it; every other key checked is linearizable or undecided).`,
    `These ${witness.length} operations alone already admit no legal order (no sequential store, respecting real time, could answer so):`,
    `  id     client operation                     result       called..returned   timeline`,
    formatKvHistory(witness),
  ];
  if (detail.longestPrefix.length > 0) {
    const prefix = detail.longestPrefix.map((id) => {
      const o = byId.get(id);
      return o === undefined ? `#${id}` : `#${id} ${describeKvInput(o.input)}`;
    });
    lines.push(`The longest legal order found covers ${prefix.length} of them: ${prefix.join(", then ")}; nothing can follow.`);
  } else {
    lines.push("Not even the first operation can be placed.");
  }
  return lines.join("\n");
}

/**
 * Records a client-side history as operations happen: call `invoke` before
 * sending a request, then `ok` with the answer, `fail` when the request
 * certainly did not take effect (e.g. rejected before reaching a leader), or
 * nothing at all when the outcome is unknown (timeout, crash).
 */
export class KvHistoryRecorder {
  private readonly ops = new Map<number, KvOperation>();
  private nextId = 0;

  /** Starts an operation; returns its id. */
  invoke(client: string | number, input: KvInput, nowMs: number): number {
    const id = this.nextId++;
    this.ops.set(id, { id, client, input, callMs: nowMs });
    return id;
  }

  /** Completes an operation with the store's answer. */
  ok(id: number, output: KvOutput, nowMs: number): void {
    const op = this.ops.get(id);
    if (op === undefined) throw new RangeError(`KvHistoryRecorder.ok: unknown or failed operation ${id}`);
    if (op.returnMs !== undefined) throw new Error(`KvHistoryRecorder.ok: operation ${id} already completed`);
    if (output.type !== op.input.type) throw new TypeError(`KvHistoryRecorder.ok: output.type ${output.type} for a ${op.input.type}`);
    op.output = output;
    op.returnMs = Math.max(nowMs, op.callMs);
  }

  /** Removes an operation that certainly had no effect (Knossos' :fail). */
  fail(id: number): void {
    this.ops.delete(id);
  }

  /** Every recorded operation; those never completed have unknown outcomes. */
  history(): KvOperation[] {
    return [...this.ops.values()].map((o) => ({ ...o }));
  }

  /** Operations invoked and not yet completed or failed. */
  pending(): number {
    let n = 0;
    for (const o of this.ops.values()) if (o.returnMs === undefined) n++;
    return n;
  }
}
