/**
 * Bad input is refused with a clear error naming the field and never
 * changes state: malformed and oversized gossip messages (in the core, and
 * as real UDP packets and TCP frames), and malformed or oversized HTTP
 * requests.
 */
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { createPrng } from "@heck/sim";
import { encodeFrame } from "@heck/sim/io";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../src/core/json.ts";
import { encodeDelta } from "../src/core/store/kv-state.ts";
import { KvNode } from "../src/core/store/node.ts";
import { receiveWire } from "../src/core/store/wire-input.ts";
import { takeMessages } from "./support/drain.ts";
import { startCrdtNode, type CrdtNode } from "../src/io/embed.ts";

function node(): KvNode {
  const n = new KvNode({ id: "a", address: "a", peers: ["b"], prng: createPrng(1), maxMessageBytes: 4096 });
  n.put("k", "v", { ts: 1 });
  n.put("m", 1, { mode: "mv" });
  takeMessages(n);
  return n;
}
const snapshot = (n: KvNode) => canonicalJson(encodeDelta(n.state()));
const okCc = { a: [1] };

const BAD: Array<[string, string | Uint8Array, RegExp]> = [
  ["not JSON", "{nope", /message: not valid JSON/],
  ["invalid UTF-8 bytes", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /message: not valid JSON/],
  ["a JSON array", "[1,2]", /message: expected a JSON object/],
  ["no sender", JSON.stringify({ type: "ack", id: "b", inc: "i", seq: 1 }), /message\.from/],
  ["a bad replica id", JSON.stringify({ type: "ack", from: "b", id: "b:1", seq: 1 }), /message\.id/],
  ["no incarnation", JSON.stringify({ type: "ack", from: "b", id: "b", seq: 1 }), /message\.inc/],
  ["a negative seq", JSON.stringify({ type: "ack", from: "b", id: "b", inc: "i", seq: -1 }), /message\.seq/],
  ["a probe flag that is not true", JSON.stringify({ type: "ack", from: "b", id: "b", inc: "i", seq: 1, probe: 1 }), /ack\.probe/],
  ["an answer flag that is not true", JSON.stringify({ type: "ack", from: "b", id: "b", inc: "i", seq: 1, answer: "yes" }), /ack\.answer/],
  ["a malformed seen context on an ack", JSON.stringify({ type: "ack", from: "b", id: "b", inc: "i", seq: 1, seen: { b: [1, 3] } }), /ack\.seen/],
  ["a malformed seen context on a delta", JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, seen: [], state: { cc: {}, kv: [] } }), /delta\.seen/],
  ["an unknown type", JSON.stringify({ type: "gossip", from: "b", id: "b", inc: "i", seq: 1 }), /message\.type: unknown type "gossip"/],
  ["a delta without full", JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, state: { cc: {}, kv: [] } }), /delta\.full/],
  ["a delta with a bad context", JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: { b: [0, 3, 1] }, kv: [] } }), /delta\.state\.cc\.b/],
  [
    "a version whose dot is not in the context",
    JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: { b: [1] }, kv: [["k", [["b", 2, "m", "x"]]]] } }),
    /delta\.state\.kv\[0\]\[1\]\[0\]: dot b:2 is not in the delta's context/,
  ],
  [
    "the same dot twice",
    JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: { b: [1] }, kv: [["k", [["b", 1, "m", "x"]]], ["j", [["b", 1, "m", "y"]]]] } }),
    /dot b:1 appears twice/,
  ],
  ["an empty key", JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: okCc, kv: [["", [["a", 1, "m", 1]]]] } }), /kv\[0\]\[0\]: key must be a non-empty string/],
  ["a key with a control character", JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: okCc, kv: [["a\u0001", [["a", 1, "m", 1]]]] } }), /control characters/],
  ["a bad version kind", JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: okCc, kv: [["k", [["a", 1, "x", 1]]]] } }), /kind must be "m", "l" or "d"/],
  ["an LWW version without a timestamp", JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: okCc, kv: [["k", [["a", 1, "l", "soon", 1]]]] } }), /\[3\]: timestamp/],
  ["a digest with short hashes", JSON.stringify({ type: "digest", from: "b", id: "b", inc: "i", seq: 1, bits: 4, hashes: "00", cc: {} }), /digest\.hashes: expected 256 lowercase hex digits/],
  ["a digest with too many bits", JSON.stringify({ type: "digest", from: "b", id: "b", inc: "i", seq: 1, bits: 20, hashes: "", cc: {} }), /digest\.bits/],
  [
    "a diff with a bucket out of range",
    JSON.stringify({ type: "diff", from: "b", id: "b", inc: "i", stage: 2, seq: 1, echo: 0, bits: 2, buckets: [9], cc: {}, state: { cc: {}, kv: [] }, partial: false }),
    /diff\.buckets/,
  ],
  ["an oversized message", JSON.stringify({ type: "ack", from: "b", id: "b", inc: "i", seq: 1, pad: "x".repeat(5000) }), /exceeds the limit of 4096/],
];

describe("gossip input to the core", () => {
  it.each(BAD)("refuses %s with an error naming the field, state untouched, no reply", (_name, wire, re) => {
    const n = node();
    const before = snapshot(n);
    receiveWire(n, "b", wire, "packet", 10);
    expect(n.stats.rejected).toBe(1);
    expect(n.stats.lastRejection).toMatch(re);
    expect(snapshot(n)).toBe(before);
    expect(takeMessages(n)).toEqual([]);
  });

  it("still works after refusing garbage", () => {
    const n = node();
    for (const [, wire] of BAD) receiveWire(n, "b", wire, "packet", 10);
    const good = JSON.stringify({ type: "delta", from: "b", id: "b", inc: "i", seq: 1, full: false, state: { cc: { b: [1] }, kv: [["new", [["b", 1, "m", "hello"]]]] } });
    receiveWire(n, "b", good, "packet", 11);
    expect(n.get("new").value).toBe("hello");
    expect(takeMessages(n).map((o) => o.message.type)).toEqual(["ack"]);
  });
});

describe("a real node", () => {
  let dir: string;
  let a: CrdtNode;
  let url: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-bad-"));
    a = await startCrdtNode({ id: "a", dataDir: dir, peers: [], http: { port: 0 }, core: { maxValueBytes: 1000, maxMessageBytes: 64 * 1024 } });
    url = a.httpUrl!;
    a.put("keep", "me");
  });
  afterAll(async () => {
    await a.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const api = async (method: "GET" | "PUT" | "DELETE" | "POST", p: string, body?: string | Buffer, headers: Record<string, string> = {}) => {
    const res = await request(`${url}${p}`, { method, ...(body !== undefined ? { body } : {}), headers });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };

  it("refuses malformed and oversized HTTP requests with the field named", async () => {
    const before = canonicalJson({ keys: a.list(), vv: a.versionVector() });
    const cases: Array<[number, Promise<{ status: number; body: Record<string, unknown> }>, RegExp]> = [
      [400, api("PUT", "/v1/kv/x?mode=fast", "v"), /^mode/],
      [400, api("PUT", "/v1/kv/x?ts=soon", "v"), /^ts/],
      [400, api("PUT", "/v1/kv/x?context=a:zero", "v"), /^context/],
      [400, api("PUT", "/v1/kv/x", "{not json", { "content-type": "application/json" }), /^body/],
      [400, api("PUT", "/v1/kv/x", Buffer.from([0xff, 0xfe])), /^body: not valid UTF-8/],
      [413, api("PUT", "/v1/kv/x", "y".repeat(5000)), /exceeds the limit of 1000/],
      [400, api("PUT", "/v1/kv/a%01b", "v"), /^key must not contain control characters/],
      [400, api("PUT", "/v1/kv/%E0%A4%A", "v"), /^key: malformed/],
      [400, api("DELETE", "/v1/kv/keep?context=%%%", undefined), /^context|^key/],
      [400, api("GET", "/v1/kv?limit=0"), /^limit/],
      [400, api("POST", "/v1/admin/faults", JSON.stringify({ dropRate: 2 })), /^dropRate/],
      [400, api("POST", "/v1/admin/faults", JSON.stringify({ block: "everyone" })), /^block/],
      [400, api("POST", "/v1/admin/faults", "nope"), /^body/],
      [404, api("GET", "/v2/anything"), /no route/],
      [405, api("POST", "/v1/kv/x", "v"), /not allowed/],
    ];
    for (const [status, pending, re] of cases) {
      const r = await pending;
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(String(r.body.error)).toMatch(re);
    }
    expect(canonicalJson({ keys: a.list(), vv: a.versionVector() })).toBe(before);
    expect((await api("GET", "/v1/kv/keep")).body.value).toBe("me");
  });

  it("refuses garbage UDP packets and TCP frames and keeps serving", async () => {
    const before = canonicalJson(a.versionVector());
    const [host, port] = [a.address.split(":")[0]!, Number(a.address.split(":")[1])];
    const udp = dgram.createSocket("udp4");
    const packets = ["{nope", JSON.stringify({ type: "delta", from: "x:1", id: "x", inc: "i", seq: 1, full: false, state: { cc: { x: [0, 3, 1] }, kv: [] } }), "x".repeat(60_000)];
    for (const p of packets) await new Promise<void>((r) => udp.send(p, port, host, () => r()));
    udp.close();
    // A TCP peer that says hello properly, then sends a frame over the node's message limit.
    const sock = net.connect({ host, port });
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write(encodeFrame(new TextEncoder().encode("127.0.0.1:1")));
    sock.write(encodeFrame(new TextEncoder().encode(JSON.stringify({ type: "ack", from: "127.0.0.1:1", id: "z", inc: "i", seq: 1, pad: "p".repeat(70_000) }))));
    await new Promise((r) => setTimeout(r, 300));
    sock.destroy();
    const s = a.stats();
    expect(s.stats.rejected).toBeGreaterThanOrEqual(3);
    expect(s.stats.lastRejection).toMatch(/message|delta/);
    expect(canonicalJson(a.versionVector())).toBe(before);
    expect(a.get("keep").value).toBe("me");
  });
});
