/**
 * The batch write (group commit): a batch reaches the same state as the same
 * writes made one by one, costs one log entry and one WAL record, and an
 * acknowledged batch survives kill -9 of its process.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrng } from "@heck/sim";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../src/core/json.ts";
import { encodeDelta } from "../src/core/store/kv-state.ts";
import { wireOf } from "../src/core/store/messages.ts";
import { KvNode, type BatchWrite } from "../src/core/store/node.ts";
import { receiveWire } from "../src/core/store/wire-input.ts";
import { readyOf, takeMessages } from "./support/drain.ts";
import { KvDriver } from "../src/io/driver.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-putmany-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const node = () => new KvNode({ id: "a", address: "a", peers: ["b"], prng: createPrng(1).fork("a") });
const writeArb: fc.Arbitrary<BatchWrite> = fc.oneof(
  fc.record({ key: fc.constantFrom("x", "y", "z", "mv/q"), value: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null)), ts: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ key: fc.constantFrom("x", "y", "z"), delete: fc.constant(true), ts: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ key: fc.constantFrom("mv/q", "mv/r"), value: fc.integer(), mode: fc.constant("mv" as const) }),
  fc.record({ key: fc.constant(""), value: fc.integer() }), // invalid: its own error, the rest still applies
);

describe("putMany", () => {
  it("reaches the same state and results as the same writes one by one (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(fc.array(writeArb, { maxLength: 12 }), { maxLength: 6 }), (batches) => {
        const one = node();
        const many = node();
        for (const batch of batches) {
          const expected = batch.map((w) => (w.delete === true ? one.delete(w.key, w) : one.put(w.key, w.value!, w)));
          expect(many.putMany(batch)).toEqual(expected);
        }
        expect(canonicalJson(encodeDelta(many.state()))).toBe(canonicalJson(encodeDelta(one.state())));
        // A peer that receives the batches' deltas converges to the same state as one that receives the single writes.
        const peerOf = (n: KvNode) => {
          const b = new KvNode({ id: "b", address: "b", peers: ["a"], prng: createPrng(2).fork("b") });
          for (let r = 0; r < 4; r++) {
            n.syncRound();
            for (const o of takeMessages(n)) receiveWire(b, "a", wireOf(o.message), "packet", 0);
            for (const o of takeMessages(b)) receiveWire(n, "b", wireOf(o.message), "packet", 0);
          }
          return canonicalJson(encodeDelta(b.state()));
        };
        expect(peerOf(many)).toBe(peerOf(one));
      }),
      { numRuns: 150 },
    );
  });

  it("logs a batch as one entry and one WAL record", () => {
    const n = node();
    readyOf(n);
    const res = n.putMany(Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: i, ts: 1 })));
    expect(res.every((r) => r.ok && r.applied)).toBe(true);
    expect(n.sizes().logEntries).toBe(1);
    expect(readyOf(n).records).toHaveLength(1);
  });

  it("an in-process batch is readable at once and durable when its promise resolves", async () => {
    const dir = path.join(tmp, "inproc");
    const d = await KvDriver.start({ id: "p", dataDir: dir });
    const { results, durable } = d.putManyAsync([{ key: "a", value: 1 }, { key: "b", value: 2 }, { key: "a", delete: true }]);
    expect(d.get("b").value).toBe(2);
    expect(results.map((r) => r.ok && r.applied)).toEqual([true, true, true]);
    await durable;
    // Reopen the directory without closing the first driver (as after a crash: no final fsync, no snapshot).
    const again = await KvDriver.start({ id: "p", dataDir: dir });
    expect(again.get("b").value).toBe(2);
    expect(again.get("a").exists).toBe(false);
    await again.close();
    await d.close();
  });

  it("every acknowledged batch survives kill -9 of the writing process", async () => {
    const dir = path.join(tmp, "killed");
    const script = fileURLToPath(new URL("./support/batch-writer.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script, dir], { stdio: ["ignore", "pipe", "pipe"] });
    const acked = new Set<number>();
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 60 acks within 30 s: ${err}`)), 30_000);
      let buf = "";
      child.stdout.on("data", (c: Buffer) => {
        buf += c.toString();
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const m = /^acked (\d+)$/.exec(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (m !== null) acked.add(Number(m[1]));
        }
        if (acked.size >= 60) {
          clearTimeout(timer);
          child.kill("SIGKILL");
          resolve();
        }
      });
    });
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once("exit", r)));
    const d = await KvDriver.start({ id: "w", dataDir: dir });
    try {
      for (const i of acked) {
        for (let j = 1; j < 20; j++) expect(d.get(`b${i}/k${j}`).value, `b${i}/k${j}`).toEqual({ i, j });
        // k0 of a batch is deleted by the synchronous batch after it (every fifth).
        if ((i + 1) % 5 !== 4) expect(d.get(`b${i}/k0`).value).toEqual({ i, j: 0 });
        else if (acked.has(i + 1)) expect(d.get(`b${i}/k0`).exists).toBe(false);
      }
    } finally {
      await d.close();
    }
  }, 40_000);
});
