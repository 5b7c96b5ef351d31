/**
 * A linearizability checker for any sequential model: the Wing & Gong search
 * with Lowe's memoisation ("Testing for Linearizability", Lowe 2017, §3-4),
 * the algorithm Porcupine implements.
 *
 * A history is a set of operations, each with a call time and (unless its
 * outcome is unknown) a return time and output. It is linearizable when some
 * total order of the operations (a) respects real time: an operation that
 * returned before another was called comes first, and (b) is a legal run of
 * the sequential model. Herlihy & Wing (1990, §3.3) show this is "local":
 * a history over many independent objects (keys) is linearizable exactly when
 * each object's sub-history is, so callers partition first (Horn & Kroening's
 * P-compositionality) and the search below runs per key.
 *
 * The search walks a doubly linked list of call and return events in time
 * order. At a call it tries to linearize that operation now (the model must
 * accept its output); at a return whose operation is not yet linearized it
 * backtracks. Every (set of linearized ops, model state) pair it has been in
 * is cached: reaching one again cannot lead anywhere new, which turns the
 * exponential search into something fast on real histories.
 *
 * Operations with an unknown outcome (a client timed out) get a return time
 * of +infinity and no output, as in Knossos: they are concurrent with
 * everything after their call and may take effect at any point after it, or,
 * by being linearized after every observed operation, not visibly at all.
 */
import { createPrng } from "./prng.ts";

/** One operation of a history. */
export interface Operation<I, O> {
  /** Unique within the history; used in reports. */
  id: number;
  /** Which client (process) issued it. */
  client: string | number;
  input: I;
  /** Undefined when the outcome is unknown (the operation may or may not have taken effect). */
  output?: O;
  callMs: number;
  /** Undefined when the outcome is unknown. Must be >= callMs. */
  returnMs?: number;
}

/** A sequential specification. States must never be `undefined`. */
export interface Model<S, I, O> {
  init(): S;
  /**
   * The state after applying `input` with the observed `output` to `state`,
   * or undefined when that output is impossible from that state. With
   * `output` undefined (unknown outcome) return the state the operation
   * would leave.
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  equal(a: S, b: S): boolean;
  /** Any 32-bit hash consistent with `equal`. */
  hash(state: S): number;
}

/** The outcome of one search. */
export interface SearchResult {
  /** true: linearizable; false: not; undefined: gave up after `maxSteps`. */
  linearizable: boolean | undefined;
  /** Search steps taken. */
  steps: number;
  /** When not linearizable: ids of the longest legal order the search found before a dead end. */
  longestPrefix: number[];
}

/** Options for {@link searchLinearization}. */
export interface SearchOptions {
  /** Give up (result undefined) after this many steps. Default 20 million. */
  maxSteps?: number;
}

const END = -1;

/**
 * Decides whether `ops` (all on one object) are linearizable with respect to
 * `model`. Pure and deterministic.
 */
export function searchLinearization<S, I, O>(model: Model<S, I, O>, ops: ReadonlyArray<Operation<I, O>>, options: SearchOptions = {}): SearchResult {
  const maxSteps = options.maxSteps ?? 20_000_000;
  const n = ops.length;
  if (n === 0) return { linearizable: true, steps: 0, longestPrefix: [] };

  // Events sorted by time; at equal times calls come first, so operations
  // that merely touch are treated as concurrent (the permissive reading).
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    if (!(op.returnMs === undefined || op.returnMs >= op.callMs)) throw new RangeError(`operation ${op.id}: returnMs ${op.returnMs} is before callMs ${op.callMs}`);
    order.push(2 * i, 2 * i + 1);
  }
  const timeOf = (e: number): number => {
    const op = ops[e >> 1]!;
    return (e & 1) === 0 ? op.callMs : (op.returnMs ?? Infinity);
  };
  order.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || a - b);

  // Linked list over nodes 1..2n (node 0 is the head sentinel).
  const size = 2 * n + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const nodeOp = new Int32Array(size);
  const nodeIsCall = new Uint8Array(size);
  const match = new Int32Array(size);
  const nodeOfEvent = new Int32Array(2 * n);
  for (let k = 0; k < order.length; k++) {
    const node = k + 1;
    const e = order[k]!;
    nodeOp[node] = e >> 1;
    nodeIsCall[node] = (e & 1) === 0 ? 1 : 0;
    nodeOfEvent[e] = node;
    prev[node] = node - 1;
    next[node] = node + 1 < size ? node + 1 : END;
  }
  next[0] = 1;
  prev[0] = END;
  for (let i = 0; i < n; i++) match[nodeOfEvent[2 * i]!] = nodeOfEvent[2 * i + 1]!;

  const lift = (call: number): void => {
    const ret = match[call]!;
    next[prev[call]!] = next[call]!;
    if (next[call] !== END) prev[next[call]!] = prev[call]!;
    next[prev[ret]!] = next[ret]!;
    if (next[ret] !== END) prev[next[ret]!] = prev[ret]!;
  };
  const unlift = (call: number): void => {
    // Dancing links: re-insert in the reverse order of removal.
    const ret = match[call]!;
    next[prev[ret]!] = ret;
    if (next[ret] !== END) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    if (next[call] !== END) prev[next[call]!] = call;
  };

  // Zobrist hashing of the linearized set: one random word per operation,
  // XOR-ed in and out, so the cache key costs O(1) per step.
  const zobrist = new Uint32Array(n);
  const zp = createPrng(0x5eed);
  for (let i = 0; i < n; i++) zobrist[i] = zp.nextUint32();
  const words = (n + 31) >> 5;
  const bits = new Uint32Array(words);
  let setHash = 0;
  const cache = new Map<number, Array<{ bits: Uint32Array; state: S }>>();
  const cached = (key: number, state: S): boolean => {
    const bucket = cache.get(key);
    if (bucket === undefined) return false;
    outer: for (const c of bucket) {
      for (let w = 0; w < words; w++) if (c.bits[w] !== bits[w]) continue outer;
      if (model.equal(c.state, state)) return true;
    }
    return false;
  };
  const remember = (key: number, state: S): void => {
    const entry = { bits: bits.slice(), state };
    const bucket = cache.get(key);
    if (bucket === undefined) cache.set(key, [entry]);
    else bucket.push(entry);
  };

  const stackNode = new Int32Array(n);
  const stackState: S[] = new Array<S>(n);
  let depth = 0;
  let longest: number[] = [];
  let state = model.init();
  let entry = next[0]!;
  let steps = 0;

  while (next[0] !== END) {
    if (++steps > maxSteps) return { linearizable: undefined, steps, longestPrefix: longest };
    if (nodeIsCall[entry] === 1) {
      const i = nodeOp[entry]!;
      const op = ops[i]!;
      const after = model.step(state, op.input, op.output);
      if (after !== undefined) {
        bits[i >> 5]! |= 1 << (i & 31);
        const h = (setHash ^ zobrist[i]!) >>> 0;
        const key = (Math.imul(h, 0x9e3779b1) ^ model.hash(after)) >>> 0;
        if (!cached(key, after)) {
          remember(key, after);
          stackNode[depth] = entry;
          stackState[depth] = state;
          depth++;
          state = after;
          setHash = h;
          lift(entry);
          entry = next[0]!;
          continue;
        }
        bits[i >> 5]! &= ~(1 << (i & 31));
      }
      entry = next[entry]!;
    } else {
      // A return whose operation is not linearized yet: this path is dead.
      // Remember the deepest dead end for the report (only here, so a
      // straight run through a linearizable history copies nothing).
      if (depth > longest.length) {
        longest = [];
        for (let d = 0; d < depth; d++) longest.push(ops[nodeOp[stackNode[d]!]!]!.id);
      }
      if (depth === 0) return { linearizable: false, steps, longestPrefix: longest };
      depth--;
      entry = stackNode[depth]!;
      state = stackState[depth]!;
      const i = nodeOp[entry]!;
      bits[i >> 5]! &= ~(1 << (i & 31));
      setHash = (setHash ^ zobrist[i]!) >>> 0;
      unlift(entry);
      entry = next[entry]!;
    }
  }
  return { linearizable: true, steps, longestPrefix: [] };
}
