import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as net from "node:net";
import { encodeFrame, FrameDecoder, openTransport, parseAddress, SystemClock } from "../src/io/index.ts";
import { applyFaultCommand, parseFaultCommand } from "../src/core/fault-command.ts";
import type { Stream } from "../src/index.ts";

describe("FrameDecoder", () => {
  it("recovers the frames however the byte stream is chunked", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => encodeFrame(f)));
        const d = new FrameDecoder(1000);
        const out: Uint8Array[] = [];
        let pos = 0;
        let k = 0;
        while (pos < wire.length) {
          const n = cuts[k++ % cuts.length]!;
          out.push(...d.push(wire.subarray(pos, pos + n)));
          pos += n;
        }
        expect(out.map((f) => [...f])).toEqual(frames.map((f) => [...f]));
      }),
    );
  });

  it("refuses a length header over the maximum", () => {
    const d = new FrameDecoder(10);
    expect(() => d.push(encodeFrame(new Uint8Array(11)))).toThrow(/maxFrameBytes/);
  });
});

describe("UDP+TCP transport edges", () => {
  it("parses addresses and names the bad part", () => {
    expect(parseAddress("127.0.0.1:80")).toEqual({ host: "127.0.0.1", port: 80 });
    expect(parseAddress("[::1]:9")).toEqual({ host: "::1", port: 9 });
    expect(() => parseAddress("nohost")).toThrow(/host:port/);
    expect(() => parseAddress("h:70000")).toThrow(/port/);
  });

  it("survives garbage and oversized frames from a raw TCP client", async () => {
    const t = await openTransport({ maxFrameBytes: 1024 });
    try {
      const accepted: Stream[] = [];
      const closes: Array<Error | undefined> = [];
      t.onStream((s) => {
        accepted.push(s);
        s.onClose((e) => closes.push(e));
      });
      const { port } = parseAddress(t.localAddress);
      // 1: not a hello at all.
      const junk = net.connect(port, "127.0.0.1", () => junk.write(Buffer.from("GET / HTTP/1.1\r\n\r\n")));
      await new Promise((r) => junk.on("close", r));
      expect(accepted.length).toBe(0);
      // 2: a proper hello, then a frame header claiming 1 MB.
      const raw = net.connect(port, "127.0.0.1", () => {
        raw.write(encodeFrame(new TextEncoder().encode("127.0.0.1:1")));
        const header = Buffer.alloc(4);
        header.writeUInt32BE(1_000_000);
        setTimeout(() => raw.write(header), 20);
      });
      raw.on("error", () => {});
      await new Promise((r) => raw.on("close", r));
      await new Promise((r) => setTimeout(r, 10));
      expect(accepted.length).toBe(1);
      expect(closes[0]).toBeInstanceOf(RangeError);
      // The node still works.
      const other = await openTransport();
      const got: number[] = [];
      t.onPacket((_f, p) => got.push(p[0]!));
      other.sendPacket(t.localAddress, Uint8Array.of(5));
      for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(got).toEqual([5]);
      await other.close();
    } finally {
      await t.close();
    }
  });

  it("validates listen options by name", async () => {
    await expect(openTransport({ port: 70000 })).rejects.toThrow(/port/);
    await expect(openTransport({ maxPacketBytes: 70000 })).rejects.toThrow(/maxPacketBytes/);
  });

  it("has a monotonic system clock with cancellable timers", async () => {
    const c = new SystemClock();
    const t0 = c.nowMs();
    let fired = 0;
    const h = c.setTimer(1, () => fired++);
    c.clearTimer(h);
    await new Promise<void>((r) => c.setTimer(5, () => r()));
    expect(fired).toBe(0);
    expect(c.nowMs()).toBeGreaterThan(t0);
  });
});

describe("fault command", () => {
  it("validates fields by name and applies them to any FaultControl", async () => {
    expect(parseFaultCommand({ dropRate: 2 })).toEqual({ ok: false, error: "dropRate: expected a number in [0, 1]" });
    expect(parseFaultCommand({ block: "x" })).toMatchObject({ ok: false, error: expect.stringMatching(/^block:/) });
    expect(parseFaultCommand({ nope: 1 })).toMatchObject({ ok: false, error: expect.stringMatching(/^nope: unknown field/) });
    const t = await openTransport();
    try {
      const r = parseFaultCommand({ dropRate: 0.5, block: ["127.0.0.1:2", "127.0.0.1:1"] });
      if (!r.ok) throw new Error(r.error);
      expect(applyFaultCommand(t, r.command)).toEqual({ dropRate: 0.5, blocked: ["127.0.0.1:1", "127.0.0.1:2"] });
      expect(applyFaultCommand(t, { unblockAll: true, dropRate: 0 })).toEqual({ dropRate: 0, blocked: [] });
    } finally {
      await t.close();
    }
  });
});

describe("UDP+TCP transport with raw streams", () => {
  it("passes bytes through unframed both ways, names an accepted stream by the dialer's socket, and refuses a keyring", async () => {
    const a = await openTransport({ streams: "raw" });
    const b = await openTransport({ streams: "raw" });
    try {
      const got: string[] = [];
      let accepted: Stream | undefined;
      b.onStream((s) => {
        accepted = s;
        s.onFrame((chunk) => {
          got.push(new TextDecoder().decode(chunk));
          s.send(new TextEncoder().encode("pong"));
        });
      });
      const s = await a.dial(b.localAddress, 1000);
      const replies: string[] = [];
      s.onFrame((chunk) => replies.push(new TextDecoder().decode(chunk)));
      s.send(new TextEncoder().encode("ping"));
      const end = Date.now() + 5000;
      while (replies.join("") !== "pong" && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      expect(got.join("")).toBe("ping");
      expect(replies.join("")).toBe("pong");
      // No hello: the acceptor knows the dialer only by its (ephemeral) socket address.
      expect(accepted!.remoteAddress).not.toBe(a.localAddress);
      expect(parseAddress(accepted!.remoteAddress).host).toBe("127.0.0.1");
      // A raw client needs no hello either: plain bytes arrive as they are.
      const { port } = parseAddress(b.localAddress);
      const client = net.connect(port, "127.0.0.1", () => client.write(Buffer.from("hello")));
      while (!got.includes("hello") && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      expect(got).toContain("hello");
      client.destroy();
      s.close();
    } finally {
      await a.close();
      await b.close();
    }
    const { Keyring } = await import("../src/io/keyring.ts");
    await expect(openTransport({ streams: "raw", keyring: new Keyring([new Uint8Array(32)]) })).rejects.toThrow(/raw streams/);
  });
});
