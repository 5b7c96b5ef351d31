/**
 * The store's specialised OR-map against the generic one from src/core/crdt:
 * replicas apply random MV writes (with partial read contexts), LWW writes
 * and deletes, observed removes, and merge each other's states and Δs. After
 * every step each KvState must equal the generic OR-map built by the same
 * operations, and Δ must equal the generic Δ.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CausalContext } from "../src/core/causality/causal-context.ts";
import { dotKey, parseDotKey } from "../src/core/causality/dot.ts";
import { dotFunKind, type Causal, type DotFun, type DotMap } from "../src/core/crdt/dot-store.ts";
import { orMapLattice } from "../src/core/crdt/or-map.ts";
import { canonicalJson, type Json } from "../src/core/json.ts";
import { decodeDelta, deltaBytes, encodeDelta, encodeDeltaText, joinDeltas, KvState, primeVersionText, type KvDelta } from "../src/core/store/kv-state.ts";
import type { Version } from "../src/core/store/version.ts";

type Payload = { mode: string; ts: number; deleted: boolean; value: Json | null };
type Model = Causal<DotMap<DotFun<Payload>>>;
const G = orMapLattice(dotFunKind<Payload>());
const NODES = ["a", "b", "c"];

function toModel(d: KvDelta): Model {
  const store = new Map<string, Map<string, Payload>>();
  for (const [key, versions] of d.entries) {
    store.set(key, new Map(versions.map((v: Version) => [dotKey(v.dot), { mode: v.mode, ts: v.ts, deleted: v.deleted, value: v.value }])));
  }
  return { store, cc: d.cc.clone() };
}

const opArb = fc.oneof(
  fc.record({ t: fc.constant("mv" as const), r: fc.nat(2), key: fc.constantFrom("k1", "k2", "x/k3"), value: fc.nat(5), mask: fc.nat(7), blind: fc.boolean() }),
  fc.record({ t: fc.constant("lww" as const), r: fc.nat(2), key: fc.constantFrom("k1", "k2", "x/k3"), value: fc.nat(5), ts: fc.nat(4), del: fc.boolean() }),
  fc.record({ t: fc.constant("rm" as const), r: fc.nat(2), key: fc.constantFrom("k1", "k2", "x/k3"), mask: fc.nat(7) }),
  fc.record({ t: fc.constant("sync" as const), r: fc.nat(2), from: fc.nat(2), rr: fc.boolean() }),
);

function maskContext(s: KvState, key: string, mask: number): CausalContext {
  const dots = s.versions(key).map((v) => dotKey(v.dot)).sort();
  return CausalContext.fromDots(dots.filter((_, i) => (mask >> i) & 1).map(parseDotKey));
}

describe("KvState", () => {
  it("matches the generic OR-map after every operation, and its Δ matches the generic Δ", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const reps = NODES.map(() => new KvState());
        const models: Model[] = NODES.map(() => G.bottom());
        for (const op of ops) {
          const s = reps[op.r]!;
          let d: KvDelta | null;
          if (op.t === "mv") d = s.writeMv(op.key, op.value, NODES[op.r]!, op.blind ? undefined : maskContext(s, op.key, op.mask));
          else if (op.t === "lww") d = s.writeLww(op.key, op.value, op.del, op.ts, NODES[op.r]!);
          else if (op.t === "rm") d = s.removeObserved(op.key, maskContext(s, op.key, op.mask));
          else {
            const full = reps[op.from]!.toDelta();
            const fullModel = models[op.from]!;
            const nov = s.novelty(full);
            expect(G.equals(toModel(nov), G.delta(fullModel, models[op.r]!))).toBe(true);
            d = op.rr ? nov : full;
          }
          if (d !== null) {
            // Every delta survives its wire form, and the text assembled from cached version texts is that JSON, byte for byte.
            const json = JSON.stringify(encodeDelta(d));
            expect(encodeDeltaText(d)).toBe(json);
            expect(deltaBytes(d)).toBe(Buffer.byteLength(json));
            const wire = decodeDelta(JSON.parse(json), "d");
            expect(wire.ok).toBe(true);
            s.join(wire.ok ? wire.value : d);
            models[op.r] = G.join(models[op.r]!, toModel(d));
          }
          expect(G.equals(toModel(s.toDelta()), models[op.r]!)).toBe(true);
        }
        // Bring everyone together: equal states, equal digests.
        const all = joinDeltas(reps.map((r) => r.toDelta()));
        for (const r of reps) r.join(all);
        const h = reps.map((r) => r.bucketHashes(6));
        expect(new Set(h).size).toBe(1);
        const enc = reps.map((r) => canonicalJson(encodeDelta(r.toDelta())));
        expect(new Set(enc).size).toBe(1);
      }),
      { numRuns: 150 },
    );
  });

  it("a version primed with its writer's value text encodes exactly as JSON.stringify would (unicode included)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), fc.boolean(), (value, key, mv) => {
        const s = new KvState();
        const json = value as Json;
        const d = mv ? s.writeMv(key || "k", json, "a") : s.writeLww(key || "k", json, false, 5, "a")!;
        primeVersionText(d.entries.get(key || "k")![0]!, JSON.stringify(json));
        expect(encodeDeltaText(d)).toBe(JSON.stringify(encodeDelta(d)));
        expect(deltaBytes(d)).toBe(Buffer.byteLength(JSON.stringify(encodeDelta(d))));
      }),
      { numRuns: 200 },
    );
  });

  it("a stale LWW write is refused while a newer version is visible", () => {
    const s = new KvState();
    s.join(s.writeLww("k", "new", false, 10, "a")!);
    expect(s.writeLww("k", "old", false, 9, "b")).toBeNull();
    expect(s.writeLww("k", null, true, 9, "b")).toBeNull();
    s.join(s.writeLww("k", null, true, 10, "b")!); // a delete at the same time wins
    expect(s.read("k").exists).toBe(false);
    expect(s.list()).toEqual([]);
  });

  it("removed keys leave no entry and no tombstone, only dots in the context", () => {
    const s = new KvState();
    for (let i = 0; i < 50; i++) s.join(s.writeMv(`k${i}`, i, "a"));
    for (let i = 0; i < 50; i++) s.join(s.removeObserved(`k${i}`));
    expect(s.keyCount).toBe(0);
    expect(s.versionCount).toBe(0);
    expect(Object.fromEntries(s.cc.vector())).toEqual({ a: 50 });
    expect(s.deadDots().dotCount()).toBe(50);
  });
});
