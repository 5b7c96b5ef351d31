/**
 * What a learner did to a run, as data: a run is its stage, its seed and this
 * list, so the view re-runs it exactly (time travel) and a URL shares it.
 *
 * The text form, one action per `;`, each starting with its simulated time:
 *
 *     1200 crash n1; 3400 restart n1; 5000 partition n1,n2|n3,n4,n5;
 *     6000 heal; 7000 loss 0.1; 8000 put n1 x=1; 9000 flip o3
 *
 * Parsing never throws: it returns the first problem in words, naming the
 * action, so the page can show it and run nothing.
 */

/** One thing done to the run at simulated time `atMs`. */
export type Action =
  | { atMs: number; kind: "crash"; node: string }
  | { atMs: number; kind: "restart"; node: string }
  | { atMs: number; kind: "partition"; groups: string[][] }
  | { atMs: number; kind: "heal" }
  | { atMs: number; kind: "loss"; rate: number }
  | { atMs: number; kind: "put"; node: string; key: string; value: string }
  | { atMs: number; kind: "flip"; origin: string };

/** An action as the page issues it: at the current simulated time. */
export type ActionRequest = Action extends infer A ? (A extends { atMs: number } ? Omit<A, "atMs"> : never) : never;

/** The result of parsing: actions in time order, or the first problem. */
export type ParseActionsResult = { ok: true; actions: Action[] } | { ok: false; error: string };

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const WORD = /^[^\s;=|,]{1,128}$/;

/** Formats one action in the text form (`1200 crash n1`). */
export function formatAction(a: Action): string {
  const t = formatTime(a.atMs);
  switch (a.kind) {
    case "crash":
    case "restart":
      return `${t} ${a.kind} ${a.node}`;
    case "partition":
      return `${t} partition ${a.groups.map((g) => g.join(",")).join("|")}`;
    case "heal":
      return `${t} heal`;
    case "loss":
      return `${t} loss ${a.rate}`;
    case "put":
      return `${t} put ${a.node} ${a.key}=${a.value}`;
    case "flip":
      return `${t} flip ${a.origin}`;
  }
}

/** Formats a whole list (`;`-separated), the inverse of {@link parseActions}. */
export function formatActions(actions: readonly Action[]): string {
  return actions.map(formatAction).join(";");
}

function formatTime(ms: number): string {
  // Exact (JavaScript's shortest round-trip form): an action taken after a step lands at a
  // message's fractional arrival time, and replaying it a microsecond off would change the run.
  return String(ms);
}

/**
 * Parses the text form. `nodeIds` (when given) are the only node names an
 * action may use. Times must be finite, >= 0 and not go backwards.
 */
export function parseActions(text: string, nodeIds?: readonly string[]): ParseActionsResult {
  const actions: Action[] = [];
  const parts = text.split(";").map((p) => p.trim()).filter((p) => p.length > 0);
  let last = 0;
  for (let i = 0; i < parts.length; i++) {
    const r = parseOne(parts[i]!, nodeIds);
    if (typeof r === "string") return { ok: false, error: `action ${i + 1} ("${clip(parts[i]!)}"): ${r}` };
    if (r.atMs < last) return { ok: false, error: `action ${i + 1} ("${clip(parts[i]!)}"): time ${r.atMs} ms is before the previous action's ${last} ms` };
    last = r.atMs;
    actions.push(r);
  }
  return { ok: true, actions };
}

function clip(s: string): string {
  return s.length > 60 ? s.slice(0, 59) + "…" : s;
}

function parseOne(text: string, nodeIds: readonly string[] | undefined): Action | string {
  const words = text.split(/\s+/);
  const [time, kind, ...rest] = words;
  if (time === undefined || !/^\d+(\.\d+)?$/.test(time)) return "expected a simulated time in ms first (e.g. `1200 crash n1`)";
  const atMs = Number(time);
  if (!Number.isFinite(atMs) || atMs > 1e12) return `time ${time} is out of range`;
  const node = (name: string | undefined): string | undefined => {
    if (name === undefined || !NAME.test(name)) return undefined;
    if (nodeIds !== undefined && !nodeIds.includes(name)) return undefined;
    return name;
  };
  const badNode = (name: string | undefined): string =>
    name === undefined ? "expected a node name" : `unknown node ${JSON.stringify(name)}${nodeIds !== undefined ? ` (nodes are ${nodeIds.join(", ")})` : ""}`;
  switch (kind) {
    case "crash":
    case "restart": {
      if (rest.length !== 1) return `${kind} takes one node`;
      const n = node(rest[0]);
      return n === undefined ? badNode(rest[0]) : { atMs, kind, node: n };
    }
    case "partition": {
      if (rest.length !== 1) return "partition takes groups like n1,n2|n3,n4";
      const groups = rest[0]!.split("|").map((g) => g.split(",").filter((x) => x.length > 0));
      if (groups.length < 2 || groups.some((g) => g.length === 0)) return "partition needs at least two non-empty groups, like n1,n2|n3,n4";
      const seen = new Set<string>();
      for (const g of groups) {
        for (const name of g) {
          if (node(name) === undefined) return badNode(name);
          if (seen.has(name)) return `node ${name} is in two groups`;
          seen.add(name);
        }
      }
      return { atMs, kind, groups };
    }
    case "heal":
      return rest.length === 0 ? { atMs, kind } : "heal takes nothing";
    case "loss": {
      const rate = Number(rest[0]);
      if (rest.length !== 1 || !/^\d*\.?\d+$/.test(rest[0]!) || !(rate >= 0 && rate <= 1)) return "loss takes a rate between 0 and 1 (e.g. `loss 0.1`)";
      return { atMs, kind, rate };
    }
    case "put": {
      if (rest.length !== 2) return "put takes a node and key=value (e.g. `put n1 x=1`)";
      const n = node(rest[0]);
      if (n === undefined) return badNode(rest[0]);
      const eq = rest[1]!.indexOf("=");
      const key = rest[1]!.slice(0, eq);
      const value = rest[1]!.slice(eq + 1);
      if (eq <= 0 || !WORD.test(key) || !WORD.test(value)) return "put takes key=value, both non-empty, without spaces, `;`, `|`, `,` or `=`";
      return { atMs, kind, node: n, key, value };
    }
    case "flip":
      return rest.length === 1 && NAME.test(rest[0]!) ? { atMs, kind, origin: rest[0]! } : "flip takes one origin id (e.g. `flip o3`)";
    default:
      return `unknown action ${JSON.stringify(kind ?? "")} (crash, restart, partition, heal, loss, put, flip)`;
  }
}
