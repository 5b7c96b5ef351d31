import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodedSize, encodeMessage } from "../src/core/codec.ts";
import type { SwimMessage } from "../src/core/messages.ts";
import { messageArb } from "./support/arbitraries.ts";

const ping: SwimMessage = { type: "ping", seq: 7, target: "n2", fromName: "n1", fromAddr: "127.0.0.1:7946" };

describe("codec", () => {
  it("round-trips every message type and predicts its size exactly", () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        const bytes = encodeMessage(msg);
        expect(bytes.length).toBe(encodedSize(msg));
        const decoded = decodeMessage(bytes);
        expect(decoded).toEqual({ ok: true, message: msg });
      }),
      { numRuns: 500 },
    );
  });

  it("is compact: a steady-state ping is under 30 bytes and an ack 3", () => {
    expect(encodeMessage(ping).length).toBeLessThan(30);
    expect(encodeMessage({ type: "ack", seq: 1000 }).length).toBe(3);
  });

  it("rejects an empty buffer and an unknown type with typed errors", () => {
    expect(decodeMessage(new Uint8Array(0))).toMatchObject({ ok: false, error: { kind: "empty" } });
    expect(decodeMessage(Uint8Array.of(0x42, 1, 2))).toMatchObject({ ok: false, error: { kind: "unknown-type", field: "type" } });
    // 0xE1 starts an encrypted envelope: never a message type.
    expect(decodeMessage(Uint8Array.of(0xe1))).toMatchObject({ ok: false, error: { kind: "unknown-type" } });
  });

  it("rejects an oversized buffer before reading it", () => {
    const bytes = encodeMessage(ping);
    expect(decodeMessage(bytes, bytes.length - 1)).toMatchObject({ ok: false, error: { kind: "too-large", field: "length" } });
    expect(decodeMessage(bytes, bytes.length).ok).toBe(true);
  });

  it("rejects every truncation of a valid message, naming a field", () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (msg, cut) => {
        const bytes = encodeMessage(msg);
        const prefix = bytes.subarray(0, cut % bytes.length);
        const result = decodeMessage(prefix);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error.field.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it("rejects trailing bytes", () => {
    const bytes = encodeMessage(ping);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(decodeMessage(longer)).toMatchObject({ ok: false, error: { kind: "trailing-bytes" } });
  });

  it("names the field that holds invalid UTF-8", () => {
    const bytes = encodeMessage({ type: "ping", seq: 1, target: "ab", fromName: "n1", fromAddr: "a" });
    // Layout: type, seq (1 byte), target length, target bytes...
    bytes[3] = 0xff;
    expect(decodeMessage(bytes)).toMatchObject({ ok: false, error: { kind: "invalid-field", field: "ping.target" } });
  });

  it("names bad enum values and empty strings", () => {
    const pp = encodeMessage({ type: "push-pull", join: false, reply: false, members: [{ name: "a", addr: "b", incarnation: 0, state: "alive", meta: new Uint8Array(0) }] });
    pp[3] = 9; // the record's state byte
    expect(decodeMessage(pp)).toMatchObject({ ok: false, error: { kind: "invalid-field", field: "push-pull.members[0].state" } });
    const ack = Uint8Array.of(1, 1, 0); // a ping whose target has length 0
    expect(decodeMessage(ack)).toMatchObject({ ok: false, error: { kind: "invalid-field", field: "ping.target" } });
  });

  it("refuses a compound inside a compound", () => {
    const inner = encodeMessage({ type: "compound", parts: [{ type: "ack", seq: 1 }] });
    const outer = new Uint8Array(2 + 2 + inner.length);
    outer.set([8, 1, 0, inner.length]);
    outer.set(inner, 4);
    expect(decodeMessage(outer)).toMatchObject({ ok: false, error: { kind: "invalid-field", field: "compound.parts[0].type" } });
  });

  it("does not loop on a push-pull that claims billions of records", () => {
    // type 9, flags 0, count = 0xffffffff as a 5-byte varint
    const lie = Uint8Array.of(9, 0, 0xff, 0xff, 0xff, 0xff, 0x0f);
    expect(decodeMessage(lie)).toMatchObject({ ok: false, error: { kind: "truncated", field: "push-pull.members.length" } });
  });

  it("never throws on random bytes (fuzz), and reports a typed error or a message", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const result = decodeMessage(bytes, 1400);
        if (result.ok) expect(typeof result.message.type).toBe("string");
        else expect(["empty", "too-large", "truncated", "unknown-type", "invalid-field", "trailing-bytes"]).toContain(result.error.kind);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on mutated valid messages (fuzz)", () => {
    fc.assert(
      fc.property(messageArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (msg, flips) => {
        const bytes = encodeMessage(msg);
        for (const [pos, value] of flips) bytes[pos % bytes.length] = value;
        const result = decodeMessage(bytes);
        if (result.ok) expect(encodeMessage(result.message).length).toBe(encodedSize(result.message));
      }),
      { numRuns: 1000 },
    );
  });
});
