/**
 * crdt-kv on real hosts with real network faults: five replicas, each on its
 * own network-lab host (`heck-crdt cluster up --netns`). The kernel cuts
 * them into two sides, both sides write (distinct keys, the same LWW keys,
 * concurrent MV siblings), then the cut heals while 20 % loss and
 * reordering stay on every link, and every replica must hold the same
 * state within `convergenceRounds` of its own configuration, counted in
 * each replica's own anti-entropy rounds (so a busy machine slows the
 * rounds, not the bound).
 *
 * CI runs one partition (about a minute); `pnpm test:chaos`
 * (HECK_CHAOS=full) runs four of different shapes, 30 % loss in the last.
 * Ports 17700-17719 and 17800-17819 belong to this file.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { request } from "undici";
import { expect, it } from "vitest";
import { createPrng } from "@heck/sim";
import { httpBaseOf } from "@heck/sim/http";
import { describeWithLab } from "@heck/net/testing";
import { clusterUp, type ClusterNode } from "../src/io/cluster.ts";
import { convergenceRounds } from "../src/core/store/convergence.ts";
import { DEFAULT_NODE_CONFIG } from "../src/core/store/node.ts";

const FULL = process.env.HECK_CHAOS === "full";
const seed = Number(process.env.HECK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SYNC_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Status = { vector: Record<string, number>; stats: { syncRounds: number; rejected: number } };
/** A node's HTTP base URL: cluster up's lines give addresses as host:port. */
const base = (n: ClusterNode): string => httpBaseOf(n.http) ?? n.http;
const status = async (n: ClusterNode) => (await (await request(`${base(n)}/v1/status`, { headersTimeout: 10_000 })).body.json()) as Status;
const read = async (n: ClusterNode, key: string) => (await (await request(`${base(n)}/v1/kv/${encodeURIComponent(key)}`, { headersTimeout: 10_000 })).body.json()) as { exists: boolean; values?: unknown[]; context: string };
const write = async (n: ClusterNode, key: string, value: string, q = "") => {
  const r = await request(`${base(n)}/v1/kv/${encodeURIComponent(key)}${q}`, { method: "PUT", body: value, headersTimeout: 10_000 });
  expect(r.statusCode).toBe(200);
  await r.body.dump();
};

describeWithLab("crdt-kv on real hosts under kernel faults", () => {
  it(`converges within its configured bound after a partition heals under loss and reordering (HECK_SEED=${seed}${FULL ? ", full" : ""})`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-chaos-"));
    const c = await clusterUp({ nodes: 5, basePort: 17700, dataDir: dir, syncIntervalMs: SYNC_MS, netns: true });
    try {
      const lab = c.lab!;
      const prng = createPrng(seed);
      const ids = c.nodes.map((n) => n.id);
      const byId = new Map(c.nodes.map((n) => [n.id, n]));
      for (const n of c.nodes) expect(base(n).startsWith(`http://${lab.host(n.id).address}:`)).toBe(true);
      const log: string[] = [];
      const cycles = FULL ? 4 : 1;
      for (let cycle = 0; cycle < cycles; cycle++) {
        const lossPct = FULL && cycle === cycles - 1 ? 30 : 20;
        const shuffled = prng.shuffle([...ids]);
        const leftSize = cycle % 2 === 0 ? 2 : 1;
        const left = shuffled.slice(0, leftSize);
        const right = shuffled.slice(leftSize);
        await lab.partition([left, right]);
        await lab.impair({ lossPct, delayMs: 30, jitterMs: 20, reorderPct: 25 });
        log.push(`cycle ${cycle}: ${left.join(",")} | ${right.join(",")}, loss ${lossPct}%`);

        // Both sides write: distinct keys, the same LWW key (right later), the same MV key from a common read.
        const l = byId.get(left[0]!)!;
        const r = byId.get(right[0]!)!;
        const ctx = (await read(l, `doc${cycle}`)).context;
        for (let i = 0; i < 10; i++) {
          await write(byId.get(prng.pick(left))!, `left${cycle}-${i}`, `L${i}`);
          await write(byId.get(prng.pick(right))!, `right${cycle}-${i}`, `R${i}`);
        }
        const ts = Date.now();
        await write(l, `shared${cycle}`, "from-left", `?ts=${ts + 1000}`);
        await write(r, `shared${cycle}`, "from-right", `?ts=${ts + 2000}`);
        await write(l, `doc${cycle}`, "left-edit", `?mode=mv&context=${ctx}`);
        await write(r, `doc${cycle}`, "right-edit", `?mode=mv&context=${ctx}`);
        // Several rounds pass: nothing crosses the cut.
        const before = await status(l);
        while ((await status(l)).stats.syncRounds < before.stats.syncRounds + 5) await sleep(SYNC_MS);
        expect((await read(l, `right${cycle}-0`)).exists).toBe(false);
        expect((await read(r, `left${cycle}-0`)).exists).toBe(false);

        // Heal the cut; loss and reordering stay.
        const atHeal = await Promise.all(c.nodes.map(status));
        const healedAt = performance.now();
        await lab.heal("cuts");
        const bound = convergenceRounds({ nodes: ids.length, fanout: DEFAULT_NODE_CONFIG.fanout, lossRate: lossPct / 100, peerVectors: DEFAULT_NODE_CONFIG.peerVectors });
        let roundsTaken = -1;
        for (;;) {
          const now = await Promise.all(c.nodes.map(status));
          const vectors = now.map((s) => JSON.stringify(s.vector));
          // Rounds every replica has run since the heal: the bound is in these.
          const roundsSinceHeal = Math.min(...now.map((s, i) => s.stats.syncRounds - atHeal[i]!.stats.syncRounds));
          if (vectors.every((v) => v === vectors[0])) {
            roundsTaken = roundsSinceHeal;
            break;
          }
          if (roundsSinceHeal > bound + 1) break;
          await sleep(SYNC_MS / 2);
        }
        log.push(`  converged after ${roundsTaken} rounds (bound ${bound}), ${(performance.now() - healedAt).toFixed(0)} ms`);
        if (roundsTaken < 0) console.error(`HECK_SEED=${seed}\n${log.join("\n")}`);
        expect(roundsTaken, `not converged within ${bound} rounds; ${log.join("; ")}`).toBeGreaterThanOrEqual(0);
        // Same vectors, and the same answers on every replica.
        for (const n of c.nodes) {
          expect((await read(n, `left${cycle}-9`)).values).toEqual(["L9"]);
          expect((await read(n, `right${cycle}-9`)).values).toEqual(["R9"]);
          expect((await read(n, `shared${cycle}`)).values).toEqual(["from-right"]);
          expect(((await read(n, `doc${cycle}`)).values ?? []).map(String).sort()).toEqual(["left-edit", "right-edit"]);
        }
        await lab.heal();
      }
      console.log(`crdt-kv chaos, HECK_SEED=${seed}:\n${log.join("\n")}`);
    } finally {
      await c.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, FULL ? 600_000 : 240_000);
});
