import { cutLinks, type PartitionSpec } from "@heck/sim";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkImpairment,
  describeFaults,
  healed,
  HEALTHY,
  parseDurationMs,
  parsePercent,
  renderHostRules,
  withImpairment,
  withOneWayCut,
  withPartition,
} from "../src/core/faults.ts";
import { labIndexOfNetns, planLab, validateHostNames } from "../src/core/lab-plan.ts";

const plan = planLab(7, ["n1", "n2", "n3", "n4", "n5"]);
const names = plan.hosts.map((h) => h.name);
const addressOf = (n: string) => plan.hosts.find((h) => h.name === n)!.address;

/** The (from, to) pairs the rendered nftables rules of every host drop. */
function renderedCuts(state: typeof HEALTHY): string[] {
  const out: string[] = [];
  for (const h of plan.hosts) {
    for (const m of renderHostRules(plan, state, h.name, "queue").nft.matchAll(/^ {4}ip daddr (\S+) drop$/gm)) {
      out.push(`${h.name}>${plan.hosts.find((x) => x.address === m[1])!.name}`);
    }
  }
  return out.sort();
}

describe("lab plan", () => {
  it("gives lab k the subnet 10.77.k.0/24, this namespace .1 and hosts from .11, in namespaces named hecklab-k-<host>", () => {
    expect(plan.subnet).toBe("10.77.7.0/24");
    expect(plan.rootAddress).toBe("10.77.7.1");
    expect(plan.rootLink).toBe("hecklab7");
    expect(plan.hosts.map((h) => [h.netns, h.address])).toEqual([
      ["hecklab-7-n1", "10.77.7.11"],
      ["hecklab-7-n2", "10.77.7.12"],
      ["hecklab-7-n3", "10.77.7.13"],
      ["hecklab-7-n4", "10.77.7.14"],
      ["hecklab-7-n5", "10.77.7.15"],
    ]);
  });

  it("refuses bad host names and indexes, naming the problem", () => {
    expect(validateHostNames(["n1", "n1"])).toMatch(/n1: named twice/);
    expect(validateHostNames(["N1"])).toMatch(/lowercase/);
    expect(validateHostNames(["sw"])).toMatch(/switch/);
    expect(validateHostNames([])).toMatch(/at least one/);
    expect(() => planLab(0, ["a"])).toThrow(/1-254/);
    expect(() => planLab(255, ["a"])).toThrow(/1-254/);
  });

  it("recognises only its own namespaces as lab namespaces", () => {
    expect(labIndexOfNetns("hecklab-7-n1")).toBe(7);
    expect(labIndexOfNetns("hecklab-7-sw")).toBe(7);
    for (const other of ["devw6", "hecklab", "hecklab-x-n1", "hecklab-0-n1", "hecklab-300-n1", "myhecklab-1-n1"]) expect(labIndexOfNetns(other)).toBeUndefined();
  });
});

describe("faults", () => {
  it("a partition drops exactly the links @heck/sim's cutLinks cuts, on the sender's side", () => {
    const shapes = fc.oneof(
      fc.shuffledSubarray(names, { minLength: 1, maxLength: 4 }).map((g): PartitionSpec => ({ kind: "groups", groups: [g] })),
      fc.shuffledSubarray(names, { minLength: 3, maxLength: 5 }).map((s): PartitionSpec => ({ kind: "bridge", left: s.slice(1, 2), bridge: s[0]!, right: s.slice(2) })),
      fc.tuple(fc.shuffledSubarray(names, { minLength: 1, maxLength: 2 }), fc.shuffledSubarray(names, { minLength: 1, maxLength: 2 })).map(([from, to]): PartitionSpec => ({ kind: "one-way", from, to })),
    );
    fc.assert(
      fc.property(shapes, (spec) => {
        const expected = [...new Set(cutLinks(spec, names).filter(([a, b]) => a !== b).map(([a, b]) => `${a}>${b}`))].sort();
        expect(renderedCuts(withPartition(HEALTHY, plan, spec))).toEqual(expected);
      }),
    );
  });

  it("a new partition replaces the old one; a one-way cut adds to it; heal removes both", () => {
    const a = withPartition(HEALTHY, plan, { kind: "groups", groups: [["n1"]] });
    const b = withPartition(a, plan, { kind: "groups", groups: [["n2"]] });
    expect(renderedCuts(b).some((c) => c.startsWith("n1>") && c !== "n1>n2")).toBe(false);
    const c = withOneWayCut(b, plan, ["n3"], ["n4"]);
    expect(renderedCuts(c)).toContain("n3>n4");
    expect(renderedCuts(c)).not.toContain("n4>n3");
    expect(renderedCuts(healed(c))).toEqual([]);
    expect(describeFaults(healed(c))).toEqual(["none"]);
  });

  it("describes a symmetric cut as one line and a one-way cut with its direction", () => {
    const s = withOneWayCut(withPartition(HEALTHY, plan, { kind: "groups", groups: [["n1"], ["n2", "n3", "n4", "n5"]] }), plan, ["n2"], ["n3"]);
    expect(describeFaults(s)).toEqual(["cut n1 <-/-> n2", "cut n1 <-/-> n3", "cut n1 <-/-> n4", "cut n1 <-/-> n5", "cut n2 -/-> n3"]);
  });

  it("never cuts traffic to or from this namespace: every rule names a host address", () => {
    const s = withImpairment(withPartition(HEALTHY, plan, { kind: "groups", groups: [["n1", "n2"]] }), plan, { lossPct: 20, duplicatePct: 5, delayMs: 100, jitterMs: 10, reorderPct: 25 });
    const root = new RegExp(`${plan.rootAddress.replace(/\./g, "\\.")}(?![0-9])`);
    for (const h of plan.hosts) {
      const r = renderHostRules(plan, s, h.name, "queue");
      expect(r.nft).not.toMatch(root);
      expect(r.queueDestinations).not.toContain(plan.rootAddress);
      expect(r.queueDestinations).not.toContain(h.address);
      expect(renderHostRules(plan, s, h.name, "netem").tcBatch.join("\n")).not.toMatch(root);
    }
  });

  it("queue backend: loss and duplication are nftables rules, delay goes to the delay queue with its jitter and reorder share", () => {
    const s = withImpairment(HEALTHY, plan, { lossPct: 10, delayMs: 200, jitterMs: 50, duplicatePct: 1.5, reorderPct: 25 }, ["n1"], ["n2"]);
    const r = renderHostRules(plan, s, "n1", "queue");
    expect(r.nft).toContain(`ip daddr ${addressOf("n2")} numgen random mod 10000 < 1000 drop`);
    expect(r.nft).toContain(`ip daddr ${addressOf("n2")} numgen random mod 10000 < 150 dup to ${addressOf("n2")} device "eth0"`);
    expect(r.queueRules).toEqual([`${addressOf("n2")} 200000 50000 250000`]);
    expect(r.queueDestinations).toEqual([addressOf("n2")]);
    // n2 -> n1 is untouched.
    expect(renderHostRules(plan, s, "n2", "queue").queueRules).toEqual([]);
  });

  it("netem backend: one htb class and netem qdisc per impaired destination, filtered by address", () => {
    const s = withImpairment(HEALTHY, plan, { lossPct: 10, delayMs: 200, jitterMs: 50 }, ["n1"], ["n2", "n3"]);
    const r = renderHostRules(plan, s, "n1", "netem");
    expect(r.tcBatch).toEqual([
      "qdisc add dev eth0 root handle 1: htb default 1",
      "class add dev eth0 parent 1: classid 1:1 htb rate 10gbit",
      "class add dev eth0 parent 1: classid 1:10 htb rate 10gbit",
      "qdisc add dev eth0 parent 1:10 handle 10: netem limit 100000 delay 200ms 50ms loss 10%",
      `filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst ${addressOf("n2")}/32 flowid 1:10`,
      "class add dev eth0 parent 1: classid 1:11 htb rate 10gbit",
      "qdisc add dev eth0 parent 1:11 handle 11: netem limit 100000 delay 200ms 50ms loss 10%",
      `filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst ${addressOf("n3")}/32 flowid 1:11`,
    ]);
    expect(r.nft).not.toContain("numgen");
    expect(r.queueRules).toEqual([]);
  });

  it("impairments merge field by field, and a link set back to perfect disappears", () => {
    let s = withImpairment(HEALTHY, plan, { lossPct: 10 });
    s = withImpairment(s, plan, { delayMs: 100 }, ["n1"]);
    const n1n2 = s.impairments.find((x) => x.from === "n1" && x.to === "n2")!.impairment;
    expect(n1n2).toMatchObject({ lossPct: 10, delayMs: 100 });
    expect(s.impairments).toHaveLength(20);
    s = withImpairment(s, plan, { lossPct: 0, delayMs: 0 });
    expect(s.impairments).toEqual([]);
  });

  it("refuses impossible impairments, naming the field", () => {
    expect(() => withImpairment(HEALTHY, plan, { lossPct: 101 })).toThrow(/lossPct/);
    expect(() => withImpairment(HEALTHY, plan, { reorderPct: 10 })).toThrow(/reordering needs a delay/);
    expect(() => withImpairment(HEALTHY, plan, { jitterMs: 10 })).toThrow(/jitter needs a delay/);
    expect(() => withImpairment(HEALTHY, plan, { lossPct: 1 }, ["n9"])).toThrow(/no host "n9"/);
    expect(checkImpairment({ lossPct: Number.NaN, delayMs: 0, jitterMs: 0, duplicatePct: 0, reorderPct: 0 })).toMatch(/lossPct/);
  });

  it("parses percentages and durations as people write them", () => {
    expect(parsePercent("10%")).toBe(10);
    expect(parsePercent("0.5")).toBe(0.5);
    expect(parsePercent("101")).toBeUndefined();
    expect(parsePercent("-1")).toBeUndefined();
    expect(parseDurationMs("200ms")).toBe(200);
    expect(parseDurationMs("1.5s")).toBe(1500);
    expect(parseDurationMs("61s")).toBeUndefined();
    expect(parseDurationMs("abc")).toBeUndefined();
  });
});
