/**
 * raft-kv on real hosts with real network faults: three members (five with
 * HECK_CHAOS=full), each on its own network-lab host (`heck-raft cluster up --netns`), while register
 * clients in this namespace write and read through every member, a seeded
 * nemesis partitions the network in the kernel (the leader isolated with
 * clients still reaching it, majority/minority, a bridge, a one-way cut),
 * kills members with SIGKILL and pauses them with SIGSTOP. Afterwards the
 * history must be linearizable and every acknowledged write present.
 *
 * CI runs one shuffled round of the faults on three members (about a
 * minute); `pnpm test:chaos` (HECK_CHAOS=full) runs four rounds on five. A failure prints HECK_SEED=<n> and the
 * faults with their times; the same seed replays the same schedule.
 * Ports 15700-15719 belong to this file.
 */
import { expect, it } from "vitest";
import { createPrng } from "@heck/sim";
import { describeWithLab } from "@heck/net/testing";
import { LocalCluster } from "../src/io/local-cluster.ts";
import { RaftKvHttpClient } from "../src/io/http-client.ts";
import { tempDir } from "./support/cluster.ts";
import { checkRegisterWorkload, startRegisterWorkload } from "./support/register-workload.ts";

const FULL = process.env.HECK_CHAOS === "full";
const seed = Number(process.env.HECK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const NODES = FULL ? 5 : 3;

describeWithLab("raft-kv on real hosts under kernel faults", () => {
  it(`stays linearizable and loses no acknowledged write (HECK_SEED=${seed}${FULL ? ", full" : ""})`, async () => {
    const t = tempDir();
    const cluster = await LocalCluster.up({ nodes: NODES, basePort: 15700, dataDir: t.dir, netns: true, serverArgs: ["--request-timeout-ms", "2000"], leaderTimeoutMs: 60_000 });
    try {
      const lab = cluster.lab!;
      // The members are on their own hosts, reached from here at their host's address.
      for (const n of cluster.nodes) {
        expect(n.netns).toBe(lab.host(n.id).netns);
        expect(n.http.startsWith(`${lab.host(n.id).address}:`)).toBe(true);
      }
      const prng = createPrng(seed);
      const nemesisPrng = prng.fork("nemesis");
      const ids = cluster.nodes.map((n) => n.id);
      const endpoints = cluster.nodes.map((n) => n.http);
      const start = performance.now();
      const now = () => performance.now() - start;
      const log: string[] = [];
      // One pinned client per member (so the isolated leader keeps getting requests), and three that fail over.
      const workload = startRegisterWorkload({ endpoints, prng, now, clients: NODES + 3, pinned: NODES });

      const statuses = async () => Promise.all(ids.map(async (id) => ({ id, s: await cluster.status(id, 500) })));
      const leaderAmong = async (among: readonly string[], minTerm = 0, timeoutMs = 20_000): Promise<{ id: string; term: number } | null> => {
        const end = performance.now() + timeoutMs;
        while (performance.now() < end) {
          for (const { id, s } of await statuses()) if (among.includes(id) && s?.role === "leader" && s.term >= minTerm) return { id, term: s.term };
          await sleep(100);
        }
        return null;
      };
      const answering = async (id: string) => {
        for (let i = 0; i < 200 && (await cluster.status(id, 300)) === null; i++) await sleep(100);
      };
      const holdMs = FULL ? 4_000 : 1_500;
      const minority = Math.floor((NODES - 1) / 2);
      const half = Math.ceil((NODES - 1) / 2);

      const faults: Record<string, () => Promise<void>> = {
        // The leader alone on its side; a client here keeps writing to it: its writes must not be acknowledged
        // while the majority elects a new leader and goes on.
        "isolate-leader": async () => {
          const old = (await leaderAmong(ids))!;
          await lab.isolate(old.id);
          log.push(`${now().toFixed(0)}ms isolate leader ${old.id} (term ${old.term})`);
          const stale = new RaftKvHttpClient({ endpoints: [cluster.node(old.id).http], timeoutMs: 1_500 });
          const attempt = stale.put("isolated/probe", `t${Math.round(now())}`).then(
            () => "acknowledged",
            () => "not acknowledged",
          );
          const next = await leaderAmong(ids.filter((id) => id !== old.id), old.term + 1);
          expect(next, `the majority side elected no leader after ${old.id} was isolated`).not.toBeNull();
          expect(await attempt).toBe("not acknowledged");
          await sleep(holdMs);
        },
        "majority-minority": async () => {
          const shuffled = nemesisPrng.shuffle([...ids]);
          await lab.partition([shuffled.slice(0, minority), shuffled.slice(minority)]);
          log.push(`${now().toFixed(0)}ms partition ${shuffled.slice(0, minority).join(",")} | ${shuffled.slice(minority).join(",")}`);
          await sleep(holdMs);
        },
        bridge: async () => {
          const s = nemesisPrng.shuffle([...ids]);
          await lab.bridge(s.slice(1, 1 + half), s[0]!, s.slice(1 + half));
          log.push(`${now().toFixed(0)}ms bridge ${s.slice(1, 1 + half).join(",")} <- ${s[0]} -> ${s.slice(1 + half).join(",")}`);
          await sleep(holdMs);
        },
        "one-way-from-leader": async () => {
          const l = (await leaderAmong(ids))!;
          await lab.cutOneWay([l.id], ids.filter((id) => id !== l.id));
          log.push(`${now().toFixed(0)}ms cut ${l.id} -/-> everyone (it still hears them)`);
          await sleep(holdMs);
        },
        "kill-9": async () => {
          const victim = nemesisPrng.pick(ids);
          log.push(`${now().toFixed(0)}ms kill -9 ${victim}`);
          await cluster.kill9(victim);
          await sleep(holdMs);
          cluster.restart(victim);
          await answering(victim);
        },
        "pause-leader": async () => {
          const l = (await leaderAmong(ids))!;
          log.push(`${now().toFixed(0)}ms SIGSTOP leader ${l.id}`);
          cluster.signal(l.id, "SIGSTOP");
          await sleep(holdMs);
          cluster.signal(l.id, "SIGCONT");
        },
        "loss-delay": async () => {
          await lab.impair({ lossPct: 20, delayMs: 40, jitterMs: 30 });
          log.push(`${now().toFixed(0)}ms loss 20%, delay 40±30 ms on every link`);
          await sleep(holdMs);
        },
      };

      const rounds = FULL ? 4 : 1;
      for (let r = 0; r < rounds; r++) {
        for (const name of nemesisPrng.shuffle(Object.keys(faults))) {
          await faults[name]!();
          await lab.heal();
          log.push(`${now().toFixed(0)}ms heal`);
          await sleep(500);
        }
      }
      await workload.stop();

      for (const n of cluster.nodes) if (!n.process) cluster.restart(n.id);
      for (const n of cluster.nodes) cluster.signal(n.id, "SIGCONT");
      await lab.heal();
      await cluster.waitForLeader(30_000);
      const verdict = await checkRegisterWorkload(workload, endpoints, now);
      if (verdict.linearizable !== true || verdict.lost.length > 0) {
        console.error(`HECK_SEED=${seed}\nfaults:\n  ${log.join("\n  ")}\n${verdict.report}\nlost: ${JSON.stringify(verdict.lost)}`);
      }
      expect(verdict.completed).toBeGreaterThan(40);
      expect(verdict.linearizable).toBe(true);
      expect(workload.acked.size).toBeGreaterThan(5);
      expect(verdict.lost).toEqual([]);
    } finally {
      await cluster.down();
      t.cleanup();
    }
  }, FULL ? 900_000 : 300_000);
});
