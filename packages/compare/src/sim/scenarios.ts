/**
 * The comparison's scenarios (docs/compare.md) as data: cluster size, faults on a timeline
 * (offsets from the start of the workload), and which nodes form each side of
 * a partition, so per-side figures can be computed afterwards.
 *
 * Node ids are n1..nN. In every raft run leadership is moved to n1 before the
 * workload starts, so "the leader" is n1 in every scenario, and the same ids
 * crash or get cut off in the crdt run of the same scenario.
 */

/** One fault at `atMs` after the workload started. */
export type Fault =
  | { atMs: number; kind: "crash"; node: string }
  | { atMs: number; kind: "restart"; node: string }
  | { atMs: number; kind: "partition"; groups: string[][] }
  | { atMs: number; kind: "bridge"; left: string[]; bridge: string; right: string[] }
  | { atMs: number; kind: "heal" }
  | { atMs: number; kind: "leave"; node: string }
  | { atMs: number; kind: "join"; node: string };

/** A scenario: everything a run needs besides the store and the seed. */
export interface Scenario {
  /** Short id, used in file names and JSON. */
  id: string;
  title: string;
  /** Which table/chart family it belongs to. */
  family: "steady" | "crash" | "partition" | "loss" | "churn" | "scale";
  /** Founding members. */
  nodes: number;
  /** Extra ids that join later (churn). */
  spares: number;
  /** How long the workload runs. */
  runMs: number;
  faults: Fault[];
  /** Per-side figures are computed for operations invoked in [fromMs, toMs) (offsets), by side. */
  window?: { fromMs: number; toMs: number; sides: Record<string, string[]> };
  /** Packet loss probability (streams suffer a retransmission delay with the same probability instead). */
  loss: number;
  /** Crash scenarios: probe writes every 25 ms around the crash measure the downtime. */
  probes?: { fromMs: number; toMs: number };
  /** Raft: also issue linearizable reads (off for scale runs, which measure the write path). */
  linearizableReads: boolean;
  /** Origins per founding node. */
  originsPerNode: number;
  /** Scale runs: the loss/N parameter the run belongs to (the x of a chart). */
  x?: number;
  /** No workload at all (scale baseline: what the cluster costs doing nothing). */
  idle?: boolean;
}

/** How long each kind of scenario runs: full (the report) or quick (the test suite). */
export interface ScenarioScale {
  steadyMs: number;
  partitionHoldMs: number;
  afterHealMs: number;
  crashRunMs: number;
  lossRunMs: number;
  churnRounds: number;
  churnEveryMs: number;
  scaleRunMs: number;
  scaleNodes: number[];
  /** Origins per node in the scale runs (fewer: a 65-node crdt run delivers every update ~64 times to every node). */
  scaleOriginsPerNode: number;
  lossRates: number[];
  /** Cluster size of the non-scale scenarios. */
  nodes: number;
  originsPerNode: number;
}

/** The full experiment: partitions held 30 s, N up to 65. */
export const FULL_SCALE: ScenarioScale = {
  steadyMs: 20_000,
  partitionHoldMs: 30_000,
  afterHealMs: 15_000,
  crashRunMs: 20_000,
  lossRunMs: 15_000,
  churnRounds: 4,
  churnEveryMs: 5_000,
  scaleRunMs: 4_000,
  scaleNodes: [3, 5, 9, 17, 33, 65],
  scaleOriginsPerNode: 10,
  lossRates: [0, 0.05, 0.1, 0.2, 0.3],
  nodes: 5,
  originsPerNode: 20,
};

/** The quick version for the test suite: same shapes, shorter and smaller. */
export const QUICK_SCALE: ScenarioScale = {
  steadyMs: 6_000,
  partitionHoldMs: 6_000,
  afterHealMs: 6_000,
  crashRunMs: 8_000,
  lossRunMs: 5_000,
  churnRounds: 2,
  churnEveryMs: 3_000,
  scaleRunMs: 4_000,
  scaleNodes: [3, 5, 9],
  scaleOriginsPerNode: 10,
  lossRates: [0, 0.1, 0.3],
  nodes: 5,
  originsPerNode: 10,
};

function ids(n: number, from = 1): string[] {
  return Array.from({ length: n }, (_, i) => `n${from + i}`);
}

/** Every scenario of the experiment, in report order. */
export function buildScenarios(s: ScenarioScale): Scenario[] {
  const n = s.nodes;
  const all = ids(n);
  const base = { nodes: n, spares: 0, loss: 0, linearizableReads: true, originsPerNode: s.originsPerNode };
  const out: Scenario[] = [];
  out.push({ ...base, id: "steady", title: "Steady state", family: "steady", runMs: s.steadyMs, faults: [] });

  const crashAt = 4_000;
  const restartAt = crashAt + Math.min(10_000, s.crashRunMs - crashAt - 2_000);
  for (const [id, title, node] of [
    ["crash-leader", "Leader crash (n1, raft's leader)", "n1"],
    ["crash-follower", `Follower crash (n${n})`, `n${n}`],
  ] as const) {
    out.push({
      ...base,
      id,
      title,
      family: "crash",
      runMs: s.crashRunMs,
      faults: [
        { atMs: crashAt, kind: "crash", node },
        { atMs: restartAt, kind: "restart", node },
      ],
      probes: { fromMs: crashAt - 1_000, toMs: crashAt + 4_000 },
    });
  }

  const cutAt = 3_000;
  const healAt = cutAt + s.partitionHoldMs;
  const minority = all.slice(0, Math.floor((n - 1) / 2));
  const majority = all.slice(minority.length);
  out.push({
    ...base,
    id: "partition-leader-minority",
    title: `Partition, leader in the minority (${minority.join(",")} | ${majority.join(",")})`,
    family: "partition",
    runMs: healAt + s.afterHealMs,
    faults: [
      { atMs: cutAt, kind: "partition", groups: [minority, majority] },
      { atMs: healAt, kind: "heal" },
    ],
    window: { fromMs: cutAt, toMs: healAt, sides: { minority, majority } },
  });
  const minority2 = all.slice(n - Math.floor((n - 1) / 2));
  const majority2 = all.slice(0, n - minority2.length);
  out.push({
    ...base,
    id: "partition-leader-majority",
    title: `Partition, leader in the majority (${majority2.join(",")} | ${minority2.join(",")})`,
    family: "partition",
    runMs: healAt + s.afterHealMs,
    faults: [
      { atMs: cutAt, kind: "partition", groups: [majority2, minority2] },
      { atMs: healAt, kind: "heal" },
    ],
    window: { fromMs: cutAt, toMs: healAt, sides: { majority: majority2, minority: minority2 } },
  });
  // Bridge: two halves that reach each other only through one node (Jepsen's bridge nemesis).
  const half = Math.floor((n - 1) / 2);
  const left = all.slice(0, half);
  const bridge = all[half]!;
  const right = all.slice(half + 1);
  out.push({
    ...base,
    id: "bridge",
    title: `Bridge partition (${left.join(",")} <- ${bridge} -> ${right.join(",")})`,
    family: "partition",
    runMs: healAt + s.afterHealMs,
    faults: [
      { atMs: cutAt, kind: "bridge", left, bridge, right },
      { atMs: healAt, kind: "heal" },
    ],
    window: { fromMs: cutAt, toMs: healAt, sides: { "left (leader)": left, bridge: [bridge], right } },
  });

  for (const loss of s.lossRates) {
    out.push({ ...base, id: `loss-${Math.round(loss * 100)}`, title: `Message loss ${Math.round(loss * 100)}%`, family: "loss", runMs: s.lossRunMs, faults: [], loss, x: loss });
  }

  // Churn: every round one member leaves gracefully and a fresh node joins, so the size stays n.
  const churnFaults: Fault[] = [];
  for (let r = 0; r < s.churnRounds; r++) {
    const at = 3_000 + r * s.churnEveryMs;
    churnFaults.push({ atMs: at, kind: "leave", node: `n${n - r}` });
    churnFaults.push({ atMs: at + 500, kind: "join", node: `n${n + 1 + r}` });
  }
  out.push({
    ...base,
    id: "churn",
    title: `Churn (${s.churnRounds} rounds: one member leaves, a new one joins, every ${s.churnEveryMs / 1000} s)`,
    family: "churn",
    spares: s.churnRounds,
    runMs: 3_000 + s.churnRounds * s.churnEveryMs + 3_000,
    faults: churnFaults,
  });

  for (const size of s.scaleNodes) {
    const scaleBase = { ...base, nodes: size, family: "scale" as const, runMs: s.scaleRunMs, faults: [], linearizableReads: false, x: size, originsPerNode: s.scaleOriginsPerNode };
    out.push({ ...scaleBase, id: `scale-${size}`, title: `Scale N=${size}` });
    // The same cluster at three times the load: the slope between the two gives the marginal cost of an update.
    out.push({ ...scaleBase, id: `scale-${size}-x3`, title: `Scale N=${size}, 3x load`, originsPerNode: 3 * s.scaleOriginsPerNode });
    out.push({ ...scaleBase, id: `scale-${size}-idle`, title: `Scale N=${size}, idle`, idle: true });
  }
  return out;
}

/** True when `name` selects scenario `id`: the id itself, or its family's prefix ("partition" selects "partition-leader-minority"). */
function selects(name: string, id: string): boolean {
  return id === name || id.startsWith(`${name}-`);
}

/** The scenarios of a run (all, or those `only` names). */
export function selectScenarios(quick: boolean, only?: readonly string[]): Scenario[] {
  return buildScenarios(quick ? QUICK_SCALE : FULL_SCALE).filter((s) => only === undefined || only.some((name) => selects(name, s.id)));
}

/**
 * The names in `only` that select no scenario of a run of this size, with
 * every scenario id there is, for the error that refuses them (a name that
 * selects nothing would run nothing and write an empty report).
 */
export function unknownScenarioNames(quick: boolean, only: readonly string[]): { unknown: string[]; known: string[] } {
  const known = buildScenarios(quick ? QUICK_SCALE : FULL_SCALE).map((s) => s.id);
  return { unknown: only.filter((name) => !known.some((id) => selects(name, id))), known };
}
