/**
 * `heck soak`: parse, validate, run (run.ts), print the seed, every fault as
 * it happens, the figures as a table and, last, one JSON line.
 */
import { onShutdownSignal } from "@heck/cli-kit";
import { Command, InvalidArgumentError, Option } from "commander";
import { runSoak, type SoakResult } from "./run.ts";

const intArg = (flag: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer in ${min}..${max}`);
  return n;
};

/** "15m", "90s", "900000" (ms) -> ms; 10 s .. 24 h. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  const ms = m ? Number(m[1]) * ({ ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const)[(m[2] ?? "ms") as "ms" | "s" | "m" | "h"] : NaN;
  if (!(ms >= 10_000 && ms <= 86_400_000)) throw new InvalidArgumentError(`--duration must be 10s..24h, like "15m", "90s" or milliseconds, got ${JSON.stringify(v)}`);
  return Math.round(ms);
}

const s = (ms: number | null) => (ms === null ? "-" : `${(ms / 1000).toFixed(1)} s`);

/** The figures as a Markdown table (what v2's README shows). */
export function soakTable(r: SoakResult): string {
  const f = r.figures;
  const per = f.checksPerOriginPerInterval;
  const fmt = (x: number | null) => (x === null ? "- (no such time)" : x.toFixed(2));
  const rows: Array<[string, string]> = [
    [`coverage: each origin checked within ${s(r.allowedGapMs)}, outside fault starts`, `${f.coveragePct.toFixed(2)} % of ${f.coverageSamples} origin samples`],
    ["longest time an origin went unchecked", `${s(f.longestGapMs)} (o${f.longestGapOrigin}, ${s(f.longestGapFromMs)} to ${s(f.longestGapToMs)}): ${r.longestGapCause}`],
    ["checks per origin per interval, healed", fmt(per.healed)],
    ["checks per origin per interval, under a partition (both sides check)", fmt(per.partitioned)],
    ["checks per origin per interval, other faults (kill, pause, loss, delay, CPU cap)", fmt(per.other)],
    ["all agents agree on every status after a heal, p50 / p99", `${s(f.agreementMs.p50)} / ${s(f.agreementMs.p99)} (${f.agreementMs.count} heals, ${f.agreementMs.notReached} not reached before the next partition)`],
    ["origins lost from the list", String(f.lostOrigins)],
    ["agents answering an empty / partial origin list", `${f.answers.empty} / ${f.answers.partial} of ${f.answers.full + f.answers.empty + f.answers.partial} answers${f.worstAnswer ? ` (worst: ${f.worstAnswer.agent} listed ${f.worstAnswer.origins} at ${s(f.worstAnswer.atMs)})` : ""}; ${f.answers.none} polls unanswered (killed, paused or late)`],
  ];
  return ["| figure | value |", "|---|---|", ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join("\n");
}

/** Adds `heck soak` to the program. */
export function registerSoakCommand(program: Command): void {
  program
    .command("soak")
    .description("n agents on n hosts of a network lab (needs root) under a seeded random schedule of kill -9, SIGSTOP, partitions, loss and delay; measures coverage, duplicate checks, agreement after heals, lost origins and empty answers")
    .addOption(new Option("--store <kind>", "shared state").choices(["crdt", "raft", "etcd"]).default("crdt"))
    .addOption(new Option("--agents <n>", "agents, each on its own host").default(7).argParser(intArg("--agents", 3, 32)))
    .addOption(new Option("--origins <m>", "origins in the fleet").default(2000).argParser(intArg("--origins", 1, 20_000)))
    .addOption(new Option("--interval-ms <ms>", "check interval").default(1000).argParser(intArg("--interval-ms", 100, 60_000)))
    .addOption(new Option("--duration <d>", 'how long: "15m", "90s"').default(900_000, "15m").argParser(parseDuration))
    .addOption(new Option("--seed <n>", "the schedule's seed (default: random, printed)").argParser(intArg("--seed", 0, 2 ** 32 - 1)))
    .addOption(new Option("--faults <layer>", "who makes network faults: the kernel, or the agents' own fault layer (for contrast)").choices(["kernel", "app"]).default("kernel"))
    .addOption(new Option("--cpu-quota <pct>", "confine every agent to this % of one core (cgroup v1 cpu)").argParser(intArg("--cpu-quota", 1, 1000)))
    .addOption(new Option("--base-port <p>", "first port of the cluster layout (src/io/cluster.ts)").default(20000).argParser(intArg("--base-port", 1024, 60000)))
    .action(async (o: { store: "crdt" | "raft" | "etcd"; agents: number; origins: number; intervalMs: number; duration: number; seed?: number; faults: "kernel" | "app"; cpuQuota?: number; basePort: number }) => {
      const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
      const out = (line: string) => process.stdout.write(`${line}\n`);
      // Ctrl-C ends the schedule early; the cluster is stopped and the figures so far are printed.
      const stop = new AbortController();
      onShutdownSignal(() => stop.abort());
      let r: SoakResult;
      try {
        r = await runSoak({ signal: stop.signal, store: o.store, agents: o.agents, origins: o.origins, intervalMs: o.intervalMs, durationMs: o.duration, seed, faults: o.faults, basePort: o.basePort, ...(o.cpuQuota ? { cpuQuotaPct: o.cpuQuota } : {}), log: out });
      } catch (e) {
        process.stderr.write(`heck: soak: ${(e as Error).message}\n`);
        process.exit(1);
      }
      out("");
      out(`soak: store ${r.store}, faults by ${r.faults === "kernel" ? "the kernel" : "the fault layer"}, ${r.agents} agents, ${r.origins} origins every ${r.intervalMs} ms, ${s(r.ranMs)}${r.stoppedEarly ? ` of ${s(r.durationMs)} (stopped early)` : ""}, ${r.steps.length} faults, HECK_SEED=${r.seed}`);
      out(soakTable(r));
      out(`replay this schedule: pnpm heck soak --store ${r.store} --agents ${r.agents} --origins ${r.origins} --interval-ms ${r.intervalMs} --duration ${r.durationMs} --faults ${r.faults} --seed ${r.seed}${r.cpuQuotaPct ? ` --cpu-quota ${r.cpuQuotaPct}` : ""}`);
      out(JSON.stringify({ seed: r.seed, store: r.store, faults: r.faults, agents: r.agents, origins: r.origins, intervalMs: r.intervalMs, durationMs: r.durationMs, ranMs: r.ranMs, stoppedEarly: r.stoppedEarly, cpuQuotaPct: r.cpuQuotaPct, allowedGapMs: r.allowedGapMs, longestGapCause: r.longestGapCause, ...r.figures, steps: r.steps }));
      process.exit(0);
    });
}
