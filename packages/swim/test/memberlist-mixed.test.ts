/**
 * heck members (`heck-swim agent --wire memberlist`) and hashicorp/memberlist
 * 0.2.2 members (our Go driver, bench/memberlist-node) in one cluster, as real
 * processes on loopback with the same short protocol timings: joins through
 * either kind of seed, kill -9 detection both ways, graceful leaves,
 * restarts, metadata, encryption with key rotation and a wrong key, and a
 * partition that heals. Every wait is bounded; no assertion is about speed
 * except the detection bound the config promises, which is the protocol's
 * contract. Ports 14600-14699 belong to this file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectionBoundNoLossMs, presetConfig, resolveConfig } from "../src/core/config.ts";
import { memberlistNodeBinary, memberlistUnavailable } from "../bench/memberlist-build.ts";
import { GoMember, heckTimingFlags, type Timings } from "../bench/mixed-cluster.ts";
import { killAll, members, runCli, startAgent, stateOf, waitFor, type Agent, type MemberRow } from "./support/agents.ts";

const timings: Timings = { preset: "local", probeIntervalMs: 500, probeTimeoutMs: 250, gossipIntervalMs: 50 };
/** The config the heck agents run (startAgent adds the same flags). */
const heckConfig = resolveConfig({ probeIntervalMs: 500, probeTimeoutMs: 250, gossipIntervalMs: 50 }, presetConfig("local"));

const unavailable = memberlistUnavailable();
const agents: Agent[] = [];
const gos: GoMember[] = [];

async function heck(name: string, extra: string[] = [], bind?: string): Promise<Agent> {
  const a = await startAgent(name, ["--wire", "memberlist", ...heckTimingFlags(timings), ...extra], bind);
  agents.push(a);
  return a;
}

async function go(name: string, options: { bind?: string; meta?: string; keys?: string[]; verbose?: boolean; timings?: Timings } = {}): Promise<GoMember> {
  const g = await GoMember.start({ name, timings, ...options });
  gos.push(g);
  return g;
}

/** The view of a member of either kind: name -> { state, addr, meta }. Memberlist lists only alive and suspect members. */
async function view(m: Agent | GoMember): Promise<Map<string, { state: string; addr: string; meta: string }>> {
  const rows: Array<MemberRow | { name: string; addr: string; state: string; meta: string }> = m instanceof GoMember ? await m.members() : await members(m);
  return new Map(rows.map((r) => [r.name, { state: r.state, addr: r.addr, meta: r.meta }]));
}

/** True when every observer sees every one of `expected` alive, with its address and metadata. */
async function allSee(observers: Array<Agent | GoMember>, expected: Array<{ name: string; addr: string; meta?: string }>): Promise<boolean> {
  for (const o of observers) {
    const v = await view(o);
    for (const e of expected) {
      const got = v.get(e.name);
      if (got?.state !== "alive" || got.addr !== e.addr || (e.meta !== undefined && got.meta !== e.meta)) return false;
    }
  }
  return true;
}

/** True when no observer lists `name` as alive or suspect (memberlist drops it from its list; heck shows it dead or left). */
async function noneSeeAlive(observers: Array<Agent | GoMember>, name: string, heckState: "dead" | "left"): Promise<boolean> {
  for (const o of observers) {
    const got = (await view(o)).get(name);
    if (o instanceof GoMember ? got !== undefined : got?.state !== heckState) return false;
  }
  return true;
}

afterAll(async () => {
  killAll(agents);
  await Promise.all(gos.map((g) => g.kill()));
});

describe("heck and hashicorp/memberlist in one cluster", () => {
  beforeAll(() => {
    // Go and memberlist come from scripts/ensure-system-deps.sh test: without them this fails, naming the fix.
    if (unavailable !== undefined) throw new Error(unavailable);
    // Built once (cached by content hash); a first build compiles memberlist: allow for it.
    memberlistNodeBinary();
  }, 300_000);

  it("3 heck + 3 memberlist members joined through either kind of seed all list all 6 alive, with addresses and metadata", { timeout: 120_000 }, async () => {
    const g1 = await go("g1", { meta: "role=go-1" });
    const h1 = await heck("h1", ["--join", g1.addr, "--meta", "role=heck-1"]);
    const g2 = await go("g2", { meta: "role=go-2" });
    g2.command(`join ${h1.addr}`);
    const [h2, h3] = await Promise.all([heck("h2", ["--join", g2.addr, "--meta", "role=heck-2"]), heck("h3", ["--join", h1.addr])]);
    const g3 = await go("g3");
    g3.command(`join ${h3.addr}`);
    const everyone = [
      { name: "g1", addr: g1.addr, meta: "role=go-1" },
      { name: "g2", addr: g2.addr, meta: "role=go-2" },
      { name: "g3", addr: g3.addr, meta: "" },
      { name: "h1", addr: h1.addr, meta: "role=heck-1" },
      { name: "h2", addr: h2.addr, meta: "role=heck-2" },
      { name: "h3", addr: h3.addr, meta: "" },
    ];
    await waitFor(() => allSee([h1, h2, h3, g1, g2, g3], everyone), 30_000);
    // Nothing was dropped on either side as malformed.
    const stats = (await (await fetch(`http://${h1.http}/v1/stats`)).json()) as { driver: { decodeErrors: Record<string, number> } };
    expect(stats.driver.decodeErrors).toEqual({});
    // heck reports memberlist's incarnations (they start at 1, as heck's do on this wire).
    expect((await members(h2)).find((m) => m.name === "g1")?.incarnation).toBeGreaterThanOrEqual(1);

    // kill -9 a memberlist member: every heck member declares it dead within the bound heck's config
    // promises, and the memberlist members declare it dead too.
    const bound = detectionBoundNoLossMs(heckConfig, 6);
    const killedAt = Date.now();
    await g3.kill();
    await waitFor(() => noneSeeAlive([h1, h2, h3, g1, g2], "g3", "dead"), bound + 20_000);
    for (const h of [h1, h2, h3]) {
      const at = h.events.find((e) => e.member === "g3" && e.event === "dead")?.t;
      expect(at, `${h.name} declared g3 dead`).toBeDefined();
      expect(at! - killedAt, `${h.name}: detection within ${bound} ms`).toBeLessThanOrEqual(bound);
    }
    for (const g of [g1, g2]) {
      const at = g.eventTime("dead", "g3", killedAt);
      expect(at, `${g.name} declared g3 dead`).toBeDefined();
      expect(at! - killedAt, `${g.name}: detection within ${bound} ms`).toBeLessThanOrEqual(bound);
    }

    // And the other way: kill -9 a heck member; the memberlist members and the heck ones declare it dead, within the same bound.
    const heckBound = detectionBoundNoLossMs(heckConfig, 5);
    const heckKilledAt = Date.now();
    h3.proc.kill("SIGKILL");
    await h3.exited;
    await waitFor(() => noneSeeAlive([h1, h2, g1, g2], "h3", "dead"), heckBound + 20_000);
    for (const h of [h1, h2]) {
      const at = h.events.find((e) => e.member === "h3" && e.event === "dead" && e.t >= heckKilledAt)?.t;
      expect(at, `${h.name} declared h3 dead`).toBeDefined();
      expect(at! - heckKilledAt, `${h.name}: detection within ${heckBound} ms`).toBeLessThanOrEqual(heckBound);
    }
    for (const g of [g1, g2]) {
      const at = g.eventTime("dead", "h3", heckKilledAt);
      expect(at, `${g.name} declared h3 dead`).toBeDefined();
      expect(at! - heckKilledAt, `${g.name}: detection within ${heckBound} ms`).toBeLessThanOrEqual(heckBound);
    }
  });

  it("leaves gracefully both ways, restarts with a higher incarnation, and carries metadata updates both ways", { timeout: 150_000 }, async () => {
    const g1 = await go("g1", { bind: "127.0.0.1:14601", verbose: true });
    const h1 = await heck("h1", ["--join", g1.addr], "127.0.0.1:14611");
    const [g2, h2, h3] = await Promise.all([go("g2"), heck("h2", ["--join", g1.addr]), heck("h3", ["--join", h1.addr])]);
    g2.command(`join ${h2.addr}`);
    const all = [g1, g2, h1, h2, h3];
    await waitFor(() => allSee(all, all.map((m) => ({ name: m.name, addr: m.addr }))), 30_000);

    // Metadata set on a heck member reaches the memberlist members, and the other way round.
    const set = await fetch(`http://${h1.http}/v1/meta`, { method: "POST", body: JSON.stringify({ meta: "api=127.0.0.1:9001" }) });
    expect(set.status).toBe(200);
    await g1.run("meta api=127.0.0.1:9101");
    // Gossip carries each update a few times only (memberlist's local preset: twice at this size), so
    // it can miss a member; the next push-pull repairs that. Wait for two push-pull intervals.
    await waitFor(
      () =>
        allSee(all, [
          { name: "h1", addr: h1.addr, meta: "api=127.0.0.1:9001" },
          { name: "g1", addr: g1.addr, meta: "api=127.0.0.1:9101" },
        ]),
      2 * heckConfig.pushPullIntervalMs + 5_000,
    );
    expect(g2.events.some((e) => e.event === "update" && e.member === "h1" && e.meta === "api=127.0.0.1:9001")).toBe(true);
    expect(h2.events.some((e) => e.event === "update" && e.member === "g1")).toBe(true);

    // A memberlist member leaves: heck records "left", not a failure, and so does memberlist.
    await g2.leave();
    await waitFor(() => noneSeeAlive([h1, h2, h3, g1], "g2", "left"), 20_000);
    expect(h1.events.filter((e) => e.member === "g2" && e.event === "dead")).toEqual([]);
    // A heck member leaves (SIGTERM): memberlist drops it without suspecting it first, which is
    // how it takes a goodbye. (memberlist 0.2.2's events cannot say "left"; its log says "failed"
    // only for a failure.)
    h3.proc.kill("SIGTERM");
    expect(await h3.exited).toBe(0);
    await waitFor(() => noneSeeAlive([h1, h2, g1], "h3", "left"), 20_000);
    expect(g1.log.join("")).not.toMatch(/Suspect h3 has failed|Marking h3 as failed/);

    // A memberlist member killed and restarted on its address rejoins with a higher incarnation.
    const before = (await stateOf(h1, "g1"))!.incarnation;
    await g1.kill();
    await waitFor(async () => (await stateOf(h1, "g1"))?.state === "dead", 30_000);
    const g1again = await go("g1", { bind: "127.0.0.1:14601", meta: "api=127.0.0.1:9101" });
    g1again.command(`join ${h2.addr}`);
    await waitFor(() => allSee([h1, h2, g1again], [{ name: "g1", addr: g1again.addr }, { name: "h1", addr: h1.addr }, { name: "h2", addr: h2.addr }]), 30_000);
    expect((await stateOf(h1, "g1"))!.incarnation).toBeGreaterThan(before);

    // A heck member killed and restarted on its address: memberlist sees it come back, heck sees a higher incarnation.
    const heckBefore = (await stateOf(h2, "h1"))!.incarnation;
    h1.proc.kill("SIGKILL");
    await h1.exited;
    await waitFor(async () => (await stateOf(h2, "h1"))?.state === "dead" && !(await view(g1again)).has("h1"), 30_000);
    const h1again = await heck("h1", ["--join", g1again.addr, "--meta", "api=127.0.0.1:9001"], "127.0.0.1:14611");
    await waitFor(() => allSee([h2, g1again, h1again], [{ name: "h1", addr: h1again.addr, meta: "api=127.0.0.1:9001" }, { name: "g1", addr: g1again.addr }]), 30_000);
    expect((await stateOf(h2, "h1"))!.incarnation).toBeGreaterThan(heckBefore);
  });

  it("with encryption: memberlist-format keys, a rotation while everyone stays alive, and a wrong key kept out and counted", { timeout: 150_000 }, async () => {
    // A 16-byte key (AES-128, memberlist's smallest) first, then a 32-byte one.
    const k1 = Buffer.alloc(16, 7).toString("base64");
    const [k2, g1] = await Promise.all([runCli(["keygen"]).then((r) => r.stdout.trim()), go("eg1", { keys: [k1] })]);
    const h1 = await heck("eh1", ["--key", k1, "--join", g1.addr]);
    const [g2, h2] = await Promise.all([go("eg2", { keys: [k1] }), heck("eh2", ["--key", k1, "--join", g1.addr])]);
    g2.command(`join ${h1.addr}`);
    const all = [g1, g2, h1, h2];
    const everyone = all.map((m) => ({ name: m.name, addr: m.addr }));
    await waitFor(() => allSee(all, everyone), 30_000);

    const startedAt = Date.now();
    const probeStats = async (h: Agent): Promise<{ ok: number; wrongKey: number }> => {
      const s = (await (await fetch(`http://${h.http}/v1/stats`)).json()) as { probesStarted: number; probesFailed: number; driver: { wrongKey: number } };
      return { ok: s.probesStarted - s.probesFailed, wrongKey: s.driver.wrongKey };
    };
    for (const [verb, key] of [
      ["install", k2],
      ["use", k2],
      ["remove", k1],
    ] as const) {
      const r = await runCli(["keys", verb, "--key", key, "--http", `${h1.http},${h2.http}`]);
      expect(r.code, r.stderr).toBe(0);
      for (const g of [g1, g2]) await g.run(`key-${verb} ${key}`);
      // Before the next step, every heck member completes a round of probes (one per other member, two of
      // them Go members) on the keys as they now are: the pings and acks crossed both kinds on this step's keys.
      const before = await Promise.all([h1, h2].map(probeStats));
      await waitFor(async () => (await Promise.all([h1, h2].map(probeStats))).every((s, i) => s.ok >= before[i]!.ok + 3), 20_000);
      expect((await Promise.all([h1, h2].map(probeStats))).map((s) => s.wrongKey)).toEqual(before.map((s) => s.wrongKey));
    }
    expect(await allSee(all, everyone)).toBe(true);
    for (const h of [h1, h2]) expect(h.events.filter((e) => e.t >= startedAt && (e.event === "dead" || e.event === "leave" || e.event === "suspect")), h.name).toEqual([]);
    for (const g of [g1, g2]) expect(g.events.filter((e) => e.t >= startedAt && (e.event === "dead" || e.event === "leave")), g.name).toEqual([]);
    const listed = await runCli(["keys", "list", "--http", h1.http]);
    expect(JSON.parse(listed.stdout.split(" ").slice(1).join(" "))).toMatchObject({ enabled: true, keys: [expect.any(String)] });

    // Members holding only the retired key, or none, are kept out and counted; nothing crashes.
    // The three outsiders start at once: each is mostly a process start.
    const [stale, staleGo, plain] = await Promise.all([
      runCli(["agent", "--wire", "memberlist", "--bind", "127.0.0.1:0", "--key", k1, "--join", h1.addr, ...heckTimingFlags(timings), "--retry-max", "1"]),
      go("eg3", { keys: [k1] }),
      runCli(["agent", "--wire", "memberlist", "--bind", "127.0.0.1:0", "--join", h2.addr, ...heckTimingFlags(timings), "--retry-max", "1"]),
    ]);
    expect(stale.code).toBe(1);
    const joinError = staleGo.next((e) => e.event === "error" || e.event === "joined", 20_000);
    staleGo.command(`join ${h1.addr}`);
    expect((await joinError).event).toBe("error");
    expect(plain.code).toBe(1);
    const s1 = (await (await fetch(`http://${h1.http}/v1/stats`)).json()) as { driver: { wrongKey: number } };
    const s2 = (await (await fetch(`http://${h2.http}/v1/stats`)).json()) as { driver: { plaintextRejected: number } };
    expect(s1.driver.wrongKey).toBeGreaterThan(0);
    expect(s2.driver.plaintextRejected).toBeGreaterThan(0);
    expect(await allSee(all, everyone)).toBe(true);
    // Kept out: nobody lists the member with the stale key, and it lists only itself.
    for (const m of all) expect((await view(m)).has("eg3"), m.name).toBe(false);
    expect([...(await view(staleGo)).keys()]).toEqual(["eg3"]);
    for (const m of [g1, g2]) expect(m.child.exitCode).toBe(null);
    for (const m of [h1, h2]) expect(m.proc.exitCode).toBe(null);

    // Failure detection works on the rotated key: kill -9 a memberlist member.
    await g2.kill();
    await waitFor(() => noneSeeAlive([h1, h2, g1], "eg2", "dead"), detectionBoundNoLossMs(heckConfig, 4) + 20_000);
  });

  it("a partition between the heck members and the memberlist members heals through push-pull: once gossip to the dead has stopped, heck's reconnect carries its view across, memberlist refutes and the views merge", { timeout: 180_000 }, async () => {
    // Gossip to the dead stops half a second after a death on both sides, and memberlist forgets a
    // dead member then: after the heal nothing crosses the old cut but heck's reconnect push-pull
    // (Serf's reconnect; memberlist alone would stay split), tried every 2 s here.
    const gossipToTheDeadMs = 500;
    const partitionTimings: Timings = { ...timings, gossipToTheDeadMs };
    const heckFlags = ["--gossip-to-the-dead", String(gossipToTheDeadMs), "--reconnect-interval", "2000"];
    const g1 = await go("pg1", { verbose: true, timings: partitionTimings });
    const h1 = await heck("ph1", [...heckFlags, "--join", g1.addr]);
    const [g2, h2] = await Promise.all([go("pg2", { verbose: true, timings: partitionTimings }), heck("ph2", [...heckFlags, "--join", g1.addr])]);
    g2.command(`join ${h1.addr}`);
    const all = [g1, g2, h1, h2];
    const everyone = all.map((m) => ({ name: m.name, addr: m.addr }));
    await waitFor(() => allSee(all, everyone), 30_000);

    // Cut: heck's fault layer on the heck side, the Go driver's transport wrapper on the other.
    const gos = [g1.addr, g2.addr];
    const hecks = [h1.addr, h2.addr];
    for (const h of [h1, h2]) expect((await fetch(`http://${h.http}/v1/faults`, { method: "POST", body: JSON.stringify({ block: gos }) })).status).toBe(200);
    for (const g of [g1, g2]) await g.run(`block ${hecks.join(" ")}`);
    await waitFor(async () => (await noneSeeAlive([h1, h2], "pg1", "dead")) && (await noneSeeAlive([h1, h2], "pg2", "dead")) && (await noneSeeAlive([g1, g2], "ph1", "dead")) && (await noneSeeAlive([g1, g2], "ph2", "dead")), 60_000);
    // Each side still sees itself.
    expect(await allSee([h1, h2], [{ name: "ph1", addr: h1.addr }, { name: "ph2", addr: h2.addr }])).toBe(true);
    expect(await allSee([g1, g2], [{ name: "pg1", addr: g1.addr }, { name: "pg2", addr: g2.addr }])).toBe(true);
    // Let gossip to the dead run out on both sides (it is timed from each death), with room to spare.
    await new Promise((r) => setTimeout(r, 4 * gossipToTheDeadMs));

    // Heal, and count what crosses: heck's reconnects (started, successful or not) and memberlist's
    // refutations ("Refuting a suspect message": memberlist 0.2.2 merges a dead entry from a
    // push-pull as a suspicion). The heck members have nothing to refute: memberlist reaped them
    // when gossip to the dead ended, so its push-pull reply does not mention them.
    const heckCounters = async (): Promise<{ reconnects: number }> => {
      const stats = await Promise.all([h1, h2].map(async (h) => (await (await fetch(`http://${h.http}/v1/stats`)).json()) as { reconnects: number }));
      return { reconnects: stats[0]!.reconnects + stats[1]!.reconnects };
    };
    const goRefutations = (): number => [g1, g2].reduce((n, g) => n + (g.log.join("").match(/Refuting a (suspect|dead) message/g)?.length ?? 0), 0);
    const before = { ...(await heckCounters()), goRefutes: goRefutations() };
    for (const h of [h1, h2]) await fetch(`http://${h.http}/v1/faults`, { method: "POST", body: JSON.stringify({ unblock: true }) });
    for (const g of [g1, g2]) await g.run("unblock");
    await waitFor(() => allSee(all, everyone), 90_000);
    const after = { ...(await heckCounters()), goRefutes: goRefutations() };
    expect(after.reconnects, JSON.stringify({ before, after })).toBeGreaterThan(before.reconnects);
    expect(after.goRefutes, [g1, g2].map((g) => g.log.join("")).join("\n")).toBeGreaterThan(before.goRefutes);
  });

  it("without UDP between them, a heck member and a memberlist member keep each other alive through TCP pings, and user messages are counted", { timeout: 90_000 }, async () => {
    // Two members only: no third member to probe through indirectly, so the TCP fallback ping (protocol 3) is all there is.
    const g1 = await go("tg1", { verbose: true });
    const h1 = await heck("th1", ["--join", g1.addr]);
    await waitFor(() => allSee([g1, h1], [{ name: "tg1", addr: g1.addr }, { name: "th1", addr: h1.addr }]), 20_000);
    // memberlist's user messages, on a packet and on a stream: heck has no delegate, so it counts them.
    await g1.run(`user-packet ${h1.addr} hello in a packet`);
    await g1.run(`user ${h1.addr} hello on a stream`);
    const userMessages = async (): Promise<number> => ((await (await fetch(`http://${h1.http}/v1/stats`)).json()) as { driver: { userMessages: number } }).driver.userMessages;
    await waitFor(async () => (await userMessages()) >= 2, 10_000);

    await g1.run(`mute ${h1.addr}`); // drops UDP both ways at the Go member; TCP still works
    const mutedAt = Date.now();
    const stats = async (): Promise<{ streamPingsSent: number; probesFailed: number }> => (await (await fetch(`http://${h1.http}/v1/stats`)).json()) as { streamPingsSent: number; probesFailed: number };
    const before = await stats();
    // Several probe periods each way.
    await waitFor(async () => (await stats()).streamPingsSent >= before.streamPingsSent + 4 && /Was able to connect to th1 but other probes failed/.test(g1.log.join("")), 30_000);
    expect(h1.events.filter((e) => e.t >= mutedAt && e.member === "tg1" && (e.event === "suspect" || e.event === "dead"))).toEqual([]);
    expect(g1.log.join("")).not.toMatch(/Suspect th1 has failed/);
    expect((await stats()).probesFailed).toBe(before.probesFailed);
    expect(await allSee([g1, h1], [{ name: "tg1", addr: g1.addr }, { name: "th1", addr: h1.addr }])).toBe(true);
  });
});
