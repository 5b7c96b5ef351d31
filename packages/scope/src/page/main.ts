/**
 * The browser view. Everything it shows comes from a {@link ScopeRun}: the
 * stage's real core in its seeded simulation, run here in the page. The URL
 * holds the run (`?stage=raft&seed=7&actions=...&t=...`), so reloading or
 * sharing it re-runs the same thing; travelling back in time is building the
 * run again from the seed and running it to that instant.
 *
 * `window.heckScope` is the same view for scripts and tests: run(untilMs),
 * crash, restart, partition, heal, snapshot() (see the package README).
 */
import { formatFaultSchedule, parseFaultSchedule, type FaultStep, type TraceEvent } from "@heck/sim";
import { readLoadedFile } from "../core/loaded-file.ts";
import { formatAction, parseActions, type Action, type ActionRequest } from "../core/actions.ts";
import { checkSeed, checkStage, checkTimeMs } from "../core/options.ts";
import { ScopeRun, type ShownEvent, type Snapshot } from "../core/scope-run.ts";
import { NODE_IDS, STAGES, type NodeView, type StageName } from "../core/stage.ts";
import { createStage, isScenario, SCENARIOS } from "../stages/index.ts";

/** What scripts and tests drive (see the file comment). */
export interface HeckScopeApi {
  run(untilMs: number): Promise<Snapshot>;
  step(): Snapshot;
  crash(nodeId: string): Snapshot;
  restart(nodeId: string): Snapshot;
  partition(groups: string[][]): Snapshot;
  heal(): Snapshot;
  setLoss(rate: number): Snapshot;
  put(nodeId: string, key: string, value: string): Snapshot;
  flip(origin: string): Snapshot;
  /** Travels to `tMs` (back: re-run from the seed and actions; forward: run). */
  seek(tMs: number): Promise<Snapshot>;
  snapshot(): Snapshot;
  /** The messages in flight now, as drawn. */
  inFlight(): ReturnType<ScopeRun["inFlight"]>;
  /** The error shown for bad input, or null. */
  error(): string | null;
  /** The trace file loaded, if any: its events. */
  loadedTrace(): TraceEvent[] | null;
  /**
   * Re-runs this page's run (seed and actions) from scratch to `untilMs`
   * without showing it, and says how long that took here: what every
   * rewind costs (the benchmark's figure).
   */
  timeRerun(untilMs: number): { ms: number; events: number; traceHash: string };
}

declare global {
  interface Window {
    heckScope: HeckScopeApi;
  }
}

const SVG = "http://www.w3.org/2000/svg";
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
/** Simulated ms per run-call while `run(untilMs)` catches up, so the page stays responsive. */
const CHUNK_MS = 2_000;
/** How long (in real ms) a dropped message stays marked on its link. */
const DROP_SHOWN_REAL_MS = 1_500;

interface Params {
  stage: StageName;
  seed: number;
  /** A seeded test scenario (`?scenario=sweep`), or undefined for the stage's own cluster. */
  scenario: string | undefined;
  /** With a scenario: the faults given (`?faults=...`), else the seed's own schedule. */
  faults: FaultStep[] | undefined;
  actions: Action[];
  openAtMs: number | "failure";
}

/** Reads the URL; returns what is wrong in words instead of throwing. */
function readParams(search: string): Params | string {
  const q = new URLSearchParams(search);
  const stage = checkStage(q.get("stage") ?? undefined);
  if (!stage.ok) return `stage: ${stage.error}`;
  const seed = checkSeed(q.get("seed") ?? "1");
  if (!seed.ok) return `seed: ${seed.error}`;
  const scenario = q.get("scenario") ?? undefined;
  if (scenario !== undefined && !isScenario(stage.value, scenario)) {
    return `scenario: ${stage.value} has no scenario ${JSON.stringify(scenario)}${SCENARIOS[stage.value].length > 0 ? ` (it has ${SCENARIOS[stage.value].join(", ")})` : " (it has none)"}`;
  }
  let faults: FaultStep[] | undefined;
  const faultText = q.get("faults");
  if (faultText !== null) {
    if (scenario === undefined) return "faults: apply to a seeded scenario; add scenario=...";
    const f = parseFaultSchedule(faultText);
    if (!f.ok) return `faults: ${f.error}`;
    faults = f.steps;
  }
  // A scenario's cluster size comes from its seed: the run checks the node names.
  const parsed = parseActions(q.get("actions") ?? "", scenario === undefined ? NODE_IDS : undefined);
  if (!parsed.ok) return `actions: ${parsed.error}`;
  const t = q.get("t");
  const base = { stage: stage.value, seed: seed.value, scenario, faults, actions: parsed.actions };
  if (t === "failure") return { ...base, openAtMs: "failure" };
  const at = t === null ? { ok: true as const, value: 0 } : checkTimeMs(t, "t");
  if (!at.ok) return `t: ${at.error} (or "failure")`;
  return { ...base, openAtMs: at.value };
}

/** How far a run goes looking for a failure (`t=failure`): ten simulated minutes. */
const FAILURE_SEARCH_MS = 600_000;

let params: Params | undefined;
let run: ScopeRun | undefined;
let errorText: string | null = null;
let playing = false;
let speed = 0.05;
let lastFrameMs = 0;
let furthestMs = 0;
let trace: TraceEvent[] | null = null;
const selected = new Set<string>();
const dropSeen = new Map<string, { atReal: number; from: string; to: string }>();

function showError(text: string): void {
  errorText = text;
  const box = $("error");
  box.textContent = text;
  box.classList.add("shown");
}

function clearError(): void {
  errorText = null;
  $("error").classList.remove("shown");
}

function requireRun(): ScopeRun {
  if (run === undefined) throw new Error(errorText ?? "no run is open");
  return run;
}

function newRun(p: Params, actions: readonly Action[]): ScopeRun {
  return new ScopeRun({ stage: p.stage, seed: p.seed, actions, ...(p.scenario !== undefined ? { scenario: p.scenario } : {}), ...(p.faults !== undefined ? { faults: p.faults } : {}) }, createStage);
}

// ---------------------------------------------------------------------------
// Acting
// ---------------------------------------------------------------------------

function act(request: ActionRequest): Snapshot {
  const r = requireRun();
  if ("node" in request && !r.adapter.nodeIds.includes(request.node)) throw new Error(`unknown node ${JSON.stringify(request.node)} (nodes are ${r.adapter.nodeIds.join(", ")})`);
  if (request.kind === "partition") {
    for (const g of request.groups) for (const id of g) if (!r.adapter.nodeIds.includes(id)) throw new Error(`unknown node ${JSON.stringify(id)} in partition`);
  }
  r.act(request);
  furthestMs = r.nowMs;
  render();
  return r.snapshot();
}

async function runTo(untilMs: number): Promise<Snapshot> {
  const r = requireRun();
  if (!Number.isFinite(untilMs) || untilMs < 0) throw new Error(`run: untilMs must be a simulated time >= 0, got ${untilMs}`);
  if (untilMs < r.nowMs) return seek(untilMs);
  while (r.nowMs < untilMs && r.failure === null) {
    r.run(Math.min(untilMs, r.nowMs + CHUNK_MS));
    // Let the page paint between chunks; the run is the same however it is chunked.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  furthestMs = Math.max(furthestMs, r.nowMs);
  render();
  return r.snapshot();
}

/** Travels to `tMs`: forward by running, back by re-running from the seed with every recorded action. */
async function seek(tMs: number): Promise<Snapshot> {
  const r = requireRun();
  if (tMs < r.nowMs) {
    run = newRun(params!, r.actions);
    dropSeen.clear();
  }
  return runTo(tMs);
}

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

function nodePosition(i: number, n: number): { x: number; y: number } {
  const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
  return { x: 300 + 220 * Math.cos(a), y: 300 + 220 * Math.sin(a) };
}

/** A stable colour per message type. */
function colourOf(type: string): string {
  let h = 0;
  for (let i = 0; i < type.length; i++) h = (h * 31 + type.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360}, 70%, 52%)`;
}

function nodeFill(v: NodeView): string {
  if (!v.up) return "#c8ccd2";
  switch (v.role) {
    case "leader":
    case "primary":
      return "#f4d03f";
    case "candidate":
    case "preCandidate":
      return "#f0b27a";
    default:
      return "#aed6f1";
  }
}

function nodeCaption(v: NodeView): string {
  if (!v.up) return "down";
  // Primary-backup (the agreement ladder's first rung) has roles but no terms.
  if (typeof v.role === "string") return `${v.role}${typeof v.term === "number" ? ` t${v.term}` : ""}`;
  if (Array.isArray(v.owned)) return `owns ${v.owned.length}`;
  if (typeof v.owned === "number") return `owns ${v.owned.toLocaleString("en")}`;
  // A gossip ladder's epidemic replica: whether the one update has reached it.
  if (typeof v.has === "boolean" && v.vector === undefined) return v.has ? "has it" : "not yet";
  if (v.owned !== undefined && typeof v.owned === "object") return `checks ${Object.keys(v.owned as object).length}`;
  if (v.vector !== undefined) return Object.entries(v.vector as Record<string, number>).map(([k, c]) => `${k.slice(1)}:${c}`).join(" ") || "{}";
  if (typeof v.incarnation === "number") return `inc ${v.incarnation}`;
  return "";
}

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, parent: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent.appendChild(e);
  return e;
}

function drawView(r: ScopeRun, snap: Snapshot): void {
  const svg = $("view") as unknown as SVGSVGElement;
  svg.textContent = "";
  const ids = r.adapter.nodeIds;
  const pos = new Map(ids.map((id, i) => [id, nodePosition(i, ids.length)]));
  const net = r.adapter.sim.network;
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const a = pos.get(ids[i]!)!;
      const b = pos.get(ids[j]!)!;
      const cut = net.isCut(ids[i]!, ids[j]!) || net.isCut(ids[j]!, ids[i]!);
      el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: cut ? "edge cut" : "edge", "data-link": `${ids[i]}-${ids[j]}` }, svg);
    }
  }
  // Drops: a red cross on the link for a moment.
  const nowReal = performance.now();
  for (const [key, d] of dropSeen) {
    if (nowReal - d.atReal > DROP_SHOWN_REAL_MS) {
      dropSeen.delete(key);
      continue;
    }
    const a = pos.get(d.from);
    const b = pos.get(d.to);
    if (a === undefined || b === undefined) continue;
    const x = a.x + (b.x - a.x) * 0.6;
    const y = a.y + (b.y - a.y) * 0.6;
    el("path", { d: `M${x - 6},${y - 6}L${x + 6},${y + 6}M${x - 6},${y + 6}L${x + 6},${y - 6}`, class: "drop" }, svg);
  }
  const now = r.nowMs;
  const types = new Set<string>();
  for (const m of r.inFlight().slice(0, 400)) {
    const a = pos.get(m.from);
    const b = pos.get(m.to);
    if (a === undefined || b === undefined) continue;
    const f = m.dueMs > m.sentMs ? Math.min(1, Math.max(0, (now - m.sentMs) / (m.dueMs - m.sentMs))) : 0;
    // Offset each direction to its own side of the link, so requests and replies do not overlap.
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const x = a.x + dx * f + (-dy / len) * 6;
    const y = a.y + dy * f + (dx / len) * 6;
    types.add(m.type);
    const dot = el("circle", { cx: x, cy: y, r: 6, fill: colourOf(m.type), class: "msg", "data-type": m.type }, svg);
    el("title", {}, dot).textContent = `${m.type} ${m.from} → ${m.to} (${m.channel}), sent ${m.sentMs.toFixed(3)} ms, due ${m.dueMs.toFixed(3)} ms\n${JSON.stringify(m.detail, null, 1)}`;
  }
  for (const v of snap.nodes) {
    const p = pos.get(v.id)!;
    const g = el("g", { class: `node${v.up ? "" : " down"}${selected.has(v.id) ? " selected" : ""}`, "data-node": v.id, "data-up": v.up ? "yes" : "no", "data-role": String(v.role ?? "") }, svg);
    const body = el("circle", { cx: p.x, cy: p.y, r: 36, fill: nodeFill(v), class: "body" }, g);
    el("title", {}, body).textContent = `${v.id}: click to ${v.up ? "crash" : "restart"}, shift-click to select for a partition`;
    el("text", { x: p.x, y: p.y - 3, "font-weight": 700 }, g).textContent = v.id;
    el("text", { x: p.x, y: p.y + 13 }, g).textContent = nodeCaption(v);
    g.addEventListener("click", (ev) => onNodeClick(v.id, v.up, (ev as MouseEvent).shiftKey));
  }
  const legend = $("legend");
  legend.textContent = "";
  for (const t of [...types].sort()) {
    const s = document.createElement("span");
    s.innerHTML = `<i style="background:${colourOf(t)}"></i>`;
    s.append(t);
    legend.append(s);
  }
}

function renderValue(value: unknown): HTMLElement | string {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "object") return String(value);
  return JSON.stringify(value);
}

function nodeCard(v: NodeView): HTMLElement {
  const card = document.createElement("div");
  card.className = `card${v.up ? "" : " down"}`;
  card.dataset.node = v.id;
  const h = document.createElement("h3");
  h.textContent = v.up ? v.id : `${v.id} (down: only its disk survives)`;
  card.append(h);
  if (!v.up) return card;
  const table = document.createElement("table");
  for (const [k, value] of Object.entries(v)) {
    if (k === "id" || k === "up") continue;
    const tr = document.createElement("tr");
    const th = document.createElement("td");
    th.className = "k";
    th.textContent = k;
    const td = document.createElement("td");
    td.dataset.field = k;
    if (k === "log" && Array.isArray(value)) {
      const row = document.createElement("div");
      row.className = "log";
      for (const e of value as Array<{ index: number; term: number; committed: boolean; type: string }>) {
        const s = document.createElement("span");
        s.className = e.committed ? "committed" : "";
        s.title = `index ${e.index}, term ${e.term}, ${e.type}${e.committed ? ", committed" : ""}`;
        s.textContent = `${e.index}:${e.term}`;
        row.append(s);
      }
      td.append(row);
    } else if (k === "members" && Array.isArray(value) && typeof value[0] === "object") {
      for (const m of value as Array<{ name: string; state: string; incarnation?: number; suspicion?: { deadlineMs: number; confirmations: number; k: number } }>) {
        const s = document.createElement("div");
        s.dataset.member = m.name;
        s.className = `state-${m.state}`;
        // The ladder's lower rungs have no incarnations: a heartbeat detector only says alive, suspect or dead.
        s.textContent = `${m.name} ${m.state}${m.incarnation === undefined ? "" : ` inc ${m.incarnation}`}`;
        if (m.suspicion !== undefined) {
          const left = m.suspicion.deadlineMs - (run?.nowMs ?? 0);
          s.textContent += `, dead at ${m.suspicion.deadlineMs.toFixed(0)} ms (in ${left.toFixed(0)} ms) unless refuted; ${m.suspicion.confirmations}/${m.suspicion.k} confirmations`;
          s.title = "Lifeguard §IV-B: each independent confirmation shortens the suspicion, down to its minimum";
        }
        td.append(s);
      }
    } else if (k === "progress" && value !== null && typeof value === "object") {
      for (const [peer, p] of Object.entries(value as Record<string, { match: number; next: number; state: string }>)) {
        const s = document.createElement("div");
        s.textContent = `${peer}: match ${p.match}, next ${p.next} (${p.state})`;
        td.append(s);
      }
    } else td.append(renderValue(value));
    tr.append(th, td);
    table.append(tr);
  }
  card.append(table);
  return card;
}

function eventLine(e: ShownEvent): HTMLElement {
  const d = document.createElement("div");
  d.textContent = `${e.t.toFixed(3).padStart(11)} ${e.node.padEnd(7)} ${e.event.padEnd(13)} ${e.summary}`;
  d.title = "travel to this instant";
  d.addEventListener("click", () => void seek(e.t).catch(showError));
  return d;
}

function render(): void {
  const r = run;
  if (r === undefined) return;
  const snap = r.snapshot();
  for (const e of r.recentEvents(60)) {
    if (e.event === "drop" && r.nowMs - e.t < 50) {
      const m = /"from":"([^"]+)","to":"([^"]+)"/.exec(e.summary);
      if (m !== null && !dropSeen.has(`${e.index}`)) dropSeen.set(`${e.index}`, { atReal: performance.now(), from: m[1]!, to: m[2]! });
    }
  }
  $("status").textContent = `${snap.stage}${snap.scenario !== null ? ` (${snap.scenario} scenario)` : ""} seed ${snap.seed}  t = ${snap.tMs.toFixed(3)} ms  events ${snap.events}  trace ${snap.traceHash}${playing ? "  ▶" : ""}`;
  $("status").dataset.t = String(snap.tMs);
  drawView(r, snap);
  const inv = $("invariants");
  inv.textContent = "";
  for (const s of snap.invariants) {
    const li = document.createElement("li");
    li.className = s.ok ? "ok" : s.kind === "safety" ? "broken" : "waiting";
    li.dataset.invariant = s.name;
    li.dataset.ok = s.ok ? "yes" : "no";
    li.textContent = `${s.name}${s.detail !== undefined ? `: ${s.detail}` : ""}`;
    inv.append(li);
  }
  const nodes = $("nodes");
  nodes.textContent = "";
  for (const v of snap.nodes) nodes.append(nodeCard(v));
  const failure = $("failure");
  if (snap.failure !== null) {
    failure.textContent = `Invariant broken at t=${snap.failure.atMs.toFixed(3)} ms: ${snap.failure.what}\n${snap.failure.report}`;
    failure.classList.add("shown");
  } else failure.classList.remove("shown");
  const scrubber = $<HTMLInputElement>("scrubber");
  furthestMs = Math.max(furthestMs, snap.tMs);
  scrubber.max = String(furthestMs);
  scrubber.value = String(snap.tMs);
  const marks = $("marks");
  marks.textContent = "";
  const timeline = r.timeline(300);
  for (const e of timeline) {
    if (e.event === "drop") continue;
    const i = document.createElement("i");
    i.style.left = `${furthestMs > 0 ? (100 * e.t) / furthestMs : 0}%`;
    i.style.background = colourOf(e.event);
    i.title = `${e.t.toFixed(1)} ms ${e.node} ${e.event}`;
    marks.append(i);
  }
  const tl = $("timeline");
  tl.textContent = "";
  for (const e of timeline.filter((x) => x.event !== "drop").slice(-200)) tl.append(eventLine(e));
  tl.scrollTop = tl.scrollHeight;
  const acts = $("actions");
  acts.textContent = "";
  if (snap.scenario !== null) {
    const d = document.createElement("div");
    d.className = "hint";
    d.id = "faults";
    d.textContent = snap.faults !== null ? `faults (given): ${snap.faults || "none"}` : `faults: the seed's own schedule`;
    acts.append(d);
  }
  for (const a of r.actions) {
    const d = document.createElement("div");
    d.textContent = formatAction(a);
    d.className = a.atMs <= snap.tMs ? "" : "hint";
    acts.append(d);
  }
  const recent = $("recent");
  recent.textContent = "";
  for (const e of r.recentEvents(60)) recent.append(eventLine(e));
  recent.scrollTop = recent.scrollHeight;
  $("play").textContent = playing ? "pause" : "play";
  writeUrl(r, snap.tMs);
}

function writeUrl(r: ScopeRun, tMs: number): void {
  const q = new URLSearchParams({ stage: r.stage, seed: String(r.seed) });
  if (r.scenario !== null) q.set("scenario", r.scenario);
  if (r.faults !== null) q.set("faults", r.faults);
  if (r.actions.length > 0) q.set("actions", r.actions.map(formatAction).join(";"));
  if (tMs > 0) q.set("t", String(Math.round(tMs * 1000) / 1000));
  const url = `${location.pathname}?${q.toString()}`;
  if (url !== `${location.pathname}${location.search}`) history.replaceState(null, "", url);
}

// ---------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------

function guarded(f: () => unknown): () => void {
  return () => {
    try {
      const r = f();
      if (r instanceof Promise) r.catch((e: unknown) => showError(String(e instanceof Error ? e.message : e)));
    } catch (e) {
      showError(e instanceof Error ? e.message : String(e));
    }
  };
}

function onNodeClick(id: string, up: boolean, shift: boolean): void {
  if (shift) {
    if (selected.has(id)) selected.delete(id);
    else selected.add(id);
    render();
    return;
  }
  guarded(() => act({ kind: up ? "crash" : "restart", node: id }))();
}

function frame(nowReal: number): void {
  if (playing && run !== undefined) {
    const dt = Math.min(100, nowReal - lastFrameMs);
    if (run.failure !== null) playing = false;
    else {
      run.run(run.nowMs + dt * speed);
      render();
    }
  }
  lastFrameMs = nowReal;
  requestAnimationFrame(frame);
}

function wireControls(r: ScopeRun): void {
  $("play").addEventListener("click", () => {
    playing = !playing;
    render();
  });
  $("step").addEventListener("click", guarded(() => {
    playing = false;
    run?.step();
    render();
  }));
  const speedSelect = $<HTMLSelectElement>("speed");
  speedSelect.value = String(speed);
  speedSelect.addEventListener("change", () => (speed = Number(speedSelect.value)));
  $("partition").addEventListener("click", guarded(() => {
    const group = [...selected].sort();
    const rest = r.adapter.nodeIds.filter((id) => !selected.has(id));
    if (group.length === 0 || rest.length === 0) throw new Error("select the nodes to cut off first (shift-click them), leaving at least one on the other side");
    selected.clear();
    return act({ kind: "partition", groups: [group, rest] });
  }));
  $("heal").addEventListener("click", guarded(() => act({ kind: "heal" })));
  const loss = $<HTMLInputElement>("loss");
  loss.addEventListener("change", guarded(() => {
    $("loss-value").textContent = loss.value;
    return act({ kind: "loss", rate: Number(loss.value) });
  }));
  const putNode = $<HTMLSelectElement>("put-node");
  for (const id of r.adapter.nodeIds) putNode.add(new Option(id, id));
  $("put-box").style.display = r.adapter.operations.includes("put") ? "" : "none";
  $("put").addEventListener("click", guarded(() => {
    const key = $<HTMLInputElement>("put-key").value.trim();
    const value = $<HTMLInputElement>("put-value").value.trim();
    const parsed = parseActions(`0 put ${putNode.value} ${key}=${value}`, NODE_IDS);
    if (!parsed.ok) throw new Error(parsed.error.replace(/^action 1 \("[^"]*"\): /, ""));
    return act({ kind: "put", node: putNode.value, key, value });
  }));
  const flipOrigin = $<HTMLSelectElement>("flip-origin");
  for (const o of r.adapter.origins) flipOrigin.add(new Option(o, o));
  $("flip-box").style.display = r.adapter.operations.includes("flip") ? "" : "none";
  $("flip").addEventListener("click", guarded(() => act({ kind: "flip", origin: flipOrigin.value })));
  const scrubber = $<HTMLInputElement>("scrubber");
  scrubber.addEventListener("input", guarded(() => {
    playing = false;
    return seek(Number(scrubber.value));
  }));
}

function wireHeader(current: StageName | undefined, seed: number | undefined): void {
  const nav = $("stages");
  for (const s of STAGES) {
    const a = document.createElement("a");
    a.href = `?stage=${s}&seed=${seed ?? 1}`;
    a.textContent = s;
    if (s === current) a.className = "current";
    nav.append(a);
  }
  const seedInput = $<HTMLInputElement>("seed-input");
  seedInput.value = String(seed ?? 1);
  $("open").addEventListener("click", () => {
    const checked = checkSeed(seedInput.value);
    if (!checked.ok) {
      showError(`seed: ${checked.error}`);
      return;
    }
    location.search = `?stage=${current ?? "raft"}&seed=${checked.value}`;
  });
  $<HTMLInputElement>("trace-file").addEventListener("change", (ev) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file !== undefined) void file.text().then(loadFile, (e: unknown) => showError(`cannot read that file: ${String(e)}`));
  });
}

/**
 * A loaded file (see core/loaded-file.ts): a failure report opens its run at
 * the failure (the page navigates to it, so the URL shares it); a trace file
 * is listed in the timeline; anything else gets a clear message.
 */
function loadFile(text: string): void {
  const loaded = readLoadedFile(text);
  if (loaded.kind === "error") {
    trace = null;
    showError(`cannot load that file: ${loaded.error}`);
    return;
  }
  clearError();
  if (loaded.kind === "report") {
    const r = loaded.run;
    location.search = `?${new URLSearchParams({ stage: r.stage, scenario: r.scenario, seed: String(r.seed), faults: formatFaultSchedule(r.faults), t: "failure" }).toString()}`;
    return;
  }
  trace = loaded.events;
  const tl = $("timeline");
  tl.textContent = "";
  loaded.events.slice(-500).forEach((e, i) => {
    const d = document.createElement("div");
    d.textContent = `${e.t.toFixed(3).padStart(11)} ${e.node.padEnd(7)} ${e.event.padEnd(13)} ${JSON.stringify(e.msg ?? "").slice(0, 160)}`;
    d.dataset.index = String(i);
    tl.append(d);
  });
  const heading = document.createElement("div");
  heading.className = "hint";
  heading.textContent = `loaded trace: ${loaded.events.length} events, t = ${loaded.events[0]!.t} to ${loaded.events[loaded.events.length - 1]!.t} ms`;
  heading.id = "trace-loaded";
  tl.prepend(heading);
}

function snapshotOrError(): Snapshot {
  if (run === undefined) throw new Error(errorText ?? "no run is open");
  return run.snapshot();
}

window.heckScope = {
  run: (untilMs) => runTo(untilMs),
  step: () => {
    requireRun().step();
    render();
    return snapshotOrError();
  },
  crash: (nodeId) => act({ kind: "crash", node: nodeId }),
  restart: (nodeId) => act({ kind: "restart", node: nodeId }),
  partition: (groups) => {
    if (!Array.isArray(groups) || groups.length < 2 || groups.some((g) => !Array.isArray(g) || g.length === 0)) throw new Error("partition takes two or more non-empty groups of node ids, e.g. [[\"n1\"], [\"n2\", \"n3\"]]");
    return act({ kind: "partition", groups: groups.map((g) => g.map(String)) });
  },
  heal: () => act({ kind: "heal" }),
  setLoss: (rate) => {
    if (!(rate >= 0 && rate <= 1)) throw new Error(`loss rate must be between 0 and 1, got ${rate}`);
    return act({ kind: "loss", rate });
  },
  put: (nodeId, key, value) => act({ kind: "put", node: nodeId, key, value }),
  flip: (origin) => act({ kind: "flip", origin }),
  seek: (tMs) => seek(tMs),
  snapshot: () => snapshotOrError(),
  inFlight: () => requireRun().inFlight(),
  error: () => errorText,
  loadedTrace: () => trace,
  timeRerun: (untilMs) => {
    const r = requireRun();
    const started = performance.now();
    const fresh = newRun(params!, r.actions);
    fresh.run(untilMs);
    return { ms: performance.now() - started, events: fresh.eventCount, traceHash: fresh.traceHash() };
  },
};

function boot(): void {
  const p = readParams(location.search);
  if (typeof p === "string") {
    const q = new URLSearchParams(location.search);
    const seed = checkSeed(q.get("seed") ?? "1");
    wireHeader(undefined, seed.ok ? seed.value : undefined);
    $("main").style.display = "none";
    showError(`This page cannot open that run: ${p}.\nOpen one of: ${STAGES.map((s) => `?stage=${s}&seed=1`).join("  ")}`);
    document.body.dataset.ready = "error";
    return;
  }
  params = p;
  wireHeader(p.stage, p.seed);
  let r: ScopeRun;
  try {
    r = newRun(p, p.actions);
  } catch (e) {
    // A fault or action naming a node this seed's cluster does not have.
    $("main").style.display = "none";
    showError(`This page cannot open that run: ${e instanceof Error ? e.message : String(e)}.`);
    document.body.dataset.ready = "error";
    return;
  }
  run = r;
  wireControls(r);
  if (p.openAtMs === "failure") {
    // Open at the moment an invariant broke: run until the run stops on its own.
    const horizonMs = r.adapter.endMs ?? FAILURE_SEARCH_MS;
    r.run(horizonMs);
    if (r.failure === null) showError(`seed ${p.seed} ran ${horizonMs / 1000} simulated seconds on ${p.stage}${p.scenario !== undefined ? `'s ${p.scenario} scenario` : ""} without breaking an invariant`);
  } else r.run(p.openAtMs);
  furthestMs = r.nowMs;
  render();
  if (new URLSearchParams(location.search).get("trace") === "1") {
    // The CLI's --load <trace file>: the server has it beside the page.
    void fetch("trace.jsonl")
      .then((res) => (res.ok ? res.text() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then(loadFile, (e: unknown) => showError(`cannot fetch the loaded trace: ${String(e)}`));
  }
  document.body.dataset.ready = "yes";
  requestAnimationFrame(frame);
}

boot();
