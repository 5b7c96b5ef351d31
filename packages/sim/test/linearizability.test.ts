import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { checkKvHistory, createPrng, KvHistoryRecorder, type KvInput, type KvOperation, type KvOutput } from "../src/index.ts";
import { bruteForceLinearizable, linearizableHistory } from "./support/kv-histories.ts";

let nextId = 0;
/** op("c1", 0, 10, put x 1) -> ok */
function op(client: string, callMs: number, returnMs: number | undefined, input: KvInput, output?: KvOutput): KvOperation {
  const o: KvOperation = { id: nextId++, client, input, callMs };
  if (returnMs !== undefined) {
    o.returnMs = returnMs;
    o.output = output!;
  }
  return o;
}
const put = (key: string, value: string): KvInput => ({ type: "put", key, value });
const get = (key: string): KvInput => ({ type: "get", key });
const cas = (key: string, expected: string | null, value: string): KvInput => ({ type: "cas", key, expected, value });
const del = (key: string): KvInput => ({ type: "delete", key });
const ok = { type: "put" } as const;
const got = (value: string | null): KvOutput => ({ type: "get", value });

describe("checkKvHistory: hand-made histories", () => {
  it("accepts a read concurrent with a write returning either value", () => {
    for (const seen of ["a", "b"]) {
      const h = [op("c1", 0, 1, put("x", "a"), ok), op("c1", 2, 10, put("x", "b"), ok), op("c2", 3, 5, get("x"), got(seen))];
      expect(checkKvHistory(h).linearizable).toBe(true);
    }
  });

  it("rejects a stale read after a completed write, and explains it with the two operations that matter", () => {
    const h = [
      op("c1", 0, 1, put("x", "a"), ok),
      op("c1", 2, 3, put("x", "b"), ok),
      op("c3", 2, 3, put("y", "z"), ok),
      op("c2", 4, 5, get("x"), got("a")),
      op("c2", 6, 7, get("y"), got("z")),
    ];
    const r = checkKvHistory(h);
    expect(r.linearizable).toBe(false);
    expect(r.failingKey).toBe("x");
    expect(r.witness!.map((o) => o.input)).toEqual([put("x", "a"), put("x", "b"), get("x")]);
    expect(r.report).toContain('Not linearizable: key "x"');
    expect(r.report).toContain('get x');
    expect(r.report).toMatch(/put x="b"/);
  });

  it("rejects a read of a value nobody wrote", () => {
    const h = [op("c1", 0, 1, put("x", "a"), ok), op("c2", 0, 5, get("x"), got("nope"))];
    const r = checkKvHistory(h);
    expect(r.linearizable).toBe(false);
    expect(r.witness!.map((o) => o.input.type)).toEqual(["get"]);
  });

  it("checks compare-and-set and delete results", () => {
    const good = [op("c1", 0, 1, cas("x", null, "a"), { type: "cas", ok: true }), op("c2", 2, 3, cas("x", null, "b"), { type: "cas", ok: false }), op("c1", 4, 5, del("x"), { type: "delete", existed: true }), op("c2", 6, 7, get("x"), got(null))];
    expect(checkKvHistory(good).linearizable).toBe(true);
    // Two sequential cas from absent cannot both succeed.
    const bad = [op("c1", 0, 1, cas("x", null, "a"), { type: "cas", ok: true }), op("c2", 2, 3, cas("x", null, "b"), { type: "cas", ok: true })];
    expect(checkKvHistory(bad).linearizable).toBe(false);
    const badDelete = [op("c1", 0, 1, del("x"), { type: "delete", existed: true })];
    expect(checkKvHistory(badDelete).linearizable).toBe(false);
  });

  it("lets an operation with unknown outcome take effect late, or never", () => {
    const lost = op("c1", 0, undefined, put("x", "a"));
    // It may take effect long after its call...
    expect(checkKvHistory([lost, op("c2", 100, 101, get("x"), got(null)), op("c2", 200, 201, get("x"), got("a"))]).linearizable).toBe(true);
    // ...or never.
    expect(checkKvHistory([lost, op("c2", 100, 101, get("x"), got(null))]).linearizable).toBe(true);
    // But not before it was called.
    expect(checkKvHistory([op("c2", 0, 1, get("x"), got("a")), op("c1", 5, undefined, put("x", "a"))]).linearizable).toBe(false);
    // And it cannot un-happen: once seen, a later read of the old value is stale.
    expect(checkKvHistory([lost, op("c2", 100, 101, get("x"), got("a")), op("c2", 200, 201, get("x"), got(null))]).linearizable).toBe(false);
  });

  it("names the bad field of a malformed operation", () => {
    expect(() => checkKvHistory([{ id: 1, client: "c", input: get("x"), callMs: 5, returnMs: 1, output: got(null) }])).toThrow(/operation 1: returnMs/);
    expect(() => checkKvHistory([{ id: 2, client: "c", input: get("x"), callMs: 0, returnMs: 1 }])).toThrow(/operation 2: give both/);
    expect(() => checkKvHistory([{ id: 3, client: "c", input: get("x"), callMs: 0, returnMs: 1, output: { type: "put" } }])).toThrow(/output.type/);
  });
});

describe("checkKvHistory: generated histories", () => {
  it("accepts every history generated from a sequential store", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), (seed, ops, keys, clients) => {
        const h = linearizableHistory(createPrng(seed), { ops, keys, clients, unknownRate: 0.05 });
        const r = checkKvHistory(h);
        expect(r.report).toBe("");
        expect(r.linearizable).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("agrees with brute force on small random and mutated histories", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 3 }), (seed, ops, mutations) => {
        const prng = createPrng(seed);
        const h = linearizableHistory(prng, { ops, keys: 1, clients: 3, unknownRate: 0.15 });
        const mutated = mutate(h, prng, mutations);
        expect(checkKvHistory(mutated).linearizable).toBe(bruteForceLinearizable(mutated));
      }),
      { numRuns: 400 },
    );
  });

  it("rejects a mutated history that reads a value never written, with a witness that is itself not linearizable", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 5, max: 200 }), (seed, ops) => {
        const prng = createPrng(seed);
        const h = linearizableHistory(prng, { ops, keys: 3, clients: 5, unknownRate: 0.05 });
        const reads = h.filter((o) => o.input.type === "get" && o.output !== undefined);
        if (reads.length === 0) return;
        const victim = prng.pick(reads);
        victim.output = { type: "get", value: "never-written" };
        const r = checkKvHistory(h);
        expect(r.linearizable).toBe(false);
        expect(r.failingKey).toBe(victim.input.key);
        expect(r.witness!.some((o) => o.id === victim.id)).toBe(true);
        expect(checkKvHistory(r.witness!).linearizable).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it("shrinks a stale read buried in a long history to a handful of operations", () => {
    const prng = createPrng(99);
    const h = linearizableHistory(prng, { ops: 1000, keys: 2, clients: 8, casRate: 0 });
    // Inject a stale read long after everything: it returns the key's first value.
    const firstWrite = h.find((o) => o.input.type === "put" && o.input.key === "k0" && o.output !== undefined)!;
    const end = Math.max(...h.map((o) => o.returnMs ?? o.callMs));
    h.push(op("c9", end + 10, end + 11, get("k0"), got((firstWrite.input as { value: string }).value)));
    const r = checkKvHistory(h);
    expect(r.linearizable).toBe(false);
    expect(r.witness!.length).toBeLessThanOrEqual(4);
    expect(checkKvHistory(r.witness!).linearizable).toBe(false);
  });
});

/** Changes outputs at random: a get sees another value, a cas flips, a delete lies about existence. */
function mutate(h: KvOperation[], prng: ReturnType<typeof createPrng>, count: number): KvOperation[] {
  const out = h.map((o) => ({ ...o }));
  const values = [null, ...h.flatMap((o) => (o.input.type === "put" || o.input.type === "cas" ? [o.input.value] : []))];
  for (let k = 0; k < count; k++) {
    const done = out.filter((o) => o.output !== undefined);
    if (done.length === 0) break;
    const o = prng.pick(done);
    if (o.input.type === "get") o.output = { type: "get", value: prng.pick(values) };
    else if (o.input.type === "cas" && o.output?.type === "cas") o.output = { type: "cas", ok: !o.output.ok };
    else if (o.input.type === "delete") o.output = { type: "delete", existed: prng.chance(0.5) };
  }
  return out;
}

describe("KvHistoryRecorder", () => {
  it("records calls, answers, failures and unknown outcomes", () => {
    const r = new KvHistoryRecorder();
    const a = r.invoke("c1", put("x", "1"), 0);
    const b = r.invoke("c2", get("x"), 1);
    const c = r.invoke("c3", put("x", "2"), 2);
    r.ok(a, { type: "put" }, 3);
    r.ok(b, got("1"), 4);
    r.fail(c);
    r.invoke("c4", put("x", "3"), 5); // never answered
    expect(r.pending()).toBe(1);
    const h = r.history();
    expect(h).toHaveLength(3);
    expect(h[2]!.output).toBeUndefined();
    expect(checkKvHistory(h).linearizable).toBe(true);
    expect(() => r.ok(a, { type: "put" }, 9)).toThrow(/already completed/);
    expect(() => r.ok(c, { type: "put" }, 9)).toThrow(/unknown or failed/);
  });
});
