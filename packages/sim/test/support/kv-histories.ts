/**
 * Generators of key-value histories for checker tests and the benchmark.
 * `linearizableHistory` runs a sequential store and gives every operation a
 * random real-time window around its linearization point, so the result is
 * linearizable by construction.
 */
import type { KvInput, KvOperation, KvOutput } from "../../src/core/kv-history.ts";
import type { Prng } from "../../src/core/types.ts";

export interface HistoryShape {
  ops: number;
  keys: number;
  clients: number;
  /** Probability an operation's answer is lost (outcome unknown). Default 0. */
  unknownRate?: number;
  /** Probability of cas among writes. Default 0.3. */
  casRate?: number;
}

/** A linearizable history: clients issue operations one at a time; each takes effect at a random point of its window. */
export function linearizableHistory(prng: Prng, shape: HistoryShape): KvOperation[] {
  const keys = Array.from({ length: shape.keys }, (_, i) => `k${i}`);
  const clientFree = new Array<number>(shape.clients).fill(0);
  const planned: Array<{ op: KvOperation; point: number; applies: boolean }> = [];
  let writes = 0;
  for (let id = 0; id < shape.ops; id++) {
    // The client that becomes free first issues the next operation.
    let c = 0;
    for (let k = 1; k < shape.clients; k++) if (clientFree[k]! < clientFree[c]!) c = k;
    const callMs = clientFree[c]! + prng.exponential(1);
    const duration = 0.5 + prng.exponential(3);
    const point = callMs + prng.nextFloat() * duration;
    const key = prng.pick(keys);
    const r = prng.nextFloat();
    let input: KvInput;
    if (r < 0.45) input = { type: "get", key };
    else if (r < 0.55) input = { type: "delete", key };
    else if (prng.chance(shape.casRate ?? 0.3)) {
      const expected = prng.chance(0.3) ? null : `v${prng.nextInt(Math.max(0, writes - 5), Math.max(0, writes))}`;
      input = { type: "cas", key, expected, value: `v${++writes}` };
    } else input = { type: "put", key, value: `v${++writes}` };
    const unknown = prng.chance(shape.unknownRate ?? 0);
    const op: KvOperation = unknown ? { id, client: `c${c}`, input, callMs } : { id, client: `c${c}`, input, callMs, returnMs: callMs + duration };
    // An operation with a lost answer may or may not have taken effect.
    planned.push({ op, point, applies: !unknown || prng.chance(0.5) });
    clientFree[c] = callMs + duration;
  }
  const state = new Map<string, string | null>();
  for (const p of [...planned].sort((a, b) => a.point - b.point)) {
    if (!p.applies) continue;
    const i = p.op.input;
    const cur = state.get(i.key) ?? null;
    let out: KvOutput;
    switch (i.type) {
      case "get":
        out = { type: "get", value: cur };
        break;
      case "put":
        state.set(i.key, i.value);
        out = { type: "put" };
        break;
      case "delete":
        state.set(i.key, null);
        out = { type: "delete", existed: cur !== null };
        break;
      case "cas":
        out = { type: "cas", ok: cur === i.expected };
        if (cur === i.expected) state.set(i.key, i.value);
        break;
    }
    if (p.op.returnMs !== undefined) p.op.output = out;
  }
  return planned.map((p) => p.op);
}

/** Brute force: tries every order (small histories only). The oracle the fast checker is tested against. */
export function bruteForceLinearizable(ops: readonly KvOperation[]): boolean {
  const byKey = new Map<string, KvOperation[]>();
  for (const o of ops) byKey.set(o.input.key, [...(byKey.get(o.input.key) ?? []), o]);
  for (const list of byKey.values()) if (!bruteKey(list)) return false;
  return true;
}

function bruteKey(ops: readonly KvOperation[]): boolean {
  const placed = new Array<boolean>(ops.length).fill(false);
  const go = (state: string | null, left: number): boolean => {
    if (left === 0) return true;
    // Done once every operation with a known answer is placed (the rest need not happen).
    if (ops.every((o, i) => placed[i] || o.output === undefined)) return true;
    let minReturn = Infinity;
    ops.forEach((o, i) => {
      if (!placed[i] && o.returnMs !== undefined) minReturn = Math.min(minReturn, o.returnMs);
    });
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      if (placed[i] || o.callMs > minReturn) continue;
      const next = stepModel(state, o);
      if (next === undefined) continue;
      placed[i] = true;
      const ok = go(next, left - 1);
      placed[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return go(null, ops.length);
}

function stepModel(state: string | null, o: KvOperation): string | null | undefined {
  const i = o.input;
  const out = o.output;
  switch (i.type) {
    case "get":
      return out === undefined || (out.type === "get" && out.value === state) ? state : undefined;
    case "put":
      return i.value;
    case "delete":
      return out !== undefined && out.type === "delete" && out.existed !== undefined && out.existed !== (state !== null) ? undefined : null;
    case "cas":
      if (out === undefined) return state === i.expected ? i.value : state;
      if (out.type !== "cas") return undefined;
      if (out.ok) return state === i.expected ? i.value : undefined;
      return state === i.expected ? undefined : state;
  }
}
