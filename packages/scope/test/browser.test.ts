/**
 * The page in a real Chromium (Debian's, driven by playwright-core), driven
 * as a learner would and as scripts do through `window.heckScope`:
 *
 * - every stage's trace hash in the browser equals the Node run's, for the
 *   same seed and actions (the same cores, bundled);
 * - raft: a leader is shown; crash it; a new leader with a higher term;
 * - swim: crash a member; it is suspected, then dead on every live member;
 *   restart it; it is alive everywhere with a higher incarnation;
 * - crdt-kv: partition, different writes on both sides, heal; every replica
 *   shows the same values and version vector;
 * - v2: crash an agent; its origins move to the others;
 * - ownership: a member goes, only its origins move; it comes back, exactly
 *   those return; a swim suspect shows its suspicion's deadline;
 * - bad input in the URL or a bad trace file: a clear message, no crash.
 *
 * Screenshots go to test-results/scope/ (kept as artifacts).
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { buildPage } from "../src/io/bundle.ts";
import { startServer, type ScopeServer } from "../src/io/server.ts";
import { runScope, STAGES, type Snapshot } from "../src/index.ts";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = fileURLToPath(new URL("../../../test-results/scope/", import.meta.url));
let server: ScopeServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error("chromium is not installed: run scripts/ensure-system-deps.sh test");
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer(await buildPage(), "127.0.0.1", 0);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
}, 60_000);

async function open(query: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${server.baseUrl}/?${query}`);
  await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
  expect(errors).toEqual([]);
  return page;
}

const snapshot = (page: Page): Promise<Snapshot> => page.evaluate(() => window.heckScope.snapshot());
const runTo = (page: Page, t: number): Promise<Snapshot> => page.evaluate((until) => window.heckScope.run(until), t);

async function shot(page: Page, name: string): Promise<void> {
  const file = `${SHOTS}${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  expect(statSync(file).size).toBeGreaterThan(10_000);
}

describe("Node and the browser run the same trace", () => {
  it.each(STAGES)("%s: the same seed and actions give the same trace hash", async (stage) => {
    const page = await open(`stage=${stage}&seed=7`);
    await runTo(page, 2_000);
    await page.evaluate(() => window.heckScope.crash("n2"));
    const s = await runTo(page, 5_000);
    const node = runScope(stage, 7, 5_000, [{ atMs: 2_000, kind: "crash", node: "n2" }]);
    expect(s.failure).toBeNull();
    expect(s.events).toBe(node.eventCount);
    expect(s.traceHash).toBe(node.traceHash());
    // Rewinding re-runs from the seed and the actions, and lands on the same trace.
    await page.evaluate(() => window.heckScope.seek(3_000));
    const again = await runTo(page, 5_000);
    expect(again.traceHash).toBe(node.traceHash());
    await page.close();
  }, 120_000);
});

describe("the learner's scenarios", () => {
  it("raft: crash the leader, see a new leader with a higher term", async () => {
    const page = await open("stage=raft&seed=7");
    const leaderOf = (s: Snapshot) => s.nodes.find((n) => n.up && n.role === "leader");
    let s = await runTo(page, 1_000);
    const first = leaderOf(s)!;
    expect(first).toBeDefined();
    await page.waitForSelector(`g.node[data-node="${first.id}"][data-role="leader"]`);
    await shot(page, "raft-1-leader");
    s = await page.evaluate((id) => window.heckScope.crash(id), first.id);
    expect(s.nodes.find((n) => n.id === first.id)!.up).toBe(false);
    s = await runTo(page, 3_000);
    const second = leaderOf(s)!;
    expect(second).toBeDefined();
    expect(second.id).not.toBe(first.id);
    expect(second.term as number).toBeGreaterThan(first.term as number);
    expect(s.invariants.every((i) => i.kind !== "safety" || i.ok)).toBe(true);
    await page.waitForSelector(`g.node[data-node="${first.id}"][data-up="no"]`);
    await shot(page, "raft-2-new-leader");
    await page.close();
  }, 120_000);

  it("swim: crash a member, suspected then dead everywhere; restart, alive with a higher incarnation", async () => {
    const page = await open("stage=swim&seed=3");
    await runTo(page, 3_000);
    await page.evaluate(() => window.heckScope.crash("n3"));
    const seen = (s: Snapshot, state: string) => s.nodes.filter((n) => n.up).map((n) => (n.members as Array<{ name: string; state: string; incarnation: number }>).find((m) => m.name === "n3")?.state === state);
    let suspected = false;
    let s = await snapshot(page);
    for (let t = 3_100; t < 30_000 && !seen(s, "dead").every(Boolean); t += 100) {
      s = await runTo(page, t);
      if (seen(s, "suspect").some(Boolean)) {
        if (!suspected) {
          // A suspect shows its suspicion's deadline (Lifeguard): dead then unless it refutes.
          const accuser = s.nodes.find((n) => n.up && (n.members as Array<{ name: string; state: string }>).some((m) => m.name === "n3" && m.state === "suspect"))!;
          const entry = (accuser.members as Array<{ name: string; suspicion?: { deadlineMs: number; k: number } }>).find((m) => m.name === "n3")!;
          expect(entry.suspicion!.deadlineMs).toBeGreaterThan(s.tMs);
          expect(await page.locator(`.card[data-node="${accuser.id}"] [data-member="n3"].state-suspect`).innerText()).toMatch(/dead at \d+ ms \(in \d+ ms\) unless refuted; \d+\/\d+ confirmations/);
          await shot(page, "swim-1-suspect");
        }
        suspected = true;
      }
    }
    expect(suspected).toBe(true);
    expect(seen(s, "dead").every(Boolean)).toBe(true);
    await shot(page, "swim-2-dead");
    const before = (s.nodes.find((n) => n.id === "n1")!.members as Array<{ name: string; incarnation: number }>).find((m) => m.name === "n3")!.incarnation;
    await page.evaluate(() => window.heckScope.restart("n3"));
    for (let t = s.tMs + 500; t < s.tMs + 30_000 && !seen(s, "alive").every(Boolean); t += 500) s = await runTo(page, t);
    expect(seen(s, "alive").every(Boolean)).toBe(true);
    for (const n of s.nodes) expect((n.members as Array<{ name: string; incarnation: number }>).find((m) => m.name === "n3")!.incarnation).toBeGreaterThan(before);
    expect(await page.locator('.card[data-node="n1"] [data-member="n3"].state-alive').count()).toBe(1);
    await shot(page, "swim-3-alive-again");
    await page.close();
  }, 120_000);

  it("crdt-kv: partition, different writes on both sides, heal: every replica shows the same values and vector", async () => {
    const page = await open("stage=crdt&seed=5");
    await runTo(page, 5_000);
    await page.evaluate(() => window.heckScope.partition([["n1", "n2"], ["n3", "n4", "n5"]]));
    await page.evaluate(() => window.heckScope.put("n1", "x", "left"));
    await page.evaluate(() => window.heckScope.put("n4", "x", "right"));
    let s = await runTo(page, 8_000);
    const xs = (snap: Snapshot) => snap.nodes.map((n) => JSON.stringify((n.keys as Record<string, unknown[]>).x));
    expect(xs(s)[0]).not.toBe(xs(s)[3]);
    expect(await page.locator("line.edge.cut").count()).toBe(6);
    await shot(page, "crdt-1-partitioned");
    await page.evaluate(() => window.heckScope.heal());
    s = await runTo(page, 14_000);
    expect(new Set(xs(s)).size).toBe(1);
    expect(JSON.parse(xs(s)[0]!)).toEqual(["left", "right"]);
    expect(new Set(s.nodes.map((n) => JSON.stringify(n.vector))).size).toBe(1);
    expect(s.invariants.find((i) => i.name.startsWith("every live replica"))!.ok).toBe(true);
    await shot(page, "crdt-2-healed");
    await page.close();
  }, 120_000);

  it("v2: crash an agent, see its origins move to the others", async () => {
    const page = await open("stage=v2&seed=2");
    let s = await runTo(page, 8_000);
    const owned = (snap: Snapshot, id: string) => Object.keys((snap.nodes.find((n) => n.id === id)!.owned ?? {}) as object);
    const lost = owned(s, "n2");
    expect(lost.length).toBeGreaterThan(0);
    await shot(page, "v2-1-before");
    await page.evaluate(() => window.heckScope.crash("n2"));
    s = await runTo(page, 25_000);
    const now = new Set(s.nodes.filter((n) => n.up).flatMap((n) => owned(s, n.id)));
    for (const o of lost) expect(now.has(o)).toBe(true);
    expect(s.invariants.filter((i) => i.kind === "safety").every((i) => i.ok)).toBe(true);
    await shot(page, "v2-2-moved");
    await page.close();
  }, 120_000);
});

describe("the learner's scenarios, ownership", () => {
  it("ownership: a member goes, only its origins move; it comes back, exactly those return", async () => {
    const page = await open("stage=ownership&seed=7");
    const ownedBy = (snap: Snapshot): Map<string, string[]> => new Map(snap.nodes.filter((n) => n.up).map((n) => [n.id, n.owned as string[]]));
    const agreed = (snap: Snapshot): boolean => snap.invariants.find((i) => i.name.startsWith("each origin owned"))!.ok;
    let s = await runTo(page, 3_000);
    expect(agreed(s)).toBe(true);
    const before = ownedBy(s);
    const lost = before.get("n2")!;
    expect(lost.length).toBeGreaterThan(0);
    await shot(page, "ownership-1-table");
    await page.evaluate(() => window.heckScope.crash("n2"));
    for (let t = s.tMs + 500; t < 40_000 && !(agreed(s) && !s.nodes.some((n) => n.up && (n.liveView as string[]).includes("n2"))); t += 500) s = await runTo(page, t);
    expect(agreed(s)).toBe(true);
    const during = ownedBy(s);
    // Rendezvous hashing moves only the departed member's origins: everyone else keeps theirs and gains some of n2's.
    for (const [id, owned] of during) {
      for (const o of before.get(id)!) expect(owned).toContain(o);
      for (const o of owned.filter((x) => !before.get(id)!.includes(x))) expect(lost).toContain(o);
    }
    await shot(page, "ownership-2-moved");
    await page.evaluate(() => window.heckScope.restart("n2"));
    for (let t = s.tMs + 500; t < s.tMs + 40_000 && !(agreed(s) && s.nodes.every((n) => n.up && (n.liveView as string[]).includes("n2"))); t += 500) s = await runTo(page, t);
    expect(agreed(s)).toBe(true);
    expect(ownedBy(s)).toEqual(before);
    await shot(page, "ownership-3-back");
    await page.close();
  }, 120_000);
});

// Each case opens a page of its own in the one browser: they run concurrently.
describe.concurrent("bad input", () => {
  it.each([
    ["stage=paxos&seed=1", /unknown stage "paxos"/],
    ["stage=raft&seed=banana", /seed must be a whole number/],
    ["stage=raft&seed=1&actions=100%20crash%20n9", /actions: action 1 .*unknown node "n9"/],
    ["stage=raft&seed=1&actions=100%20explode", /unknown action "explode"/],
    ["seed=1", /missing stage/],
  ])("?%s shows a clear message and runs nothing", async (query, message) => {
    const page = await open(query);
    const text = await page.locator("#error").innerText();
    expect(text).toMatch(message);
    expect(await page.evaluate(() => window.heckScope.error())).toMatch(message);
    await expect(page.evaluate(() => window.heckScope.run(10))).rejects.toThrow(/cannot open|unknown|seed|stage|action/);
    await page.close();
  }, 60_000);

  it("a trace file that does not parse gets a clear message; a good one loads", async () => {
    const page = await open("stage=raft&seed=1");
    await page.setInputFiles("#trace-file", { name: "bad.jsonl", mimeType: "application/json", buffer: Buffer.from('{"t":1,"node":"n1","event":"x"}\nnot json\n') });
    await page.waitForFunction(() => window.heckScope.error() !== null);
    expect(await page.locator("#error").innerText()).toMatch(/cannot load that file: the file is neither a failure report .* nor a trace .*: line 2: not JSON/);
    await page.setInputFiles("#trace-file", { name: "good.jsonl", mimeType: "application/json", buffer: Buffer.from('{"t":1,"node":"n1","event":"elected","msg":{"term":2}}\n{"t":5,"node":"n2","event":"crash"}\n') });
    await page.waitForSelector("#trace-loaded");
    expect(await page.evaluate(() => window.heckScope.loadedTrace()?.length)).toBe(2);
    expect(await page.evaluate(() => window.heckScope.error())).toBeNull();
    await page.close();
  }, 60_000);

  it("a failure report opens its run: the scenario, the seed and the shrunk faults, at the failure", async () => {
    const page = await open("stage=raft&seed=1");
    const report = [
      "HECK_SEED=4: invariant \"SWIM view rules\" violated at t=2000.000 ms: (a report as a test prints it)",
      "Replay exactly this run: HECK_SEED=4 pnpm vitest run packages/swim/test/seeded.test.ts",
      'Watch it in the browser, opened at the failure: pnpm heck-scope swim --scenario sweep --seed 4 --faults "1500 crash n2; 1900 partition n1|n3" --at failure',
    ].join("\n");
    await page.setInputFiles("#trace-file", { name: "seed-4.log", mimeType: "text/plain", buffer: Buffer.from(report) });
    await page.waitForURL(/scenario=sweep/);
    await page.waitForSelector("body[data-ready]");
    const s = await snapshot(page);
    expect(s).toMatchObject({ stage: "swim", scenario: "sweep", seed: 4, faults: "1500 crash n2; 1900 partition n1|n3" });
    // No invariant breaks in this run, so it ran to the scenario's end and says so.
    expect(await page.evaluate(() => window.heckScope.error())).toMatch(/without breaking an invariant/);
    expect(await page.locator("#faults").innerText()).toContain("1500 crash n2");
    await page.close();
  }, 60_000);
});
