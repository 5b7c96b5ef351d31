/**
 * crdt-kv in the view: five replicas of the stage's `KvNode` (delta-CRDT
 * store with dotted version vectors, BP+RR delta anti-entropy) on the
 * network its simulation tests use. Each node shows its keys with their
 * values (concurrent siblings side by side), its version vector, its dot
 * cloud (the dots seen beyond the vector), and the sequence number each peer
 * has acknowledged.
 *
 * A put is a multi-value write with the context of the node's own read, so it
 * replaces exactly the versions that node has seen (Almeida et al. 2018 §5):
 * write on both sides of a partition and the heal shows both as siblings on
 * every replica, with one version vector.
 *
 * Checked after every step: no replica knows a dot nobody wrote (its vector
 * never runs ahead of the writes made at each replica). Progress: after a
 * heal every live replica converges to the same vector and values.
 */
import { Simulation } from "@heck/sim";
import { KvNode, diskFromWal, kvCodec, type KvMessage } from "@heck/crdt-kv";
import { InvariantBoard, NODE_IDS, type MessageDescription, type NodeView, type StageAdapter, type StageContext } from "../core/stage.ts";

const NODES = [...NODE_IDS];
/** The simulation tests' network: 1 ms floor, 4 ms mean tail. */
const NETWORK = { latency: { minMs: 1, meanTailMs: 4 } };
/** Anti-entropy every 500 ms: slow enough to watch a delta travel, fast enough to converge in a few seconds. */
const SYNC_INTERVAL_MS = 500;
/** Writes in the first seconds of every run (keys k1..k3), before the learner does anything. */
const WARMUP_WRITES = 6;
const WARMUP_MS = 4_000;
const NO_INVENTED_DOTS = "no replica knows a dot nobody wrote";
const CONVERGED = "every live replica has the same vector and values";

type KvSim = Simulation<KvMessage, string, string, KvNode>;

const utf8Decoder = new TextDecoder();

/** Builds the crdt stage's adapter. */
export function crdtStage(context: StageContext): StageAdapter {
  const board = new InvariantBoard([
    { name: NO_INVENTED_DOTS, kind: "safety" },
    { name: CONVERGED, kind: "progress" },
  ]);
  /** Writes accepted at each replica: its own vector entry can never pass this. */
  const writes = new Map<string, number>(NODES.map((id) => [id, 0]));
  const vectors = new Map<string, string>();

  const observe = (sim: KvSim): string | undefined => {
    for (const n of sim.up) {
      const vector = n.vector();
      const text = vectorText(vector);
      const before = vectors.get(n.id);
      if (before !== undefined && before !== text) sim.record({ t: sim.nowMs, node: n.id, event: "merged", msg: { vector: Object.fromEntries(vector) } });
      vectors.set(n.id, text);
      for (const [writer, counter] of vector) {
        const made = writes.get(writer) ?? 0;
        if (counter > made) {
          const detail = `${n.id} knows ${writer}:${counter} but ${writer} made only ${made} writes`;
          if (board.fail(NO_INVENTED_DOTS, detail)) return detail;
        }
      }
    }
    return undefined;
  };

  const sim: KvSim = new Simulation<KvMessage, string, string, KvNode>({
    seed: context.seed,
    nodeIds: NODES,
    network: NETWORK,
    // Messages travel as their wire text, as between real replicas: a receiver never shares the sender's objects.
    codec: kvCodec,
    traceLimit: 1,
    onTrace: context.onTrace,
    // A restarted replica recovers from the WAL lines and snapshot its Readies put on its simulated disk.
    factory: ({ id, prng, peers, disk, nowMs }) =>
      new KvNode({ id, address: id, peers: peers.filter((p) => p !== id), prng, syncIntervalMs: SYNC_INTERVAL_MS, fanout: 2 }, nowMs, disk === undefined ? undefined : diskFromWal(disk)),
    invariants: [{ name: "crdt observer", check: (s) => observe(s) }, ...(context.checks ?? [])],
  });

  const put = (node: string, key: string, value: string): void => {
    const n = sim.tryNode(node);
    if (n === undefined) {
      sim.record({ t: sim.nowMs, node, event: "client-refused", msg: { key, value, why: "node is down" } });
      return;
    }
    const r = n.put(key, value, { mode: "mv", context: n.get(key).context });
    if (r.ok) writes.set(node, (writes.get(node) ?? 0) + 1);
    sim.record({ t: sim.nowMs, node, event: r.ok ? "client-ack" : "client-refused", msg: { key, value } });
  };

  // A few writes in the first seconds, on random replicas (the seed's `workload` stream), so a fresh run shows deltas travelling.
  const workload = sim.prng.fork("workload");
  for (let i = 0; i < WARMUP_WRITES; i++) {
    const atMs = Math.floor(workload.nextFloat() * WARMUP_MS);
    const node = workload.pick(NODES);
    const key = `k${workload.nextInt(1, 3)}`;
    sim.schedule(atMs, () => put(node, key, `${node}-${i}`));
  }

  return {
    stage: "crdt",
    sim: sim as unknown as StageAdapter["sim"],
    nodeIds: NODES,
    operations: ["put"],
    origins: [],
    crash: (id) => {
      sim.crash(id);
      vectors.delete(id);
    },
    restart: (id) => sim.restart(id),
    put,
    flip: () => undefined,
    nodeView: (id) => crdtView(sim, id),
    invariants: () =>
      board.statuses((name) => {
        if (name !== CONVERGED) return undefined;
        const up = sim.up;
        const first = up[0];
        const ok = first !== undefined && up.every((n) => vectorText(n.vector()) === vectorText(first.vector()) && JSON.stringify(reads(n)) === JSON.stringify(reads(first)));
        return { name, kind: "progress", ok };
      }),
    describe: describeKv,
  };
}

function vectorText(v: Map<string, number>): string {
  return [...v].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, c]) => `${k}:${c}`).join(",");
}

function reads(n: KvNode): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const key of n.list()) out[key] = [...n.get(key).values];
  return out;
}

/** One replica's keys, version vector, dot cloud and peers' acknowledgements, of this stage's cluster or of the crdt-kv sweep's. */
export function crdtView(sim: KvSim, id: string): NodeView {
  const n = sim.tryNode(id);
  if (n === undefined) return { id, up: false };
  const cc = n.context().encode() as unknown;
  return {
    id,
    up: true,
    keys: reads(n),
    vector: Object.fromEntries([...n.vector()].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
    dotCloud: cc,
    acked: Object.fromEntries(n.peers().map((p) => [p.address, p.acked])),
  };
}

/** A crdt-kv wire message (JSON text, or its UTF-8 bytes in flight): its type and the fields that say what it carries. */
export function describeKv(payload: unknown): MessageDescription {
  if (payload instanceof Uint8Array) payload = utf8Decoder.decode(payload);
  if (typeof payload !== "string") return { type: "bytes", detail: {} };
  try {
    const m = JSON.parse(payload) as Record<string, unknown>;
    const type = typeof m.type === "string" ? m.type : "unknown";
    const detail: Record<string, unknown> = { type, from: m.from, seq: m.seq };
    if (type === "delta") {
      const state = m.state as { entries?: unknown[] } | undefined;
      detail.full = m.full;
      detail.entries = Array.isArray(state?.entries) ? state.entries.length : undefined;
    }
    if (type === "ack") detail.probe = m.probe;
    return { type, detail };
  } catch {
    return { type: "undecodable", detail: { bytes: payload.length } };
  }
}
