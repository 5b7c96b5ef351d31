import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { AgentCore, type AgentCoreConfig, type AgentReady } from "../../src/core/agent-core.ts";
import type { OriginSpec } from "../../src/core/types.ts";
import { naiveHrw } from "../helpers/naive-hrw.ts";

const cfg = (self: string, over: Partial<AgentCoreConfig> = {}): AgentCoreConfig => ({
  self,
  replicas: 1,
  refreshMs: 5_000,
  handoffGraceMs: 2_000,
  promoteAfterMs: 0,
  ...over,
});
/** One Ready batch of `a`, carried out at once (what the agent's driver does after every input). */
function readyOf(a: AgentCore): AgentReady {
  const rd = a.ready();
  a.advance();
  return rd;
}
const spec = (id: string): OriginSpec => ({ id, url: `http://127.0.0.1:1/${id}` });
const origins = Array.from({ length: 60 }, (_, i) => spec(`o${i}`));

function agent(self: string, members: string[], over: Partial<AgentCoreConfig> = {}): AgentCore {
  const a = new AgentCore(cfg(self, over), naiveHrw);
  for (const o of origins) a.putOrigin(o, 0);
  a.setMembers(members, 0);
  return a;
}

describe("ownership decisions", () => {
  it("starts nothing before the first membership view (a lone node would own everything)", () => {
    const a = new AgentCore(cfg("a"), naiveHrw);
    for (const o of origins) a.putOrigin(o, 0);
    expect(readyOf(a).start).toEqual([]);
    a.setMembers(["a", "b", "c"], 0);
    expect(readyOf(a).start.length).toBeGreaterThan(0);
  });

  it("agents with the same view start disjoint sets that cover every origin", () => {
    const members = ["a", "b", "c", "d"];
    const started = members.map((m) => readyOf(agent(m, members)).start.map((s) => s.spec.id));
    const all = started.flat().sort();
    expect(all).toEqual(origins.map((o) => o.id).sort());
  });

  it("a dead member's origins start at once on their next-ranked member, and nobody else moves", () => {
    const members = ["a", "b", "c", "d"];
    const agents = members.map((m) => agent(m, members));
    for (const a of agents) readyOf(a);
    const ownedBefore = new Map(agents.map((a) => [a.config.self, new Set(a.activeOrigins().keys())]));
    const survivors = agents.filter((a) => a.config.self !== "d");
    for (const a of survivors) a.setMembers(["a", "b", "c"], 1_000);
    for (const a of survivors) {
      const ready = readyOf(a);
      expect(ready.stop).toEqual([]);
      for (const s of ready.start) expect(ownedBefore.get("d")!.has(s.spec.id)).toBe(true);
    }
    const union = survivors.flatMap((a) => [...a.activeOrigins().keys()]).sort();
    expect(union).toEqual(origins.map((o) => o.id).sort());
  });

  it("flags take-overs (origins nobody alive checks) so their first check comes soon, and nothing else", () => {
    const members = ["a", "b", "c", "d"];
    const agents = members.map((m) => agent(m, members));
    // Booting: the first view's starts are not take-overs (v1 spreads them over an interval).
    for (const a of agents) expect(readyOf(a).start.filter((s) => s.takeOver)).toEqual([]);
    const d = agents[3]!;
    const ofD = new Set(d.activeOrigins().keys());
    const survivors = agents.slice(0, 3);
    // d dies before writing anything: its origins are taken over all the same.
    for (const a of survivors) a.setMembers(["a", "b", "c"], 1_000);
    const started = survivors.flatMap((a) => readyOf(a).start);
    expect(started.map((s) => s.spec.id).sort()).toEqual([...ofD].sort());
    expect(started.every((s) => s.takeOver)).toBe(true);
    // A joiner's starts and a new origin are not take-overs; nor is the join on the old owners' side.
    for (const a of survivors) a.setMembers(["a", "b", "c", "e"], 2_000);
    const e = agent("e", ["a", "b", "c", "e"]);
    const eStarts = readyOf(e).start;
    expect(eStarts.length).toBeGreaterThan(0);
    expect(eStarts.filter((s) => s.takeOver)).toEqual([]);
    for (const a of survivors) expect(readyOf(a).start).toEqual([]);
    for (const x of [...survivors, e]) x.putOrigin(spec("fresh"), 2_500);
    expect([...survivors, e].flatMap((x) => readyOf(x).start).map((s) => [s.spec.id, s.takeOver])).toEqual([["fresh", false]]);
    // e checked and wrote records, then left: its origins come back as take-overs (also through the record's observer).
    for (const id of e.activeOrigins().keys()) for (const a of survivors) a.mergeRecord(e.observe(id, { status: "healthy", checkedAtMs: 3_000 }, 3_000) ?? e.record(id)!, 3_000);
    for (const a of survivors) a.setMembers(["a", "b", "c"], 4_000);
    const back = survivors.flatMap((a) => readyOf(a).start);
    expect(back.map((s) => s.spec.id).sort()).toEqual([...e.activeOrigins().keys()].sort());
    expect(back.every((s) => s.takeOver && s.previous?.observer === "e")).toBe(true);
  });

  it("a join hands off: the old owner keeps checking until the new owner's record arrives", () => {
    const a = agent("a", ["a"]);
    readyOf(a);
    for (const o of origins) a.observe(o.id, { status: "healthy", checkedAtMs: 10 }, 10);
    readyOf(a);
    a.setMembers(["a", "b"], 100);
    const r1 = readyOf(a);
    expect(r1.stop).toEqual([]);
    const moving = r1.events.filter((e) => e.type === "handoff").map((e) => (e as { originId: string }).originId);
    expect(moving.length).toBeGreaterThan(0);
    const b = new AgentCore(cfg("b"), naiveHrw);
    for (const o of origins) b.putOrigin(o, 0);
    for (const o of origins) b.mergeRecord(a.record(o.id)!, 100);
    b.setMembers(["a", "b"], 100);
    const bStart = readyOf(b).start;
    expect(bStart.map((s) => s.spec.id).sort()).toEqual([...moving].sort());
    // The new owner inherits the old record, so its first write continues the history.
    const first = bStart[0]!;
    expect(first.previous?.observer).toBe("a");
    const written = b.observe(first.spec.id, { status: "unknown", checkedAtMs: 150 }, 150)!;
    expect(written.status).toBe("healthy");
    expect(written.observer).toBe("b");
    a.mergeRecord(written, 150);
    expect(readyOf(a).stop).toEqual([first.spec.id]);
    // The others stop when the grace period ends.
    a.tick(100 + 2_000);
    expect([...readyOf(a).stop].sort()).toEqual(moving.filter((m) => m !== first.spec.id).sort());
  });

  it("a graceful leave hands every origin over, then stops", () => {
    const a = agent("a", ["a", "b"]);
    const mine = readyOf(a).start.map((s) => s.spec.id);
    a.leave(0, 3_000);
    const r = readyOf(a);
    expect(r.stop).toEqual([]);
    expect(r.events.filter((e) => e.type === "handoff")).toHaveLength(mine.length);
    // A membership change while leaving starts nothing new.
    a.setMembers(["a"], 10);
    expect(readyOf(a).start).toEqual([]);
    a.tick(3_000);
    expect([...readyOf(a).stop].sort()).toEqual([...mine].sort());
    expect(a.activeOrigins().size).toBe(0);
  });

  it("removing an origin stops it; changing its spec restarts it", () => {
    const a = agent("a", ["a"]);
    readyOf(a);
    a.removeOrigin("o1");
    expect(readyOf(a).stop).toEqual(["o1"]);
    a.putOrigin({ ...spec("o2"), intervalMs: 5 }, 0);
    const r = readyOf(a);
    expect(r.stop).toEqual(["o2"]);
    expect(r.start.map((s) => s.spec)).toEqual([{ ...spec("o2"), intervalMs: 5 }]);
    a.putOrigin({ ...spec("o2"), intervalMs: 5 }, 0);
    expect(readyOf(a).start).toEqual([]);
  });
});

describe("record writes", () => {
  it("writes on the first check, on status change, on refresh, and not in between", () => {
    const a = agent("a", ["a"]);
    readyOf(a);
    expect(a.observe("o1", { status: "healthy", checkedAtMs: 1_000 }, 1_000)?.hlcMs).toBe(1_000);
    expect(a.observe("o1", { status: "healthy", checkedAtMs: 2_000 }, 2_000)).toBeUndefined();
    expect(a.observe("o1", { status: "unhealthy", checkedAtMs: 3_000, lastError: "status 503" }, 3_000)?.hlcMs).toBe(3_000);
    expect(a.observe("o1", { status: "unhealthy", checkedAtMs: 7_999 }, 7_999)).toBeUndefined();
    expect(a.observe("o1", { status: "unhealthy", checkedAtMs: 8_000 }, 8_000)?.hlcMs).toBe(8_000);
    expect(readyOf(a).writes.map((w) => w.status)).toEqual(["healthy", "unhealthy", "unhealthy"]);
  });

  it("ignores results of origins it no longer checks", () => {
    const a = agent("a", ["a"]);
    readyOf(a);
    a.removeOrigin("o1");
    expect(a.observe("o1", { status: "healthy", checkedAtMs: 1 }, 1)).toBeUndefined();
  });

  it("keeps the newest record whatever order records arrive in", () => {
    const a = agent("a", ["a"]);
    const newer = { id: "o1", status: "unhealthy" as const, observer: "b", checkedAtMs: 5, sinceMs: 5, hlcMs: 12 };
    const older = { id: "o1", status: "healthy" as const, observer: "c", checkedAtMs: 9, sinceMs: 1, hlcMs: 11 };
    expect(a.mergeRecord(newer, 10)).toBe(true);
    expect(a.mergeRecord(older, 10)).toBe(false);
    expect(a.record("o1")).toBe(newer);
    expect(readyOf(a).events).toContainEqual({ type: "stale-record", originId: "o1", observer: "c" });
  });
});

describe("replicas (k > 1)", () => {
  it("backups stay idle while the primary's record is fresh, take over when it goes stale, and step down when it writes again", () => {
    const members = ["a", "b", "c"];
    const over = { replicas: 2, refreshMs: 1_000, promoteAfterMs: 3_000 };
    const agents = new Map(members.map((m) => [m, agent(m, members, over)]));
    const oid = "o7";
    const [primary, backup] = agents.get("a")!.ownersOf(oid) as [string, string];
    const p = agents.get(primary)!;
    const b = agents.get(backup)!;
    for (const x of agents.values()) readyOf(x);
    const rec = p.observe(oid, { status: "healthy", checkedAtMs: 1_000 }, 1_000)!;
    b.mergeRecord(rec, 1_000);
    b.tick(3_999);
    expect(b.activeOrigins().has(oid)).toBe(false);
    b.tick(4_001);
    expect(b.activeOrigins().get(oid)).toBe("promoted");
    expect(readyOf(b).start.find((s) => s.spec.id === oid)?.takeOver).toBe(true);
    expect(b.nextDeadlineMs()).toBeGreaterThan(4_001);
    const rec2 = p.observe(oid, { status: "healthy", checkedAtMs: 4_500 }, 4_500)!;
    readyOf(b);
    b.mergeRecord(rec2, 4_500);
    expect(readyOf(b).stop).toEqual([oid]);
  });
});

describe("properties", () => {
  it("for any view, agents sharing it check every origin exactly once", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), { minLength: 1 }), fc.integer({ min: 1, max: 3 }), (members, k) => {
        const counts = new Map<string, number>();
        for (const m of members) {
          for (const s of readyOf(agent(m, members, { replicas: k, promoteAfterMs: k > 1 ? 10_000 : 0 })).start) counts.set(s.spec.id, (counts.get(s.spec.id) ?? 0) + 1);
        }
        return origins.every((o) => counts.get(o.id) === 1);
      }),
      { numRuns: 50 },
    );
  });
});
