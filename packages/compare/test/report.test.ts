/**
 * The report's building blocks: charts render one mark per value with
 * escaped text, ticks are nice, markdown tables parse back, and the CLI
 * refuses bad flags with a message naming the flag.
 */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerCompareCommand } from "../src/command.ts";
import { fmtMs, fmtShare, parseMarkdownTables } from "../src/report/format.ts";
import { barChart, esc, lineChart, niceTicks } from "../src/report/svg.ts";
import { utf8Length } from "@heck/sim";
import { crdtPayloadBytes } from "../src/sim/crdt-store.ts";
import { rendezvousOwner } from "../src/sim/workload.ts";
import { parseClusterLine } from "../src/real/real-mode.ts";

describe("svg charts", () => {
  it("a bar chart has one bar per present value, n/a for missing ones, and escapes text", () => {
    const svg = barChart({
      title: "a <b> & c",
      yLabel: "ms",
      series: ["raft", "crdt"],
      data: [
        { category: "x", values: { raft: { value: 3, hi: 5 }, crdt: { value: 1 } } },
        { category: "y", values: { raft: { value: null } } },
      ],
    });
    expect(svg).toContain("a &lt;b&gt; &amp; c");
    expect((svg.match(/<rect [^>]*fill="#(0072B2|D55E00)"><title>/g) ?? []).length).toBe(2);
    expect(svg).toContain(">n/a<");
    expect(svg).toContain("whisker: p99");
  });

  it("a line chart draws a path per series and dashed fitted curves", () => {
    const svg = lineChart({ title: "t", xLabel: "N", yLabel: "X", xLog: true, yLog: true, series: [{ name: "raft", points: [[3, 10], [9, 5]] }, { name: "raft (fit)", points: [[3, 10], [9, 4]], dashed: true }] });
    expect((svg.match(/<path /g) ?? []).length).toBe(2);
    expect(svg).toContain('stroke-dasharray="5 4"');
  });

  it("ticks are round numbers covering the range", () => {
    expect(niceTicks(0, 987)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(esc('"')).toBe("&quot;");
  });
});

describe("markdown", () => {
  it("tables parse back into header and cells", () => {
    const t = parseMarkdownTables("x\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n\ny");
    expect(t).toEqual([{ header: ["a", "b"], rows: [["1", "2"], ["3", "4"]] }]);
    expect(fmtMs(1234.5)).toBe("1,235");
    expect(fmtMs(12.345)).toBe("12.3");
    expect(fmtMs(null)).toBe("—");
    expect(fmtShare(0.4773)).toBe("47.7%");
  });
});

describe("harness helpers", () => {
  it("counts only record values as crdt payload", () => {
    const rec = '{"id":"o1","status":"healthy","observer":"n1","checkedAtMs":1,"sinceMs":1,"hlcMs":1,"latencyMs":2}';
    const wire = `{"type":"delta","from":"n1","id":"n1","inc":"x","seq":3,"full":false,"state":{"cc":{"vv":[["n1",3]],"cloud":[]},"kv":[["health/o1",[["n1",3,"l",1,${rec}]]]]}}`;
    expect(crdtPayloadBytes(wire)).toBe(rec.length);
    expect(crdtPayloadBytes('{"type":"ack","from":"n1","id":"n1","inc":"x","seq":3}')).toBe(0);
    expect(utf8Length("é€😀a")).toBe(2 + 3 + 4 + 1);
  });

  it("rendezvous ownership moves only the leaver's origins", () => {
    const all = ["n1", "n2", "n3", "n4", "n5"];
    const less = all.filter((m) => m !== "n3");
    for (let o = 0; o < 500; o++) {
      const before = rendezvousOwner(o, all);
      if (before !== "n3") expect(rendezvousOwner(o, less)).toBe(before);
    }
  });

  it("checks the cluster-up contract line, naming the bad field", () => {
    expect(parseClusterLine('{"nodes":[{"id":"a","pid":1,"api":"127.0.0.1:1"}],"fleet":{"pid":2,"control":"127.0.0.1:2"}}').nodes[0]!.id).toBe("a");
    expect(() => parseClusterLine('{"nodes":[{"id":"a","pid":"x","api":"y"}],"fleet":{"pid":2,"control":"c"}}')).toThrow(/nodes\[0\]\.pid/);
    expect(() => parseClusterLine("nope")).toThrow(/not JSON/);
  });
});

describe("heck compare flags", () => {
  function parse(args: string[]): string {
    const program = new Command("heck").exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerCompareCommand(program);
    program.commands.forEach((c) => c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} }));
    try {
      program.parse(["node", "heck", "compare", ...args]);
      return "ok";
    } catch (e) {
      return (e as Error).message;
    }
  }
  it("refuses a bad seed, an unknown store and an unknown mode, naming the flag", () => {
    expect(parse(["--seed", "abc"])).toMatch(/--seed/);
    expect(parse(["--stores", "raft,paxos"])).toMatch(/--stores: unknown "paxos"/);
    expect(parse(["--real-stores", ""])).toMatch(/--real-stores/);
    expect(parse(["--mode", "both"])).toMatch(/--mode/);
  });
});
