import { describe, expect, it } from "vitest";
import type { MemberEventType } from "../src/core/types.ts";
import { makeNode, sent, takeEvents, takeMessages } from "./support/nodes.ts";

const meta = (s: string): Uint8Array => new TextEncoder().encode(s);
const types = (events: { type: MemberEventType; member: { name: string } }[]): string[] => events.map((e) => `${e.type}:${e.member.name}`);

describe("membership rules (SWIM §4.2, memberlist state.go)", () => {
  it("announces itself with a join event for its own name", () => {
    const a = makeNode("a");
    expect(types(takeEvents(a))).toEqual(["join:a"]);
    expect(a.members().map((m) => [m.name, m.state])).toEqual([["a", "alive"]]);
  });

  it("learns a new member from an alive message and reports join, then update on new metadata", () => {
    const a = makeNode("a");
    takeEvents(a);
    a.receive("b", { type: "alive", name: "b", addr: "b", incarnation: 1, meta: meta("x") }, "packet", 10);
    a.receive("b", { type: "alive", name: "b", addr: "b", incarnation: 1, meta: meta("y") }, "packet", 20); // same incarnation: stale
    a.receive("b", { type: "alive", name: "b", addr: "b", incarnation: 2, meta: meta("y") }, "packet", 30);
    expect(types(takeEvents(a))).toEqual(["join:b", "update:b"]);
    expect(a.member("b")).toMatchObject({ incarnation: 2, state: "alive", meta: meta("y") });
  });

  it("suspects at the same incarnation, ignores older suspicions, and takes a refutation", () => {
    const a = makeNode("a", { peers: ["b", "c", "d"] });
    a.receive("c", { type: "suspect", name: "b", incarnation: 0, from: "c" }, "packet", 10);
    expect(a.member("b")!.state).toBe("suspect");
    a.receive("b", { type: "alive", name: "b", addr: "b", incarnation: 1, meta: new Uint8Array(0) }, "packet", 20);
    a.receive("c", { type: "suspect", name: "b", incarnation: 0, from: "c" }, "packet", 30); // stale now
    expect(a.member("b")).toMatchObject({ state: "alive", incarnation: 1 });
    expect(types(takeEvents(a))).toEqual(["suspect:b", "alive:b"]);
  });

  it("declares a suspect dead when its timer runs out (4 s base at n <= 10, no confirmations expected when n - 2 < k)", () => {
    const a = makeNode("a", { peers: ["b", "c"] }); // n = 3, k = 4 - 2 = 2 > n - 2 = 1, so k = 0: min timeout
    a.receive("c", { type: "suspect", name: "b", incarnation: 0, from: "c" }, "packet", 1000);
    a.tick(4999);
    expect(a.member("b")!.state).toBe("suspect");
    a.tick(5000);
    expect(a.member("b")!.state).toBe("dead");
    expect(types(takeEvents(a))).toEqual(["suspect:b", "dead:b"]);
  });

  it("waits the max timeout for a lone accuser and shortens it with independent confirmations (Lifeguard)", () => {
    const peers = ["b", "c", "d", "e", "f"];
    const a = makeNode("a", { peers }); // n = 6: k = 2, min 4 s, max 24 s
    a.receive("c", { type: "suspect", name: "b", incarnation: 0, from: "c" }, "packet", 0);
    a.tick(23_999);
    expect(a.member("b")!.state).toBe("suspect");
    a.receive("d", { type: "suspect", name: "b", incarnation: 0, from: "d" }, "packet", 1000);
    a.receive("e", { type: "suspect", name: "b", incarnation: 0, from: "e" }, "packet", 1000);
    // Two confirmations of k = 2: the timeout has fallen to the 4 s minimum, which already passed.
    a.tick(24_000);
    expect(a.member("b")!.state).toBe("dead");
  });

  it("refutes a suspicion of itself by raising its incarnation, and counts it against its health", () => {
    const a = makeNode("a", { peers: ["b"] });
    sent(a);
    a.receive("b", { type: "suspect", name: "a", incarnation: 0, from: "b" }, "packet", 10);
    expect(a.incarnation).toBe(1);
    expect(a.healthScore).toBe(1);
    a.receive("b", { type: "dead", name: "a", incarnation: 5, from: "b" }, "packet", 20);
    expect(a.incarnation).toBe(6);
    expect(a.member("a")!.state).toBe("alive");
    // The refutation rides on the next packet.
    a.receive("b", { type: "ping", seq: 1, target: "a", fromName: "b", fromAddr: "b" }, "packet", 30);
    const out = sent(a);
    expect(out.map((o) => o.msg)).toContainEqual({ type: "alive", name: "a", addr: "a", incarnation: 6, meta: new Uint8Array(0) });
  });

  it("answers a claim older than a refutation it holds with the refutation, sent back to whoever made the stale claim", () => {
    const a = makeNode("a", { peers: ["b", "c", "d"] });
    a.receive("b", { type: "suspect", name: "a", incarnation: 0, from: "b" }, "packet", 10);
    a.receive("b", { type: "alive", name: "b", addr: "b", incarnation: 2, meta: new Uint8Array(0) }, "packet", 20);
    sent(a);
    const alive = (name: string, incarnation: number) => ({ type: "alive", name, addr: name, incarnation, meta: new Uint8Array(0) });
    // c missed a's refutation and probes it with the suspicion attached (Lifeguard's buddy system).
    a.receive("c", { type: "ping", seq: 1, target: "a", fromName: "c", fromAddr: "c" }, "packet", 30);
    a.receive("c", { type: "suspect", name: "a", incarnation: 0, from: "c" }, "packet", 30);
    // d relays an old accusation of b and, later, declares b dead at the incarnation b refuted.
    a.receive("d", { type: "suspect", name: "b", incarnation: 1, from: "c" }, "packet", 40);
    a.receive("d", { type: "dead", name: "b", incarnation: 1, from: "d" }, "packet", 50);
    // Each answer is a packet of its own, led by the alive (queued gossip may ride behind it).
    const answers = (): Array<{ to: string; msg: unknown }> => takeMessages(a).map((o) => ({ to: o.to, msg: o.message.type === "compound" ? o.message.parts[0] : o.message }));
    expect(answers().filter((o) => (o.msg as { type: string }).type === "alive")).toEqual([
      { to: "c", msg: alive("a", 1) },
      { to: "d", msg: alive("b", 2) },
      { to: "d", msg: alive("b", 2) },
    ]);
    // Neither stale claim changed a's view, and a current claim is not answered.
    expect(a.member("b")).toMatchObject({ state: "alive", incarnation: 2 });
    a.receive("d", { type: "suspect", name: "b", incarnation: 2, from: "d" }, "packet", 60);
    expect(answers().filter((o) => (o.msg as { type: string }).type === "alive")).toEqual([]);
  });

  it("out-votes a stale alive claim about itself with different metadata", () => {
    const a = makeNode("a");
    a.receive("b", { type: "alive", name: "a", addr: "a", incarnation: 3, meta: meta("old life") }, "packet", 10);
    expect(a.incarnation).toBe(4);
  });

  it("records a dead message from the member itself as a graceful leave", () => {
    const a = makeNode("a", { peers: ["b"] });
    a.receive("b", { type: "dead", name: "b", incarnation: 0, from: "b" }, "packet", 10);
    expect(a.member("b")!.state).toBe("left");
    expect(types(takeEvents(a))).toEqual(["leave:b"]);
  });

  it("refuses a second node claiming a live member's name at another address, but lets a left member move", () => {
    const a = makeNode("a", { peers: ["b"] });
    a.receive("x", { type: "alive", name: "b", addr: "elsewhere", incarnation: 9, meta: new Uint8Array(0) }, "packet", 10);
    expect(a.member("b")!.addr).toBe("b");
    expect(a.stats().addressConflicts).toBe(1);
    a.receive("b", { type: "dead", name: "b", incarnation: 0, from: "b" }, "packet", 20);
    a.receive("x", { type: "alive", name: "b", addr: "elsewhere", incarnation: 0, meta: new Uint8Array(0) }, "packet", 30);
    expect(a.member("b")).toMatchObject({ addr: "elsewhere", state: "alive" });
  });

  it("merges a push-pull: a remote 'dead' only makes us suspect, a remote 'left' is taken as is", () => {
    const a = makeNode("a", { peers: ["b", "c"] });
    const none = new Uint8Array(0);
    a.receive("c", {
      type: "push-pull",
      join: false,
      reply: false,
      members: [
        { name: "b", addr: "b", incarnation: 0, state: "dead", meta: none },
        { name: "c", addr: "c", incarnation: 0, state: "left", meta: none },
        { name: "d", addr: "d", incarnation: 3, state: "alive", meta: none },
      ],
    }, "stream", 10);
    expect(a.member("b")!.state).toBe("suspect");
    expect(a.member("c")!.state).toBe("left");
    expect(a.member("d")).toMatchObject({ state: "alive", incarnation: 3 });
  });

  it("reaps dead members after reapDeadAfterMs", () => {
    const a = makeNode("a", { peers: ["b", "c"], config: { reapDeadAfterMs: 5000 } });
    a.receive("c", { type: "dead", name: "b", incarnation: 0, from: "c" }, "packet", 1000);
    a.tick(5999);
    expect(a.member("b")).toBeDefined();
    for (let t = 6000; t <= 8000; t += 1000) a.tick(t);
    expect(a.member("b")).toBeUndefined();
    expect(a.stats().reaped).toBe(1);
  });

  it("publishes new metadata by raising its incarnation", () => {
    const a = makeNode("a", { peers: ["b"] });
    takeEvents(a);
    a.updateMeta(meta("api=:8080"), 5);
    expect(a.incarnation).toBe(1);
    expect(types(takeEvents(a))).toEqual(["update:a"]);
    expect(() => a.updateMeta(new Uint8Array(513), 6)).toThrow(/meta: at most 512 bytes/);
  });
});
