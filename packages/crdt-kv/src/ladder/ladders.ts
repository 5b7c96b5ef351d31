/**
 * crdt-kv's two ladders behind one command: how an update spreads (gossip)
 * and how concurrent writes are told apart (causality), each climbing to
 * the store's own design on the same seeded network.
 */
import { causalityWatchCommand, formatCausalityLadder, runCausalityLadder, type CausalityLadderResult } from "./causality-ladder.ts";
import { formatGossipLadder, gossipWatchCommand, runGossipLadder, type GossipLadderResult } from "./gossip-ladder.ts";

// What the browser view needs to open a rung: each ladder's runs, set up and not yet run.
export { CAUSALITY_RUNG_KEYS, CAUSALITY_RUNGS, causalityWatchCommand, exactStore, judgeChecks, openStory, STORY_KEY, STORY_REPLICAS, storyChecksExact } from "./causality-ladder.ts";
export type { CausalityRungKey, CheckResult, OpenStory, StoreUnderTest, StoryWatch } from "./causality-ladder.ts";
export { GOSSIP_RUNG_KEYS, gossipWatchCommand, openGossipCell } from "./gossip-ladder.ts";
export type { GossipRungKey, OpenSpread, SpreadWatch } from "./gossip-ladder.ts";
export type { EpidemicMessage, EpidemicReplica } from "./epidemic.ts";

/** What to run. */
export interface CrdtLadderOptions {
  seed: number;
  sizes?: readonly number[];
  trials?: number;
  gossip?: boolean;
  causality?: boolean;
}

/** Both ladders' results (a ladder not run is absent). */
export interface CrdtLadders {
  seed: number;
  gossip?: GossipLadderResult;
  causality?: CausalityLadderResult;
}

/** Runs the chosen ladders; a function of the options only. */
export function runCrdtLadders(o: CrdtLadderOptions): CrdtLadders {
  return {
    seed: o.seed,
    ...(o.gossip === false ? {} : { gossip: runGossipLadder({ seed: o.seed, ...(o.sizes ? { sizes: o.sizes } : {}), ...(o.trials ? { trials: o.trials } : {}) }) }),
    ...(o.causality === false ? {} : { causality: runCausalityLadder({ seed: o.seed }) }),
  };
}

/** Each ladder as its table, under a heading. */
export function formatCrdtLadders(l: CrdtLadders): string {
  const parts: string[] = [];
  if (l.gossip) parts.push("Gossip: one write spreading to every replica\n", formatGossipLadder(l.gossip));
  if (l.causality) parts.push(`${parts.length > 0 ? "\n" : ""}Causality: one story of reads and writes on replicas A and B\n`, formatCausalityLadder(l.causality));
  return `${parts.join("\n")}\n(replay: --seed ${l.seed})`;
}

/** The `--json` line: `{ "rungs": [ { "name", "broke", "ladder", ...figures } ] }`. */
export function crdtLaddersJson(l: CrdtLadders): string {
  const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);
  const rungs: Array<Record<string, unknown>> = [];
  for (const r of l.gossip?.rungs ?? []) {
    const bySize = (f: (x: (typeof r.clean)[number]) => unknown, xs: typeof r.clean) => Object.fromEntries(xs.map((x) => [String(x.nodes), f(x)]));
    rungs.push({
      name: r.name,
      broke: r.broke,
      ladder: "gossip",
      key: r.key,
      rounds: bySize((x) => round(x.rounds), r.clean),
      roundsAtLoss: bySize((x) => round(x.rounds), r.lossy),
      messages: bySize((x) => x.messages, r.clean),
      messagesAtLoss: bySize((x) => x.messages, r.lossy),
      missed: bySize((x) => x.missed, r.clean),
      missedAtLoss: bySize((x) => x.missed, r.lossy),
      watch: gossipWatchCommand(r.key, r.clean[0]?.nodes ?? 16, l.seed),
    });
  }
  for (const { name, broke, ...figures } of l.causality?.rungs ?? []) rungs.push({ name, broke, ladder: "causality", ...figures, watch: causalityWatchCommand(figures.key, l.seed) });
  return JSON.stringify({ seed: l.seed, ...(l.gossip ? { lossRate: l.gossip.lossRate, trials: l.gossip.trials } : {}), ...(l.causality ? { exact: l.causality.exact } : {}), rungs });
}
