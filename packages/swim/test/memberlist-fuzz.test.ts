/**
 * Fuzzing every decoder of memberlist's wire: the packet and stream
 * decoders, the keyring's opening of packets and streams (the real AES-GCM
 * keyring, not a stand-in), LZW, msgpack, addresses, keys, and the
 * translation to heck's messages. Inputs are random bytes, and valid
 * messages mutated, truncated, grown past the limit or sealed with another
 * key. The contract under test: every decoder returns a typed outcome and
 * never throws, never reads past its limit, and never accepts what it
 * cannot have read. memberlist-io.test.ts sends the same kinds of bytes to
 * a running member and checks it counts them and keeps working.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyringError } from "@heck/sim/io";
import { formatIpPort, parseIpPort } from "../src/core/memberlist/address.ts";
import { decodeWirePacket, decodeWireStream, encodeWirePacket, encodeWireStream, openWirePacket } from "../src/core/memberlist/codec.ts";
import { lzwCompress, lzwDecompress } from "../src/core/memberlist/lzw.ts";
import { MsgpackReader } from "../src/core/memberlist/msgpack.ts";
import { packetFromWire, streamFromWire } from "../src/core/memberlist/translate.ts";
import { MemberlistKeyring, parseMemberlistKey } from "../src/io/memberlist-keyring.ts";
import { wirePacketArb, wireStreamArb } from "./support/memberlist-arbitraries.ts";

const limits = { maxBytes: 1 << 16 };
const ctx = { from: "127.0.0.1:9", selfName: "me" };
const keyA = new Uint8Array(32).fill(1);
const keyB = new Uint8Array(16).fill(2);
const ring = new MemberlistKeyring([keyA]);
const otherRing = new MemberlistKeyring([keyB]);

/** Byte edits to apply to an encoding: overwrite at a position, cut it short, or grow it. */
const editsArb = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ op: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  ),
  { minLength: 1, maxLength: 4 },
);

function mutate(bytes: Uint8Array, edits: ReadonlyArray<{ op: "set"; at: number; value: number } | { op: "cut"; at: number } | { op: "append"; bytes: Uint8Array }>): Uint8Array {
  let out = bytes.slice();
  for (const e of edits) {
    if (e.op === "set" && out.length > 0) out[e.at % out.length] = e.value;
    else if (e.op === "cut") out = out.subarray(0, e.at % (out.length + 1));
    else if (e.op === "append") out = Uint8Array.of(...out, ...e.bytes);
  }
  return out;
}

/** Envelope choices for an encoding. */
const envelopeArb = fc.record({ compress: fc.boolean(), crc: fc.boolean(), encrypt: fc.boolean() });

/** Decodes a packet as a member does (open, decode, translate); throws only if a decoder throws. */
function receivePacket(bytes: Uint8Array, keyring: MemberlistKeyring | undefined): string {
  const opened = openWirePacket(bytes, keyring, limits);
  if (!opened.ok) return opened.reason;
  const decoded = decodeWirePacket(opened.plaintext, limits);
  if (!decoded.ok) return decoded.error.kind;
  const translated = packetFromWire(decoded.message, ctx);
  return translated.ok ? "ok" : translated.error.kind;
}

describe("fuzzing memberlist's decoders: typed outcomes, never a throw", () => {
  it("packets: random bytes, and every envelope (CRC, compression, AES-GCM) mutated, truncated or grown", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (junk, keyed) => {
        expect(typeof receivePacket(junk, keyed ? ring : undefined)).toBe("string");
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(wirePacketArb, envelopeArb, editsArb, (msg, env, edits) => {
        const keyring = env.encrypt ? ring : undefined;
        const bytes = encodeWirePacket(msg, { compress: env.compress, crc: env.crc, ...(keyring ? { cipher: keyring } : {}) });
        const outcome = receivePacket(mutate(bytes, edits), keyring);
        expect(typeof outcome).toBe("string");
      }),
      { numRuns: 1500 },
    );
  });

  it("packets sealed with a key nobody holds, or altered after sealing, never open", () => {
    fc.assert(
      fc.property(wirePacketArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (msg, at, xor) => {
        const sealed = encodeWirePacket(msg, { cipher: otherRing });
        expect(openWirePacket(sealed, ring, limits)).toMatchObject({ ok: false, reason: "wrong-key" });
        // AES-GCM authenticates every byte: one flipped bit anywhere and no key opens it.
        const mine = encodeWirePacket(msg, { cipher: ring }).slice();
        const i = at % mine.length;
        mine[i] = mine[i]! ^ xor;
        expect(openWirePacket(mine, ring, limits).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("a packet past the size limit is refused before it is parsed", () => {
    fc.assert(
      fc.property(wirePacketArb, (msg) => {
        const bytes = encodeWirePacket(msg);
        fc.pre(bytes.length > 1);
        const tight = { maxBytes: bytes.length - 1 };
        expect(decodeWirePacket(bytes, tight)).toMatchObject({ ok: false, error: { kind: "too-large" } });
      }),
      { numRuns: 200 },
    );
  });

  it("streams: random bytes, and every envelope mutated, truncated or grown, with and without a keyring", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (junk, keyed) => {
        const r = decodeWireStream(junk, keyed ? ring : undefined, limits);
        expect(["complete", "incomplete", "error"]).toContain(r.status);
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(wireStreamArb, envelopeArb, editsArb, fc.boolean(), (msg, env, edits, reply) => {
        const keyring = env.encrypt ? ring : undefined;
        const bytes = mutate(encodeWireStream(msg, { compress: env.compress, ...(keyring ? { cipher: keyring } : {}) }), edits);
        const r = decodeWireStream(bytes, keyring, limits);
        if (r.status === "complete") {
          // A complete message never claims bytes it was not given.
          expect(r.consumed).toBeLessThanOrEqual(bytes.length);
          const translated = streamFromWire(r.message, ctx, reply);
          expect(typeof translated.ok).toBe("boolean");
        } else {
          expect(["incomplete", "error"]).toContain(r.status);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it("a stream sealed with another key, or claiming a sealed length past the limit, is an error, not a wait", () => {
    fc.assert(
      fc.property(wireStreamArb, fc.integer({ min: limits.maxBytes + 1, max: 0xffffffff }), (msg, length) => {
        expect(decodeWireStream(encodeWireStream(msg, { cipher: otherRing }), ring, limits)).toMatchObject({ status: "error", openError: "wrong-key" });
        const header = Uint8Array.of(10, 0, 0, 0, 0);
        new DataView(header.buffer).setUint32(1, length);
        expect(decodeWireStream(header, ring, limits)).toMatchObject({ status: "error", error: { kind: "too-large" } });
      }),
      { numRuns: 200 },
    );
  });

  it("LZW: random and mutated input decompresses or fails with a reason, never past the output limit", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.tuple(fc.uint8Array({ maxLength: 2000 }), editsArb).map(([plain, edits]) => mutate(lzwCompress(plain), edits))), fc.integer({ min: 1, max: 4096 }), (input, maxBytes) => {
        const out = lzwDecompress(input, maxBytes);
        if (out.ok) expect(out.bytes.length).toBeLessThanOrEqual(maxBytes);
        else expect(out.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 1500 },
    );
  });

  it("msgpack: skipping any value of random bytes stops at the end with an error or a position inside the input", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = new MsgpackReader(bytes);
        r.skip("value");
        expect(r.pos).toBeLessThanOrEqual(bytes.length);
        if (r.error !== undefined) expect(r.error.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  it("addresses: any text parses to an IP and port that format back, or to nothing; any bytes format or are refused", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6().map((h) => `[${h}]`)), fc.string({ maxLength: 6 })).map(([h, p]) => `${h}:${p}`)), (text) => {
        const parsed = parseIpPort(text);
        if (parsed === undefined) return;
        expect([4, 16]).toContain(parsed.ip.length);
        expect(parsed.port).toBeLessThanOrEqual(0xffff);
        expect(parseIpPort(formatIpPort(parsed.ip, parsed.port)!)).toEqual(parsed);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), fc.integer({ min: 0, max: 0xffff }), (ip, port) => {
        const text = formatIpPort(ip, port);
        expect(text === undefined).toBe(ip.length !== 4 && ip.length !== 16);
      }),
      { numRuns: 500 },
    );
  });

  it("keys: any text is a key of 16, 24 or 32 bytes or a KeyringError naming the problem", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 64 }), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString("base64"))), (text) => {
        try {
          expect([16, 24, 32]).toContain(parseMemberlistKey(text).length);
        } catch (e) {
          expect(e).toBeInstanceOf(KeyringError);
          expect((e as Error).message).toMatch(/^key: /);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
