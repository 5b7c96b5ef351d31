/**
 * The lab on a real kernel: hosts, reachability, every fault measured from
 * the hosts themselves (a probe on each host sends UDP and opens TCP
 * connections to the others), teardown and leftovers.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { cleanLeftovers, NetLab } from "../src/io/lab.ts";
import { labDir } from "../src/io/state.ts";
import { describeWithLab, startProbe, type Probe } from "./support/index.ts";

describeWithLab("network lab on this kernel", () => {
  let lab: NetLab;
  const probes: Record<string, Probe> = {};

  beforeAll(async () => {
    lab = await NetLab.create({ hosts: ["a", "b", "c"] });
    for (const h of ["a", "b", "c"]) probes[h] = await startProbe(lab, h);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it("gives each host its own address, reachable from this namespace and from every other host", async () => {
    const addresses = lab.hosts.map((h) => h.address);
    expect(new Set(addresses).size).toBe(3);
    for (const h of lab.hosts) {
      const r = await fetch(`http://${h.address}:9100/`);
      expect(await r.json()).toMatchObject({ host: h.address });
    }
    expect((await probes.a!.tcp("b")).result).toBe("connected");
    expect((await probes.c!.udp("a", 20)).replies).toHaveLength(20);
  });

  it("starts a command on a host as the process itself: the pid we hold is the pid it has", () => {
    for (const p of Object.values(probes)) expect(p.pid).toBe(p.child.pid);
  });

  it("partition: the sides cannot reach each other (TCP hangs, it is not refused), this namespace reaches both, heal restores", async () => {
    await lab.partition([["a"], ["b", "c"]]);
    expect((await probes.a!.tcp("b", 800)).result).toBe("timeout");
    expect((await probes.b!.tcp("a", 800)).result).toBe("timeout");
    expect((await probes.b!.tcp("c")).result).toBe("connected");
    expect((await probes.a!.udp("c", 10, { waitMs: 300 })).replies).toHaveLength(0);
    expect((await fetch(`http://${lab.host("a").address}:9100/`)).ok).toBe(true);
    await lab.heal();
    expect((await probes.a!.tcp("b")).result).toBe("connected");
  });

  it("one-way cut: packets from a to b are lost, b to a still arrive", async () => {
    await lab.cutOneWay(["a"], ["b"]);
    // a's packets never reach b's echo; b's reach a's echo, but the echo back (a -> b) is lost too.
    expect((await probes.a!.udp("b", 10, { waitMs: 300 })).replies).toHaveLength(0);
    expect((await probes.b!.udp("a", 10, { waitMs: 300 })).replies).toHaveLength(0);
    expect((await probes.b!.udp("c", 10)).replies).toHaveLength(10);
    expect(lab.faults().cuts).toEqual([["a", "b"]]);
    await lab.heal();
    expect((await probes.a!.udp("b", 10)).replies).toHaveLength(10);
  });

  it("bridge: a and c cannot talk, b talks to both", async () => {
    await lab.bridge(["a"], "b", ["c"]);
    expect((await probes.a!.tcp("c", 800)).result).toBe("timeout");
    expect((await probes.a!.tcp("b")).result).toBe("connected");
    expect((await probes.c!.tcp("b")).result).toBe("connected");
    await lab.heal();
  });

  it("loss: about the share asked for is lost, per link", async () => {
    await lab.impair({ lossPct: 30 }, { from: ["a"], to: ["b"] });
    const r = await probes.a!.udp("b", 1000, { intervalMs: 0, waitMs: 500 });
    // 1,000 trials at p = 0.7: the standard deviation is 14.5, so 550..850 is over 10 of them.
    expect(r.replies.length).toBeGreaterThan(550);
    expect(r.replies.length).toBeLessThan(850);
    expect((await probes.c!.udp("b", 200, { intervalMs: 0 })).replies).toHaveLength(200);
    await lab.heal();
  });

  it("duplication: some packets arrive twice", async () => {
    await lab.impair({ duplicatePct: 50 }, { from: ["a"], to: ["b"] });
    const r = await probes.a!.udp("b", 400, { intervalMs: 0, waitMs: 500 });
    const distinct = new Set(r.replies.map((x) => x.seq)).size;
    expect(distinct).toBe(400);
    expect(r.replies.length).toBeGreaterThan(450);
    await lab.heal();
  });

  it("delay with jitter: no packet arrives before delay - jitter, and jitter reorders them", async () => {
    await lab.impair({ delayMs: 100, jitterMs: 40 }, { from: ["a"], to: ["b"] });
    const r = await probes.a!.udp("b", 100, { intervalMs: 2, waitMs: 600 });
    expect(r.replies).toHaveLength(100);
    expect(Math.min(...r.replies.map((x) => x.rttMs))).toBeGreaterThanOrEqual(59);
    let inversions = 0;
    for (let i = 1; i < r.replies.length; i += 1) if (r.replies[i]!.seq < r.replies[i - 1]!.seq) inversions += 1;
    expect(inversions).toBeGreaterThan(0);
    // Only a -> b is delayed: on c -> b some packet comes back sooner than a delayed one ever can.
    expect(Math.min(...(await probes.c!.udp("b", 20)).replies.map((x) => x.rttMs))).toBeLessThan(59);
    await lab.heal();
  });

  it("reordering: the reordered share leaves at once, ahead of the delayed packets", async () => {
    await lab.impair({ delayMs: 80, reorderPct: 50 }, { from: ["a"], to: ["b"] });
    const r = await probes.a!.udp("b", 100, { intervalMs: 1, waitMs: 500 });
    expect(r.replies).toHaveLength(100);
    // A delayed packet comes back no sooner than the delay; the reordered half sooner (unless the machine stalls).
    const fast = r.replies.filter((x) => x.rttMs < 80).length;
    expect(fast).toBeGreaterThan(15);
    expect(fast).toBeLessThan(85);
    await lab.heal();
    expect(lab.faults()).toEqual({ cuts: [], impairments: [] });
  });
});

/** True once `pid` has exited (gone, or a zombie waiting for its new parent to reap it), polling up to `ms`. */
async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    let state: string | undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    } catch {
      return true;
    }
    if (state === "Z" || state === "X") return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeWithLab("network lab lifetime", () => {
  it("destroy kills what runs on the hosts and removes every namespace and the state", async () => {
    const lab = await NetLab.create({ hosts: 2 });
    const child = lab.spawn("h1", "sh", ["-c", "echo up; exec sleep 600"], { stdio: ["ignore", "pipe", "ignore"] });
    const exited = new Promise((r) => child.once("exit", (_code, signal) => r(signal)));
    await new Promise((r) => child.stdout!.once("data", r));
    const names = [lab.plan.switchNetns, ...lab.hosts.map((h) => h.netns)];
    for (const n of names) expect(existsSync(`/run/netns/${n}`)).toBe(true);
    await lab.destroy();
    expect(await exited).toBe("SIGKILL");
    for (const n of names) expect(existsSync(`/run/netns/${n}`)).toBe(false);
    expect(existsSync(labDir(lab.plan.index))).toBe(false);
  }, 60_000);

  it("a lab whose owner was killed is a leftover: the next start removes it and what ran in it", async () => {
    // A separate process builds a lab, starts a sleeper in it, prints the lab index and the sleeper's pid, then is killed -9.
    const script = `
      import { NetLab } from ${JSON.stringify(new URL("../src/io/lab.ts", import.meta.url).pathname)};
      const lab = await NetLab.create({ hosts: 1 });
      const c = lab.spawn("h1", "sleep", ["600"], { stdio: "ignore", detached: true });
      c.unref();
      process.stdout.write(JSON.stringify({ index: lab.plan.index, sleeper: c.pid }) + "\\n");
      setInterval(() => {}, 1 << 30);`;
    const owner = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      owner.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      owner.once("exit", (code) => reject(new Error(`owner exited ${code}`)));
    });
    const { index, sleeper } = JSON.parse(line) as { index: number; sleeper: number };
    const gone = new Promise((r) => owner.once("exit", r));
    owner.kill("SIGKILL");
    await gone;
    expect(NetLab.list().find((l) => l.index === index)?.live).toBe(false);
    expect(cleanLeftovers()).toContain(`hecklab-${index}`);
    expect(existsSync(`/run/netns/hecklab-${index}-h1`)).toBe(false);
    expect(existsSync(labDir(index))).toBe(false);
    expect(await exitedWithin(sleeper, 10_000)).toBe(true);
  }, 60_000);

  it("refuses a lab index that a live lab holds, naming its owner", async () => {
    const lab = await NetLab.create({ hosts: 1 });
    await expect(NetLab.create({ hosts: 1, index: lab.plan.index })).rejects.toThrow(new RegExp(`lab ${lab.plan.index} is in use \\(owner pid ${process.pid}\\)`));
    await lab.destroy();
  }, 60_000);
});
