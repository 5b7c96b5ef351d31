import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { formatTrace, formatTraceEvent, formatTraceLine, parseTrace, parseTraceLine, Simulation, TraceRing, type TraceEvent } from "../src/index.ts";
import { readTraceFile, streamTraceFile, TraceWriter } from "../src/io/index.ts";
import { TaggingNode, type TaggedMessage } from "./support/echo.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const eventArb: fc.Arbitrary<TraceEvent> = fc.record(
  {
    t: fc.integer({ min: 0, max: 1e9 }).map((x) => x / 1000),
    node: fc.string(),
    event: fc.string({ minLength: 1 }),
    msg: fc.jsonValue(),
  },
  { requiredKeys: ["t", "node", "event"] },
);

describe("trace format", () => {
  it("round-trips any event through a JSON line", () => {
    fc.assert(
      fc.property(eventArb, (e) => {
        const r = parseTraceLine(formatTraceLine(e));
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.event).toEqual(JSON.parse(JSON.stringify(e)));
      }),
    );
  });

  it("writes keys in the order t, node, event, msg and renders bytes as a length", () => {
    expect(formatTraceLine({ msg: { p: Uint8Array.of(1, 2) }, event: "send", node: "n1", t: 1.23456789 })).toBe('{"t":1.235,"node":"n1","event":"send","msg":{"p":{"bytes":2}}}');
  });

  it("reports bad lines by number and field instead of throwing", () => {
    const { events, errors } = parseTrace('{"t":1,"node":"a","event":"x"}\n\nnot json\n{"t":"1","node":"a","event":"x"}\n{"t":2,"node":"a"}\n');
    expect(events).toHaveLength(1);
    expect(errors[0]).toMatch(/^line 3: not JSON/);
    expect(errors[1]).toBe("line 4: field t: expected a finite number");
    expect(errors[2]).toBe("line 5: field event: expected a non-empty string");
  });

  it("keeps the last N events in a ring", () => {
    const r = new TraceRing(3);
    for (let i = 0; i < 5; i++) r.push({ t: i, node: "n", event: "e" });
    expect(r.toArray().map((e) => e.t)).toEqual([2, 3, 4]);
    expect(r.total).toBe(5);
  });

  it("pretty-prints an aligned line", () => {
    expect(formatTraceEvent({ t: 12.5, node: "n1", event: "deliver", msg: { from: "n2" } })).toBe('      12.500  n1       deliver      {"from":"n2"}');
  });

  it("writes a simulation's whole trace to a file and reads it back", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-sim-trace-"));
    dirs.push(dir);
    const file = path.join(dir, "run.jsonl");
    const w = new TraceWriter(file, { flushChars: 100 });
    const sim = new Simulation<TaggedMessage, number, never, TaggingNode>({
      seed: 2,
      nodeIds: ["a", "b", "c"],
      factory: ({ id, peers, prng, disk, nowMs }) => new TaggingNode(id, peers, prng, disk, nowMs),
      onTrace: (e) => w.write(e),
      traceLimit: 10_000,
    });
    sim.runFor(100);
    sim.crash("a");
    sim.runFor(50);
    w.close();
    const { events, errors } = readTraceFile(file);
    expect(errors).toEqual([]);
    expect(events).toEqual(parseTrace(formatTrace(sim.trace)).events);
    expect(events.some((e) => e.event === "crash" && e.node === "a")).toBe(true);
    let streamed = 0;
    for await (const item of streamTraceFile(file)) if ("event" in item) streamed++;
    expect(streamed).toBe(events.length);
  });
});
