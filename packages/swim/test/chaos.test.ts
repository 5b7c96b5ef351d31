/**
 * SWIM on real hosts with real network faults: five members, each on its
 * own network-lab host (`heck-swim cluster up --netns`, memberlist's `lan`
 * timings). Under 10 % and then 30 % loss with 200 ± 200 ms of delay on
 * every link, no healthy member may be declared dead (Lifeguard's job);
 * a member killed with SIGKILL must be declared dead by every other within
 * `detectionBoundMs` (the timers-only bound, which holds at any loss rate);
 * and after a partition heals, both sides' views merge within the reconnect
 * bound below.
 *
 * CI watches 30 % loss, the harder level, for 8 s; `pnpm test:chaos`
 * (HECK_CHAOS=full) watches 10 % and then 30 % for 60 s each.
 * Ports 14700-14709 and 14800-14809 belong to this file.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect, it } from "vitest";
import { describeWithLab } from "@heck/net/testing";
import { detectionBoundMs, detectionBoundNoLossMs, presetConfig, resolveConfig } from "../src/core/config.ts";
import { membersSeenBy, swimClusterUp, type SwimClusterNode } from "../src/io/local-cluster.ts";

const FULL = process.env.HECK_CHAOS === "full";
const WATCH_MS = FULL ? 60_000 : 8_000;
const LOSS_PCTS = FULL ? [10, 30] : [30];
const RECONNECT_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Event {
  t: number;
  event: string;
  self: string;
  member?: string;
}

/** Every event the members logged (their `--json` lines), in time order. */
function events(dir: string, names: readonly string[]): Event[] {
  const out: Event[] = [];
  for (const n of names) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, `${n}.log`), "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line) as Event);
      } catch {
        // a line cut by a kill
      }
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

async function waitUntil(what: string, deadlineMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > deadlineMs) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await sleep(200);
  }
}

const states = async (n: SwimClusterNode) => new Map((await membersSeenBy(n.http, 5_000)).map((m) => [m.name, m.state]));

describeWithLab("SWIM on real hosts under kernel faults", () => {
  it(
    "loss and jitter: no healthy member declared dead; a killed one dead within the bound; a healed partition merges",
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-swim-chaos-"));
      const c = await swimClusterUp({ nodes: 5, basePort: 14701, dataDir: dir, netns: true, agentArgs: ["--preset", "lan", "--reconnect-interval", String(RECONNECT_MS)] });
      const names = c.nodes.map((n) => n.name);
      const lab = c.lab!;
      const config = resolveConfig({ reconnectIntervalMs: RECONNECT_MS }, presetConfig("lan"));
      try {
        // 1. Loss and jitter: suspicions may come and go, deaths may not.
        for (const lossPct of LOSS_PCTS) {
          const from = Date.now();
          await lab.impair({ lossPct, delayMs: 200, jitterMs: 200 });
          await sleep(WATCH_MS);
          const deaths = events(dir, names).filter((e) => e.t >= from && e.event === "dead");
          const suspicions = events(dir, names).filter((e) => e.t >= from && e.event === "suspect").length;
          console.log(`swim chaos: ${lossPct}% loss, 200±200 ms: ${suspicions} suspicions, ${deaths.length} deaths in ${WATCH_MS} ms`);
          expect(deaths, `healthy members declared dead at ${lossPct}% loss`).toEqual([]);
        }

        // 2. Still at 30 % loss: kill -9 one member; every other declares it dead within the timers-only bound.
        const victim = c.nodes[2]!;
        const others = c.nodes.filter((n) => n !== victim);
        const bound = detectionBoundMs(config, names.length);
        const killedAt = Date.now();
        victim.child.kill("SIGKILL");
        const took = await waitUntil(`${victim.name} dead at every member`, bound, async () => {
          const views = await Promise.all(others.map((n) => states(n).catch(() => new Map<string, string>())));
          return views.every((v) => v.get(victim.name) === "dead");
        });
        console.log(`swim chaos: kill -9 ${victim.name} under 30% loss: dead at every member after ${took} ms (bound ${bound} ms)`);
        expect(events(dir, names).filter((e) => e.t >= killedAt && e.event === "dead" && e.member !== victim.name)).toEqual([]);

        // 3. Back to a clean network, the victim restarted: a partition, then heal.
        await lab.heal();
        const restarted = await c.restart(victim.name);
        const all = [...others, restarted];
        await waitUntil("everyone alive again", 60_000, async () => (await Promise.all(all.map((n) => states(n).catch(() => new Map<string, string>())))).every((v) => names.every((m) => v.get(m) === "alive")));
        await lab.partition([names.slice(0, 2), names.slice(2)]);
        const noLoss = detectionBoundNoLossMs(config, names.length);
        let lastViews = "";
        // With two members on a side, few confirmations are possible, so Lifeguard's suspicion runs long: the timers-only bound applies.
        await waitUntil("each side declares the other dead", bound, async () => {
          const views = await Promise.all(all.map((n) => states(n).catch(() => new Map<string, string>())));
          lastViews = all.map((n, i) => `${n.name}: ${JSON.stringify([...views[i]!])}`).join("; ");
          return all.every((n, i) => names.every((m) => names.indexOf(m) < 2 === names.indexOf(n.name) < 2 || views[i]!.get(m) === "dead"));
        }).catch((e: Error) => {
          throw new Error(`${e.message}; views: ${lastViews}`);
        });
        await lab.heal();
        // From a heal to merged views: each member's reconnect timer fires within one interval and push-pulls
        // with a dead member across the cut; allow a few rounds for a lost refutation, a stream timeout, and
        // the detection bound for a refutation that was itself declared dead and reconnected again.
        const mergeBound = 5 * RECONNECT_MS + config.streamTimeoutMs + noLoss + 2_000;
        const merged = await waitUntil("views merged after heal", mergeBound, async () =>
          (await Promise.all(all.map((n) => states(n).catch(() => new Map<string, string>())))).every((v) => names.every((m) => v.get(m) === "alive")),
        );
        console.log(`swim chaos: partition healed, views merged after ${merged} ms (bound ${mergeBound} ms)`);
      } finally {
        await c.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    FULL ? 900_000 : 300_000,
  );
});
