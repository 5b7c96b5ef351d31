/**
 * The dashboard in a real Chromium (Debian's, driven by playwright-core):
 * load it from one agent, see every node's view, flip an origin at the
 * fleet, watch the failure appear in every node's column, take a screenshot.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type BrowserContext } from "playwright-core";
import { FleetClient } from "@heck/fleet";
import { clusterUp, type RunningCluster } from "../../src/io/cluster.ts";

// Ports 19300-19499 belong to this file.
const CHROMIUM = "/usr/bin/chromium";
let cluster: RunningCluster;
let context: BrowserContext;
let profile: string;
let shots: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error("chromium is not installed: run scripts/ensure-system-deps.sh test");
  cluster = await clusterUp({
    nodes: 3, origins: 12, store: "crdt", basePort: 19300, intervalMs: 300, host: "127.0.0.1", replicas: 1, swimPreset: "local",
    agentArgs: ["--rise", "1", "--fall", "2", "--timeout-ms", "250"],
  });
  profile = mkdtempSync(join(tmpdir(), "heck-v2-chromium-"));
  shots = mkdtempSync(join(tmpdir(), "heck-v2-shots-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 90_000);

afterAll(async () => {
  await context?.close();
  await cluster?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (shots) rmSync(shots, { recursive: true, force: true });
}, 60_000);

describe("dashboard (real Chromium)", () => {
  it("shows members, ownership and each node's view; a flipped origin turns red in every column", async () => {
    const page = await context.newPage();
    await page.goto(`http://${cluster.nodes[0]!.api}/`);
    // Every member, as every node sees it, alive.
    await page.waitForFunction('document.querySelectorAll("#members tr[data-member]").length === 3', undefined, { timeout: 15_000 });
    await page.waitForFunction('[...document.querySelectorAll("#members td.state")].every((td) => td.textContent === "alive")', undefined, { timeout: 15_000 });
    expect(await page.locator("#members td.state").count()).toBe(9);
    expect(await page.locator("#ownership tr[data-owner]").count()).toBe(3);
    await page.waitForSelector('#summary[data-converged="yes"]', { timeout: 15_000 });

    await new FleetClient(`http://${cluster.fleet.control}`).setMode(3, { mode: "failing", status: 503 });
    // The failure appears in all three nodes' columns (each node's own view, fetched from that node).
    await page.waitForFunction(`document.querySelectorAll('#grid td[data-origin="o3"].st-u').length === 3`, undefined, { timeout: 20_000 });
    const nodesShown = (await page.evaluate(`[...document.querySelectorAll('#grid td[data-origin="o3"]')].map((td) => td.dataset.node).sort()`)) as string[];
    expect(nodesShown).toEqual(["n1", "n2", "n3"]);
    await page.waitForSelector('#summary[data-converged="yes"]', { timeout: 15_000 });
    const file = join(shots, "dashboard-o3-failing.png");
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(10_000);

    await new FleetClient(`http://${cluster.fleet.control}`).setMode(3, { mode: "healthy" });
    await page.waitForFunction(`document.querySelectorAll('#grid td[data-origin="o3"].st-u').length === 0`, undefined, { timeout: 20_000 });
    await page.close();
  }, 90_000);
});
