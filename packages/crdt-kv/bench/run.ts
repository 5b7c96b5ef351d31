/**
 * `pnpm --filter @heck/crdt-kv bench`: the figures of the crdt-kv README.
 *
 * 1. Transmission (Enes et al., ICDE 2019, §V, Fig. 6-7): 15 replicas, a tree
 *    (degree <= 3) and a partial mesh (degree 4), 100 updates per replica, one
 *    synchronisation per second; GSet, GCounter, GMap 10% and GMap 100%. Bytes
 *    of deltas/states sent until every replica has every update, for
 *    state-based, classic delta, delta+BP, delta+RR and delta+BP+RR, printed as
 *    ratios to BP+RR beside the authors' published ratios.
 * 2. Gossip rounds for one write to reach N replicas (fanout 2) vs log3(N).
 * 3. Merges per second of the store's replica state.
 * 4. Encoded bytes per update against yjs on the same map workload.
 * 5. Rejoin after a partition: digest exchange vs full state.
 *
 * Everything runs in simulation (@heck/sim) except the CPU timings of 3 and 4.
 * Medians where repeated. The last line is one JSON object of the figures.
 * HECK_SEED picks the seed (default 1).
 */
import { createPrng, Simulation, type Prng } from "@heck/sim";
import * as Y from "yjs";
import { GCounter, type GCounterState } from "../src/core/crdt/gcounter.ts";
import { gmapLattice, type GMapState } from "../src/core/crdt/gmap.ts";
import { GSet, type GSetState } from "../src/core/crdt/gset.ts";
import type { Lattice } from "../src/core/crdt/lattice.ts";
import { LwwRegister, type LwwState } from "../src/core/crdt/lww-register.ts";
import type { Json } from "../src/core/json.ts";
import { deltaBytes, KvState, type KvDelta } from "../src/core/store/kv-state.ts";
import { KvNode } from "../src/core/store/node.ts";
import { kvCodec, type KvMessage } from "../src/core/store/messages.ts";
import { SYNC_ALGORITHMS, type SyncAlgorithm } from "../src/core/sync/delta-sync.ts";
import { utf8Length } from "@heck/sim";
import { LatticeNode, type LatticeMessage, type Workload } from "./lattice-node.ts";
import { binaryTree, randomRegular, type Topology } from "./topology.ts";

const SEED = Number(process.env.HECK_SEED ?? 1);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r2 = (x: number): number => Math.round(x * 100) / 100;
const pad = (s: string | number, n: number): string => String(s).padStart(n);
const log = (line = ""): void => void process.stdout.write(line + "\n");

// ---------------------------------------------------------------------------
// 1. Transmission
// ---------------------------------------------------------------------------

const N = 15;
const UPDATES = 100;
const PERIOD_MS = 1000;
const KEYS = 1000;

/** Encoded size with a per-object cache: a replica sends the same state object to every neighbour. */
function sizer<S>(lattice: Lattice<S>): (s: S) => number {
  const cache = new WeakMap<object, number>();
  return (s) => {
    if (typeof s === "object" && s !== null) {
      const hit = cache.get(s);
      if (hit !== undefined) return hit;
      const n = utf8Length(JSON.stringify(lattice.encode(s)));
      cache.set(s, n);
      return n;
    }
    return utf8Length(JSON.stringify(lattice.encode(s)));
  };
}

interface Experiment<S> {
  name: string;
  lattice: Lattice<S>;
  workload: (prng: Prng, nodes: readonly string[]) => Workload<S>;
}

const gmap = gmapLattice(LwwRegister);

/** GMap K%: every period the cluster updates K% of the 1000 keys, each replica its share (disjoint). */
function gmapWorkload(percent: number): Experiment<GMapState<LwwState<Json>>>["workload"] {
  return (prng, nodes) => {
    const perRound = Math.round((KEYS * percent) / 100);
    const plan: string[][][] = [];
    for (let r = 0; r < UPDATES; r++) {
      const keys = prng.shuffle(Array.from({ length: KEYS }, (_, k) => `k${k}`)).slice(0, perRound);
      plan.push(nodes.map((_, i) => keys.filter((_, k) => k % nodes.length === i)));
    }
    return (node, round, state) => {
      const mine = plan[round - 1]![nodes.indexOf(node)]!;
      let delta: GMapState<LwwState<Json>> = new Map();
      for (const key of mine) delta = gmap.join(delta, gmap.apply(state, key, (reg) => LwwRegister.write(reg, round, round, node)));
      return delta;
    };
  };
}

const EXPERIMENTS: Array<Experiment<unknown>> = [
  { name: "gset", lattice: GSet, workload: () => (node, round) => GSet.add(GSet.bottom(), `${node}.${round}`) } as Experiment<GSetState>,
  { name: "gcounter", lattice: GCounter, workload: () => (node, _round, state) => GCounter.increment(state, node) } as Experiment<GCounterState>,
  { name: "gmap10", lattice: gmap, workload: gmapWorkload(10) } as Experiment<GMapState<LwwState<Json>>>,
  { name: "gmap100", lattice: gmap, workload: gmapWorkload(100) } as Experiment<GMapState<LwwState<Json>>>,
] as unknown as Array<Experiment<unknown>>;

/** One run: bytes sent until every replica holds every update, and how many periods that took. */
function transmission<S>(exp: Experiment<S>, topo: Topology, algorithm: SyncAlgorithm): { bytes: number; acks: number; periods: number } {
  const nodes = [...topo.keys()];
  const size = sizer(exp.lattice);
  const workload = exp.workload(createPrng(SEED).fork(`workload:${exp.name}`), nodes);
  const sim = new Simulation<LatticeMessage<S>, never, never, LatticeNode<S>>({
    seed: SEED,
    nodeIds: nodes,
    factory: ({ id }) => new LatticeNode(id, topo.get(id)!, exp.lattice, algorithm, workload, UPDATES, PERIOD_MS, size),
    network: { latency: { minMs: 1, meanTailMs: 0 } },
    traceLimit: 0,
  });
  let periods = 0;
  for (;;) {
    sim.runFor(PERIOD_MS);
    periods++;
    if (periods >= UPDATES) {
      const first = sim.up[0]!.replica.state;
      if (sim.up.every((n) => exp.lattice.equals(n.replica.state, first))) break;
    }
    if (periods > UPDATES + 200) throw new Error(`${exp.name}/${algorithm} did not converge`);
  }
  return { bytes: sim.up.reduce((n, x) => n + x.payloadBytes, 0), acks: sim.up.reduce((n, x) => n + x.acksSent, 0), periods };
}

/** Ratios read from the authors' published experiment data (Enes et al. §V), as ratios to BP+RR. */
const PUBLISHED: Record<string, Partial<Record<SyncAlgorithm, number>>> = {
  gsetMesh: { state: 58, classic: 57, bp: 57, rr: 1.26 },
  gsetTree: { state: 82, bp: 1.0 },
  gmap10Mesh: { state: 11 },
};

log(`crdt-kv bench, seed ${SEED}`);
log();
log(`1. Transmission: ${N} replicas, ${UPDATES} updates each, 1 sync/s; bytes of deltas/states until all converge, as ratio to delta+BP+RR`);
log(`   (published: the ratios in Enes et al.'s experiment data; "-" where the paper gives none)`);
const transmissionRatios: Record<string, Record<SyncAlgorithm, number>> = {};
const transmissionBytes: Record<string, Record<SyncAlgorithm, number>> = {};
const topologies: Array<[string, Topology]> = [
  ["Tree", binaryTree(N)],
  ["Mesh", randomRegular(N, 4, createPrng(SEED).fork("mesh"))],
];
log(`   ${"workload".padEnd(14)}${SYNC_ALGORITHMS.map((a) => pad(a, 16)).join("")}   ${pad("bprr bytes", 12)} periods`);
for (const exp of EXPERIMENTS) {
  for (const [topoName, topo] of topologies) {
    const key = `${exp.name}${topoName}`;
    const runs = Object.fromEntries(SYNC_ALGORITHMS.map((a) => [a, transmission(exp, topo, a)])) as Record<SyncAlgorithm, ReturnType<typeof transmission>>;
    const base = runs.bprr.bytes;
    transmissionRatios[key] = Object.fromEntries(SYNC_ALGORITHMS.map((a) => [a, r2(runs[a].bytes / base)])) as Record<SyncAlgorithm, number>;
    transmissionBytes[key] = Object.fromEntries(SYNC_ALGORITHMS.map((a) => [a, runs[a].bytes])) as Record<SyncAlgorithm, number>;
    const cells = SYNC_ALGORITHMS.map((a) => {
      const published = PUBLISHED[key]?.[a];
      return pad(`${transmissionRatios[key]![a].toFixed(2)}x (${published === undefined ? "-" : `${published}x`})`, 16);
    });
    log(`   ${key.padEnd(14)}${cells.join("")}   ${pad(base, 12)} ${runs.bprr.periods}`);
  }
}

// ---------------------------------------------------------------------------
// 2. Rounds to converge vs log3(N)
// ---------------------------------------------------------------------------

log();
log("2. Gossip rounds for one write to reach every replica (fanout 2, 1 s rounds, delta-intervals BP+RR), median of 15 seeds");
log(`   ${pad("N", 4)} ${pad("rounds", 8)} ${pad("log3(N)", 8)}`);
const rounds: Record<string, { rounds: number; log3: number }> = {};
for (const n of [4, 8, 16, 32, 64]) {
  const samples: number[] = [];
  for (let s = 0; s < 15; s++) {
    const ids = Array.from({ length: n }, (_, i) => `n${i}`);
    const sim = new Simulation<KvMessage, string, string, KvNode>({
      seed: SEED * 1000 + n * 31 + s,
      nodeIds: ids,
      factory: ({ id, prng, nowMs }) => new KvNode({ id, address: id, peers: ids.filter((x) => x !== id), prng, fanout: 2, syncIntervalMs: PERIOD_MS }, nowMs),
      network: { latency: { minMs: 1, meanTailMs: 1 } },
      codec: kvCodec,
      traceLimit: 0,
    });
    sim.runFor(3 * PERIOD_MS);
    const start = sim.nowMs;
    sim.node("n0").put("news", "hello", { ts: start });
    const ok = sim.runUntil((x) => x.up.every((node) => node.get("news").exists), 60 * PERIOD_MS);
    if (!ok) throw new Error(`N=${n}: the write did not spread`);
    samples.push((sim.nowMs - start) / PERIOD_MS);
  }
  rounds[String(n)] = { rounds: r2(median(samples)), log3: r2(Math.log(n) / Math.log(3)) };
  log(`   ${pad(n, 4)} ${pad(rounds[String(n)]!.rounds.toFixed(2), 8)} ${pad(rounds[String(n)]!.log3.toFixed(2), 8)}`);
}

// ---------------------------------------------------------------------------
// 3. Merges per second
// ---------------------------------------------------------------------------

log();
log("3. Merges per second: one-key deltas from 8 writers joined into a replica holding 10,000 keys (median of 5 runs)");
function buildState(): { state: KvState; deltas: KvDelta[] } {
  const state = new KvState();
  const writer = new KvState(false);
  for (let i = 0; i < 10_000; i++) {
    const d = writer.writeLww(`key/${i}`, `v${i}`, false, i, "seed");
    writer.join(d!);
    state.join(d!);
  }
  const deltas: KvDelta[] = [];
  const writers = Array.from({ length: 8 }, () => {
    const w = new KvState(false);
    w.join(writer.toDelta());
    return w;
  });
  const prng = createPrng(SEED).fork("merges");
  for (let i = 0; i < 20_000; i++) {
    const w = prng.nextInt(0, 7);
    const d = writers[w]!.writeLww(`key/${prng.nextInt(0, 9999)}`, `x${i}`, false, 20_000 + i, `w${w}`)!;
    writers[w]!.join(d);
    deltas.push(d);
  }
  return { state, deltas };
}
const joinRates: number[] = [];
const rrRates: number[] = [];
for (let run = 0; run < 5; run++) {
  const a = buildState();
  let t = performance.now();
  for (const d of a.deltas) a.state.join(d);
  joinRates.push(a.deltas.length / ((performance.now() - t) / 1000));
  const b = buildState();
  t = performance.now();
  for (const d of b.deltas) b.state.join(b.state.novelty(d));
  rrRates.push(b.deltas.length / ((performance.now() - t) / 1000));
}
const mergesPerSec = { join: Math.round(median(joinRates)), rrJoin: Math.round(median(rrRates)) };
log(`   join: ${mergesPerSec.join.toLocaleString("en")} merges/s; Δ then join (RR): ${mergesPerSec.rrJoin.toLocaleString("en")} merges/s`);

// ---------------------------------------------------------------------------
// 4. Bytes per update vs yjs
// ---------------------------------------------------------------------------

log();
log("4. Encoded bytes per update on a map workload: 5,000 writes of 8-character values to 100 keys, one writer");
const yjs = (() => {
  const doc = new Y.Doc();
  doc.clientID = 1;
  const map = doc.getMap<string>("m");
  let bytes = 0;
  doc.on("update", (u: Uint8Array) => (bytes += u.length));
  const prng = createPrng(SEED).fork("map-workload");
  for (let i = 0; i < 5000; i++) map.set(`key${prng.nextInt(0, 99)}`, `v${String(prng.nextInt(0, 9_999_999)).padStart(7, "0")}`);
  return { perUpdate: bytes / 5000, state: Y.encodeStateAsUpdate(doc).length };
})();
const ours = (mode: "lww" | "mv") => {
  const s = new KvState();
  let bytes = 0;
  const prng = createPrng(SEED).fork("map-workload");
  for (let i = 0; i < 5000; i++) {
    const key = `key${prng.nextInt(0, 99)}`;
    const value = `v${String(prng.nextInt(0, 9_999_999)).padStart(7, "0")}`;
    const d = mode === "lww" ? s.writeLww(key, value, false, 1_700_000_000_000 + i, "a")! : s.writeMv(key, value, "a", s.read(key).context);
    bytes += deltaBytes(d);
    s.join(d);
  }
  return { perUpdate: bytes / 5000, state: deltaBytes(s.toDelta()) };
};
const lww = ours("lww");
const mv = ours("mv");
log(`   ${"".padEnd(22)}${pad("bytes/update", 14)}${pad("final state", 14)}`);
log(`   ${"crdt-kv LWW delta".padEnd(22)}${pad(lww.perUpdate.toFixed(1), 14)}${pad(lww.state, 14)}`);
log(`   ${"crdt-kv MV delta".padEnd(22)}${pad(mv.perUpdate.toFixed(1), 14)}${pad(mv.state, 14)}`);
log(`   ${"yjs update".padEnd(22)}${pad(yjs.perUpdate.toFixed(1), 14)}${pad(yjs.state, 14)}`);

// ---------------------------------------------------------------------------
// 5. Rejoin after a partition
// ---------------------------------------------------------------------------

log();
log("5. Rejoin: 2 replicas share 5,000 keys, one writes 50 more while cut off beyond its delta log; bytes to resync");
function rejoin(fullStateMaxBytes: number): { bytes: number; rounds: number } {
  const sim = new Simulation<KvMessage, string, string, KvNode>({
    seed: SEED,
    nodeIds: ["a", "b"],
    factory: ({ id, prng, nowMs }) =>
      new KvNode({ id, address: id, peers: [id === "a" ? "b" : "a"], prng, syncIntervalMs: PERIOD_MS, maxLogEntries: 16, fullStateMaxBytes, maxMessageBytes: 8 << 20 }, nowMs),
    network: { latency: { minMs: 1, meanTailMs: 1 } },
    codec: kvCodec,
    traceLimit: 0,
  });
  for (let i = 0; i < 5000; i++) sim.node("a").put(`key/${i}`, `value-${i}`, { ts: i });
  sim.runUntil((s) => s.node("b").sizes().keys === 5000, 30 * PERIOD_MS);
  sim.runFor(3 * PERIOD_MS);
  sim.partition(["a"], ["b"]);
  for (let i = 0; i < 50; i++) sim.node("a").put(`late/${i}`, `value-${i}`, { ts: 10_000 + i });
  sim.runFor(3 * PERIOD_MS);
  const before = sim.stats.bytes;
  sim.heal();
  const start = sim.nowMs;
  const ok = sim.runUntil((s) => s.node("b").sizes().keys === 5050, 30 * PERIOD_MS);
  if (!ok) throw new Error("rejoin did not converge");
  return { bytes: sim.stats.bytes - before, rounds: r2((sim.nowMs - start) / PERIOD_MS) };
}
const viaDigest = rejoin(0);
const viaState = rejoin(Infinity);
log(`   digest exchange: ${viaDigest.bytes.toLocaleString("en")} bytes in ${viaDigest.rounds} rounds; full state: ${viaState.bytes.toLocaleString("en")} bytes in ${viaState.rounds} rounds (${r2(viaState.bytes / viaDigest.bytes)}x)`);

// ---------------------------------------------------------------------------
// 6. Peer vectors on a full mesh (the apps/v2 shape)
// ---------------------------------------------------------------------------

log();
log("6. Full mesh, v2's shape: 10 replicas, every one a peer of every other, fanout 3, sync every 200 ms; each writes 100 records/s");
log("   (200-byte JSON values over 2,000 keys) for 10 s; bytes sent per update written, and copies of each version received");
function mesh(peerVectors: boolean): { bytesPerUpdate: number; copiesPerVersion: number; updates: number } {
  const ids = Array.from({ length: 10 }, (_, i) => `a${i}`);
  let updates = 0;
  const sim = new Simulation<KvMessage, string, string, KvNode>({
    seed: SEED,
    nodeIds: ids,
    factory: ({ id, prng, nowMs }) => new KvNode({ id, address: id, peers: ids.filter((x) => x !== id), prng, syncIntervalMs: 200, fanout: 3, peerVectors, maxLogEntries: 65_536 }, nowMs),
    network: { latency: { minMs: 1, meanTailMs: 2 } },
    codec: kvCodec,
    traceLimit: 0,
  });
  const prng = createPrng(SEED).fork("mesh");
  for (let t = 0; t < 10_000; t += 10) {
    sim.schedule(t, (s) => {
      for (const [k, id] of ids.entries()) {
        const key = `heck/health/o${k + 10 * prng.nextInt(0, 199)}`;
        s.node(id).put(key, { id: key, status: "healthy", observer: id, checkedAtMs: s.nowMs, sinceMs: 0, hlcMs: s.nowMs, latencyMs: 1.5, lastError: null, pad: "x".repeat(60) }, { ts: s.nowMs });
        updates++;
      }
    });
  }
  sim.runFor(10_000);
  const everyone = (s: typeof sim) => s.up.every((n) => [...n.vector().values()].reduce((a, b) => a + b, 0) === updates);
  if (!sim.runUntil(everyone, 20_000)) throw new Error("mesh did not converge");
  const sent = sim.up.reduce((n, x) => n + x.stats.bytesSent, 0);
  const received = sim.up.reduce((n, x) => n + x.stats.versionsReceived, 0);
  const fresh = sim.up.reduce((n, x) => n + x.stats.versionsNew, 0);
  return { bytesPerUpdate: r2(sent / updates), copiesPerVersion: r2(received / fresh), updates };
}
const meshPlain = mesh(false);
const meshVectors = mesh(true);
log(`   BP+RR:                bytes sent per update ${meshPlain.bytesPerUpdate.toFixed(0)}, copies of each new version received ${meshPlain.copiesPerVersion}`);
log(`   BP+RR + peer vectors: bytes sent per update ${meshVectors.bytesPerUpdate.toFixed(0)}, copies of each new version received ${meshVectors.copiesPerVersion} (${r2(meshPlain.bytesPerUpdate / meshVectors.bytesPerUpdate)}x fewer bytes)`);

log(
  JSON.stringify({
    seed: SEED,
    fullMesh: { bprrBytesPerUpdate: meshPlain.bytesPerUpdate, peerVectorsBytesPerUpdate: meshVectors.bytesPerUpdate, copiesBprr: meshPlain.copiesPerVersion, copiesPeerVectors: meshVectors.copiesPerVersion },
    transmission: transmissionRatios,
    transmissionBytes,
    published: PUBLISHED,
    roundsToConverge: rounds,
    mergesPerSec,
    bytesPerUpdate: { crdtKvLww: r2(lww.perUpdate), crdtKvMv: r2(mv.perUpdate), yjs: r2(yjs.perUpdate) },
    finalStateBytes: { crdtKvLww: lww.state, crdtKvMv: mv.state, yjs: yjs.state },
    rejoin: { digestBytes: viaDigest.bytes, fullStateBytes: viaState.bytes },
  }),
);
