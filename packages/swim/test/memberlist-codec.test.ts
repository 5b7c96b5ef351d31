/**
 * memberlist's wire, without the network: msgpack as go-msgpack writes it,
 * LZW as Go's compress/lzw writes it, CRC-32, addresses, the message codec
 * and its translation to heck's messages. Round trips are properties; the
 * bytes memberlist itself produces are checked in memberlist-golden.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dialableAddress, formatIpPort, parseIpPort } from "../src/core/memberlist/address.ts";
import {
  decodeWirePacket,
  decodeWireStream,
  encodeWireMessage,
  encodeWirePacket,
  encodeWireStream,
  type MemberlistCipher,
  type WirePacketMessage,
  type WireStreamMessage,
} from "../src/core/memberlist/codec.ts";
import { crc32 } from "@heck/sim";
import { lzwCompress, lzwDecompress } from "../src/core/memberlist/lzw.ts";
import { MsgpackReader, MsgpackWriter } from "../src/core/memberlist/msgpack.ts";
import { HECK_VSN, memberlistEncodedSize, packetFromWire, packetToWire, streamFromWire, streamToWire } from "../src/core/memberlist/translate.ts";
import type { SwimMessage } from "../src/core/messages.ts";
import { heckPacketArb, heckPushPullArb, wirePacketArb, wireStreamArb } from "./support/memberlist-arbitraries.ts";

const limits = { maxBytes: 1 << 20 };
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));

/** A stand-in cipher (XOR with a key byte, a tag of the AAD's sum): enough to test the envelope, not cryptography. */
function toyCipher(key: number): MemberlistCipher {
  return {
    overheadBytes: 2,
    seal: (pt, aad) => Uint8Array.of(1, ...pt.map((b) => b ^ key), aad.reduce((s, b) => (s + b) & 0xff, key)),
    open: (sealed, aad) => {
      if (sealed.length < 2 || sealed[0] !== 1 || sealed[sealed.length - 1] !== aad.reduce((s, b) => (s + b) & 0xff, key)) return { ok: false, reason: "no-key-matches" };
      return { ok: true, plaintext: sealed.subarray(1, -1).map((b) => b ^ key) };
    },
  };
}

describe("msgpack as go-msgpack writes it", () => {
  it("writes integers in the smallest unsigned form and bytes as raw strings (never str8)", () => {
    const w = new MsgpackWriter(4);
    for (const v of [0, 127, 128, 255, 256, 65535, 65536, 0xffffffff]) w.uint(v);
    w.bytes(new Uint8Array(31));
    w.bytes(new Uint8Array(32));
    w.bytes(null);
    const out = hex(w.finish());
    expect(out.startsWith("007fcc80ccffcd0100cdffffce00010000ceffffffff")).toBe(true);
    expect(out).toContain(`bf${"00".repeat(31)}da0020${"00".repeat(32)}c0`);
  });

  it("reads every integer form, and rejects negatives and values past the field's range", () => {
    for (const [bytes, value] of [
      ["05", 5],
      ["cc05", 5],
      ["cd0005", 5],
      ["ce00000005", 5],
      ["cf0000000000000005", 5],
      ["d005", 5],
      ["d10005", 5],
      ["d200000005", 5],
      ["d30000000000000005", 5],
    ] as const) {
      expect(new MsgpackReader(fromHex(bytes)).uint("x", 10)).toBe(value);
    }
    for (const bytes of ["ff", "d0ff", "cd0100", "cf0000000100000000"]) {
      const r = new MsgpackReader(fromHex(bytes));
      r.uint("x", 255);
      expect(r.error?.kind, bytes).toBe("invalid-field");
    }
  });

  it("skips unknown fields of any type and refuses absurd container counts", () => {
    // {"Unknown": [1, {"a": 1.5}], "SeqNo": 7}
    const w = new MsgpackWriter();
    w.mapHeader(2);
    w.string("Unknown");
    w.byte(0x92);
    w.uint(1);
    w.mapHeader(1);
    w.string("a");
    w.raw(fromHex("cb3ff8000000000000"));
    w.string("SeqNo");
    w.uint(7);
    const r = new MsgpackReader(w.finish());
    let seq = -1;
    r.struct("ping", (k) => (k === "SeqNo" ? ((seq = r.uint("SeqNo", 100)), true) : false));
    expect(r.error).toBeUndefined();
    expect(seq).toBe(7);
    const lie = new MsgpackReader(fromHex("dfffffffff"));
    lie.mapLength("m");
    expect(lie.error?.kind).toBe("truncated");
  });
});

describe("LZW as Go's compress/lzw writes it", () => {
  it("round-trips any bytes, including runs long enough to fill and clear the code table", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ minLength: 1, maxLength: 4 }).map((s) => new Uint8Array(20_000).map((_, i) => s[i % s.length]!))), (input) => {
        const out = lzwDecompress(lzwCompress(input), 1 << 20);
        expect(out.ok).toBe(true);
        if (out.ok) expect(hex(out.bytes)).toBe(hex(input));
      }),
      { numRuns: 200 },
    );
  });

  it("matches Go's output for a known input", () => {
    // From Go 1.19: lzw.NewWriter(&b, lzw.LSB, 8) fed "TOBEORNOTTOBEORTOBEORNOT" (and nothing: 000302).
    expect(hex(lzwCompress(new TextEncoder().encode("TOBEORNOTTOBEORTOBEORNOT")))).toBe("00a93c1152e48914274fa80824687061c183090302");
    expect(hex(lzwCompress(new Uint8Array(0)))).toBe("000302");
  });

  it("stops at the output limit and rejects invalid codes, a missing end code and trailing bytes", () => {
    const big = lzwCompress(new Uint8Array(100_000));
    expect(lzwDecompress(big, 1000)).toMatchObject({ ok: false, reason: expect.stringMatching(/limit/) });
    const ok = lzwCompress(Uint8Array.of(1, 2, 3));
    expect(lzwDecompress(ok.subarray(0, ok.length - 1), 100).ok).toBe(false);
    expect(lzwDecompress(Uint8Array.of(...ok, 0), 100)).toMatchObject({ ok: false, reason: expect.stringMatching(/after the end code/) });
    // Code 300 before any entry exists.
    expect(lzwDecompress(Uint8Array.of(0x2c, 0x01), 100)).toMatchObject({ ok: false, reason: expect.stringMatching(/invalid code/) });
  });
});

describe("CRC-32 and addresses", () => {
  it("computes the IEEE CRC-32", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  it("parses and formats addresses as Go prints them", () => {
    expect(parseIpPort("127.0.0.1:7946")).toEqual({ ip: Uint8Array.of(127, 0, 0, 1), port: 7946 });
    expect(formatIpPort(Uint8Array.of(127, 0, 0, 1), 7946)).toBe("127.0.0.1:7946");
    // memberlist bound to 0.0.0.0 advertises IPv4 in 16 bytes; the form is kept (it compares bytes), and sent to as IPv4.
    expect(formatIpPort(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1), 1)).toBe("[::ffff:10.0.0.1]:1");
    expect(parseIpPort("[::ffff:10.0.0.1]:1")!.ip).toHaveLength(16);
    expect(dialableAddress("[::ffff:10.0.0.1]:1")).toBe("10.0.0.1:1");
    expect(dialableAddress("[::1]:1")).toBe("[::1]:1");
    expect(dialableAddress("10.0.0.1:1")).toBe("10.0.0.1:1");
    expect(formatIpPort(parseIpPort("[2001:db8:0:0:1:0:0:1]:80")!.ip, 80)).toBe("[2001:db8::1:0:0:1]:80");
    expect(formatIpPort(parseIpPort("[::1]:80")!.ip, 80)).toBe("[::1]:80");
    for (const bad of ["localhost:80", "1.2.3:80", "1.2.3.4", "01.2.3.4:80", "[::1]", "1.2.3.4:70000", "[1::2::3]:1"]) expect(parseIpPort(bad), bad).toBeUndefined();
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 1, max: 65535 }), (h, p) => {
        const parsed = parseIpPort(`${h}:${p}`)!;
        expect(formatIpPort(parsed.ip, parsed.port)).toBe(`${h}:${p}`);
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), (h) => {
        const parsed = parseIpPort(`[${h}]:1`)!;
        expect(parsed).toBeDefined();
        const again = parseIpPort(formatIpPort(parsed.ip, 1)!)!;
        expect(hex(again.ip)).toBe(hex(parsed.ip));
      }),
    );
  });
});

describe("the message codec", () => {
  it("round-trips every packet message, with and without compression, CRC and encryption", () => {
    const cipher = toyCipher(0x5a);
    fc.assert(
      fc.property(wirePacketArb, fc.boolean(), fc.boolean(), fc.boolean(), (msg, compress, crc, encrypt) => {
        const bytes = encodeWirePacket(msg, { compress, crc, ...(encrypt ? { cipher } : {}) });
        let plain = bytes;
        if (encrypt) {
          const opened = cipher.open(bytes, new Uint8Array(0));
          expect(opened.ok).toBe(true);
          if (opened.ok) plain = opened.plaintext;
        }
        const decoded = decodeWirePacket(plain, limits);
        expect(decoded.ok, decoded.ok ? "" : decoded.error.message).toBe(true);
        if (!decoded.ok) return;
        expect(decoded.crc).toBe(crc);
        // Compression is kept only when it shrinks the packet, and then wraps the message.
        const inner = decoded.message.type === "compress" && msg.type !== "compress" ? decoded.message.inner : decoded.message;
        expect(inner).toEqual(msg);
        // And the bytes are canonical: re-encoding gives them back.
        expect(hex(encodeWireMessage(decoded.message))).toBe(hex(plain.subarray(crc ? 5 : 0)));
      }),
      { numRuns: 400 },
    );
  });

  it("round-trips every stream message, compressed, encrypted or neither, and reports incomplete prefixes", () => {
    const cipher = toyCipher(0x33);
    fc.assert(
      fc.property(wireStreamArb, fc.boolean(), fc.boolean(), fc.nat(), (msg, compress, encrypt, cut) => {
        const c = encrypt ? cipher : undefined;
        const bytes = encodeWireStream(msg, { compress, ...(c ? { cipher: c } : {}) });
        const whole = decodeWireStream(bytes, c, limits);
        expect(whole.status, whole.status === "error" ? whole.error.message : "").toBe("complete");
        if (whole.status !== "complete") return;
        expect(whole.message).toEqual(msg);
        expect(whole.consumed).toBe(bytes.length);
        expect(whole.encrypted).toBe(encrypt);
        expect(whole.compressed).toBe(compress);
        // A stream arrives in pieces: every strict prefix is incomplete, never an error.
        const prefix = bytes.subarray(0, cut % bytes.length);
        expect(decodeWireStream(prefix, c, limits).status).toBe("incomplete");
      }),
      { numRuns: 300 },
    );
  });

  it("rejects a plaintext stream when encrypted, an encrypted one without a key, and a wrong key", () => {
    const msg: WireStreamMessage = { type: "ack", seqNo: 1, payload: null };
    const sealed = encodeWireStream(msg, { cipher: toyCipher(1) });
    expect(decodeWireStream(sealed, undefined, limits)).toMatchObject({ status: "error", openError: "encrypted-without-key" });
    expect(decodeWireStream(sealed, toyCipher(2), limits)).toMatchObject({ status: "error", openError: "wrong-key" });
    expect(decodeWireStream(encodeWireStream(msg), toyCipher(1), limits)).toMatchObject({ status: "error", openError: "plaintext" });
  });

  it("rejects a bad checksum, truncated compound parts, deep nesting and trailing bytes with typed errors", () => {
    const ping: WirePacketMessage = { type: "ping", seqNo: 1, node: "a", sourceAddr: Uint8Array.of(127, 0, 0, 1), sourcePort: 7946, sourceNode: "b" };
    const withCrc = encodeWirePacket(ping, { crc: true });
    withCrc[withCrc.length - 1] = withCrc[withCrc.length - 1]! ^ 1;
    expect(decodeWirePacket(withCrc, limits)).toMatchObject({ ok: false, error: { kind: "checksum", field: "crc" } });
    const compound = encodeWireMessage({ type: "compound", parts: [ping, ping] });
    expect(decodeWirePacket(compound.subarray(0, compound.length - 3), limits)).toMatchObject({ ok: false, error: { kind: "truncated", field: "compound.parts[1]" } });
    let nested: WirePacketMessage = ping;
    for (let i = 0; i < 6; i++) nested = { type: "compound", parts: [nested] };
    expect(decodeWirePacket(encodeWireMessage(nested), limits)).toMatchObject({ ok: false, error: { kind: "invalid-field" } });
    expect(decodeWirePacket(Uint8Array.of(...encodeWireMessage(ping), 0), limits)).toMatchObject({ ok: false, error: { kind: "trailing-bytes" } });
    expect(decodeWirePacket(Uint8Array.of(99), limits)).toMatchObject({ ok: false, error: { kind: "unknown-type", field: "type" } });
    expect(decodeWirePacket(Uint8Array.of(6, 0x80), limits)).toMatchObject({ ok: false, error: { kind: "unknown-type" } });
    // memberlist crashes on protocol versions of one to five bytes, so they are never accepted (or relayed).
    const shortVsn = encodeWireMessage({ type: "alive", incarnation: 1, node: "a", addr: Uint8Array.of(1, 2, 3, 4), port: 1, meta: null, vsn: Uint8Array.of(1, 5, 2) });
    expect(decodeWirePacket(shortVsn, limits)).toMatchObject({ ok: false, error: { kind: "invalid-field", field: "alive.Vsn" } });
  });

  it("never throws on garbage or on mutations of valid packets and streams", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
        const p = decodeWirePacket(junk, limits);
        if (!p.ok) expect(p.error.message.length).toBeGreaterThan(0);
        decodeWireStream(junk, undefined, limits);
        decodeWireStream(junk, toyCipher(9), limits);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(wirePacketArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (msg, flips) => {
        const bytes = encodeWirePacket(msg, { crc: false }).slice();
        for (const [at, v] of flips) bytes[at % bytes.length] = v;
        const decoded = decodeWirePacket(bytes, limits);
        if (decoded.ok) packetFromWire(decoded.message, { from: "127.0.0.1:1", selfName: "me" });
      }),
      { numRuns: 1000 },
    );
  });
});

describe("translation to heck's messages", () => {
  const ctx = { from: "127.0.0.1:9", selfName: "me" };
  const normalize = (a: string): string => {
    const p = parseIpPort(a)!;
    return formatIpPort(p.ip, p.port)!;
  };
  const normalizeMessage = (m: SwimMessage): SwimMessage => {
    const copy = structuredClone(m) as SwimMessage & Record<string, unknown>;
    for (const k of ["fromAddr", "targetAddr", "addr"]) if (typeof copy[k] === "string") copy[k] = normalize(copy[k] as string);
    // Heck's own members have no versions until they cross memberlist's wire, where they are HECK_VSN.
    if (copy.type === "alive") copy.vsn ??= HECK_VSN;
    if (copy.type === "compound") return { type: "compound", parts: copy.parts.map((p) => normalizeMessage(p) as typeof p) };
    if (copy.type === "push-pull")
      for (const r of copy.members) {
        r.addr = normalize(r.addr);
        r.vsn ??= HECK_VSN;
      }
    return copy;
  };

  it("carries every heck packet message through memberlist's bytes unchanged (addresses in Go's spelling)", () => {
    fc.assert(
      fc.property(fc.array(heckPacketArb, { minLength: 1, maxLength: 5 }), (parts) => {
        const msg: SwimMessage = parts.length === 1 ? parts[0]! : { type: "compound", parts };
        const bytes = encodeWirePacket(packetToWire(msg as never));
        expect(bytes.length).toBe(memberlistEncodedSize(msg));
        const decoded = decodeWirePacket(bytes, limits);
        expect(decoded.ok).toBe(true);
        if (!decoded.ok) return;
        const back = packetFromWire(decoded.message, ctx);
        expect(back.ok).toBe(true);
        if (back.ok) expect(back.message).toEqual(normalizeMessage(msg));
      }),
      { numRuns: 300 },
    );
  });

  it("carries push-pulls, the reply flag coming from the connection", () => {
    fc.assert(
      fc.property(heckPushPullArb, (msg) => {
        const bytes = encodeWireStream(streamToWire(msg));
        expect(bytes.length).toBe(memberlistEncodedSize(msg));
        const decoded = decodeWireStream(bytes, undefined, limits);
        expect(decoded.status).toBe("complete");
        if (decoded.status !== "complete") return;
        const back = streamFromWire(decoded.message, ctx, msg.reply);
        expect(back.ok).toBe(true);
        if (back.ok) expect(back.message).toEqual(normalizeMessage(msg));
      }),
      { numRuns: 200 },
    );
  });

  it("announces memberlist 0.2.2's versions for members that have none, and relays others' as received", () => {
    const alive = packetToWire({ type: "alive", name: "h1", addr: "127.0.0.1:1", incarnation: 0, meta: new Uint8Array(0) });
    expect(alive).toMatchObject({ type: "alive", vsn: HECK_VSN, meta: null });
    const theirs = Uint8Array.of(2, 4, 3, 0, 1, 0);
    expect(packetToWire({ type: "alive", name: "g1", addr: "127.0.0.1:1", incarnation: 0, meta: new Uint8Array(0), vsn: theirs })).toMatchObject({ vsn: theirs });
  });

  it("fills in what older senders leave out, and refuses what heck cannot use", () => {
    const noSource = packetFromWire({ type: "ping", seqNo: 3, node: "", sourceAddr: null, sourcePort: 0, sourceNode: "" }, ctx);
    expect(noSource).toEqual({ ok: true, message: { type: "ping", seq: 3, target: "me", fromName: "", fromAddr: "127.0.0.1:9" }, userMessages: 0 });
    const user = packetFromWire({ type: "compound", parts: [{ type: "user", payload: Uint8Array.of(1) }, { type: "nack", seqNo: 4 }] }, ctx);
    expect(user).toEqual({ ok: true, message: { type: "nack", seq: 4 }, userMessages: 1 });
    const bad = [
      { type: "alive", incarnation: 1, node: "x", addr: null, port: 1, meta: null, vsn: null },
      { type: "alive", incarnation: 1, node: "x", addr: Uint8Array.of(1, 2, 3, 4), port: 0, meta: null, vsn: null },
      { type: "alive", incarnation: 1, node: "", addr: Uint8Array.of(1, 2, 3, 4), port: 1, meta: null, vsn: null },
      { type: "alive", incarnation: 1, node: "x", addr: Uint8Array.of(1, 2, 3, 4), port: 1, meta: null, vsn: Uint8Array.of(1, 9, 9, 0, 0, 0) },
      { type: "suspect", incarnation: 1, node: "x", from: "" },
      { type: "indirect-ping", seqNo: 1, target: null, port: 0, node: "x", nack: false, sourceAddr: null, sourcePort: 0, sourceNode: "" },
    ] as WirePacketMessage[];
    for (const m of bad) expect(packetFromWire(m, ctx), JSON.stringify(m)).toMatchObject({ ok: false, error: { kind: "invalid-field" } });
    const badState = streamFromWire({ type: "push-pull", join: false, userState: new Uint8Array(0), nodes: [{ name: "x", addr: Uint8Array.of(1, 2, 3, 4), port: 1, meta: null, incarnation: 0, state: 7, vsn: null }] }, ctx, false);
    expect(badState).toMatchObject({ ok: false, error: { field: "push-pull.nodes[0].State" } });
  });
});
