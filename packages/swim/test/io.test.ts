/**
 * The driver on real loopback sockets, in-process: members built with the
 * embeddable API, bad input thrown at their UDP port, wrong keys. Times are
 * bounded with short protocol periods; nothing asserts speed.
 * Ports 14950-14959 belong to this file.
 */
import * as dgram from "node:dgram";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { encodeMessage } from "../src/core/codec.ts";
import { generateKey, Keyring, parseKey } from "@heck/sim/io";
import { startMember, type SwimMember } from "../src/io/member.ts";

const fast = { probeIntervalMs: 300, probeTimeoutMs: 150, gossipIntervalMs: 50, suspicionMult: 3, pushPullIntervalMs: 5000, streamTimeoutMs: 1000 };
const running: SwimMember[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.shutdown()));
});

async function member(options: Parameters<typeof startMember>[0] = {}): Promise<SwimMember> {
  const m = await startMember({ preset: "local", config: fast, ...options });
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

function sendUdp(to: string, payloads: Uint8Array[]): Promise<void> {
  const [host, port] = to.split(":") as [string, string];
  const sock = dgram.createSocket("udp4");
  return new Promise((resolve) => {
    let left = payloads.length;
    if (left === 0) {
      sock.close();
      resolve();
      return;
    }
    for (const p of payloads) {
      sock.send(p, Number(port), host, () => {
        if (--left === 0) {
          sock.close();
          resolve();
        }
      });
    }
  });
}

describe("members on loopback (embeddable API)", () => {
  it("join, see each other with metadata, publish an update, leave", async () => {
    const a = await member({ name: "a", meta: "api=1" });
    const b = await member({ name: "b", seeds: [a.address] });
    const seen: string[] = [];
    a.subscribe((e) => seen.push(`${e.type}:${e.member.name}`));
    expect(await until(() => a.member("b")?.state === "alive" && b.member("a")?.state === "alive", 5000)).toBe(true);
    expect(new TextDecoder().decode(b.member("a")!.meta)).toBe("api=1");
    b.updateMeta("api=2");
    expect(await until(() => new TextDecoder().decode(a.member("b")!.meta) === "api=2", 5000)).toBe(true);
    expect(await b.leave(3000)).toBe(true);
    expect(await until(() => a.member("b")?.state === "left", 5000)).toBe(true);
    expect(seen).toContain("update:b");
    expect(seen).toContain("leave:b");
  });

  it("rejects a join when no seed answers", async () => {
    await expect(startMember({ config: fast, preset: "local", seeds: ["127.0.0.1:1"] })).rejects.toThrow(/join: none of 127.0.0.1:1 answered/);
  });

  it("retryJoin: a member started before its seed keeps trying, and joins once the seed is up", async () => {
    // A fixed address in this file's port range, so the seed can come up on it later.
    const seedAddr = "127.0.0.1:14950";
    const warnings: string[] = [];
    const early = await member({ name: "early", log: (level, message) => warnings.push(`${level} ${message}`) });
    let settled = false;
    const joined = early.retryJoin([seedAddr], { initialIntervalMs: 200, maxIntervalMs: 400 }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 1200));
    expect(settled).toBe(false);
    expect(early.stats().driver.dialFailures).toBeGreaterThanOrEqual(2);
    const seed = await member({ name: "seed", bind: seedAddr });
    const progress = await joined;
    expect(progress.retry).toBe("joined");
    expect(progress.attempts).toBeGreaterThanOrEqual(3);
    expect(progress.succeeded).toEqual([seedAddr]);
    expect(await until(() => seed.member("early")?.state === "alive" && early.member("seed")?.state === "alive", 5000)).toBe(true);
    // Each failed attempt is logged with the wait before the next.
    expect(warnings.filter((w) => /^warn join: none of 127\.0\.0\.1:14950 answered \(attempt \d+\); retrying in \d\.\d s$/.test(w)).length).toBeGreaterThanOrEqual(2);
  });

  it("retryJoin with maxAttempts rejects once they run out", async () => {
    const lonely = await member({ name: "lonely" });
    await expect(lonely.retryJoin(["127.0.0.1:14951"], { maxAttempts: 3, initialIntervalMs: 50, maxIntervalMs: 100 })).rejects.toThrow(/none of 127.0.0.1:14951 answered after 3 attempt/);
    expect(lonely.stats().driver.dialFailures).toBe(3);
  });

  it("drops random, truncated and oversized packets without crashing, and counts them", async () => {
    const a = await member({ name: "a" });
    const b = await member({ name: "b", seeds: [a.address] });
    const valid = encodeMessage({ type: "ping", seq: 1, target: "a", fromName: "x", fromAddr: "127.0.0.1:9" });
    const garbage = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), { numRuns: 200, seed: 42 });
    await sendUdp(a.address, [...garbage, valid.subarray(0, valid.length - 2), new Uint8Array(5000).fill(1)]);
    // The oversized packet is the last one sent: the counts are read once it too is in.
    expect(await until(() => a.stats().driver.packetsIn >= 150 && a.stats().driver.decodeErrors["too-large"] !== undefined, 5000)).toBe(true);
    const errors = Object.values(a.stats().driver.decodeErrors).reduce((s, n) => s + (n ?? 0), 0);
    expect(errors).toBeGreaterThan(100);
    expect(a.stats().driver.decodeErrors["too-large"]).toBe(1);
    // Still a working member.
    expect(await until(() => a.member("b")?.state === "alive" && b.member("a")?.state === "alive", 3000)).toBe(true);
  });

  it("with encryption: drops packets sealed with an unknown key and plaintext, counts them, keeps working", async () => {
    const key = generateKey();
    const a = await member({ name: "a", keys: [key] });
    const b = await member({ name: "b", keys: [key], seeds: [a.address] });
    expect(await until(() => a.member("b")?.state === "alive", 5000)).toBe(true);
    const stranger = new Keyring([parseKey(generateKey())]);
    const ping = encodeMessage({ type: "ping", seq: 7, target: "a", fromName: "x", fromAddr: "127.0.0.1:9" });
    await sendUdp(a.address, [stranger.seal(ping), stranger.seal(ping), ping]);
    expect(await until(() => a.stats().driver.wrongKey === 2 && a.stats().driver.plaintextRejected === 1, 3000)).toBe(true);
    // A member with the wrong key cannot join.
    await expect(startMember({ preset: "local", config: fast, keys: [generateKey()], seeds: [a.address] })).rejects.toThrow(/join/);
    expect(b.member("a")?.state).toBe("alive");
  });

  it("rotates keys on a live cluster without losing anyone", async () => {
    const k1 = generateKey();
    const k2 = generateKey();
    const a = await member({ name: "a", keys: [k1] });
    const b = await member({ name: "b", keys: [k1], seeds: [a.address] });
    const c = await member({ name: "c", keys: [k1], seeds: [a.address] });
    const all = [a, b, c];
    expect(await until(() => all.every((m) => m.members().filter((x) => x.state === "alive").length === 3), 5000)).toBe(true);
    const bad: string[] = [];
    // "Without losing anyone": nobody is declared dead. (A suspicion refuted in milliseconds is
    // not a loss, and a loaded test machine can stall an event loop long enough to cause one.)
    for (const m of all) m.subscribe((e) => (e.type === "dead" || e.type === "leave" ? bad.push(`${m.name}:${e.type}:${e.member.name}`) : undefined));
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 700));
    for (const m of all) m.keyring!.install(parseKey(k2));
    await pause();
    for (const m of all) m.keyring!.use(parseKey(k2));
    await pause();
    for (const m of all) m.keyring!.remove(parseKey(k1));
    await pause();
    expect(bad).toEqual([]);
    expect(all.every((m) => m.members().every((x) => x.state === "alive"))).toBe(true);
    const wrongKeyBefore = a.stats().driver.wrongKey;
    await expect(startMember({ preset: "local", config: fast, keys: [k1], seeds: [a.address] })).rejects.toThrow(/join/);
    expect(a.stats().driver.wrongKey).toBeGreaterThan(wrongKeyBefore);
  });
});
