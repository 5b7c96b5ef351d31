/**
 * How immediate rewinding is: a rewind re-runs the stage from its seed, so
 * its cost is the time to re-run a 5-node raft-kv cluster to simulated
 * t = 60 s. Measured in Node and in Chromium (the page's bundle, through
 * `heckScope.timeRerun`), each the median of several runs, printed beside
 * each other as a ratio from the same run, with the cost of the bare
 * simulation (no view: no trace, no hash, no checks) as the floor. Then the
 * page's JavaScript heap after a 10-minute simulated run with the view's
 * trace kept (recent events and timeline, bounded).
 *
 *     pnpm --filter @heck/scope bench
 */
import { loadavg } from "node:os";
import { chromium } from "playwright-core";
import { Simulation } from "@heck/sim";
import { RaftMember } from "@heck/raft-kv/ladder";
import { buildPage } from "../src/io/bundle.ts";
import { startServer } from "../src/io/server.ts";
import { runScope } from "../src/index.ts";

const SEED = 7;
const UNTIL_MS = 60_000;
const LONG_RUN_MS = 600_000;
const REPEATS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function bareRaft(): number {
  const started = performance.now();
  const sim = new Simulation({ seed: SEED, nodeIds: ["n1", "n2", "n3", "n4", "n5"], network: { latency: { minMs: 0.5, meanTailMs: 1 } }, traceLimit: 0, factory: (a) => new RaftMember(a as never) as never });
  sim.runFor(UNTIL_MS);
  return performance.now() - started;
}

const nodeMs: number[] = [];
const bareMs: number[] = [];
let nodeHash = "";
runScope("raft", SEED, 5_000); // warm up the JIT, as the page is warmed up by its first run
bareRaft();
for (let i = 0; i < REPEATS; i++) {
  const started = performance.now();
  nodeHash = runScope("raft", SEED, UNTIL_MS).traceHash();
  nodeMs.push(performance.now() - started);
  bareMs.push(bareRaft());
}

const server = await startServer(await buildPage(), "127.0.0.1", 0);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
try {
  const page = await browser.newPage();
  await page.goto(`${server.baseUrl}/?stage=raft&seed=${SEED}`);
  await page.waitForSelector("body[data-ready]");
  await page.evaluate(() => window.heckScope.timeRerun(5_000));
  const browserRuns: Array<{ ms: number; traceHash: string }> = [];
  for (let i = 0; i < REPEATS; i++) browserRuns.push(await page.evaluate((t) => window.heckScope.timeRerun(t), UNTIL_MS));
  if (browserRuns.some((r) => r.traceHash !== nodeHash)) throw new Error(`the browser's trace differs from Node's (${browserRuns[0]!.traceHash} vs ${nodeHash})`);
  const browserMs = median(browserRuns.map((r) => r.ms));

  const cdp = await page.context().newCDPSession(page);
  await cdp.send("HeapProfiler.collectGarbage");
  const before = (await cdp.send("Runtime.getHeapUsage")).usedSize;
  await page.evaluate((t) => window.heckScope.run(t), LONG_RUN_MS);
  await cdp.send("HeapProfiler.collectGarbage");
  const after = (await cdp.send("Runtime.getHeapUsage")).usedSize;
  const events = await page.evaluate(() => window.heckScope.snapshot().events);

  const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);
  const load = loadavg().map((x) => x.toFixed(2)).join(" ");
  console.log(`heck-scope: re-run a 5-node raft-kv cluster from seed ${SEED} to t = ${UNTIL_MS / 1000} s (median of ${REPEATS}; load average ${load})`);
  console.log("");
  console.log("| run | time | reference | ratio |");
  console.log("|---|---:|---|---:|");
  console.log(`| browser (Chromium), with trace hash and checks | ${browserMs.toFixed(0)} ms | Node, same run: ${median(nodeMs).toFixed(0)} ms | ${(browserMs / median(nodeMs)).toFixed(2)}x |`);
  console.log(`| browser (Chromium), with trace hash and checks | ${browserMs.toFixed(0)} ms | goal: 200 ms | ${(browserMs / 200).toFixed(2)}x |`);
  console.log(`| Node, with trace hash and checks | ${median(nodeMs).toFixed(0)} ms | Node, bare simulation: ${median(bareMs).toFixed(0)} ms | ${(median(nodeMs) / median(bareMs)).toFixed(2)}x |`);
  console.log("");
  console.log(`page heap after a ${LONG_RUN_MS / 60_000}-minute simulated run (${events} trace events): ${mb(after)} MB, ${mb(after - before)} MB more than before it`);
} finally {
  await browser.close();
  await server.close();
}
