/**
 * The encrypted UDP/TCP transport beyond the shared contract: peers with
 * other keys (or none) exchange nothing and are counted, keys rotate with
 * no lost peer, frames cannot be tampered with or replayed, and no garbage
 * crashes a node.
 */
import * as dgram from "node:dgram";
import * as net from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type { Stream } from "../src/core/types.ts";
import type { FaultInjectingTransport } from "../src/io/fault-injecting-transport.ts";
import { ENCRYPTION_OVERHEAD_BYTES, generateKey, Keyring, keyringFromBase64, parseKey } from "../src/io/keyring.ts";
import { openTransport, type OpenTransportOptions } from "../src/io/open-transport.ts";
import { encodeFrame, parseAddress } from "../src/io/udp-tcp-transport.ts";

const opened: FaultInjectingTransport[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.close();
});

async function open(options: OpenTransportOptions = {}): Promise<FaultInjectingTransport> {
  const t = await openTransport({ host: "127.0.0.1", port: 0, ...options });
  opened.push(t);
  return t;
}

async function waitFor(cond: () => boolean, maxMs: number, what: string): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${maxMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Packets a transport received, as text. */
function inbox(t: FaultInjectingTransport): string[] {
  const got: string[] = [];
  t.onPacket((_from, p) => got.push(Buffer.from(p).toString()));
  return got;
}

/** Streams a transport accepted, with the frames each received, as text. */
function acceptAll(t: FaultInjectingTransport): Array<{ stream: Stream; frames: string[]; closed: boolean }> {
  const all: Array<{ stream: Stream; frames: string[]; closed: boolean }> = [];
  t.onStream((stream) => {
    const r = { stream, frames: [] as string[], closed: false };
    stream.onFrame((f) => r.frames.push(Buffer.from(f).toString()));
    stream.onClose(() => (r.closed = true));
    all.push(r);
  });
  return all;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Sends raw bytes to a transport's UDP port. */
async function rawUdp(to: string, payloads: Uint8Array[]): Promise<void> {
  const { port } = parseAddress(to);
  const sock = dgram.createSocket("udp4");
  for (const p of payloads) await new Promise<void>((r) => sock.send(p, port, "127.0.0.1", () => r()));
  await new Promise<void>((r) => sock.close(() => r()));
}

/** Writes raw bytes on a TCP connection to a transport and resolves when the transport hangs up (or after `maxMs`). */
async function rawTcp(to: string, chunks: Uint8Array[], maxMs = 300): Promise<boolean> {
  const { port } = parseAddress(to);
  return new Promise<boolean>((resolve) => {
    const sock = net.connect(port, "127.0.0.1", () => {
      for (const c of chunks) sock.write(c);
    });
    sock.on("error", () => {});
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, maxMs);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe("encrypted transport: keys", () => {
  it("seals the wire: the payload does not appear, and limits account for the overhead", async () => {
    const key = generateKey();
    const a = await open({ keyring: keyringFromBase64([key]) });
    expect(a.maxPacketBytes).toBe(65507 - ENCRYPTION_OVERHEAD_BYTES);
    expect(a.keyring?.list().keys.length).toBe(1);
    // A raw UDP socket sees only ciphertext.
    const spy = dgram.createSocket("udp4");
    await new Promise<void>((r) => spy.bind(0, "127.0.0.1", () => r()));
    const seen: Buffer[] = [];
    spy.on("message", (m) => seen.push(m));
    a.sendPacket(`127.0.0.1:${spy.address().port}`, text("secret-origin-list"));
    await waitFor(() => seen.length === 1, 2000, "the sealed packet");
    spy.close();
    expect(seen[0]!.length).toBe(18 + ENCRYPTION_OVERHEAD_BYTES);
    expect(seen[0]!.includes(Buffer.from("secret"))).toBe(false);
    // The largest payload still fits one datagram once sealed, and arrives.
    const b = await open({ keyring: keyringFromBase64([key]) });
    const got: number[] = [];
    b.onPacket((_f, p) => got.push(p.length));
    a.sendPacket(b.localAddress, new Uint8Array(a.maxPacketBytes));
    await waitFor(() => got.length === 1, 2000, "a maximum-size packet");
    expect(got).toEqual([a.maxPacketBytes]);
    // Frames of exactly maxFrameBytes pass; the decoder allows for the overhead.
    const c = await open({ keyring: keyringFromBase64([key]), maxFrameBytes: 1024 });
    const d = await open({ keyring: keyringFromBase64([key]), maxFrameBytes: 1024 });
    const accepted = acceptAll(d);
    c.onStream(() => {});
    const s = await c.dial(d.localAddress, 2000);
    s.send(new Uint8Array(1024).fill(65));
    expect(() => s.send(new Uint8Array(1025))).toThrow(RangeError);
    await waitFor(() => accepted[0]?.frames.length === 1, 2000, "a maximum-size frame");
    expect(accepted[0]!.frames[0]!.length).toBe(1024);
    s.close();
  });

  it("validates the options by name", async () => {
    await expect(openTransport({ keyring: keyringFromBase64([generateKey()]), maxPacketBytes: 65507 })).rejects.toThrow(/maxPacketBytes must be 1-65478/);
    await expect(openTransport({ keyring: "k" as unknown as Keyring })).rejects.toThrow(/keyring/);
    expect(() => keyringFromBase64([generateKey(), "short"])).toThrow(/keys\[1\]/);
    expect(() => keyringFromBase64([])).toThrow(/at least one/);
  });

  it("exchanges nothing with a peer holding another key, or none, and counts what it drops", async () => {
    const good = await open({ keyring: keyringFromBase64([generateKey()]) });
    const wrong = await open({ keyring: keyringFromBase64([generateKey()]) });
    const plain = await open();
    const goodInbox = inbox(good);
    const wrongInbox = inbox(wrong);
    const goodAccepted = acceptAll(good);
    const wrongAccepted = acceptAll(wrong);
    plain.onStream(() => {});

    wrong.sendPacket(good.localAddress, text("from wrong"));
    plain.sendPacket(good.localAddress, text("from plaintext"));
    good.sendPacket(wrong.localAddress, text("to wrong"));
    await waitFor(() => good.stats.packetDecryptFailures === 2 && wrong.stats.packetDecryptFailures === 1, 2000, "the drops to be counted");
    expect(goodInbox).toEqual([]);
    expect(wrongInbox).toEqual([]);

    // A wrong-key dial: the acceptor cannot open the hello, counts it and hangs up.
    const s = await wrong.dial(good.localAddress, 2000);
    let closed = false;
    s.onClose(() => (closed = true));
    s.send(text("hello?"));
    await waitFor(() => closed, 2000, "the wrong-key stream to be closed");
    expect(goodAccepted).toEqual([]);
    expect(good.stats.frameDecryptFailures).toBe(1);
    // A plaintext dial likewise.
    const p = await plain.dial(good.localAddress, 2000);
    let pClosed = false;
    p.onClose(() => (pClosed = true));
    await waitFor(() => pClosed, 2000, "the plaintext stream to be closed");
    expect(good.stats.frameDecryptFailures).toBe(2);
    // And the other way: good dials wrong.
    const g = await good.dial(wrong.localAddress, 2000);
    let gClosed = false;
    g.onClose(() => (gClosed = true));
    await waitFor(() => gClosed, 2000, "the dial to a wrong-key node to be closed");
    expect(wrongAccepted).toEqual([]);
    expect(good.stats.decryptFailures).toBe(good.stats.packetDecryptFailures + good.stats.frameDecryptFailures);
    // The plaintext packet and the plaintext hello are told apart from wrong keys.
    expect(good.stats.notEncrypted).toBe(2);
  });

  it("rotates keys (install, use, remove) without losing a peer, even on an open stream", async () => {
    const k1 = parseKey(generateKey());
    const k2 = parseKey(generateKey());
    const ringA = new Keyring([k1]);
    const ringB = new Keyring([k1]);
    const a = await open({ keyring: ringA });
    const b = await open({ keyring: ringB });
    const aInbox = inbox(a);
    const bInbox = inbox(b);
    const accepted = acceptAll(b);
    a.onStream(() => {});
    const s = await a.dial(b.localAddress, 2000);
    const replies: string[] = [];
    s.onFrame((f) => replies.push(Buffer.from(f).toString()));
    let step = 0;
    const exchange = async (): Promise<void> => {
      step++;
      a.sendPacket(b.localAddress, text(`p${step}`));
      b.sendPacket(a.localAddress, text(`q${step}`));
      s.send(text(`f${step}`));
      await waitFor(() => accepted.length === 1, 2000, "the stream");
      accepted[0]!.stream.send(text(`r${step}`));
      await waitFor(() => bInbox.length === step && aInbox.length === step && accepted[0]!.frames.length === step && replies.length === step, 2000, `exchange ${step}`);
    };
    await exchange(); // both on k1
    ringA.install(k2);
    ringB.install(k2);
    await exchange(); // k2 installed everywhere, still sealing with k1
    ringA.use(k2);
    await exchange(); // a seals with k2, b still with k1: both open both
    ringB.use(k2);
    await exchange();
    ringA.remove(k1);
    ringB.remove(k1);
    await exchange(); // k1 gone
    expect(aInbox).toEqual(["q1", "q2", "q3", "q4", "q5"]);
    expect(accepted[0]!.frames).toEqual(["f1", "f2", "f3", "f4", "f5"]);
    expect(a.stats.decryptFailures + b.stats.decryptFailures).toBe(0);
    // A node left behind on k1 alone is now cut off.
    const stale = await open({ keyring: new Keyring([k1]) });
    stale.sendPacket(a.localAddress, text("stale"));
    await waitFor(() => a.stats.packetDecryptFailures === 1, 2000, "the stale packet to be counted");
    expect(aInbox.length).toBe(5);
  });
});

describe("encrypted transport: hostile bytes", () => {
  it("drops a tampered packet, and closes a stream whose frame is tampered, replayed or reordered", async () => {
    const key = generateKey();
    const ring = keyringFromBase64([key]);
    const t = await open({ keyring: keyringFromBase64([key]) });
    const got = inbox(t);
    const accepted = acceptAll(t);
    // Packets: flip one bit anywhere and the tag no longer verifies.
    const sealed = ring.seal(text("ok"));
    const tampered = Uint8Array.from(sealed);
    tampered[tampered.length - 20]! ^= 1;
    await rawUdp(t.localAddress, [tampered, sealed]);
    await waitFor(() => got.length === 1, 2000, "the intact packet");
    expect(got).toEqual(["ok"]);
    expect(t.stats.packetDecryptFailures).toBe(1);

    // Frames must come as the dialer's frame 0 (hello), 1, 2...: build them as a dialer would.
    const ctx = (seq: number): Uint8Array => {
      const c = new Uint8Array(9);
      c[0] = 0x64;
      new DataView(c.buffer).setBigUint64(1, BigInt(seq));
      return c;
    };
    const hello = encodeFrame(ring.seal(text("127.0.0.1:1"), ctx(0)));
    const f1 = encodeFrame(ring.seal(text("one"), ctx(1)));
    const f2 = encodeFrame(ring.seal(text("two"), ctx(2)));
    // In order: accepted, both frames delivered, the connection stays open.
    expect(await rawTcp(t.localAddress, [hello, f1, f2], 150)).toBe(false);
    expect(accepted[0]!.frames).toEqual(["one", "two"]);
    // A replayed frame (f1 twice) and a reordered pair each close the stream at the bad frame.
    expect(await rawTcp(t.localAddress, [hello, f1, f1, f2], 2000)).toBe(true);
    expect(await rawTcp(t.localAddress, [hello, f2, f1], 2000)).toBe(true);
    // A frame reflected back as if the acceptor had sent it cannot even pass as a hello.
    expect(await rawTcp(t.localAddress, [f1], 2000)).toBe(true);
    // Whether the bad frame came in the hello's TCP segment (the connection is never accepted) or later
    // (accepted, then closed at it), nothing past it is delivered.
    expect(accepted[0]!.frames).toEqual(["one", "two"]);
    for (const a of accepted.slice(1)) {
      expect(a.closed).toBe(true);
      expect(a.frames).not.toContain("two");
    }
    expect(t.stats.frameDecryptFailures).toBe(3);
  });

  it("never crashes or delivers anything on random packets and random stream bytes (fast-check)", async () => {
    const key = generateKey();
    const t = await open({ keyring: keyringFromBase64([key]), maxFrameBytes: 4096 });
    const got = inbox(t);
    const accepted = acceptAll(t);
    // Random bytes, half of them dressed as envelopes (version byte 0xE1 first).
    const garbage = fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 0, maxLength: 300 })).map(([dress, b]) => (dress && b.length > 0 ? Uint8Array.from([0xe1, ...b]) : b));
    await fc.assert(
      fc.asyncProperty(fc.array(garbage, { minLength: 1, maxLength: 20 }), async (packets) => {
        await rawUdp(t.localAddress, packets);
      }),
      { numRuns: 40 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(garbage, { minLength: 1, maxLength: 4 }), fc.boolean(), async (chunks, framed) => {
        await rawTcp(t.localAddress, framed ? chunks.map((c) => encodeFrame(c)) : chunks, 30);
      }),
      { numRuns: 25 },
    );
    await pause(50);
    expect(got).toEqual([]);
    expect(accepted).toEqual([]);
    expect(t.stats.packetDecryptFailures).toBeGreaterThan(0);
    // Still a working node afterwards.
    const peer = await open({ keyring: keyringFromBase64([key]) });
    peer.sendPacket(t.localAddress, text("still here"));
    await waitFor(() => got.length === 1, 2000, "a real packet after the fuzz");
    expect(got).toEqual(["still here"]);
  });
});
