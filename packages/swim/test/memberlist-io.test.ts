/**
 * Members speaking memberlist's wire, in-process on loopback (no Go needed):
 * they join, gossip and push-pull with each other, compressed or not, and
 * hostile bytes (memberlist's own packets mutated, garbage, truncated and
 * oversized streams, decompression bombs, wrong keys, plaintext) are
 * dropped and counted while the members keep working. Short protocol
 * periods; every wait is bounded.
 */
import * as dgram from "node:dgram";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { encodeWirePacket, encodeWireStream, MEMBERLIST_TYPES } from "../src/core/memberlist/codec.ts";
import { MsgpackWriter, writeStruct } from "../src/core/memberlist/msgpack.ts";
import { startMember, type StartMemberOptions, type SwimMember } from "../src/io/member.ts";
import { MemberlistKeyring } from "../src/io/memberlist-keyring.ts";

const fast = { probeIntervalMs: 300, probeTimeoutMs: 150, gossipIntervalMs: 50, suspicionMult: 3, pushPullIntervalMs: 5000, streamTimeoutMs: 1000 };
const running: SwimMember[] = [];
const golden = JSON.parse(readFileSync(new URL("./fixtures/memberlist-golden.json", import.meta.url), "utf8")) as { fixtures: Array<{ kind: string; hex: string; key?: string }> };

afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.shutdown()));
});

async function member(options: StartMemberOptions = {}): Promise<SwimMember> {
  const m = await startMember({ preset: "local", config: fast, wire: "memberlist", ...options });
  running.push(m);
  return m;
}

async function until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return predicate();
}

const seesAlive = (m: SwimMember, name: string): boolean => m.member(name)?.state === "alive";

function sendUdp(to: string, payloads: Uint8Array[]): Promise<void> {
  const [host, port] = to.split(":") as [string, string];
  const sock = dgram.createSocket("udp4");
  return new Promise((resolve) => {
    let left = payloads.length;
    const done = (): void => {
      sock.close();
      resolve();
    };
    if (left === 0) return done();
    for (const p of payloads) sock.send(p, Number(port), host, () => --left === 0 && done());
  });
}

/** Opens a TCP connection, writes `bytes`, and resolves with what came back once the member hangs up (or after 3 s). */
function sendTcp(to: string, bytes: Uint8Array, end = true): Promise<Buffer> {
  const [host, port] = to.split(":") as [string, string];
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(Number(port), host, () => (end ? s.end(bytes) : s.write(bytes)));
    s.on("data", (c) => chunks.push(c));
    s.on("error", () => {});
    s.on("close", () => resolve(Buffer.concat(chunks)));
    setTimeout(() => s.destroy(), 3000);
  });
}

const errorsOf = (m: SwimMember): number => Object.values(m.stats().driver.decodeErrors).reduce((a, b) => a + (b ?? 0), 0);

describe("members on memberlist's wire (in-process)", () => {
  it("join, see each other with metadata, gossip an update and a leave, compressed or not", async () => {
    const a = await member({ name: "a", meta: "api=1" });
    const b = await member({ name: "b", seeds: [a.address], compress: true });
    const c = await member({ name: "c", seeds: [b.address] });
    expect(await until(() => [a, b, c].every((m) => ["a", "b", "c"].every((n) => seesAlive(m, n))), 10_000)).toBe(true);
    expect(c.member("a")!.meta).toEqual(new TextEncoder().encode("api=1"));
    // Memberlist's wire starts incarnations at 1.
    expect(a.member("a")!.incarnation).toBe(1);
    b.updateMeta("api=2");
    expect(await until(() => new TextDecoder().decode(a.member("b")!.meta) === "api=2", 5000)).toBe(true);
    await c.leave(3000);
    expect(await until(() => a.member("c")?.state === "left" && b.member("c")?.state === "left", 5000)).toBe(true);
    for (const m of [a, b]) expect(errorsOf(m), m.name).toBe(0);
  });

  it("refuses a bad key size and a name it cannot advertise, naming the problem", async () => {
    await expect(member({ keys: [Buffer.alloc(20).toString("base64")] })).rejects.toThrow(/16, 24 or 32 bytes/);
    await expect(member({ bind: "localhost:0" })).rejects.toThrow(/IP address/);
    await expect(startMember({ compress: true })).rejects.toThrow(/compress/);
  });

  it("drops and counts hostile packets (memberlist's own bytes mutated, garbage, bombs) and keeps working", { timeout: 30_000 }, async () => {
    const a = await member({ name: "a" });
    const b = await member({ name: "b", seeds: [a.address] });
    expect(await until(() => seesAlive(a, "b") && seesAlive(b, "a"), 5000)).toBe(true);
    const plain = golden.fixtures.filter((f) => f.kind === "packet" && f.key === undefined).map((f) => new Uint8Array(Buffer.from(f.hex, "hex")));
    const hostile = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.tuple(fc.constantFrom(...plain), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([p, at, v]) => {
          const c = p.slice();
          c[at % c.length] = v;
          return c;
        }),
        fc.tuple(fc.constantFrom(...plain), fc.nat()).map(([p, cut]) => p.subarray(0, Math.max(1, cut % p.length))),
      ),
      { numRuns: 300, seed: 17 },
    );
    // A decompression bomb: 60 KB of LZW that would expand to a megabyte.
    const w = new MsgpackWriter();
    w.byte(MEMBERLIST_TYPES.compress);
    const { lzwCompress } = await import("../src/core/memberlist/lzw.ts");
    const bomb = lzwCompress(new Uint8Array(1 << 20));
    writeStruct(w, [
      ["Algo", (x) => x.uint(0)],
      ["Buf", (x) => x.bytes(bomb)],
    ]);
    const before = errorsOf(a);
    // In small batches with pauses: the member shares this process's event loop, and a burst of
    // hundreds would overflow its socket's receive buffer before it reads any.
    for (let i = 0; i < hostile.length; i += 20) {
      await sendUdp(a.address, hostile.slice(i, i + 20));
      await new Promise((r) => setTimeout(r, 20));
    }
    await sendUdp(a.address, [w.finish()]);
    const sawBomb = await until(() => (a.stats().driver.decodeErrors.compression ?? 0) > 0, 5000);
    expect(sawBomb, JSON.stringify(a.stats().driver)).toBe(true);
    expect(errorsOf(a) - before).toBeGreaterThan(50);
    // Still a working member: the cluster goes on, and a new member can join.
    const c = await member({ name: "c", seeds: [a.address] });
    expect(await until(() => seesAlive(a, "c") && seesAlive(b, "c") && seesAlive(c, "b") && seesAlive(a, "b"), 10_000)).toBe(true);
  });

  it("answers unreadable streams with memberlist's error reply, counts them, and survives slow, truncated and oversized ones", async () => {
    const a = await member({ name: "a" });
    // Garbage: an error reply, then the connection closes.
    const reply = await sendTcp(a.address, Uint8Array.of(42, 1, 2, 3));
    expect(reply[0]).toBe(MEMBERLIST_TYPES.err);
    expect(reply.toString("latin1")).toMatch(/not a stream message/);
    // A push-pull cut short by the peer hanging up: nothing delivered, nothing thrown.
    const pushPull = encodeWireStream({ type: "push-pull", join: true, nodes: [{ name: "x", addr: Uint8Array.of(127, 0, 0, 1), port: 1, meta: null, incarnation: 1, state: 0, vsn: Uint8Array.of(1, 5, 2, 0, 0, 0) }], userState: new Uint8Array(0) });
    expect((await sendTcp(a.address, pushPull.subarray(0, pushPull.length - 4))).length).toBe(0);
    expect(a.member("x")).toBeUndefined();
    // An encrypted stream claiming 100 MB: refused before reading it.
    await sendTcp(a.address, Uint8Array.of(MEMBERLIST_TYPES.encrypt, 0x06, 0, 0, 0));
    // A stream that never completes is closed after the stream timeout.
    await sendTcp(a.address, pushPull.subarray(0, 10), false);
    expect(await until(() => a.stats().openStreams === 0, 5000)).toBe(true);
    expect(a.stats().driver.decodeErrors.truncated).toBe(undefined);
    expect(errorsOf(a)).toBeGreaterThan(0);
    expect(a.stats().driver.encryptedWithoutKeyring).toBe(1);
    // And a whole push-pull from a stranger is merged and answered with ours.
    const answer = await sendTcp(a.address, pushPull, false);
    expect(answer[0]).toBe(MEMBERLIST_TYPES["push-pull"]);
    expect(a.member("x")?.state).toBe("alive");
  });

  it("with keys of 16, 24 and 32 bytes: members with the same keys talk, a wrong key and plaintext are counted, rotation keeps everyone", async () => {
    const k16 = Buffer.alloc(16, 1).toString("base64");
    const k24 = Buffer.alloc(24, 2).toString("base64");
    const k32 = Buffer.alloc(32, 3).toString("base64");
    const a = await member({ name: "a", keys: [k16] });
    const b = await member({ name: "b", keys: [k16], seeds: [a.address] });
    expect(await until(() => seesAlive(a, "b") && seesAlive(b, "a"), 5000)).toBe(true);
    for (const [verb, k] of [
      ["install", k24],
      ["use", k24],
      ["remove", k16],
      ["install", k32],
      ["use", k32],
    ] as const) {
      for (const m of [a, b]) m.keyring![verb](m.parseKey(k));
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(seesAlive(a, "b") && seesAlive(b, "a")).toBe(true);
    expect(a.keyring!.list().keys).toHaveLength(2);
    await expect(member({ name: "stale", keys: [k16], seeds: [a.address] })).rejects.toThrow(/join/);
    await expect(member({ name: "plain", seeds: [b.address] })).rejects.toThrow(/join/);
    // A Go-sealed packet for another key, and a plaintext one, arrive too.
    const foreign = golden.fixtures.find((f) => f.kind === "packet" && f.key !== undefined)!;
    await sendUdp(a.address, [new Uint8Array(Buffer.from(foreign.hex, "hex")), encodeWirePacket({ type: "ping", seqNo: 1, node: "a", sourceAddr: null, sourcePort: 0, sourceNode: "" })]);
    expect(await until(() => a.stats().driver.wrongKey > 0 && a.stats().driver.plaintextRejected > 0, 5000)).toBe(true);
    expect(b.stats().driver.plaintextRejected + a.stats().driver.plaintextRejected).toBeGreaterThan(0);
    expect(seesAlive(a, "b") && seesAlive(b, "a")).toBe(true);
    // The cipher itself: what we seal with a 24-byte key opens with it, and not with another.
    const ring = new MemberlistKeyring([Buffer.alloc(24, 9)]);
    const sealed = ring.seal(Uint8Array.of(1, 2, 3), Uint8Array.of(7));
    expect(ring.open(sealed, Uint8Array.of(7))).toMatchObject({ ok: true, plaintext: Uint8Array.of(1, 2, 3) });
    expect(ring.open(sealed, Uint8Array.of(8)).ok).toBe(false);
  });
});
