/**
 * The swim sweep's scenario as data, so the sweep (`heck-sim sweep --package
 * swim`, test/sweep-entry.ts), the seeded tests and the browser view
 * (`heck-scope swim --scenario sweep`) run the very same thing: a VOPR-style
 * run through @heck/sim's runSeeded. The seed draws the cluster size (4 to 9
 * members) and a random fault schedule (partitions of every shape, crashes
 * and restarts, packet loss, duplication, reordering, delay spikes) for a
 * 30 s safety phase, during which every member's view must keep SWIM's
 * ordering rules after every step. Then the network heals, crashed members
 * restart and rejoin, and within 60 s every live member must see every other
 * alive (reconnect and push-pull do the re-merging). A crashed member
 * recovers its incarnation from the records its Readies left on its
 * simulated disk, and the runner checks that no message claims an
 * incarnation before it is there. `powerLoss` makes fsyncs slow and crashes
 * lose unsynced records, and tear the first of them.
 */
import type { SeededRunOptions, Simulation, SimulationDiskOptions } from "@heck/sim";
import { lanConfig } from "../core/config.ts";
import type { SwimMessage } from "../core/messages.ts";
import { recoverIncarnation, SwimNode, type SwimRecord } from "../core/node.ts";
import { swimCodec, VIEW_RULES, viewViolation } from "./cluster.ts";
import { incarnationPersisted, tearIncarnation } from "./persist-check.ts";
import { SimMember } from "./sim-member.ts";

type Sim = Simulation<SwimMessage, SwimRecord, never, SimMember>;

/** Faster reconnects than Serf's 30 s so the liveness budget stays short. */
const config = { ...lanConfig(), reconnectIntervalMs: 5000 };

function converged(sim: Sim): boolean {
  const up = sim.up;
  for (const obs of up) for (const subj of up) if (obs.node.member(subj.id)?.state !== "alive") return false;
  return true;
}

/** Slow fsyncs, and crashes that are power losses: part of the unsynced records is gone, the first of them often torn. */
export const POWER_LOSS: SimulationDiskOptions<SwimRecord> = {
  syncLatency: { minMs: 1, maxMs: 20 },
  faults: { lostUnsyncedRate: 0.7, tornRecordRate: 0.7 },
  tear: tearIncarnation,
};

/** Variations of the sweep scenario. */
export interface SwimSweepVariant {
  /** Power-loss crashes (see {@link POWER_LOSS}). */
  powerLoss?: boolean;
  /** Wraps each member (a test's deliberately broken member); a run with one cannot be opened in the view. */
  member?: (node: SwimNode) => SimMember;
}

/** The sweep scenario for `seed`: what {@link runSeeded} runs, and what the view opens. */
export function swimSweepOptions(seed: number, variant: SwimSweepVariant = {}): SeededRunOptions<SwimMessage, SwimRecord, never, SimMember> {
  const scenario = variant.powerLoss === true ? "sweep-power-loss" : "sweep";
  return {
    seed,
    nodeIds: (prng) => Array.from({ length: prng.nextInt(4, 9) }, (_, i) => `n${i + 1}`),
    network: { latency: { minMs: 0.2, meanTailMs: 0.5 }, maxPacketBytes: config.maxPacketBytes },
    codec: swimCodec,
    ...(variant.powerLoss === true ? { disk: POWER_LOSS } : {}),
    beforeSend: incarnationPersisted,
    factory: ({ id, prng, peers, disk, nowMs }) => {
      const others = peers.filter((p) => p !== id);
      const node = new SwimNode({
        name: id,
        addr: id,
        config,
        prng,
        nowMs,
        ...(disk === undefined ? { initialMembers: others.map((p) => ({ name: p, addr: p })) } : { incarnation: recoverIncarnation(disk.records) }),
      });
      // A restarted member rejoins through a few others (some may be down too).
      if (disk !== undefined) node.join(prng.shuffle([...others]).slice(0, 3), nowMs);
      return variant.member !== undefined ? variant.member(node) : new SimMember(node, undefined);
    },
    invariants: [{ name: VIEW_RULES, check: (sim: Sim) => viewViolation(sim.up) }],
    safetyPhaseMs: 30_000,
    converged,
    livenessBudgetMs: 60_000,
    describeState: (sim: Sim) =>
      sim.up.map((m) => `${m.id} inc=${m.node.incarnation} sees ${m.node.members().map((x) => `${x.name}:${x.state}@${x.incarnation}`).join(" ")}`).join("\n"),
    // A run with a test's own member is not the scenario the view builds, so it offers no view.
    ...(variant.member === undefined ? { watchCommand: (s: number, faults: string) => `pnpm heck-scope swim --scenario ${scenario} --seed ${s} --faults "${faults}" --at failure` } : {}),
  };
}
