/**
 * The decoders of bytes from outside the process, fuzzed: gossip messages
 * (UDP packets and TCP frames carry the same text), and the data
 * directory's WAL lines and snapshot read back at start. Random text and
 * bytes, and mutations of real messages and records from a replica (bytes
 * changed, cut, junk appended), must decode or give a typed error that
 * names what is wrong, never throw: the driver counts and drops a bad
 * message, and recovery refuses a bad record by name. Bounded runs.
 */
import { createPrng } from "@heck/sim";
import { mutateText, textMutation } from "@heck/sim/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeMessage, wireOf } from "../src/core/store/messages.ts";
import { KvNode } from "../src/core/store/node.ts";
import { decodeRecord, decodeSnapshot, parseWal, walText } from "../src/core/store/persistence.ts";
import { readyOf } from "./support/drain.ts";

const MAX_BYTES = 64 * 1024;

/** Real wire texts and disk lines: two replicas write, gossip to each other (deltas, acks, digests) and snapshot. */
function corpus(): { messages: string[]; walLines: string[]; snapshots: string[] } {
  const nodes = new Map(["a", "b"].map((id) => [id, new KvNode({ id, address: id, peers: id === "a" ? ["b"] : ["a"], prng: createPrng(id === "a" ? 7 : 8), maxMessageBytes: MAX_BYTES, snapshotEveryRecords: 3 })]));
  const walLines: string[] = [];
  const snapshots: string[] = [];
  const messages: string[] = [];
  const a = nodes.get("a")!;
  a.put("origins/o1", { url: "http://x/health" }, { ts: 1 });
  a.put("health/o1", "healthy", { mode: "mv" });
  a.delete("origins/o2", { ts: 2 });
  nodes.get("b")!.put("origins/o3", { url: "http://y/health" }, { ts: 3 });
  for (let t = 0; t < 5_000; t += 100) {
    for (const [id, n] of nodes) {
      n.tick(t);
      while (n.hasReady()) {
        const rd = readyOf(n);
        if (id === "a") walLines.push(...rd.records);
        if (rd.snapshot !== null) snapshots.push(rd.snapshot);
        for (const out of rd.messages) {
          messages.push(wireOf(out.message));
          nodes.get(out.to)?.receive(id, out.message, out.channel ?? "packet", t);
        }
      }
    }
  }
  return { messages, walLines, snapshots };
}

const real = corpus();
/** The records inside the WAL lines (a line is "<crc32> <record>"). */
const records = parseWal(walText(real.walLines)).records;


function expectTyped(r: { ok: true } | { ok: false; error: unknown }): void {
  if (!r.ok) expect(r.error).toBeTruthy();
}

describe("gossip messages", () => {
  it("the corpus holds real messages of several kinds, and they decode", () => {
    const kinds = new Set(real.messages.map((w) => (JSON.parse(w) as { type: string }).type));
    expect(kinds.size).toBeGreaterThanOrEqual(2);
    for (const w of real.messages) expect(decodeMessage(w, MAX_BYTES).ok).toBe(true);
  });

  it("random bytes and random JSON never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => expectTyped(decodeMessage(bytes, MAX_BYTES))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (json) => expectTyped(decodeMessage(JSON.stringify(json) ?? "null", MAX_BYTES))),
      { numRuns: 500 },
    );
  });

  it("mutated real messages never throw", () => {
    fc.assert(
      fc.property(fc.constantFrom(...real.messages), textMutation, (w, m) => expectTyped(decodeMessage(mutateText(w, m), MAX_BYTES))),
      { numRuns: 1000 },
    );
  });

  it("a real message with any one field replaced by any JSON value never throws", () => {
    fc.assert(
      fc.property(fc.constantFrom(...real.messages), fc.nat(), fc.jsonValue({ maxDepth: 3 }), (w, pick, value) => {
        const json = JSON.parse(w) as Record<string, unknown>;
        const keys = Object.keys(json);
        json[keys[pick % keys.length]!] = value;
        expectTyped(decodeMessage(JSON.stringify(json), MAX_BYTES));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("the data directory read back", () => {
  it("the corpus has WAL lines and a snapshot, and they decode", () => {
    expect(records.length).toBe(real.walLines.length);
    expect(real.snapshots.length).toBeGreaterThan(0);
    for (const r of records) expect(decodeRecord(r).ok).toBe(true);
    for (const s of real.snapshots) expect(decodeSnapshot(s).ok).toBe(true);
  });

  it("mutated WAL text is read back or refused by name, and mutated records and snapshots never throw", () => {
    fc.assert(
      fc.property(textMutation, (m) => {
        try {
          parseWal(mutateText(walText(real.walLines), m));
        } catch (error) {
          expect(String(error)).toMatch(/^Error: wal\.log: record \d+ is damaged/);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...records), textMutation, (line, m) => expectTyped(decodeRecord(mutateText(line, m)))),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.constantFrom(...real.snapshots), textMutation, (text, m) => expectTyped(decodeSnapshot(mutateText(text, m)))),
      { numRuns: 500 },
    );
  });
});
