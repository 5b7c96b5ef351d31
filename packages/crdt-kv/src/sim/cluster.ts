/**
 * A simulated cluster of KvNodes for the simulation sweep, the tests and the bench:
 * the factory, a workload of random writes and deletes (LWW and MV), and
 * the reference every replica must converge to: the join of every local
 * update that was accepted anywhere.
 */
import type { NodeFactoryArgs, Prng, Simulation } from "@heck/sim";
import { CausalContext } from "../core/causality/causal-context.ts";
import { canonicalJson } from "../core/json.ts";
import { encodeDelta, KvState, type KvDelta } from "../core/store/kv-state.ts";
import { KvNode, type KvNodeConfig } from "../core/store/node.ts";
import type { KvMessage } from "../core/store/messages.ts";
import { diskFromWal } from "../core/store/persistence.ts";

/** The join of all accepted updates, kept incrementally. */
export class Reference {
  readonly state = new KvState(false);
  updates = 0;
  add(delta: KvDelta): void {
    this.state.join(delta);
    this.updates++;
  }
  /** Canonical text of the expected state. */
  text(): string {
    return canonicalJson(encodeDelta(this.state.toDelta()));
  }
}

/** A simulated cluster of replicas: typed messages, WAL lines and snapshots as records. */
export type KvSim = Simulation<KvMessage, string, string, KvNode>;

/**
 * A factory for `Simulation`/`runSeeded`: every node is a KvNode whose local
 * updates feed `ref`; a restarted one recovers from the WAL lines and the
 * snapshot its Readies left on its simulated disk, read back as a data
 * directory's are.
 */
export function kvFactory(ref: Reference, overrides: Partial<KvNodeConfig> = {}) {
  return ({ id, prng, peers, disk, nowMs }: NodeFactoryArgs<string, string>) =>
    new KvNode({ id, address: id, peers: peers.filter((p) => p !== id), prng, onLocalUpdate: (d) => ref.add(d), ...overrides }, nowMs, disk === undefined ? undefined : diskFromWal(disk));
}

/** True when every node is up and holds exactly the reference state. */
export function convergedTo(sim: KvSim, ref: Reference): boolean {
  const expectedCc = ref.state.cc;
  const count = ref.state.versionCount;
  for (const id of sim.nodeIds) {
    const n = sim.tryNode(id);
    if (n === undefined) return false;
    if (n.sizes().versions !== count || !n.context().equals(expectedCc)) return false;
  }
  const text = ref.text();
  return sim.up.every((n) => canonicalJson(encodeDelta(n.state())) === text);
}

/** Safety after every step: no replica knows a dot nobody wrote, and no replica stores a version that is not in the reference's history. */
export function noInventedDots(sim: KvSim, ref: Reference): string | undefined {
  for (const n of sim.up) {
    const cc: CausalContext = n.context();
    if (!cc.isSubsetOf(ref.state.cc)) return `${n.id} knows dots nobody wrote: ${JSON.stringify(cc.difference(ref.state.cc).encode())}`;
  }
  return undefined;
}

/**
 * Schedules `count` random client operations over [0, untilMs): LWW puts and
 * deletes with timestamps from the simulated clock, MV puts with a read's
 * context or blind, MV deletes. Operations aimed at a crashed node are skipped.
 *
 * `timingFree` restricts it to operations whose effect does not depend on
 * what the node has seen yet (LWW writes and deletes with timestamps that
 * grow with every operation, blind MV writes), so two runs whose messages
 * travel differently still accept exactly the same updates.
 */
export function randomWorkload(sim: KvSim, prng: Prng, count: number, untilMs: number, keys = 12, timingFree = false): void {
  const times = Array.from({ length: count }, () => Math.floor(prng.nextFloat() * untilMs)).sort((a, b) => a - b);
  for (let i = 0; i < count; i++) {
    if (timingFree) {
      const at = times[i]!;
      const node = prng.pick(sim.nodeIds);
      const key = `k${prng.nextInt(0, keys - 1)}`;
      const kind = prng.nextInt(0, 3);
      const ts = i + 1; // strictly increasing in schedule order: never stale
      sim.schedule(Math.max(at, sim.nowMs), (s) => {
        const n = s.tryNode(node);
        if (n === undefined) return;
        if (kind <= 1) n.put(key, `${node}-${i}`, { mode: "lww", ts });
        else if (kind === 2) n.delete(key, { mode: "lww", ts });
        else n.put(`mv/${key}`, `${node}-${i}`, { mode: "mv" });
      });
      continue;
    }
    const at = Math.floor(prng.nextFloat() * untilMs);
    const node = prng.pick(sim.nodeIds);
    const key = `k${prng.nextInt(0, keys - 1)}`;
    const kind = prng.nextInt(0, 9);
    const value = `${node}-${i}`;
    sim.schedule(Math.max(at, sim.nowMs), (s) => {
      const n = s.tryNode(node);
      if (n === undefined) return;
      if (kind <= 3) n.put(key, value, { mode: "lww", ts: s.nowMs });
      else if (kind === 4) n.delete(key, { mode: "lww", ts: s.nowMs });
      else if (kind <= 6) n.put(`mv/${key}`, value, { mode: "mv", context: n.get(`mv/${key}`).context });
      else if (kind === 7) n.put(`mv/${key}`, value, { mode: "mv" });
      else if (kind === 8) n.delete(`mv/${key}`, { mode: "mv", context: n.get(`mv/${key}`).context });
      else n.put(`big/${key}`, value.repeat(20), { mode: "lww", ts: s.nowMs });
    });
  }
}
