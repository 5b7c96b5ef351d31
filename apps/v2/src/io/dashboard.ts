/**
 * The dashboard every agent serves at `/`: one self-contained page (no
 * build step, no external assets) that polls `/v1/cluster` once a second.
 * That endpoint fans out to every member's `/v1/view` (members SWIM holds
 * dead too), so the page shows each node's view side by side: members and
 * their SWIM state as each node sees them, who owns what and who checks
 * what now, and every origin's status per node. A row whose cells differ is
 * a divergence in progress; watch it converge.
 *
 * What the page says, and why:
 * - "views agree" only when every node reports the same SWIM state for
 *   every member *and* the same status for every origin; otherwise it says
 *   which differ (a member suspect in one view and dead in another is a
 *   disagreement, even when the origins agree).
 * - A member some node holds dead that still answers HTTP is "cut off" (a
 *   partition: alive, on the other side); one that does not answer is
 *   "no answer" (crashed, or unreachable from here too).
 * - Ownership (what this node's rendezvous table says each member should
 *   check) and "checks now" (what each member's engine checks) differ for a
 *   moment after a membership change: a hand-off keeps the old owner
 *   checking until the new owner's first record, and a take-over starts
 *   only when the failure is detected. Both are shown side by side.
 * - A cell shows the observer (the member whose check produced the status);
 *   a dark ring and `●` mark the cells whose column's node checks the
 *   origin now. A legend says so on the page.
 * - Origins sort by id with numbers in order (o2 before o10).
 *
 * Stable hooks for tests: `#members tr[data-member][data-reach]`,
 * `#members td.state[data-observer]`, `#ownership tr[data-owner]` with
 * `td.checks`, `#grid td[data-node][data-origin]` with class
 * `st-h|st-u|st-?|st-x` and `data-checks-here`, `#grid td.age`, `#legend`,
 * `#raft[data-leader][data-voters-left]`, and `#summary` with
 * `data-converged`, `data-members-agree`, `data-origins-agree`.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>heck v2 dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --ok: #2e9d57; --bad: #d64541; --unk: #9aa0a6; --suspect: #e5a50a; --cut: #7c3aed; --bg: #fafafa; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: var(--bg); color: #222; }
  header { padding: 12px 20px; background: #1f2937; color: #fff; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header .muted { color: #cbd5e1; }
  main { padding: 16px 20px; display: grid; gap: 20px; }
  section { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 16px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  p.note { margin: 4px 0 8px; color: #555; font-size: 13px; }
  table { border-collapse: collapse; }
  th, td { padding: 3px 8px; text-align: left; border-bottom: 1px solid #f0f0f0; white-space: nowrap; }
  th { font-weight: 600; color: #555; }
  .state { font-weight: 600; }
  .state-alive { color: var(--ok); } .state-suspect { color: var(--suspect); } .state-dead { color: var(--bad); } .state-left { color: var(--unk); } .state-unknown { color: var(--unk); }
  .reach-cut { color: var(--cut); font-weight: 600; } .reach-down { color: var(--bad); font-weight: 600; }
  .bar { display: inline-block; height: 10px; background: #60a5fa; vertical-align: middle; }
  #grid td.cell { width: 72px; text-align: center; font-family: ui-monospace, monospace; font-size: 12px; color: #fff; }
  #grid td.cell.here { box-shadow: inset 0 0 0 2px #111; font-weight: 700; }
  #grid td.age { font-family: ui-monospace, monospace; font-size: 12px; color: #555; text-align: right; }
  .st-h { background: var(--ok); } .st-u { background: var(--bad); } .st-\\? { background: var(--unk); } .st-x { background: #e5e7eb; color: #999 !important; }
  .sw { display: inline-block; min-width: 14px; height: 14px; border-radius: 3px; vertical-align: middle; margin-right: 4px; color: #fff; font-size: 10px; text-align: center; }
  tr.diverged td.oid { color: var(--bad); font-weight: 600; }
  .badge { padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
  .badge.ok { background: #dcfce7; color: #166534; } .badge.no { background: #fee2e2; color: #991b1b; }
  #legend ul { margin: 4px 0; padding-left: 18px; } #legend li { margin: 2px 0; }
  input { font: inherit; padding: 3px 6px; }
  .err { color: var(--bad); }
  .diff { color: var(--suspect); font-weight: 600; }
</style>
</head>
<body>
<header>
  <h1>heck v2</h1>
  <span id="where" class="muted">connecting...</span>
  <span id="summary" data-converged="unknown" data-members-agree="unknown" data-origins-agree="unknown"></span>
  <span class="muted" id="updated"></span>
</header>
<main>
  <section id="legend">
    <h2>How to read this page</h2>
    <ul>
      <li>Members: each column is one node's SWIM view. <span class="state state-alive">alive</span>, <span class="state state-suspect">suspect</span> (missed probes; still owns its origins), <span class="state state-dead">dead</span>, <span class="state state-left">left</span> (a graceful leave). Reach: <span class="reach-cut">cut off</span> = some node holds it dead but it answers HTTP (alive, on the other side of a partition); <span class="reach-down">no answer</span> = it does not answer (crashed, or unreachable from here too).</li>
      <li>Store: <b>writable</b> = this member's store accepts writes now (crdt: always, each side of a partition writes; raft and etcd: only with a quorum / a reachable leader), <b>read-only</b> = it cannot write and answers from what it has; <b>N written</b> = health records this member has written to the store since it started.</li>
      <li>Origins: a cell is one node's view of one origin. <span class="sw st-h"></span>healthy <span class="sw st-u"></span>unhealthy <span class="sw st-?"></span>unknown (not checked yet) <span class="sw st-x">-</span>not in that node's list. The text is the <b>observer</b>: the member whose check produced the status. A dark ring and <b>●</b> mean the column's own node checks that origin now. <b>age</b> is how old the serving node's record is.</li>
      <li>Ownership is what this node's rendezvous table says each member should check; <b>checks now</b> is what each member's engine checks. They differ for a moment after a membership change: a hand-off keeps the old owner checking until the new owner's first record, and a take-over starts only once the failure is detected.</li>
    </ul>
  </section>
  <section>
    <h2>Members (SWIM state as each node sees them)</h2>
    <table id="members"><thead></thead><tbody></tbody></table>
    <p id="raft" class="note" hidden></p>
  </section>
  <section>
    <h2>Ownership (rendezvous hashing over the alive members, as this node computes it) and what each member checks now</h2>
    <table id="ownership"><thead><tr><th>member</th><th>owns (this node's table)</th><th></th><th>checks now</th></tr></thead><tbody></tbody></table>
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
// Ids with numbers in order: o2 before o10, n9 before n10.
const byId = (a, b) => a.localeCompare(b, "en", { numeric: true });
const fmtAge = (ms) => (ms < 0 ? "-" : ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s");

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
  const nodes = c.nodes.slice().sort((a, b) => byId(a.id, b.id));
  const self = nodes.find((n) => n.id === c.self);
  const views = nodes.filter((n) => n.ok);
  document.getElementById("where").textContent = "served by " + c.self + (self && self.view ? " (store " + self.view.store.kind + ", " + self.view.store.detail + ")" : "");
  document.getElementById("updated").textContent = "updated " + new Date(c.atMs).toLocaleTimeString();

  // Members: one column per observing node; a row per member any view knows.
  const ids = [...new Set([...nodes.map((n) => n.id), ...views.flatMap((v) => v.view.members.map((m) => m.id))])].sort(byId);
  let membersDiffer = 0;
  document.querySelector("#members thead").innerHTML = "<tr><th>member</th>" + views.map((v) => "<th>seen by " + esc(v.id) + "</th>").join("") + "<th>reach</th><th>API</th><th>checks now</th><th>store (can write? records written)</th></tr>";
  document.querySelector("#members tbody").innerHTML = ids.map((id) => {
    const states = views.map((v) => {
      const m = v.view.members.find((x) => x.id === id);
      return m ? m.state : "unknown";
    });
    if (new Set(states).size > 1) membersDiffer++;
    const cells = views.map((v, i) => '<td class="state state-' + states[i] + '" data-observer="' + esc(v.id) + '">' + states[i] + "</td>").join("");
    const n = nodes.find((x) => x.id === id);
    const v = n && n.ok ? n.view : null;
    const heldDead = states.includes("dead");
    const reach = !n ? "unknown" : n.ok ? (heldDead ? "cut" : "ok") : n.state === "left" ? "left" : "down";
    const reachText = { ok: "answers", cut: '<span class="reach-cut">cut off (alive, partitioned)</span>', down: '<span class="reach-down">no answer</span>', left: "left", unknown: "-" }[reach];
    const store = v ? (v.store.writable ? "writable" : '<span class="err">read-only</span>') + ", " + v.store.recordsWritten + " written" : "-";
    return '<tr data-member="' + esc(id) + '" data-reach="' + reach + '"><td>' + esc(id) + "</td>" + cells + "<td>" + reachText + "</td><td>" + (v ? esc(v.api) : "-") + '</td><td class="checks">' + (v ? v.checking : "-") + '</td><td title="writable: this member can write to the store now; written: health records it has written since it started">' + store + "</td></tr>";
  }).join("");

  // Raft: who leads, and how many voters are left on this node's side (alive or suspect in its SWIM view), against the quorum.
  const raftViews = views.filter((v) => v.view.store.raft);
  const raftEl = document.getElementById("raft");
  if (raftViews.length > 0 && self && self.ok) {
    const voters = [...new Set(raftViews.flatMap((v) => v.view.store.raft.voters))].sort(byId);
    const leaders = [...new Set(raftViews.map((v) => v.view.store.raft.leader || "none"))];
    const term = Math.max(...raftViews.map((v) => v.view.store.raft.term));
    const alive = new Set(self.view.members.filter((m) => m.state === "alive" || m.state === "suspect").map((m) => m.id));
    const left = voters.filter((id) => alive.has(id));
    const quorum = Math.floor(voters.length / 2) + 1;
    raftEl.hidden = false;
    raftEl.dataset.leader = leaders.length === 1 ? leaders[0] : "split";
    raftEl.dataset.votersLeft = String(left.length);
    raftEl.innerHTML = "raft: leader <b>" + esc(leaders.join(" / ")) + "</b>" + (leaders.length > 1 ? " (members disagree: an election or a partition)" : "") + ", term " + term +
      "; voters " + esc(voters.join(", ")) + ": <b>" + left.length + " of " + voters.length + " left</b> (alive in " + esc(self.id) + "'s view), a write needs " + quorum +
      (left.length < quorum ? ' <span class="err">(no quorum: nobody can write)</span>' : "");
  } else raftEl.hidden = true;

  // Ownership: this node's table beside what each member's engine checks now.
  if (self && self.ok) {
    const load = self.view.load;
    const max = Math.max(1, ...Object.values(load));
    const owners = [...new Set([...Object.keys(load), ...views.map((v) => v.id)])].sort(byId);
    document.querySelector("#ownership tbody").innerHTML = owners.map((m) => {
      const owned = load[m] || 0;
      const v = views.find((x) => x.id === m);
      const now = v ? v.view.checking : null;
      const diff = now !== null && now !== owned ? ' <span class="diff" title="hand-offs or take-overs in progress">(' + (now > owned ? "+" : "") + (now - owned) + ")</span>" : "";
      return '<tr data-owner="' + esc(m) + '"><td>' + esc(m) + '</td><td><span class="bar" style="width:' + Math.round((300 * owned) / max) + 'px"></span></td><td>' + owned + ' origins</td><td class="checks">' + (now === null ? "-" : now + diff) + "</td></tr>";
    }).join("");
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
  entries.sort((a, b) => a.rank - b.rank || byId(a.id, b.id));
  const rows = [];
  for (const { id, cells, div, mine, rank } of entries) {
    if (filter && !id.startsWith(filter)) continue;
    if (interesting && rank === 3 && healthyShown++ >= 20) continue;
    if (rows.length >= 400) continue;
    const tds = views.map((v, i) => {
      const o = cells[i];
      if (!o) return '<td class="cell st-x" data-node="' + esc(v.id) + '" data-origin="' + esc(id) + '" title="not in ' + esc(v.id) + "'s origin list yet\\">-</td>";
      const here = o[5] === 1;
      const title = STATUS[o[1]] + (o[2] ? ", observed by " + o[2] : "") + (o[3] >= 0 ? " " + fmtAge(o[3]) + " ago" : "") + (here ? "; " + v.id + " checks it now" : "");
      return '<td class="cell ' + stCls(o[1]) + (here ? " here" : "") + '" data-node="' + esc(v.id) + '" data-origin="' + esc(id) + '" data-status="' + STATUS[o[1]] + '" data-observer="' + esc(o[2]) + '" data-checks-here="' + (here ? "yes" : "no") + '" title="' + esc(title) + '">' + esc(o[2] || "?") + (here ? " ●" : "") + "</td>";
    }).join("");
    rows.push('<tr data-origin="' + esc(id) + '"' + (div ? ' class="diverged"' : "") + '><td class="oid">' + esc(id) + "</td><td>" + esc(mine ? mine[4] : "") + '</td><td class="age">' + (mine ? fmtAge(mine[3]) : "-") + "</td>" + tds + "</tr>");
  }
  document.querySelector("#grid thead").innerHTML = "<tr><th>origin</th><th>owner</th><th>age</th>" + views.map((v) => "<th>" + esc(v.id) + "'s view</th>").join("") + "</tr>";
  document.querySelector("#grid tbody").innerHTML = rows.join("");
  document.getElementById("counts").textContent = all.size + " origins: " + counts.h + " healthy, " + counts.u + " unhealthy, " + counts["?"] + " unknown (this node's view)";

  // The badge: every view agrees on every member's state and every origin's status.
  const summary = document.getElementById("summary");
  summary.dataset.membersAgree = membersDiffer === 0 ? "yes" : "no";
  summary.dataset.originsAgree = diverged === 0 ? "yes" : "no";
  summary.dataset.converged = membersDiffer === 0 && diverged === 0 ? "yes" : "no";
  const parts = [];
  if (membersDiffer > 0) parts.push(membersDiffer + " member" + (membersDiffer > 1 ? "s" : "") + " seen differently");
  if (diverged > 0) parts.push(diverged + " origin" + (diverged > 1 ? "s" : "") + " differ");
  summary.innerHTML = parts.length === 0 ? '<span class="badge ok">all ' + views.length + " views agree (members and origins)</span>" : '<span class="badge no">' + parts.join(", ") + " between the " + views.length + " views</span>";
}

document.getElementById("filter").addEventListener("input", poll);
document.getElementById("onlyInteresting").addEventListener("change", poll);
poll();
setInterval(poll, 1000);
</script>
</body>
</html>
`;
