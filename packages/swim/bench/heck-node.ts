/**
 * One heck member in this process, speaking the same line protocol as
 * bench/memberlist-node/main.go, so bench/run.ts drives both the same way.
 *
 * stdout: JSON lines with "t" (unix ms): ready, join/leave/dead/update/suspect/alive
 * events, stats, joined, error. stdin: "join <addr>", "stats", "leave", "quit",
 * and for bench/profile.ts "profile-start" / "profile-stop <file>" (V8's CPU
 * profiler through node:inspector, so only the chosen window is sampled).
 * It is the embeddable API (startMember) that the agent and apps/v2 use.
 */
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as readline from "node:readline";
import type { PresetName } from "../src/core/config.ts";
import { startMember } from "../src/io/member.ts";

function emit(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...fields, t: Date.now() })}\n`);
}

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^-+/, ""), process.argv[i + 1] ?? "");
const name = args.get("name");
if (!name) {
  process.stderr.write("heck-node: --name is required\n");
  process.exit(2);
}

// --config '{"pushPullRampStartMs":0}' overrides preset fields (for experiments).
const overrides = args.has("config") ? (JSON.parse(args.get("config")!) as Record<string, unknown>) : {};
// --wire memberlist speaks hashicorp/memberlist's wire (for mixed clusters with bench/memberlist-node).
const wire = args.get("wire") === "memberlist" ? "memberlist" : "heck";
const member = await startMember({ name, bind: "127.0.0.1:0", preset: (args.get("preset") ?? "lan") as PresetName, config: overrides, wire });
member.subscribe((e) => emit({ event: e.type, member: e.member.name, state: e.member.state, incarnation: e.member.incarnation }));
emit({ event: "ready", addr: member.address });

// How late this process runs its callbacks (timers, socket reads), from a join command to the next
// stats command: a member that handles its protocol late probes, acks and gossips late, whatever the
// protocol says. Sampling wakes the process every 10 ms, so it runs only in that span and never
// during a steady-state CPU window (which starts with a stats command).
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let loopDelaySampling = false;

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const [cmd, ...rest] = line.trim().split(/\s+/);
  switch (cmd) {
    case "join":
      // When this process got to the join: the benchmark separates a busy machine's scheduling delay from the protocol's.
      emit({ event: "joining" });
      loopDelay.reset();
      loopDelay.enable();
      loopDelaySampling = true;
      member.join(rest).then(
        (p) => emit({ event: "joined", contacted: p.succeeded.length }),
        (e: Error) => emit({ event: "error", message: e.message }),
      );
      break;
    case "stats": {
      const s = member.stats();
      emit({
        event: "stats",
        packetsOut: s.driver.packetsOut,
        bytesOut: s.driver.packetBytesOut,
        members: member.members().filter((m) => m.state === "alive").length,
        ...(loopDelaySampling ? { loopDelayMaxMs: loopDelay.max / 1e6 } : {}),
      });
      loopDelay.disable();
      loopDelaySampling = false;
      break;
    }
    case "leave":
      void member.leave(5000).then(() => emit({ event: "bye" }));
      break;
    case "profile-start":
      void startProfile().then(() => emit({ event: "profiling" }));
      break;
    case "profile-stop":
      void stopProfile(rest[0]!).then(() => emit({ event: "profiled", file: rest[0] }));
      break;
    case "quit":
      void member.shutdown().then(() => process.exit(0));
      break;
  }
});
let session: Session | undefined;
async function startProfile(): Promise<void> {
  session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  await session.post("Profiler.start");
}
async function stopProfile(file: string): Promise<void> {
  if (session === undefined) return;
  const { profile } = await session.post("Profiler.stop");
  writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
  session = undefined;
}

rl.on("close", () => void member.shutdown().then(() => process.exit(0)));
