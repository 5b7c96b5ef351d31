/**
 * A sweep worker process: loads one package's sweep entry and runs the seeds
 * its parent sends, one at a time, over the IPC channel. See sweep.ts for the
 * protocol and docs; this file has no logic beyond "run, time, report".
 */
import { pathToFileURL } from "node:url";
import { setReplayHint } from "../core/replay-hint.ts";

type SeedRunner = (seed: number) => void | Promise<void>;

/** Messages from the parent. */
export type ToWorker = { type: "run"; seed: number } | { type: "exit" };
/** Messages to the parent. */
export type FromWorker = { type: "ready" } | { type: "load-error"; error: string } | { type: "result"; seed: number; ok: boolean; cpuMs: number; wallMs: number; error?: string };

function send(message: FromWorker): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const entryPath = process.argv[2];
  if (entryPath === undefined) {
    send({ type: "load-error", error: "sweep worker: missing entry path argument" });
    process.exit(2);
  }
  let run: SeedRunner;
  try {
    const mod = (await import(pathToFileURL(entryPath).href)) as { default?: unknown; runSeed?: unknown };
    const fn = mod.runSeed ?? mod.default;
    if (typeof fn !== "function") throw new TypeError(`${entryPath} must export a function runSeed(seed) (or a default export)`);
    run = fn as SeedRunner;
    // After the entry's imports, which may set a hint of their own for test runs.
    const replay = process.argv[3];
    if (replay !== undefined) setReplayHint((seed) => replay.replace("{seed}", String(seed)));
  } catch (e) {
    send({ type: "load-error", error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.exit(2);
  }
  process.on("message", (m: ToWorker) => {
    if (m.type === "exit") process.exit(0);
    if (m.type !== "run") return;
    void (async () => {
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      // Mark the start in the output so the parent can attribute log lines to this seed.
      console.log(`--- HECK_SEED=${m.seed} ---`);
      let result: FromWorker;
      try {
        await run(m.seed);
        result = { type: "result", seed: m.seed, ok: true, cpuMs: 0, wallMs: 0 };
      } catch (e) {
        result = { type: "result", seed: m.seed, ok: false, cpuMs: 0, wallMs: 0, error: e instanceof Error ? (e.message.includes("HECK_SEED") ? e.message : (e.stack ?? e.message)) : String(e) };
      }
      const cpu = process.cpuUsage(cpu0);
      result.cpuMs = (cpu.user + cpu.system) / 1000;
      result.wallMs = performance.now() - wall0;
      send(result);
    })();
  });
  send({ type: "ready" });
}

void main();
