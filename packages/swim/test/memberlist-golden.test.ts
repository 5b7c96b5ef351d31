/**
 * Bytes hashicorp/memberlist 0.2.2 itself sent (recorded from the Go driver
 * by bench/capture-golden.ts into fixtures/memberlist-golden.json): every
 * one decodes, says what memberlist meant (names and addresses of the
 * members that sent them, memberlist's protocol versions), translates into
 * heck's messages, and re-encodes to the very same bytes (LZW and CRC
 * included; for the encrypted ones, the plaintext). Mutating them never
 * crashes the decoder.
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatIpPort } from "../src/core/memberlist/address.ts";
import { decodeWirePacket, decodeWireStream, encodeWireMessage, encodeWireStream, openWirePacket, type WirePacketMessage, type WireStreamMessage } from "../src/core/memberlist/codec.ts";
import { packetFromWire, streamFromWire } from "../src/core/memberlist/translate.ts";
import type { SwimMessage } from "../src/core/messages.ts";
import { MemberlistKeyring, parseMemberlistKey } from "../src/io/memberlist-keyring.ts";

interface Fixture {
  name: string;
  kind: "packet" | "stream";
  from: string;
  to: string;
  hex: string;
  key?: string;
}
const golden = JSON.parse(readFileSync(new URL("./fixtures/memberlist-golden.json", import.meta.url), "utf8")) as { members: Record<string, string>; fixtures: Fixture[] };
const limits = { maxBytes: 1 << 20 };
const bytesOf = (f: Fixture): Uint8Array => new Uint8Array(Buffer.from(f.hex, "hex"));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const names = new Set(Object.keys(golden.members));
const addrs = new Set(Object.values(golden.members));
const MEMBERLIST_VSN = "010502000000";

/** Every member name and address a heck message mentions. */
function mentions(m: SwimMessage | undefined): { names: string[]; addrs: string[] } {
  const out = { names: [] as string[], addrs: [] as string[] };
  const visit = (x: SwimMessage): void => {
    switch (x.type) {
      case "compound":
        x.parts.forEach(visit);
        return;
      case "push-pull":
        for (const r of x.members) {
          out.names.push(r.name);
          out.addrs.push(r.addr);
        }
        return;
      case "ping":
        out.names.push(x.target, x.fromName);
        out.addrs.push(x.fromAddr);
        return;
      case "ping-req":
        out.names.push(x.target, x.fromName);
        out.addrs.push(x.targetAddr, x.fromAddr);
        return;
      case "alive":
        out.names.push(x.name);
        out.addrs.push(x.addr);
        return;
      case "suspect":
      case "dead":
        out.names.push(x.name, x.from);
        return;
      default:
        return;
    }
  };
  if (m !== undefined) visit(m);
  return out;
}

function expectKnown(m: SwimMessage | undefined, fixture: string): void {
  const { names: n, addrs: a } = mentions(m);
  for (const x of n) expect(names.has(x), `${fixture}: member name ${x}`).toBe(true);
  for (const x of a) expect(addrs.has(x), `${fixture}: address ${x}`).toBe(true);
}

/** Every alive message and push-pull row in a wire message carries memberlist's versions. */
function vsnsOf(m: WirePacketMessage | WireStreamMessage): string[] {
  switch (m.type) {
    case "compound":
      return m.parts.flatMap(vsnsOf);
    case "compress":
      return vsnsOf(m.inner);
    case "alive":
      return [hex(m.vsn!)];
    case "push-pull":
      return m.nodes.map((n) => hex(n.vsn!));
    default:
      return [];
  }
}

describe("memberlist's own bytes (golden fixtures from the Go driver)", () => {
  it("covers every message type and envelope", () => {
    const kinds = golden.fixtures.map((f) => f.name).join(" | ");
    for (const type of ["ping", "indirect-ping", "ack", "nack", "suspect", "alive", "dead", "dead (leave)", "push-pull", "compound", "user", "err"]) {
      expect(kinds, type).toMatch(new RegExp(`(^| )${type.replace(/[()]/g, "\\$&")}( |$)`));
    }
    for (const envelope of ["packet crc", "packet compressed", "stream compressed", "packet encrypted", "stream encrypted"]) expect(kinds).toContain(envelope);
  });

  for (const f of golden.fixtures) {
    it(`${f.name} (from ${f.from}): decodes, translates and re-encodes to the same bytes`, () => {
      const sealed = bytesOf(f);
      const keyring = f.key !== undefined ? new MemberlistKeyring([parseMemberlistKey(f.key)]) : undefined;
      const from = golden.members[f.from]!;
      if (f.kind === "packet") {
        const opened = openWirePacket(sealed, keyring, limits);
        expect(opened.ok).toBe(true);
        if (!opened.ok) return;
        const d = decodeWirePacket(opened.plaintext, limits);
        expect(d.ok, d.ok ? "" : d.error.message).toBe(true);
        if (!d.ok) return;
        expect(hex(encodeWireMessage(d.message)), "re-encoded").toBe(hex(opened.plaintext.subarray(d.crc ? 5 : 0)));
        for (const v of vsnsOf(d.message)) expect(v).toBe(MEMBERLIST_VSN);
        const t = packetFromWire(d.message, { from, selfName: "whoever" });
        expect(t.ok, t.ok ? "" : t.error.message).toBe(true);
        if (t.ok) expectKnown(t.message, f.name);
        if (f.name.includes("user")) expect(t.ok && t.userMessages).toBe(1);
      } else {
        const d = decodeWireStream(sealed, keyring, limits);
        expect(d.status, d.status === "error" ? d.error.message : "").toBe("complete");
        if (d.status !== "complete") return;
        expect(d.consumed).toBe(sealed.length);
        if (keyring === undefined) expect(hex(encodeWireStream(d.message, { compress: d.compressed })), "re-encoded").toBe(f.hex);
        for (const v of vsnsOf(d.message)) expect(v).toBe(MEMBERLIST_VSN);
        const t = streamFromWire(d.message, { from, selfName: "whoever" }, false);
        expect(t.ok, t.ok ? "" : t.error.message).toBe(true);
        if (t.ok) expectKnown(t.message, f.name);
        if (d.message.type === "err") expect(d.message.error).toMatch(/encrypt/i);
        if (d.message.type === "push-pull") {
          // Each row's address is where that member really was.
          for (const n of d.message.nodes) expect(formatIpPort(n.addr!, n.port)).toBe(golden.members[n.name]);
        }
      }
    });
  }

  it("the encrypted ones open only with their key, and ours seal the same plaintext so that it opens again", () => {
    for (const f of golden.fixtures.filter((x) => x.key !== undefined)) {
      const right = new MemberlistKeyring([parseMemberlistKey(f.key!)]);
      const wrong = new MemberlistKeyring([new Uint8Array(16)]);
      const sealed = bytesOf(f);
      if (f.kind === "packet") {
        expect(openWirePacket(sealed, wrong, limits)).toMatchObject({ ok: false, reason: "wrong-key" });
        const plain = openWirePacket(sealed, right, limits);
        expect(plain.ok).toBe(true);
        if (!plain.ok) continue;
        const again = right.seal(plain.plaintext, new Uint8Array(0));
        expect(again.length).toBe(sealed.length);
        const reopened = right.open(again, new Uint8Array(0));
        expect(reopened.ok && hex(reopened.plaintext)).toBe(hex(plain.plaintext));
      } else {
        expect(decodeWireStream(sealed, wrong, limits)).toMatchObject({ status: "error", openError: "wrong-key" });
        const d = decodeWireStream(sealed, right, limits);
        expect(d.status).toBe("complete");
        if (d.status !== "complete") continue;
        const again = encodeWireStream(d.message, { compress: d.compressed, cipher: right });
        expect(again.length).toBe(sealed.length);
        expect(decodeWireStream(again, right, limits)).toMatchObject({ status: "complete", message: d.message });
      }
    }
  });

  it("never crashes on truncated, extended or corrupted copies of memberlist's bytes", () => {
    const fixtures = golden.fixtures;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: fixtures.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 8 }),
        (i, flips, cut, extra) => {
          const f = fixtures[i]!;
          const bytes = bytesOf(f);
          for (const [at, v] of flips) bytes[at % bytes.length] = v;
          const mutated = Uint8Array.of(...bytes.subarray(0, Math.max(1, cut % (bytes.length + 1))), ...extra);
          const keyring = f.key !== undefined ? new MemberlistKeyring([parseMemberlistKey(f.key)]) : undefined;
          if (f.kind === "packet") {
            const opened = openWirePacket(mutated, keyring, limits);
            if (!opened.ok) return;
            const d = decodeWirePacket(opened.plaintext, limits);
            if (d.ok) packetFromWire(d.message, { from: "127.0.0.1:1", selfName: "x" });
            else expect(d.error.message.length).toBeGreaterThan(0);
          } else {
            const d = decodeWireStream(mutated, keyring, limits);
            if (d.status === "complete") streamFromWire(d.message, { from: "127.0.0.1:1", selfName: "x" }, true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
