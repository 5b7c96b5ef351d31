/**
 * Real processes on loopback through the CLI: join, kill -9, detection,
 * rejoin, graceful leave, and key rotation without dropping a member.
 * Protocol periods are shortened (500 ms) to keep the test bounded; every
 * wait has a deadline, and no assertion is about speed.
 * Ports 14960-14969 belong to this file.
 */
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { pnpmCommand, REPO_ROOT, sendRawTcp } from "@heck/cli-kit/testing";
import { FAST_FLAGS, killAll, members, runCli, startAgent, stateOf, waitFor, type Agent, type AgentEvent } from "./support/agents.ts";

const BIN = fileURLToPath(new URL("../bin/heck-swim.js", import.meta.url));

const agents: Agent[] = [];
afterAll(() => killAll(agents));

async function start(name: string, extra: string[] = [], bind?: string): Promise<Agent> {
  const a = await startAgent(name, extra, bind);
  agents.push(a);
  return a;
}

async function allAlive(observers: Agent[], names: string[]): Promise<boolean> {
  for (const o of observers) {
    const ms = await members(o);
    for (const n of names) if (ms.find((m) => m.name === n)?.state !== "alive") return false;
  }
  return true;
}

describe("heck-swim agent processes", () => {
  it("join, kill -9, detect, rejoin, graceful leave", { timeout: 60_000 }, async () => {
    const a1 = await start("a1");
    const [a2, a3] = await Promise.all([start("a2", ["--join", a1.addr, "--meta", "api=127.0.0.1:9002"]), start("a3", ["--join", a1.addr])]);
    await waitFor(() => allAlive([a1, a2, a3], ["a1", "a2", "a3"]), 15_000);

    // The CLI's members command prints the same contract as GET /v1/members.
    const listed = await runCli(["members", "--http", a1.http, "--json"]);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.name)).toEqual(["a1", "a2", "a3"]);
    for (const r of rows) expect(Object.keys(r)).toEqual(expect.arrayContaining(["name", "addr", "state", "incarnation", "meta"]));
    expect(rows.find((r) => r.name === "a2")!.meta).toBe("api=127.0.0.1:9002");
    // --http takes the ready line's host:port, and the http:// form too.
    const viaUrl = await runCli(["members", "--http", `http://${a1.http}/`, "--json"]);
    expect(viaUrl.code).toBe(0);
    expect((JSON.parse(viaUrl.stdout) as unknown[]).length).toBe(3);

    // kill -9: no goodbye. The others suspect a3, then declare it dead.
    a3.proc.kill("SIGKILL");
    await a3.exited;
    await waitFor(async () => (await stateOf(a1, "a3"))?.state === "dead" && (await stateOf(a2, "a3"))?.state === "dead", 20_000);
    const a1Saw = a1.events.filter((e) => e.member === "a3").map((e) => e.event);
    expect(a1Saw).toEqual(expect.arrayContaining(["join", "dead"]));
    expect(a1Saw.indexOf("dead")).toBeGreaterThan(a1Saw.indexOf("join"));

    // Rejoin on the same address: a3 refutes its own death with a higher incarnation.
    const a3again = await start("a3", ["--join", a1.addr], a3.addr);
    await waitFor(() => allAlive([a1, a2, a3again], ["a1", "a2", "a3"]), 15_000);
    expect((await stateOf(a1, "a3"))!.incarnation).toBeGreaterThan(0);

    // Graceful leave (SIGTERM): recorded as "left", not "dead", and the agent exits 0.
    a2.proc.kill("SIGTERM");
    expect(await a2.exited).toBe(0);
    expect(a2.events.some((e) => e.event === "bye")).toBe(true);
    await waitFor(async () => (await stateOf(a1, "a2"))?.state === "left" && (await stateOf(a3again, "a2"))?.state === "left", 10_000);
    expect(a1.events.filter((e) => e.member === "a2" && e.event === "dead")).toEqual([]);
  });

  it("an agent started before its seed keeps retrying the join and gets in once the seed is up", { timeout: 60_000 }, async () => {
    // Fixed addresses in this file's port range: the seed's address must be known before it runs.
    const seedAddr = "127.0.0.1:14960";
    // --retry-max bounds it: with nobody ever at the address the agent gives up and exits 1. It runs
    // meanwhile (its verdict is read at the end): a process start and two attempts are most of its time.
    const boundedRun = runCli(["agent", "--bind", "127.0.0.1:0", "--join", "127.0.0.1:14961", "--preset", "local", "--retry-max", "2", "--retry-interval", "200"]);
    const early = await start("r2", ["--join", seedAddr, "--retry-interval", "1000"]);
    await waitFor(() => /join: none of 127\.0\.0\.1:14960 answered \(attempt 1\); retrying in/.test(early.stderr.join("")), 15_000);
    expect(early.proc.exitCode).toBe(null);
    expect(early.events.some((e) => e.event === "joined")).toBe(false);
    const seed = await start("r1", [], seedAddr);
    await waitFor(() => allAlive([early, seed], ["r1", "r2"]), 15_000);
    const joined = early.events.find((e) => e.event === "joined") as (AgentEvent & { attempts?: number; via?: string }) | undefined;
    expect(joined?.via).toBe(seedAddr);
    expect(joined?.attempts).toBeGreaterThan(1);
    early.proc.kill("SIGKILL");
    seed.proc.kill("SIGKILL");
    const bounded = await boundedRun;
    expect(bounded.code).toBe(1);
    expect(bounded.stderr).toMatch(/join: none of 127\.0\.0\.1:14961 answered after 2 attempt/);
  });

  it("rotates the encryption key across the cluster without dropping a member", { timeout: 60_000 }, async () => {
    const keygen = async () => (await runCli(["keygen"])).stdout.trim();
    const [k1, k2] = await Promise.all([keygen(), keygen()]);
    const b1 = await start("b1", ["--key", k1]);
    const [b2, b3] = await Promise.all([start("b2", ["--key", k1, "--join", b1.addr]), start("b3", ["--key", k1, "--join", b1.addr])]);
    const all = [b1, b2, b3];
    await waitFor(() => allAlive(all, ["b1", "b2", "b3"]), 15_000);
    const https = all.map((a) => a.http).join(",");
    const probesOk = async (a: Agent): Promise<number> => {
      const st = (await (await fetch(`http://${a.http}/v1/stats`)).json()) as { probesStarted: number; probesFailed: number };
      return st.probesStarted - st.probesFailed;
    };
    const startedAt = Date.now();
    for (const verb of ["install", "use", "remove"] as const) {
      const r = await runCli(["keys", verb, "--key", verb === "remove" ? k1 : k2, "--http", https]);
      expect(r.code, r.stderr).toBe(0);
      // Before the next step, every member completes a round of probes (one per other member) on the keys
      // as they now are: pings and acks crossed the cluster on this step's keys.
      const before = await Promise.all(all.map(probesOk));
      await waitFor(async () => (await Promise.all(all.map(probesOk))).every((ok, i) => ok >= before[i]! + 2), 15_000);
    }
    const listed = await runCli(["keys", "list", "--http", b3.http]);
    expect(JSON.parse(listed.stdout.split(" ").slice(1).join(" "))).toMatchObject({ enabled: true, keys: [expect.any(String)] });
    expect(await allAlive(all, ["b1", "b2", "b3"])).toBe(true);
    for (const a of all) {
      // Nobody dropped: no member declared dead or left during the rotation.
      const dropped = a.events.filter((e) => e.t >= startedAt && (e.event === "dead" || e.event === "leave"));
      expect(dropped, `${a.name} saw a member dropped during rotation`).toEqual([]);
    }
    // An agent that only has the retired key cannot get in; the members count it as a wrong key.
    // (It and the keyless one below run at once: each is mostly a process start.)
    const [stale, plain] = await Promise.all([
      runCli(["agent", "--bind", "127.0.0.1:0", "--key", k1, "--join", b1.addr, "--preset", "local", "--retry-max", "1"]),
      runCli(["agent", "--bind", "127.0.0.1:0", "--join", b1.addr, "--preset", "local", "--retry-max", "1"]),
    ]);
    expect(stale.code).toBe(1);
    // The seed accepted the connection and dropped what it could not open: the error says keys may differ.
    expect(stale.stderr).toContain(`join: none of ${b1.addr} answered after 1 attempt(s); ${b1.addr} accepted a connection but never answered: this member's keys may not be the cluster's`);
    // With no key at all, the hint says to start it with one.
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/the cluster may encrypt gossip: start this member with one of its keys/);
    const stats = (await (await fetch(`http://${b1.http}/v1/stats`)).json()) as { driver: { wrongKey: number } };
    expect(stats.driver.wrongKey).toBeGreaterThan(0);
  });

  it("rejects bad flags with a message naming them, exit code 2", { timeout: 60_000 }, async () => {
    const [r, k, s] = await Promise.all([
      runCli(["agent", "--bind", "127.0.0.1:0", "--probe-interval", "abc"]),
      runCli(["agent", "--bind", "127.0.0.1:0", "--key", "short"]),
      runCli(["sim", "--nodes", "5", "--kill", "5"]),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--probe-interval must be an integer/);
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/key: must decode to 32 bytes/);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/--kill must be below --nodes/);
  });

  it("refuses a fault command with a field it does not know, as fleet and v1 do", { timeout: 60_000 }, async () => {
    const f = await start("f1");
    const post = async (body: string) => {
      const res = await fetch(`http://${f.http}/v1/faults`, { method: "POST", headers: { "content-type": "application/json" }, body });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await post('{"banana":1}')).toEqual({ status: 400, body: { error: "banana: unknown field (expected dropRate, block, unblock)" } });
    expect((await post("[1]")).status).toBe(400);
    expect(await post('{"dropRate":0.25}')).toMatchObject({ status: 200, body: { dropRate: 0.25 } });
    const meta = await fetch(`http://${f.http}/v1/meta`, { method: "POST", body: '{"meta":"x","extra":true}' });
    expect(meta.status).toBe(400);
  });

  it("drops and counts garbage at every door, on both wires, and keeps answering", { timeout: 60_000 }, async () => {
    const [heck, ml] = await Promise.all([start("m1"), start("m2", ["--wire", "memberlist"])]);
    for (const agent of [heck, ml]) {
      const i = agent.addr.lastIndexOf(":");
      const [host, port] = [agent.addr.slice(0, i), Number(agent.addr.slice(i + 1))];
      // A UDP packet and a TCP stream that decode to nothing on either wire.
      const udp = createSocket("udp4");
      await new Promise((r) => udp.send(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x7b, 0x22]), port, host, r));
      udp.close();
      await sendRawTcp(agent.addr, Buffer.from([0xee, 0x00, 0x00, 0x00, 0x01, 0x7b, 0x7b, 0x7b]));
      // At the HTTP API: bytes that are not HTTP, and a body that is not JSON.
      await sendRawTcp(agent.http, Buffer.from("\x16\x03\x01garbage\r\n\r\n"));
      expect((await fetch(`http://${agent.http}/v1/meta`, { method: "POST", body: "{not json" })).status).toBe(400);
      const stats = async () => (await (await fetch(`http://${agent.http}/v1/stats`)).json()) as { malformed: { swim: number; api: number } };
      await waitFor(async () => ((await stats()).malformed.swim >= 2 ? true : undefined), 10_000);
      expect((await stats()).malformed, agent.name).toEqual({ swim: 2, api: 2 });
      expect((await members(agent)).find((m) => m.name === agent.name)?.state).toBe("alive");
    }
  });

  it("ends quietly when the reader closes the pipe (`members | head -1`)", { timeout: 60_000 }, async () => {
    const a = await start("p1");
    const r = spawnSync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${BIN}" members --http ${a.http} | head -1`], { encoding: "utf8", timeout: 30_000 });
    expect(r.stdout).toMatch(/^NAME +ADDR +STATE +INCARNATION +META\n$/);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("Ctrl-C on `pnpm heck-swim agent` leaves gracefully: the others record left, not dead", { timeout: 90_000 }, async () => {
    // A terminal's Ctrl-C sends SIGINT to the whole foreground process group: pnpm and the agent under it.
    // pnpm then relays it to the agent as SIGTERM and exits; the agent must read the two as one request.
    const seed = await start("g1");
    const pnpm = pnpmCommand();
    const child = spawn(pnpm.command, [...pnpm.args, "heck-swim", "agent", "--name", "g2", "--bind", "127.0.0.1:0", "--http", "127.0.0.1:0", "--join", seed.addr, ...FAST_FLAGS], {
      cwd: REPO_ROOT,
      detached: true, // its own process group, as a terminal gives a foreground job
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString("utf8")));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    try {
      await waitFor(async () => (await stateOf(seed, "g2"))?.state === "alive", 30_000);
      process.kill(-child.pid!, "SIGINT");
      await waitFor(async () => (await stateOf(seed, "g2"))?.state === "left" || (await stateOf(seed, "g2"))?.state === "dead", 20_000);
      expect((await stateOf(seed, "g2"))?.state, out).toBe("left");
      await waitFor(() => /bye +self=g2 goodbyeComplete=true/.test(out), 10_000);
      expect(seed.events.filter((e) => e.member === "g2" && (e.event === "dead" || e.event === "suspect"))).toEqual([]);
      await exited;
    } finally {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
});
