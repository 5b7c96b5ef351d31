import fc from "fast-check";
import { createPrng } from "@heck/sim";
import { describe, expect, it } from "vitest";
import { encodedSize } from "../src/core/codec.ts";
import { lanConfig } from "../src/core/config.ts";
import type { PacketMessage, PingMessage, PingReqMessage, SwimMessage } from "../src/core/messages.ts";
import { SwimNode } from "../src/core/node.ts";
import { makeNode, runTo, sent, takeMessages } from "./support/nodes.ts";

/** Runs `node` to its first probe and returns the ping it sent. */
function firstProbe(node: SwimNode): { at: number; ping: PingMessage; to: string } {
  for (;;) {
    const at = node.nextDeadlineMs();
    node.tick(at);
    const ping = sent(node).find((o) => o.msg.type === "ping" && o.channel === "packet");
    if (ping) return { at, ping: ping.msg as PingMessage, to: ping.to };
  }
}

describe("probing (SWIM §3.1)", () => {
  it("pings one member per period; an ack ends the probe and improves health", () => {
    const a = makeNode("a", { peers: ["b"] });
    const { at, ping, to } = firstProbe(a);
    expect(to).toBe("b");
    expect(ping).toMatchObject({ target: "b", fromName: "a", fromAddr: "a" });
    expect(at).toBeLessThan(1000); // random stagger within one period
    a.receive("b", { type: "ack", seq: ping.seq }, "packet", at + 5);
    runTo(a, at + 999);
    expect(sent(a).filter((o) => o.msg.type === "ping-req")).toEqual([]);
    expect(a.member("b")!.state).toBe("alive");
  });

  it("without an ack: ping-req to k others and a stream ping after probeTimeoutMs, then suspect at the end of the period", () => {
    const a = makeNode("a", { peers: ["b", "c", "d", "e"] });
    const probe = firstProbe(a);
    const target = probe.to;
    runTo(a, probe.at + 499);
    expect(sent(a)).toEqual([]);
    runTo(a, probe.at + 500);
    const out = sent(a);
    const reqs = out.filter((o) => o.msg.type === "ping-req");
    expect(reqs).toHaveLength(3);
    expect(new Set(reqs.map((r) => r.to)).has(target)).toBe(false);
    expect((reqs[0]!.msg as PingReqMessage)).toMatchObject({ target, targetAddr: target, seq: probe.ping.seq, nack: true });
    expect(out.filter((o) => o.channel === "stream")).toEqual([{ to: target, channel: "stream", msg: { ...probe.ping } }]);
    // One helper nacks: two of three expected nacks missing, so health drops by 2.
    a.receive(reqs[0]!.to, { type: "nack", seq: probe.ping.seq }, "packet", probe.at + 700);
    runTo(a, probe.at + 1000);
    expect(a.member(target)!.state).toBe("suspect");
    expect(a.healthScore).toBe(2);
    // The verdict and the next probe happen at the same instant; Lifeguard scales that
    // probe's period by score + 1 = 3, so the one after starts 3 s later.
    const second = sent(a).find((o) => o.msg.type === "ping" && o.channel === "packet")!;
    a.receive(second.to, { type: "ack", seq: (second.msg as PingMessage).seq }, "packet", probe.at + 1001);
    expect(a.healthScore).toBe(1);
    const third = firstProbe(a);
    expect(third.at - (probe.at + 1000)).toBe(3000);
  });

  it("probes a suspect with the suspicion attached (buddy system)", () => {
    const a = makeNode("a", { peers: ["b"] });
    a.receive("x", { type: "suspect", name: "b", incarnation: 0, from: "x" }, "packet", 0);
    sent(a);
    let compound: ReturnType<typeof takeMessages>[number] | undefined;
    while (compound === undefined) {
      a.tick(a.nextDeadlineMs());
      compound = takeMessages(a).find((o) => o.message.type === "compound" && o.message.parts[0]!.type === "ping");
    }
    const parts = compound.message.type === "compound" ? compound.message.parts : [];
    expect(parts[0]).toMatchObject({ type: "ping", target: "b" });
    expect(parts[1]).toMatchObject({ type: "suspect", name: "b", from: "a" });
  });

  it("an indirect ack counts as success", () => {
    const a = makeNode("a", { peers: ["b", "c"] });
    const probe = firstProbe(a);
    runTo(a, probe.at + 500);
    sent(a);
    a.receive("c", { type: "ack", seq: probe.ping.seq }, "packet", probe.at + 600);
    runTo(a, probe.at + 1000);
    expect(a.member(probe.to)!.state).toBe("alive");
  });

  it("ignores a ping meant for another name at its address", () => {
    const a = makeNode("a", { peers: ["b"] });
    a.receive("b", { type: "ping", seq: 9, target: "old-a", fromName: "b", fromAddr: "b" }, "packet", 1);
    expect(sent(a).filter((o) => o.msg.type === "ack")).toEqual([]);
    expect(a.stats().misdirectedPings).toBe(1);
  });

  it("answers a stream ping on the stream it came from", () => {
    const a = makeNode("a", { peers: ["b"] });
    a.receive("10.0.0.2:51234", { type: "ping", seq: 4, target: "a", fromName: "b", fromAddr: "b" }, "stream", 1);
    expect(sent(a)).toContainEqual({ to: "10.0.0.2:51234", channel: "stream", msg: { type: "ack", seq: 4 } });
  });
});

describe("indirect probes (relay side)", () => {
  it("pings the target and forwards its ack under the requester's sequence number", () => {
    const b = makeNode("b", { peers: ["a", "c"] });
    b.receive("a", { type: "ping-req", seq: 77, target: "c", targetAddr: "c", fromName: "a", fromAddr: "a", nack: true }, "packet", 100);
    const ping = sent(b).find((o) => o.msg.type === "ping")!;
    expect(ping.to).toBe("c");
    b.receive("c", { type: "ack", seq: (ping.msg as PingMessage).seq }, "packet", 150);
    expect(sent(b)).toContainEqual({ to: "a", channel: "packet", msg: { type: "ack", seq: 77 } });
  });

  it("sends a nack at 80% of probeTimeoutMs when the target stays silent (Lifeguard §IV-A), and still forwards a later ack", () => {
    const b = makeNode("b", { peers: ["a", "c"] });
    b.receive("a", { type: "ping-req", seq: 77, target: "c", targetAddr: "c", fromName: "a", fromAddr: "a", nack: true }, "packet", 100);
    const ping = sent(b).find((o) => o.msg.type === "ping")!;
    runTo(b, 499);
    expect(sent(b).filter((o) => o.msg.type === "nack")).toEqual([]);
    runTo(b, 500);
    expect(sent(b)).toContainEqual({ to: "a", channel: "packet", msg: { type: "nack", seq: 77 } });
    b.receive("c", { type: "ack", seq: (ping.msg as PingMessage).seq }, "packet", 550);
    expect(sent(b)).toContainEqual({ to: "a", channel: "packet", msg: { type: "ack", seq: 77 } });
  });

  it("the prober gets its nacks before its period ends, so probing a crashed member costs it no health", () => {
    // Three members, one crashed (c). a probes c; b relays and nacks; nobody answers for c.
    const a = makeNode("a", { peers: ["b", "c"] });
    const b = makeNode("b", { peers: ["a", "c"] });
    for (let i = 0; i < 40; i++) {
      const now = Math.min(a.nextDeadlineMs(), b.nextDeadlineMs());
      if (a.nextDeadlineMs() <= now) a.tick(now);
      // Read the health right at the verdict, before a later ack can lower it again.
      if (a.stats().probesFailed > 0) break;
      if (b.nextDeadlineMs() <= now) b.tick(now);
      // Deliver a <-> b with 1 ms of latency; anything for c is lost.
      for (const [from, to] of [[a, b], [b, a]] as const) {
        for (const o of takeMessages(from)) if (o.to === to.name && (o.channel ?? "packet") === "packet") to.receive(from.name, o.message, "packet", now + 1);
      }
    }
    expect(a.stats().probesFailed).toBe(1);
    expect(a.member("c")!.state).toBe("suspect");
    expect(a.healthScore).toBe(0);
  });

  it("answers a ping-req about a member it holds dead with its verdict, and still relays the ping", () => {
    const b = makeNode("b", { peers: ["a", "c"] });
    b.receive("x", { type: "dead", name: "c", incarnation: 0, from: "x" }, "packet", 10);
    sent(b);
    b.receive("a", { type: "ping-req", seq: 5, target: "c", targetAddr: "c", fromName: "a", fromAddr: "a", nack: false }, "packet", 20);
    const out = sent(b);
    expect(out).toContainEqual({ to: "a", channel: "packet", msg: { type: "dead", name: "c", incarnation: 0, from: "b" } });
    expect(out.filter((o) => o.msg.type === "ping" && o.to === "c")).toHaveLength(1);
  });
});

describe("stalled suspicions (heck addition)", () => {
  it("past its minimum timeout without confirmations, a suspicion asks one member a period whether the suspect is dead", () => {
    // 6 members, so Lifeguard expects k = 2 confirmations; a lone accusation waits up to 6x.
    const a = makeNode("a", { peers: ["b", "c", "d", "e", "f"] });
    // Everyone but f answers a's probes; collect the stalled queries a sends about f.
    const queries: Array<{ to: string; at: number }> = [];
    const runAnswering = (until: number): void => {
      for (let t = a.nextDeadlineMs(); t <= until; t = a.nextDeadlineMs()) {
        a.tick(t);
        for (const o of sent(a)) {
          if (o.msg.type === "ping" && o.to !== "f" && o.channel === "packet") a.receive(o.to, { type: "ack", seq: (o.msg as PingMessage).seq }, "packet", t + 1);
          if (o.msg.type === "ping-req" && (o.msg as PingReqMessage).target === "f" && !(o.msg as PingReqMessage).nack) queries.push({ to: o.to, at: t });
        }
      }
    };
    runAnswering(10);
    a.receive("b", { type: "suspect", name: "f", incarnation: 0, from: "b" }, "packet", 10);
    const min = 4000;
    runAnswering(10 + min - 1);
    expect(queries).toEqual([]);
    runAnswering(10 + min + 1000);
    expect(queries).toHaveLength(1);
    expect(a.stats().stalledQueries).toBe(1);
    // The member asked holds the verdict: it answers, and we record it.
    a.receive(queries[0]!.to, { type: "dead", name: "f", incarnation: 0, from: queries[0]!.to }, "packet", queries[0]!.at + 1);
    expect(a.member("f")!.state).toBe("dead");
  });
});

describe("a refutation gossip missed (heck addition)", () => {
  it("a stalled suspicion also tells the suspect, which answers with the refutation the suspector missed", () => {
    // 6 members: k = 2, so a lone accusation stalls after the 4 s minimum.
    const a = makeNode("a", { peers: ["b", "c", "d", "e", "f"] });
    a.receive("b", { type: "suspect", name: "f", incarnation: 0, from: "b" }, "packet", 10);
    // f refuted at once, but the gossip of its alive at incarnation 1 never reached a.
    const f = makeNode("f", { peers: ["a", "b", "c", "d", "e"] });
    f.receive("b", { type: "suspect", name: "f", incarnation: 0, from: "b" }, "packet", 10);
    expect(f.incarnation).toBe(1);
    sent(f);
    let told: PacketMessage | SwimMessage | undefined;
    let toldAt = 0;
    for (let t = a.nextDeadlineMs(); t <= 10 + 4000 + 1000 && told === undefined; t = a.nextDeadlineMs()) {
      a.tick(t);
      toldAt = t;
      // Gossip of the accusation and the buddy suspicion on a's probes of f come before; the
      // stalled query's tell is a packet of its own, led by the suspicion.
      // The others answer a's probes, so a stays healthy and keeps its one-second period.
      for (const o of takeMessages(a)) {
        const lead = o.message.type === "compound" ? o.message.parts[0] : o.message;
        if (o.to === "f" && t >= 10 + 4000 && lead?.type === "suspect") told = lead;
        if (lead?.type === "ping" && o.to !== "f" && o.channel !== "stream") a.receive(o.to, { type: "ack", seq: lead.seq }, "packet", t + 1);
      }
    }
    expect(told, "a tells f of its stalled suspicion within a period of the minimum timeout").toEqual({ type: "suspect", name: "f", incarnation: 0, from: "a" });
    // f answers a directly with its alive at incarnation 1, and a's suspicion ends.
    expect(toldAt).toBeGreaterThanOrEqual(10 + 4000);
    f.receive("a", told!, "packet", toldAt + 1);
    const answer = takeMessages(f).find((o) => o.to === "a")!;
    a.receive("f", answer.message, "packet", toldAt + 2);
    expect(a.member("f")).toMatchObject({ state: "alive", incarnation: 1 });
  });
});

describe("dissemination (SWIM §4.1)", () => {
  it("piggybacks queued updates on an ack", () => {
    const a = makeNode("a", { peers: ["b", "c"] });
    a.receive("c", { type: "alive", name: "d", addr: "d", incarnation: 0, meta: new Uint8Array(0) }, "packet", 1);
    a.receive("b", { type: "ping", seq: 1, target: "a", fromName: "b", fromAddr: "b" }, "packet", 2);
    const out = takeMessages(a);
    expect(out).toHaveLength(1);
    expect(out[0]!.message).toMatchObject({ type: "compound", parts: [{ type: "ack", seq: 1 }, { type: "alive", name: "d" }] });
  });

  it("gossips to live members, and to the recently dead only when there are fewer live ones than gossipNodes", () => {
    const a = makeNode("a", { peers: ["b", "c", "d", "e"] });
    a.receive("b", { type: "dead", name: "e", incarnation: 0, from: "b" }, "packet", 1);
    sent(a);
    runTo(a, 1000);
    const gossipTargets = new Set(sent(a).filter((o) => o.msg.type === "dead").map((o) => o.to));
    expect(gossipTargets).toEqual(new Set(["b", "c", "d"]));
    const lonely = makeNode("a", { peers: ["b", "c"] });
    lonely.receive("b", { type: "dead", name: "c", incarnation: 0, from: "b" }, "packet", 1);
    sent(lonely);
    runTo(lonely, 1000);
    expect(new Set(sent(lonely).filter((o) => o.msg.type === "dead").map((o) => o.to))).toEqual(new Set(["b", "c"]));
  });

  it("gossips only while updates are queued, to at most gossipNodes members", () => {
    const a = makeNode("a", { peers: ["b", "c", "d", "e", "f"], config: { probeIntervalMs: 100_000, probeTimeoutMs: 500 } });
    runTo(a, 5000);
    expect(takeMessages(a)).toEqual([]); // nothing to say: silence
    a.receive("b", { type: "alive", name: "g", addr: "g", incarnation: 0, meta: new Uint8Array(0) }, "packet", 5000);
    runTo(a, 5200);
    const out = takeMessages(a);
    expect(out.length).toBeGreaterThan(0);
    expect(out.length).toBeLessThanOrEqual(3);
    expect(new Set(out.map((o) => o.to)).size).toBe(out.length);
  });

  it("never builds a packet over maxPacketBytes, however much is queued (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 200, max: 1400 }), (count, metaBytes, maxPacketBytes) => {
        const a = makeNode("a", { peers: ["b", "c"], config: { maxPacketBytes } });
        for (let i = 0; i < count; i++) {
          a.receive("b", { type: "alive", name: `member-${i}`, addr: `10.0.0.${i}:7946`, incarnation: i, meta: new Uint8Array(metaBytes) }, "packet", 1);
        }
        a.receive("b", { type: "ping", seq: 1, target: "a", fromName: "b", fromAddr: "b" }, "packet", 2);
        runTo(a, 3000);
        for (const o of takeMessages(a)) if (o.channel === "packet") expect(encodedSize(o.message)).toBeLessThanOrEqual(maxPacketBytes);
      }),
      { numRuns: 60 },
    );
  });
});

describe("push-pull and join", () => {
  it("a join sends our state to the seed and completes when the seed replies with its own", () => {
    const a = makeNode("a");
    a.join(["seed", "a"], 0); // our own address is skipped
    const out = sent(a);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ to: "seed", channel: "stream", msg: { type: "push-pull", join: true, reply: false } });
    expect(a.joinProgress()).toMatchObject({ pending: 1, succeeded: [], failed: [] });
    const none = new Uint8Array(0);
    a.receive("seed", { type: "push-pull", join: true, reply: true, members: [{ name: "s", addr: "seed", incarnation: 2, state: "alive", meta: none }] }, "stream", 5);
    expect(a.joinProgress()).toMatchObject({ pending: 0, succeeded: ["seed"], failed: [] });
    expect(a.member("s")).toMatchObject({ state: "alive", incarnation: 2 });
  });

  it("a join fails when the stream breaks or times out", () => {
    const a = makeNode("a", { config: { streamTimeoutMs: 1000 } });
    a.join(["x", "y"], 0);
    const [toX] = sent(a);
    a.streamFailed("x", toX!.msg as SwimMessage, 5);
    runTo(a, 1000);
    expect(a.joinProgress()).toMatchObject({ pending: 0, succeeded: [], failed: ["x", "y"] });
  });

  it("merges a push-pull before answering, so the reply carries its refutation", () => {
    const b = makeNode("b", { peers: ["c"] });
    const none = new Uint8Array(0);
    b.receive("a", {
      type: "push-pull",
      join: false,
      reply: false,
      members: [
        { name: "a", addr: "a", incarnation: 0, state: "alive", meta: none },
        { name: "b", addr: "b", incarnation: 0, state: "dead", meta: none },
      ],
    }, "stream", 1);
    const reply = sent(b).find((o) => o.msg.type === "push-pull")!;
    expect(reply).toMatchObject({ to: "a", channel: "stream" });
    const records = (reply.msg as { members: { name: string; state: string; incarnation: number }[] }).members;
    expect(records.find((r) => r.name === "b")).toMatchObject({ state: "alive", incarnation: 1 });
    expect(records.map((r) => r.name).sort()).toEqual(["a", "b", "c"]);
    expect(b.member("a")!.state).toBe("alive");
  });

  it("reconnects to a random dead member every reconnectIntervalMs (Serf)", () => {
    const a = makeNode("a", { peers: ["b", "c"], config: { reconnectIntervalMs: 5000 } });
    a.receive("c", { type: "dead", name: "b", incarnation: 0, from: "c" }, "packet", 0);
    sent(a);
    const pushPulls: string[] = [];
    for (let t = 0; t < 10_000; ) {
      t = a.nextDeadlineMs();
      a.tick(t);
      for (const o of sent(a)) {
        if (o.msg.type === "push-pull") {
          pushPulls.push(o.to);
          a.streamFailed(o.to, o.msg, t); // b really is down: the dial fails
        }
        if (o.msg.type === "ping" && o.channel === "packet") a.receive(o.to, { type: "ack", seq: (o.msg as PingMessage).seq }, "packet", t);
      }
    }
    expect(pushPulls.filter((to) => to === "b")).toHaveLength(2);
    expect(a.stats().reconnects).toBe(2);
  });

  it("ignores a push-pull that arrives as a packet", () => {
    const b = makeNode("b");
    b.receive("a", { type: "push-pull", join: false, reply: false, members: [] }, "packet", 1);
    expect(b.stats().wrongChannel).toBe(1);
    expect(sent(b)).toEqual([]);
  });

  it("syncs with a stranger that pings it, at most once per cooldown", () => {
    const b = makeNode("b", { peers: ["c"] });
    const ping = { type: "ping", seq: 1, target: "b", fromName: "z", fromAddr: "z" } as const;
    b.receive("z", ping, "packet", 1);
    b.receive("z", { ...ping, seq: 2 }, "packet", 2);
    const pushPulls = sent(b).filter((o) => o.msg.type === "push-pull");
    expect(pushPulls).toHaveLength(1);
    expect(pushPulls[0]!.to).toBe("z");
  });

  it("after a join, repair push-pulls start at pushPullRampStartMs and double", () => {
    const a = makeNode("a", { config: { pushPullRampStartMs: 2000 } });
    a.join(["s"], 0);
    sent(a);
    const none = new Uint8Array(0);
    a.receive("s", { type: "push-pull", join: true, reply: true, members: [{ name: "s", addr: "s", incarnation: 0, state: "alive", meta: none }] }, "stream", 10);
    const times: number[] = [];
    for (let t = 10; t < 20_000; ) {
      t = a.nextDeadlineMs();
      a.tick(t);
      for (const o of takeMessages(a)) {
        if (o.message.type === "push-pull") {
          times.push(t);
          a.receive("s", { type: "push-pull", join: false, reply: true, members: [] }, "stream", t);
        } else if (o.message.type === "ping") {
          a.receive("s", { type: "ack", seq: o.message.seq }, "packet", t);
        }
      }
    }
    expect(times.slice(0, 3)).toEqual([2010, 6010, 14_010]);
  });
});

describe("leave and deadlines", () => {
  it("leaving gossips a dead-from-self until it has been sent its retransmit limit", () => {
    const a = makeNode("a", { peers: ["b", "c"] });
    a.leave(0);
    expect(a.member("a")!.state).toBe("left");
    expect(a.leaveComplete()).toBe(false);
    let goodbyes = 0;
    for (let t = 0; t < 5000 && !a.leaveComplete(); ) {
      t = a.nextDeadlineMs();
      a.tick(t);
      goodbyes += sent(a).filter((o) => o.msg.type === "dead" && (o.msg as { from: string }).from === "a").length;
    }
    expect(a.leaveComplete()).toBe(true);
    expect(goodbyes).toBe(4); // retransmitMult 4 * ceil(log10(3 + 1))
    expect(sent(a).filter((o) => o.msg.type === "ping")).toEqual([]); // a left node stops probing
  });

  it("every deadline lies in the future after a tick, whatever arrives (property)", () => {
    const msg = fc.oneof(
      fc.record({ type: fc.constant("ack" as const), seq: fc.nat(20) }),
      fc.record({ type: fc.constant("nack" as const), seq: fc.nat(20) }),
      fc.record({ type: fc.constant("suspect" as const), name: fc.constantFrom("a", "b", "c", "d"), incarnation: fc.nat(3), from: fc.constantFrom("b", "c", "d") }),
      fc.record({ type: fc.constant("dead" as const), name: fc.constantFrom("a", "b", "c", "d"), incarnation: fc.nat(3), from: fc.constantFrom("b", "c", "d") }),
      fc.record({ type: fc.constant("alive" as const), name: fc.constantFrom("a", "b", "c", "d", "e"), addr: fc.constantFrom("b", "c", "d", "e"), incarnation: fc.nat(3), meta: fc.constant(new Uint8Array(0)) }),
      fc.record({ type: fc.constant("ping-req" as const), seq: fc.nat(20), target: fc.constantFrom("b", "c"), targetAddr: fc.constantFrom("b", "c"), fromName: fc.constant("d"), fromAddr: fc.constant("d"), nack: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), msg), { maxLength: 40 }), fc.nat(), (steps, seed) => {
        const a = new SwimNode({ name: "a", addr: "a", config: lanConfig(), prng: createPrng(seed), nowMs: 0, initialMembers: ["b", "c", "d"].map((n) => ({ name: n, addr: n })) });
        let now = 0;
        for (const [dt, m] of steps) {
          now += dt;
          while (a.nextDeadlineMs() <= now) {
            const d = a.nextDeadlineMs();
            a.tick(d);
            expect(a.nextDeadlineMs()).toBeGreaterThan(d);
          }
          a.receive(m.type === "alive" ? m.addr : "b", m, "packet", now);
          takeMessages(a);
        }
      }),
      { numRuns: 200 },
    );
  });
});
