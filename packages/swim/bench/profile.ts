/**
 * `pnpm --filter @heck/swim bench:profile`: where a real member spends its
 * CPU in steady state. Starts a cluster of bundled heck members on loopback
 * (as the benchmark does), lets it settle, then samples member n1 with V8's
 * CPU profiler (every 500 us, through node:inspector) for PROFILE_SECONDS of
 * quiet and prints the functions with the most self time, and by file.
 *
 * Env: PROFILE_NODES (default 10), PROFILE_SETTLE_MS (default 40000),
 * PROFILE_SECONDS (default 60), PROFILE_KEEP=1 keeps the .cpuprofile (its
 * path is printed; open it in Chrome DevTools).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { bundleHeckNode, sleep, startAll, stopAll, waitUntil } from "./real-cluster.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const n = Number(process.env.PROFILE_NODES ?? 10);
const settleMs = Number(process.env.PROFILE_SETTLE_MS ?? 40_000);
const seconds = Number(process.env.PROFILE_SECONDS ?? 60);
const dir = mkdtempSync(path.join(tmpdir(), "heck-swim-prof-"));
const file = path.join(dir, "n1.cpuprofile");
const bins = { go: "", heck: bundleHeckNode() };
const procs = await startAll("heck", n, bins);
for (const p of procs.slice(1)) p.child.stdin!.write(`join ${procs[0]!.addr}\n`);
if (!(await waitUntil(() => procs.every((p) => p.present.size === n), 60_000))) throw new Error("did not converge");
await sleep(settleMs);
const target = procs[1]!;
const said = (event: string): Promise<void> =>
  new Promise((resolve) => target.pending.push((e) => (e.event === event ? (resolve(), true) : false)));
let answer = said("profiling");
target.child.stdin!.write("profile-start\n");
await answer;
await sleep(seconds * 1000);
answer = said("profiled");
target.child.stdin!.write(`profile-stop ${file}\n`);
await answer;
await stopAll(procs);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

// Sample times: startTime + cumulative deltas (microseconds); each sample stands for the time to the next.
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const times: number[] = [];
let t = profile.startTime;
for (const d of profile.timeDeltas) times.push((t += d));
const self = new Map<number, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = (times[i + 1] ?? profile.endTime) - times[i]!;
  self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  total += dt;
}
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of self) {
  const f = byId.get(id)!.callFrame;
  const file = f.url === "" ? "(native)" : f.url.includes("heck-swim-bench-node") ? "heck bundle" : f.url.replace(/^node:/, "node:");
  const key = `${f.functionName || "(anonymous)"}  ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ""}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  byFile.set(file, (byFile.get(file) ?? 0) + us);
}
const busy = total - (byFunction.get("(idle)  ") ?? 0) - (byFunction.get("(program)  ") ?? 0);
console.log(`profiled member n1 of ${n} for ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s, ${settleMs / 1000} s after the join`);
console.log(`sampled JS/native/GC time: ${(busy / 1000).toFixed(1)} ms (${((busy / total) * 100).toFixed(3)}% of the window); (program) ${(((byFunction.get("(program)  ") ?? 0) / 1000)).toFixed(1)} ms`);
console.log("\nself time by function:");
for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`  ${(us / 1000).toFixed(2).padStart(8)} ms  ${k}`);
console.log("\nself time by file:");
for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${(us / 1000).toFixed(2).padStart(8)} ms  ${k}`);
if (process.env.PROFILE_KEEP === "1") console.log(`\nprofile kept: ${file}`);
else rmSync(dir, { recursive: true, force: true });
