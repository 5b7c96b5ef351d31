/**
 * The real-process suite, run once per store (crdt.test.ts, raft.test.ts,
 * etcd.test.ts): a local cluster of separate agent processes and a
 * heck-fleet, started through `clusterUp` (what `heck cluster up` runs),
 * then, in order: no DDoS, any node answers after a flip, failover after
 * kill -9, join with minimal movement and no gap, graceful leave without a
 * gap, partition (AP) and heal. Everything is bounded in time; fixed ports
 * per file; the cluster is stopped by PID in afterAll.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetClient } from "@heck/fleet";
import { detectionBoundMs, presetConfig, resolveConfig } from "@heck/swim";
import { clusterUp, type ClusterNode, type RunningCluster } from "../../src/io/cluster.ts";
import { AgentClient } from "../../src/io/client.ts";
import { TAKEOVER_FIRST_CHECK_MS } from "../../src/core/agent-core.ts";
import type { OriginView } from "../../src/io/api.ts";
import type { StoreStatus } from "../../src/io/store/store.ts";
import { until } from "../support/wait.ts";

export const INTERVAL_MS = 300;
/**
 * The suite's SWIM timings over the `local` preset. `reconnectIntervalMs`
 * matters for the partition test: after a heal, the two sides only learn of
 * each other when some member push-pulls with a member it holds dead (Serf's
 * reconnect, one random dead member per interval); the preset's 15 s would
 * make the merge take up to 15 s (or more, when the pick lands on the
 * crashed agent). One second costs one failed dial per second to the
 * kill -9 victim.
 */
const SWIM = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50, reconnectIntervalMs: 1_000 };
/**
 * Reconnect rounds allowed for a cross-cut pick. Each round every member
 * picks one of its dead members at random; in the partition test (after a
 * kill -9 and a leave) the isolated agent holds 4 dead members, 3 across the
 * cut, and each of the 3 others holds 2 (the victim and the isolated one),
 * so a round misses on every member with probability 1/4 * (1/2)^3 = 1/32;
 * four rounds miss with probability about 1e-6.
 */
const RECONNECT_ROUNDS = 4;

type Ownership = { members: string[]; origins: { id: string; owners: string[] }[] };

/** Polls the fleet's counters and records, per origin, the longest time between two requests. */
class GapMonitor {
  private last: number[] = [];
  private lastChange: number[] = [];
  maxGapMs: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly fleet: FleetClient) {}
  async start(): Promise<void> {
    this.last = await this.fleet.requestCounts();
    const now = Date.now();
    this.lastChange = this.last.map(() => now);
    this.maxGapMs = this.last.map(() => 0);
    const poll = async () => {
      const counts = await this.fleet.requestCounts().catch(() => undefined);
      const t = Date.now();
      if (counts !== undefined) {
        counts.forEach((c, i) => {
          if (c !== this.last[i]) {
            this.maxGapMs[i] = Math.max(this.maxGapMs[i]!, t - this.lastChange[i]!);
            this.lastChange[i] = t;
            this.last[i] = c;
          }
        });
      }
      if (this.timer !== undefined) this.timer = setTimeout(() => void poll(), 100);
    };
    this.timer = setTimeout(() => void poll(), 100);
  }
  stop(): number[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    const t = Date.now();
    return this.maxGapMs.map((g, i) => Math.max(g, t - this.lastChange[i]!));
  }
}

/** Registers the suite for one store. `basePort` must be this file's own range (300 ports). */
export function defineClusterSuite(store: "crdt" | "raft" | "etcd", basePort: number, options: { bad?: boolean } = {}): void {
  describe(`v2 cluster on loopback, --store ${store}`, () => {
    let cluster: RunningCluster;
    let fleet: FleetClient;
    const nodes = 4;
    const origins = 40;
    const alive = () => cluster.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
    const client = (n: ClusterNode) => new AgentClient(n.api, "", 3_000);
    const ownership = (n: ClusterNode) => client(n).get<Ownership>("/v1/ownership");
    /** Origins taken over (from a gone member) by the alive agents, summed, from their /metrics. */
    const takeOvers = async () => {
      const texts = await Promise.all(alive().map(async (n) => (await fetch(`http://${n.api}/metrics`)).text()));
      return texts.reduce((sum, t) => sum + Number(/^heck_takeovers_total(?:{[^}]*})? (\d+)/m.exec(t)?.[1] ?? NaN), 0);
    };
    const swim = resolveConfig(SWIM, presetConfig("local"));
    const detection = detectionBoundMs(swim, nodes + 1);
    /**
     * From a heal to merged views: the first reconnect timer fires within one
     * interval and {@link RECONNECT_ROUNDS} rounds make a cross-cut pick all
     * but certain; the push-pull takes at most a stream timeout; the merge
     * turns the other side's "dead" into suspicions (as memberlist does),
     * which the accused refute by gossip long before the detection bound,
     * or, if a refutation is lost, are declared dead and reconnected again
     * within that bound. Plus 2 s of slack for a loaded machine.
     */
    const healMergeMs = (RECONNECT_ROUNDS + 1) * swim.reconnectIntervalMs + swim.streamTimeoutMs + detection + 2_000;

    beforeAll(async () => {
      cluster = await clusterUp({
        nodes,
        origins,
        store,
        basePort,
        intervalMs: INTERVAL_MS,
        host: "127.0.0.1",
        replicas: 1,
        swimPreset: "local",
        agentArgs: ["--swim-config", JSON.stringify(SWIM), "--rise", "1", "--fall", "2", "--timeout-ms", "250", "--handoff-grace-ms", "1500"],
      });
      fleet = new FleetClient(`http://${cluster.fleet.control}`);
      // Let the first interval's spread and the join hand-offs settle.
      await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
    }, 90_000);

    afterAll(async () => {
      await cluster?.stop();
    }, 60_000);

    it("prints the interface contract: nodes with id, pid, api, netns, host; fleet with pid, control", () => {
      const c = cluster.contract();
      expect(c.nodes).toHaveLength(nodes);
      for (const n of c.nodes) {
        expect(Object.keys(n).sort()).toEqual(["api", "host", "id", "netns", "pid"]);
        // On loopback there is no namespace, and the host is the API's host.
        expect(n.netns).toBeNull();
        expect(n.api.startsWith(`${n.host}:`)).toBe(true);
      }
      expect(Object.keys(c.fleet).sort()).toEqual(["control", "pid"]);
    });

    it("reports the store on /healthz; an agent embedding a raft member names the leader and the voters (the dashboard's raft line)", async () => {
      const stores = await Promise.all(cluster.nodes.map(async (n) => (await client(n).get<{ store: StoreStatus }>("/healthz")).store));
      for (const st of stores) expect(st.kind).toBe(store);
      const raft = stores.flatMap((st) => (st.raft ? [st.raft] : []));
      if (store !== "raft") {
        expect(raft).toEqual([]);
        return;
      }
      // The first three agents embed the members; the fourth is a client over gRPC and has no Raft view.
      expect(raft).toHaveLength(3);
      for (const r of raft) {
        expect(r.voters).toEqual(["n1", "n2", "n3"]);
        expect(r.term).toBeGreaterThan(0);
      }
      await until(async () => {
        const leaders = (await Promise.all(cluster.nodes.slice(0, 3).map(async (n) => (await client(n).get<{ store: StoreStatus }>("/healthz")).store.raft?.leader))).filter((l) => l !== null);
        return leaders.length === 3 && new Set(leaders).size === 1 && ["n1", "n2", "n3"].includes(leaders[0]!);
      }, 10_000, "one leader known to every member");
    });

    it("no DDoS: in steady state each origin gets one check per interval (counted at the fleet)", async () => {
      await fleet.resetCounts();
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 12 * INTERVAL_MS));
      const counts = await fleet.requestCounts();
      const intervals = (Date.now() - t0) / INTERVAL_MS;
      const perOrigin = counts.map((c) => c / intervals);
      const mean = perOrigin.reduce((a, b) => a + b, 0) / perOrigin.length;
      // One checker per origin: about 1.0, where every agent checking every origin would give `nodes`.
      expect(mean).toBeGreaterThan(0.8);
      expect(mean).toBeLessThan(1.2);
      for (const p of perOrigin) expect(p).toBeLessThan(1.5);
    }, 30_000);

    it("any node answers: after an origin flips, every node reports it unhealthy, then healthy again", async () => {
      await fleet.setMode(5, { mode: "failing", status: 503 });
      await until(
        async () => {
          const views = await Promise.all(alive().map((n) => client(n).get<OriginView>("/v1/origins/o5")));
          return views.every((v) => v.status === "unhealthy");
        },
        15_000,
        "every node sees o5 unhealthy",
      );
      for (const n of alive()) {
        const list = await client(n).get<OriginView[]>("/v1/origins?status=unhealthy");
        expect(list.map((o) => o.id)).toContain("o5");
        const o5 = list.find((o) => o.id === "o5")!;
        expect(o5).toMatchObject({ id: "o5", status: "unhealthy" });
        expect(typeof o5.observer).toBe("string");
        expect(typeof o5.checkedAt).toBe("string");
        expect(o5.lastError).toMatch(/status/);
      }
      await fleet.setMode(5, { mode: "healthy" });
      await until(async () => (await Promise.all(alive().map((n) => client(n).get<OriginView>("/v1/origins/o5")))).every((v) => v.status === "healthy"), 15_000, "o5 healthy again");
    }, 40_000);

    it("failover: after kill -9 of an agent, its origins are checked by others within the detection bound plus one interval", async () => {
      const victim = cluster.nodes[1]!;
      const table = await ownership(cluster.nodes[0]!);
      const mine = table.origins.filter((o) => o.owners[0] === victim.id).map((o) => Number(o.id.slice(1)));
      expect(mine.length).toBeGreaterThan(0);
      const before = await fleet.requestCounts();
      const takeOversBefore = await takeOvers();
      const killedAt = Date.now();
      process.kill(victim.pid, "SIGKILL");
      await until(() => victim.child.exitCode !== null || victim.child.signalCode !== null, 5_000, "victim exited");
      // Covered again = every one of its origins received a request after the
      // survivors dropped the victim (their records name a new observer).
      let coveredAt = 0;
      await until(
        async () => {
          const views = await Promise.all(alive().map((n) => client(n).get<OriginView[]>("/v1/origins")));
          const ok = mine.every((i) => views.every((list) => list.find((o) => o.id === `o${i}`)?.observer !== victim.id));
          if (ok && coveredAt === 0) coveredAt = Date.now();
          return ok;
        },
        detection + 10_000,
        "victim's origins re-owned",
      );
      const after = await fleet.requestCounts();
      for (const i of mine) expect(after[i]!).toBeGreaterThan(before[i]!);
      // Each was started as a take-over (first check within min(interval, 250 ms), not anywhere in the next interval).
      expect((await takeOvers()) - takeOversBefore).toBeGreaterThanOrEqual(mine.length);
      // Detection plus the take-over window (first checks within min(interval, 250 ms)), inside the
      // design's "detection + one interval", with the store's propagation and polling as slack.
      expect(coveredAt - killedAt).toBeLessThan(detection + Math.min(INTERVAL_MS, TAKEOVER_FIRST_CHECK_MS) + 2_500);
      // Nothing is left unchecked: every origin's record is fresh on every survivor.
      await until(
        async () => {
          const views = await Promise.all(alive().map((n) => client(n).get<OriginView[]>("/v1/origins")));
          return views.every((list) => list.length === origins && list.every((o) => o.ageMs !== null && o.ageMs < 5 * INTERVAL_MS + 2_000));
        },
        10_000,
        "every origin fresh on every survivor",
      );
    }, 60_000);

    it("join: a new agent takes only the origins it wins (minimal movement) and the hand-over leaves no gap", async () => {
      const before = await ownership(cluster.nodes[0]!);
      const gaps = new GapMonitor(fleet);
      await gaps.start();
      const takeOversBefore = await takeOvers();
      const added = await cluster.addNode();
      await until(
        async () => (await Promise.all(alive().map((n) => ownership(n)))).every((t) => t.members.includes(added.id) && t.members.length === alive().length),
        15_000,
        "every node includes the new agent",
      );
      await new Promise((r) => setTimeout(r, 4 * INTERVAL_MS));
      const maxGap = gaps.stop();
      const after = await ownership(cluster.nodes[0]!);
      const ownerBefore = new Map(before.origins.map((o) => [o.id, o.owners[0]]));
      const moved = after.origins.filter((o) => ownerBefore.get(o.id) !== o.owners[0]);
      expect(moved.length).toBeGreaterThan(0);
      for (const o of moved) expect(o.owners[0]).toBe(added.id);
      expect(after.origins.filter((o) => o.owners[0] === added.id)).toHaveLength(moved.length);
      // A join is a hand-off (the old owner checks until the new one writes), not a take-over.
      expect(await takeOvers()).toBe(takeOversBefore);
      // Every origin kept being checked: the worst gap stays near one interval
      // (the old owner checks until the new owner's first record arrives).
      expect(Math.max(...maxGap)).toBeLessThan(4 * INTERVAL_MS + 1_000);
    }, 60_000);

    it("graceful leave: SIGTERM hands the origins over without a gap", async () => {
      // raft: leave with a non-member (the agent that joined), so the raft
      // members keep their quorum for the partition test.
      const leaver = store === "raft" ? cluster.nodes.at(-1)! : cluster.nodes[2]!;
      const gaps = new GapMonitor(fleet);
      await gaps.start();
      process.kill(leaver.pid, "SIGTERM");
      await until(() => leaver.child.exitCode !== null, 15_000, "leaver exited");
      await until(
        async () => (await Promise.all(alive().map((n) => ownership(n)))).every((t) => !t.members.includes(leaver.id)),
        10_000,
        "everyone dropped the leaver",
      );
      await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
      const maxGap = gaps.stop();
      expect(leaver.child.exitCode).toBe(0);
      // Far below failure detection: nobody waited for a suspicion to time out.
      expect(Math.max(...maxGap)).toBeLessThan(4 * INTERVAL_MS + 1_000);
      const members = await client(cluster.nodes[0]!).get<{ id: string; state: string }[]>("/v1/members");
      expect(members.find((m) => m.id === leaver.id)?.state).toBe("left");
    }, 60_000);

    it("partition: each side keeps answering (AP); after heal every node agrees", async () => {
      // Isolate the last agent: for raft that is a client of the raft members
      // (their quorum stays intact), which keeps reaching the store.
      const a = alive().at(-1)!;
      const rest = alive().filter((n) => n !== a);
      const others = rest.map((n) => n.id);
      // Cut a from everyone else, in both directions, on every transport.
      await client(a).call("POST", "/v1/admin/faults", { block: others });
      for (const n of rest) await client(n).call("POST", "/v1/admin/faults", { block: [a.id] });
      // Each side drops the other from its view, then owns (and checks) every origin itself.
      await until(async () => (await ownership(a)).members.length === 1, detection + 5_000, "a sees itself alone");
      await fleet.setMode(7, { mode: "failing", status: 500 });
      await until(
        async () => {
          const views = await Promise.all(alive().map((n) => client(n).get<OriginView>("/v1/origins/o7")));
          // Both sides answer; the isolated side learns it from its own checks.
          return (await client(a).get<OriginView>("/v1/origins/o7")).status === "unhealthy" && views.length === alive().length;
        },
        15_000,
        "the isolated node answers with its own observation",
      );
      if (store === "crdt") {
        // Coordination-free: the majority side detects it on its own too.
        await until(async () => (await Promise.all(rest.map((n) => client(n).get<OriginView>("/v1/origins/o7")))).every((v) => v.status === "unhealthy"), 15_000, "majority side sees o7");
      }
      for (const n of alive()) await client(n).call("POST", "/v1/admin/faults", { unblock: "all" });
      const healedAt = Date.now();
      await until(
        async () => {
          const views = await Promise.all(alive().map((n) => client(n).get<OriginView[]>("/v1/origins")));
          const key = (list: OriginView[]) => list.map((o) => `${o.id}:${o.status}`).join(",");
          return views.every((v) => v.length === origins && key(v) === key(views[0]!)) && views[0]!.find((o) => o.id === "o7")?.status === "unhealthy";
        },
        20_000,
        "all nodes agree after heal",
      );
      // Counted from the heal, not from the agreement above: the store may agree long before SWIM merges.
      await until(
        async () => (await Promise.all(alive().map((n) => ownership(n)))).every((t) => t.members.length === alive().length),
        Math.max(0, healedAt + healMergeMs - Date.now()),
        `views merged (within ${healMergeMs} ms of the heal)`,
      );
      await fleet.setMode(7, { mode: "healthy" });
    }, 120_000);

    if (options.bad) {
      it("bad input: malformed bodies, unknown origins and bad filters get clear errors; the agent keeps running", async () => {
        const n = alive()[0]!;
        const base = `http://${n.api}`;
        const post = (body: string, type = "application/json") => fetch(`${base}/v1/origins`, { method: "POST", headers: { "content-type": type }, body });
        let r = await post("{not json");
        expect(r.status).toBe(400);
        expect(((await r.json()) as { field: string }).field).toBe("body");
        r = await post(JSON.stringify({ id: "x1" }));
        expect(r.status).toBe(400);
        expect(((await r.json()) as { error: string }).error).toMatch(/url/);
        r = await post(JSON.stringify({ id: "x2", url: "http://127.0.0.1:1/", intervalMS: 5 }));
        expect(r.status).toBe(400);
        expect(((await r.json()) as { error: string }).error).toMatch(/intervalMS/);
        r = await post(JSON.stringify([{ id: "x3", url: "http://127.0.0.1:1/" }, { id: "x3", url: "http://127.0.0.1:1/" }]));
        expect(r.status).toBe(400);
        r = await post("x", "text/plain");
        expect(r.status).toBe(415);
        r = await post(JSON.stringify({ id: "o1", url: "http://127.0.0.1:1/" }));
        expect(r.status).toBe(409);
        r = await post("[" + "1,".repeat(600_000) + "1]");
        expect(r.status).toBe(413);
        expect((await fetch(`${base}/v1/origins/nope`)).status).toBe(404);
        expect((await fetch(`${base}/v1/origins/nope`, { method: "DELETE" })).status).toBe(404);
        expect((await fetch(`${base}/v1/origins?status=sick`)).status).toBe(400);
        expect((await fetch(`${base}/v1/nothing`)).status).toBe(404);
        r = await fetch(`${base}/v1/admin/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ block: ["ghost"] }) });
        expect(r.status).toBe(400);
        expect(((await r.json()) as { error: string }).error).toMatch(/ghost/);
        // Still serving, and add/remove through any node works.
        r = await post(JSON.stringify({ id: "extra", url: `http://127.0.0.1:${cluster.fleet.firstPort}/health` }));
        expect(r.status).toBe(201);
        const other = alive()[1]!;
        await until(async () => (await fetch(`http://${other.api}/v1/origins/extra`)).status === 200, 10_000, "added origin replicated");
        expect((await fetch(`http://${other.api}/v1/origins/extra`, { method: "DELETE" })).status).toBe(204);
        await until(async () => (await fetch(`${base}/v1/origins/extra`)).status === 404, 10_000, "removal replicated");
        expect((await fetch(`${base}/healthz`)).status).toBe(200);
      }, 40_000);
    }
  });
}
