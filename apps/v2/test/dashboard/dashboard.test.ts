/**
 * The dashboard in a real Chromium (Debian's, driven by playwright-core).
 *
 * Against a real cluster: load it from one agent, see every node's view,
 * flip an origin at the fleet and watch the failure appear in every node's
 * column; cut one agent off and see it shown as cut off (alive), not as
 * crashed; take a screenshot.
 *
 * Against crafted `/v1/cluster` answers (the page's one data source,
 * replaced through the browser's request routing), each thing a reader
 * could misread: the badge counts members as well as origins, a cell's ring
 * means "this column's node checks it", origins sort with numbers in order,
 * ownership and "checks now" are shown side by side during a take-over, a
 * cut-off node is told from a crashed one, and raft mode names the leader
 * and the voters left. The legend explains the colours, the ring and the
 * store column.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
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
  profile = mkdtempSync(join(tmpdir(), "heck-v2-chromium-"));
  shots = mkdtempSync(join(tmpdir(), "heck-v2-shots-"));
  // The cluster and the browser start at the same time: neither needs the other to start. Whichever
  // started is kept, so afterAll stops it even when the other failed.
  const [started, launched] = await Promise.allSettled([
    clusterUp({
      nodes: 3, origins: 12, store: "crdt", basePort: 19300, intervalMs: 300, host: "127.0.0.1", replicas: 1, swimPreset: "local",
      agentArgs: ["--rise", "1", "--fall", "2", "--timeout-ms", "250"],
    }),
    chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }),
  ]);
  if (started.status === "fulfilled") cluster = started.value;
  if (launched.status === "fulfilled") context = launched.value;
  for (const r of [started, launched]) if (r.status === "rejected") throw r.reason;
}, 90_000);

afterAll(async () => {
  await context?.close();
  await cluster?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (shots) rmSync(shots, { recursive: true, force: true });
}, 60_000);

const texts = (page: Page, selector: string) => page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? "").trim()));

describe("dashboard (real Chromium, real cluster)", () => {
  it("shows members, ownership and each node's view; a flipped origin turns red in every column", async () => {
    const page = await context.newPage();
    await page.goto(`http://${cluster.nodes[0]!.api}/`);
    // Every member, as every node sees it, alive.
    await page.waitForFunction('document.querySelectorAll("#members tr[data-member]").length === 3', undefined, { timeout: 15_000 });
    // Three views (each node's, fetched by the serving node) of three members, all alive.
    await page.waitForFunction('document.querySelectorAll("#members td.state").length === 9 && [...document.querySelectorAll("#members td.state")].every((td) => td.textContent === "alive")', undefined, { timeout: 15_000 });
    expect(await page.locator("#members td.state").count()).toBe(9);
    expect(await page.locator("#ownership tr[data-owner]").count()).toBe(3);
    await page.waitForSelector('#summary[data-converged="yes"]', { timeout: 15_000 });

    await new FleetClient(`http://${cluster.fleet.control}`).setMode(3, { mode: "failing", status: 503 });
    // The failure appears in all three nodes' columns (each node's own view, fetched from that node).
    await page.waitForFunction(`document.querySelectorAll('#grid td[data-origin="o3"].st-u').length === 3`, undefined, { timeout: 20_000 });
    const nodesShown = (await page.evaluate(`[...document.querySelectorAll('#grid td[data-origin="o3"]')].map((td) => td.dataset.node).sort()`)) as string[];
    expect(nodesShown).toEqual(["n1", "n2", "n3"]);
    // Exactly one column's node checks o3 now (one checker per origin), and it is the one the ring marks.
    expect(await page.locator('#grid td[data-origin="o3"][data-checks-here="yes"]').count()).toBe(1);
    await page.waitForSelector('#summary[data-converged="yes"]', { timeout: 15_000 });
    const file = join(shots, "dashboard-o3-failing.png");
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(10_000);

    await new FleetClient(`http://${cluster.fleet.control}`).setMode(3, { mode: "healthy" });
    await page.waitForFunction(`document.querySelectorAll('#grid td[data-origin="o3"].st-u').length === 0`, undefined, { timeout: 20_000 });
    await page.close();
  }, 90_000);

  it("shows an agent cut off by a partition as cut off (alive), not as crashed, and the badge counts the members that differ", async () => {
    const page = await context.newPage();
    const [n1, , n3] = cluster.nodes as [RunningCluster["nodes"][0], RunningCluster["nodes"][0], RunningCluster["nodes"][0]];
    await page.goto(`http://${n1.api}/`);
    await page.waitForSelector('#summary[data-converged="yes"]', { timeout: 15_000 });
    const faults = (body: unknown) => fetch(`http://${n3.api}/v1/admin/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await faults({ block: ["n1", "n2"] })).status).toBe(200);
    try {
      // n1 and n2 declare n3 dead; n3 still answers HTTP, so the page says it is cut off.
      await page.waitForSelector('#members tr[data-member="n3"][data-reach="cut"]', { timeout: 30_000 });
      expect(await page.textContent('#members tr[data-member="n3"]')).toContain("cut off (alive, partitioned)");
      // n3's own column says the others are dead: the views disagree on members, and the badge says so.
      await page.waitForSelector('#summary[data-members-agree="no"]', { timeout: 15_000 });
      expect(await page.textContent("#summary")).toMatch(/members? seen differently/);
      expect(await page.getAttribute("#summary", "data-converged")).toBe("no");
    } finally {
      await faults({ unblock: "all" });
    }
    await page.close();
  }, 90_000);
});

/** A crafted /v1/cluster answer: three nodes, their members, and their origin lists. */
function clusterAnswer(o: {
  members?: Record<string, Record<string, string>>;
  origins?: Record<string, [string, string, string, number, string, number][]>;
  load?: Record<string, number>;
  checking?: Record<string, number>;
  down?: string[];
  raft?: { leader: string | null; term: number; voters: string[] };
}) {
  const ids = ["n1", "n2", "n3"];
  const nodes = ids.map((id) => {
    if (o.down?.includes(id)) return { id, state: "dead", ok: false, error: "dead" };
    const members = ids.map((m) => ({ id: m, state: o.members?.[id]?.[m] ?? "alive", incarnation: 1, api: `127.0.0.1:1${m.slice(1)}` }));
    return {
      id,
      state: o.members?.n1?.[id] ?? "alive",
      ok: true,
      view: {
        id,
        atMs: 0,
        api: `127.0.0.1:1${id.slice(1)}`,
        store: { kind: o.raft ? "raft" : "crdt", writable: true, detail: "test", recordsWritten: 42, staleRefused: 0, writeErrors: 0, pendingWrites: 0, ...(o.raft ? { raft: o.raft } : {}) },
        members,
        ownerView: ids,
        load: o.load ?? { n1: 1, n2: 1, n3: 1 },
        checking: o.checking?.[id] ?? 1,
        origins: o.origins?.[id] ?? [],
      },
    };
  });
  return { self: "n1", atMs: 0, nodes };
}

async function pageWith(answer: unknown): Promise<Page> {
  const page = await context.newPage();
  await page.route("**/v1/cluster", (route) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(answer) }));
  await page.goto(`http://${cluster.nodes[0]!.api}/`);
  await page.waitForSelector("#members tr[data-member]", { timeout: 15_000 });
  return page;
}

// Each case is a page of its own with its own crafted answer: they run concurrently.
describe.concurrent("dashboard (real Chromium, crafted views): what each part means", () => {
  it("the badge counts members that are seen differently, not only origins", { timeout: 60_000 }, async () => {
    // n1 holds n3 suspect, n2 holds it dead, n3 sees itself alive; every view has the same origin status.
    const origin = (here: number): [string, string, string, number, string, number] => ["o1", "h", "n2", 100, "n2", here];
    const page = await pageWith(clusterAnswer({ members: { n1: { n3: "suspect" }, n2: { n3: "dead" } }, origins: { n1: [origin(0)], n2: [origin(1)], n3: [origin(0)] } }));
    await page.waitForSelector('#summary[data-members-agree="no"]');
    expect(await page.getAttribute("#summary", "data-origins-agree")).toBe("yes");
    expect(await page.getAttribute("#summary", "data-converged")).toBe("no");
    expect((await page.textContent("#summary"))!.trim()).toBe("1 member seen differently between the 3 views");
    expect(await texts(page, '#members tr[data-member="n3"] td.state')).toEqual(["suspect", "dead", "alive"]);
    await page.close();
  });

  it("a cell's text is the observer; the ring and ● mark the column whose node checks it, and the legend says so", { timeout: 60_000 }, async () => {
    // o1 observed by n1, checked now by n2 (a take-over in progress): only n2's cell has the ring.
    const row = (here: number): [string, string, string, number, string, number] => ["o1", "u", "n1", 2500, "n2", here];
    const page = await pageWith(clusterAnswer({ origins: { n1: [row(0)], n2: [row(1)], n3: [row(0)] } }));
    await page.waitForSelector('#grid td[data-origin="o1"]');
    expect(await texts(page, '#grid td[data-origin="o1"].cell')).toEqual(["n1", "n1 ●", "n1"]);
    expect(await page.$$eval('#grid td[data-origin="o1"].here', (els) => els.map((e) => e.getAttribute("data-node")))).toEqual(["n2"]);
    expect(await page.getAttribute('#grid td[data-node="n2"][data-origin="o1"]', "title")).toBe("unhealthy, observed by n1 2.5 s ago; n2 checks it now");
    const legend = (await page.textContent("#legend"))!;
    expect(legend).toMatch(/The text is the observer: the member whose check produced the status/);
    expect(legend).toMatch(/A dark ring and ● mean the column's own node checks that origin now/);
    expect(legend).toMatch(/healthy.*unhealthy.*unknown \(not checked yet\).*not in that node's list/s);
    // The age column: how old the serving node's record is.
    expect(await texts(page, '#grid tr[data-origin="o1"] td.age')).toEqual(["2.5 s"]);
    await page.close();
  });

  it("origins sort by id with numbers in order, not as text", { timeout: 60_000 }, async () => {
    const list = ["o100", "o10", "o2", "o1", "o0", "o20"].map((id): [string, string, string, number, string, number] => [id, "u", "n1", 10, "n1", 0]);
    const page = await pageWith(clusterAnswer({ origins: { n1: list, n2: list, n3: list } }));
    await page.waitForSelector('#grid tr[data-origin="o100"]');
    expect(await page.$$eval("#grid tbody tr", (rows) => rows.map((r) => r.getAttribute("data-origin")))).toEqual(["o0", "o1", "o2", "o10", "o20", "o100"]);
    await page.close();
  });

  it("ownership and 'checks now' are shown side by side, with the difference during a take-over", { timeout: 60_000 }, async () => {
    // n3 just died in every view: the table gives its origins to n1 and n2, whose engines are still starting them.
    const page = await pageWith(clusterAnswer({ load: { n1: 6, n2: 6 }, checking: { n1: 4, n2: 6 }, down: ["n3"], members: { n1: { n3: "dead" }, n2: { n3: "dead" } } }));
    await page.waitForSelector('#ownership tr[data-owner="n1"]');
    expect(await texts(page, '#ownership tr[data-owner="n1"] td')).toEqual(["n1", "", "6 origins", "4 (-2)"]);
    expect(await texts(page, '#ownership tr[data-owner="n2"] td')).toEqual(["n2", "", "6 origins", "6"]);
    expect(await page.textContent("#legend")).toMatch(/They differ for a moment after a membership change/);
    // A member that does not answer is "no answer", not "cut off".
    expect(await page.getAttribute('#members tr[data-member="n3"]', "data-reach")).toBe("down");
    expect(await page.textContent('#members tr[data-member="n3"]')).toContain("no answer");
    await page.close();
  });

  it("a member held dead that still answers is cut off, one that does not answer is down", { timeout: 60_000 }, async () => {
    // n1 and n2 hold n3 dead, but n3 answered the fan-out: it is alive on the other side of a partition.
    const page = await pageWith(clusterAnswer({ members: { n1: { n3: "dead" }, n2: { n3: "dead" }, n3: { n1: "dead", n2: "dead" } } }));
    await page.waitForSelector('#members tr[data-member="n3"]');
    expect(await page.getAttribute('#members tr[data-member="n3"]', "data-reach")).toBe("cut");
    expect(await page.textContent('#members tr[data-member="n3"]')).toContain("cut off (alive, partitioned)");
    expect(await page.getAttribute('#members tr[data-member="n2"]', "data-reach")).toBe("cut");
    await page.close();
  });

  it("the store column says what 'writable' and 'written' mean", { timeout: 60_000 }, async () => {
    const page = await pageWith(clusterAnswer({}));
    await page.waitForSelector('#members tr[data-member="n1"]');
    expect(await page.textContent('#members tr[data-member="n1"]')).toContain("writable, 42 written");
    expect(await page.textContent("#members thead")).toContain("store (can write? records written)");
    expect(await page.textContent("#legend")).toMatch(/writable = this member's store accepts writes now.*N written = health records this member has written to the store since it started/s);
    expect(await page.isHidden("#raft")).toBe(true);
    await page.close();
  });

  it("in raft mode names the leader, the term and the voters left against the quorum", { timeout: 60_000 }, async () => {
    const raft = { leader: "n1", term: 4, voters: ["n1", "n2", "n3"] };
    let page = await pageWith(clusterAnswer({ raft, down: ["n3"], members: { n1: { n3: "dead" }, n2: { n3: "dead" } } }));
    await page.waitForSelector("#raft:not([hidden])");
    expect(await page.getAttribute("#raft", "data-leader")).toBe("n1");
    expect(await page.getAttribute("#raft", "data-voters-left")).toBe("2");
    expect((await page.textContent("#raft"))!).toBe("raft: leader n1, term 4; voters n1, n2, n3: 2 of 3 left (alive in n1's view), a write needs 2");
    await page.close();
    // One voter left on this side: no quorum, and the page says nobody can write.
    page = await pageWith(clusterAnswer({ raft: { leader: null, term: 5, voters: ["n1", "n2", "n3"] }, members: { n1: { n2: "dead", n3: "dead" } } }));
    await page.waitForSelector("#raft:not([hidden])");
    expect(await page.getAttribute("#raft", "data-voters-left")).toBe("1");
    expect(await page.textContent("#raft")).toContain("(no quorum: nobody can write)");
    await page.close();
  });
});
