/**
 * What a learner loads into the view: a failure report (a simulation test's
 * or `heck-sim sweep`'s `seed-<n>.log`, starting `HECK_SEED=<n>`), which opens
 * the failing run itself, or a trace file (JSON lines of trace events), which
 * is listed. Anything else gets one clear message; reading never throws, so
 * the CLI and the page say the same thing about the same file.
 */
import { parseFaultSchedule, parseTrace, type FaultStep, type TraceEvent } from "@heck/sim";
import { checkSeed, checkStage } from "./options.ts";
import type { StageName } from "./stage.ts";
import { isScenario } from "../stages/seeded.ts";

/** A failure report's run, as its "Watch it" line names it. */
export interface ReportedRun {
  stage: StageName;
  scenario: string;
  seed: number;
  faults: FaultStep[];
  /** The report's first line (`HECK_SEED=<n>: invariant ... violated at t=...`). */
  headline: string;
}

/** A loaded file: the run a report names, a trace's events, or what is wrong with it. */
export type LoadedFile = { kind: "report"; run: ReportedRun } | { kind: "trace"; events: TraceEvent[] } | { kind: "error"; error: string };

/** The line of a failure report that names the view's command (see @heck/sim's runSeeded `watchCommand`). */
const WATCH = /^Watch it in the browser, opened at the failure: (.*)$/m;

/** Reads a loaded file's text (see the file comment). */
export function readLoadedFile(text: string): LoadedFile {
  const headline = /^HECK_SEED=\d+[^\n]*/m.exec(text);
  if (headline !== null) return readReport(text, headline[0]);
  const parsed = parseTrace(text);
  if (parsed.events.length > 0 && parsed.errors.length === 0) return { kind: "trace", events: parsed.events };
  const why = parsed.errors.slice(0, 3).join("; ") || "no trace events in it";
  return { kind: "error", error: `the file is neither a failure report (a HECK_SEED=<n> line, as a failing test or heck-sim sweep writes) nor a trace (JSON lines of {t, node, event, msg}): ${why}` };
}

function readReport(text: string, headline: string): LoadedFile {
  const watch = WATCH.exec(text);
  if (watch === null) {
    const replay = /^Replay exactly this run: (.*)$/m.exec(text);
    return { kind: "error", error: `a failure report (${clip(headline)}), but its scenario has no view: the report names no heck-scope command${replay !== null ? `; replay it with ${replay[1]}` : ""}` };
  }
  const words = [...watch[1]!.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  const flag = (name: string): string | undefined => {
    const i = words.indexOf(name);
    return i >= 0 ? words[i + 1] : undefined;
  };
  const stage = checkStage(words[2]);
  if (words[0] !== "pnpm" || words[1] !== "heck-scope" || !stage.ok) return { kind: "error", error: `the report's view command is not one this view reads: ${clip(watch[1]!)}` };
  const scenario = flag("--scenario");
  if (scenario === undefined || !isScenario(stage.value, scenario)) return { kind: "error", error: `the report names scenario ${JSON.stringify(scenario ?? "")}, which ${stage.value} does not have` };
  const seed = checkSeed(flag("--seed"));
  if (!seed.ok) return { kind: "error", error: `the report's seed: ${seed.error}` };
  const faults = parseFaultSchedule(flag("--faults") ?? "");
  if (!faults.ok) return { kind: "error", error: `the report's faults: ${faults.error}` };
  return { kind: "report", run: { stage: stage.value, scenario, seed: seed.value, faults: faults.steps, headline } };
}

function clip(s: string): string {
  return s.length > 160 ? s.slice(0, 159) + "…" : s;
}
