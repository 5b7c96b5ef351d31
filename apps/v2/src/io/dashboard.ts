/**
 * The dashboard every agent serves at `/`: one self-contained page (no
 * build step, no external assets) that polls `/v1/cluster` once a second.
 * That endpoint fans out to every member's `/v1/view`, so the page shows
 * each node's view side by side: members and their SWIM state as each node
 * sees them, who owns what, and every origin's status per node. A row whose
 * cells differ is a divergence in progress; watch it converge.
 *
 * Stable hooks for tests: `#members tr[data-member]`, `#grid td[data-node][data-origin]`
 * with class `st-h|st-u|st-?`, `#summary[data-converged]`.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>heck v2 dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --ok: #2e9d57; --bad: #d64541; --unk: #9aa0a6; --suspect: #e5a50a; --bg: #fafafa; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: var(--bg); color: #222; }
  header { padding: 12px 20px; background: #1f2937; color: #fff; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header .muted { color: #cbd5e1; }
  main { padding: 16px 20px; display: grid; gap: 20px; }
  section { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 16px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; }
  th, td { padding: 3px 8px; text-align: left; border-bottom: 1px solid #f0f0f0; white-space: nowrap; }
  th { font-weight: 600; color: #555; }
  .state { font-weight: 600; }
  .state-alive { color: var(--ok); } .state-suspect { color: var(--suspect); } .state-dead { color: var(--bad); } .state-left { color: var(--unk); }
  .bar { display: inline-block; height: 10px; background: #60a5fa; vertical-align: middle; }
  #grid td.cell { width: 64px; text-align: center; font-family: ui-monospace, monospace; font-size: 12px; color: #fff; }
  .st-h { background: var(--ok); } .st-u { background: var(--bad); } .st-\\? { background: var(--unk); } .st-x { background: #e5e7eb; color: #999 !important; }
  tr.diverged td.oid { color: var(--bad); font-weight: 600; }
  .badge { padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
  .badge.ok { background: #dcfce7; color: #166534; } .badge.no { background: #fee2e2; color: #991b1b; }
  input { font: inherit; padding: 3px 6px; }
  .err { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>heck v2</h1>
  <span id="where" class="muted">connecting...</span>
  <span id="summary" data-converged="unknown"></span>
  <span class="muted" id="updated"></span>
</header>
<main>
  <section>
    <h2>Members (SWIM state as each node sees them)</h2>
    <table id="members"><thead></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Ownership (rendezvous hashing over the alive members, as this node computes it)</h2>
    <table id="ownership"><tbody></tbody></table>
  </section>
  <section>
    <h2>Origins: each node's view side by side</h2>
    <p>
      <label>filter <input id="filter" placeholder="origin id prefix"></label>
      <label><input type="checkbox" id="onlyInteresting" checked> only unhealthy, unknown or diverging (plus the first healthy ones)</label>
      <span id="counts"></span>
    </p>
    <table id="grid"><thead></thead><tbody></tbody></table>
  </section>
  <p id="error" class="err"></p>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.hash.slice(1));
let token = params.get("token") || sessionStorage.getItem("heckToken") || "";
const STATUS = { h: "healthy", u: "unhealthy", "?": "unknown" };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const stCls = (c) => (c === "h" ? "st-h" : c === "u" ? "st-u" : "st-?");

async function poll() {
  try {
    const r = await fetch("/v1/cluster", { headers: token ? { authorization: "Bearer " + token } : {} });
    if (r.status === 401) {
      token = prompt("This agent requires a bearer token") || "";
      sessionStorage.setItem("heckToken", token);
      return;
    }
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot reach this agent: " + e.message;
  }
}

function render(c) {
  const nodes = c.nodes.slice().sort((a, b) => (a.id < b.id ? -1 : 1));
  const self = nodes.find((n) => n.id === c.self);
  const views = nodes.filter((n) => n.ok);
  document.getElementById("where").textContent = "served by " + c.self + (self && self.view ? " (store " + self.view.store.kind + ", " + self.view.store.detail + ")" : "");
  document.getElementById("updated").textContent = "updated " + new Date(c.atMs).toLocaleTimeString();

  // Members: one column per observing node.
  const ids = nodes.map((n) => n.id);
  const mHead = "<tr><th>member</th>" + views.map((v) => "<th>seen by " + esc(v.id) + "</th>").join("") + "<th>API</th><th>checks now</th><th>store</th></tr>";
  document.querySelector("#members thead").innerHTML = mHead;
  document.querySelector("#members tbody").innerHTML = ids.map((id) => {
    const cells = views.map((v) => {
      const m = v.view.members.find((x) => x.id === id);
      const st = m ? m.state : "unknown";
      return '<td class="state state-' + st + '" data-observer="' + esc(v.id) + '">' + st + "</td>";
    }).join("");
    const n = nodes.find((x) => x.id === id);
    const v = n && n.ok ? n.view : null;
    return '<tr data-member="' + esc(id) + '"><td>' + esc(id) + "</td>" + cells + "<td>" + (v ? esc(v.api) : "-") + "</td><td>" + (v ? v.checking : '<span class="err">' + esc(n ? n.error || "unreachable" : "") + "</span>") + "</td><td>" + (v ? (v.store.writable ? "writable" : '<span class="err">read-only</span>') + " (" + v.store.recordsWritten + " written)" : "-") + "</td></tr>";
  }).join("");

  // Ownership: load per member from this node's table.
  if (self && self.ok) {
    const load = self.view.load;
    const max = Math.max(1, ...Object.values(load));
    document.querySelector("#ownership tbody").innerHTML = Object.keys(load).sort().map((m) =>
      '<tr data-owner="' + esc(m) + '"><td>' + esc(m) + '</td><td><span class="bar" style="width:' + Math.round((300 * load[m]) / max) + 'px"></span></td><td>' + load[m] + " origins</td></tr>").join("");
  }

  // Origins grid.
  const byNode = new Map(views.map((v) => [v.id, new Map(v.view.origins.map((o) => [o[0], o]))]));
  const all = new Set();
  for (const v of views) for (const o of v.view.origins) all.add(o[0]);
  const filter = document.getElementById("filter").value.trim();
  const interesting = document.getElementById("onlyInteresting").checked;
  let diverged = 0, healthyShown = 0;
  const counts = { h: 0, u: 0, "?": 0 };
  const entries = [];
  for (const id of all) {
    const cells = views.map((v) => byNode.get(v.id).get(id));
    const states = cells.map((o) => (o ? o[1] : "x"));
    const div = new Set(states).size > 1;
    if (div) diverged++;
    const mine = self && self.ok ? byNode.get(self.id).get(id) : undefined;
    if (mine) counts[mine[1]] = (counts[mine[1]] || 0) + 1;
    // Diverging rows first, then unhealthy, unknown, healthy.
    const rank = div ? 0 : states.includes("u") ? 1 : states.includes("?") ? 2 : 3;
    entries.push({ id, cells, div, mine, rank });
  }
  entries.sort((a, b) => a.rank - b.rank || (a.id < b.id ? -1 : 1));
  const rows = [];
  for (const { id, cells, div, mine, rank } of entries) {
    if (filter && !id.startsWith(filter)) continue;
    if (interesting && rank === 3 && healthyShown++ >= 20) continue;
    if (rows.length >= 400) continue;
    const tds = views.map((v, i) => {
      const o = cells[i];
      if (!o) return '<td class="cell st-x" data-node="' + esc(v.id) + '" data-origin="' + esc(id) + '">-</td>';
      const title = STATUS[o[1]] + (o[2] ? " by " + o[2] : "") + (o[3] >= 0 ? ", " + (o[3] / 1000).toFixed(1) + " s ago" : "");
      return '<td class="cell ' + stCls(o[1]) + '" data-node="' + esc(v.id) + '" data-origin="' + esc(id) + '" data-status="' + STATUS[o[1]] + '" title="' + esc(title) + '">' + esc(o[2] || "?") + (o[5] ? "*" : "") + "</td>";
    }).join("");
    rows.push('<tr data-origin="' + esc(id) + '"' + (div ? ' class="diverged"' : "") + '><td class="oid">' + esc(id) + "</td><td>" + esc(mine ? mine[4] : "") + "</td>" + tds + "</tr>");
  }
  document.querySelector("#grid thead").innerHTML = "<tr><th>origin</th><th>owner</th>" + views.map((v) => "<th>" + esc(v.id) + "'s view</th>").join("") + "</tr>";
  document.querySelector("#grid tbody").innerHTML = rows.join("");
  document.getElementById("counts").textContent = all.size + " origins: " + counts.h + " healthy, " + counts.u + " unhealthy, " + counts["?"] + " unknown (this node's view); cells show the observer, * = checked by that node";
  const summary = document.getElementById("summary");
  summary.dataset.converged = diverged === 0 ? "yes" : "no";
  summary.innerHTML = diverged === 0 ? '<span class="badge ok">all ' + views.length + " views agree</span>" : '<span class="badge no">' + diverged + " origins differ between nodes</span>";
}

document.getElementById("filter").addEventListener("input", poll);
document.getElementById("onlyInteresting").addEventListener("change", poll);
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
`;
