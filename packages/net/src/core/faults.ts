/**
 * A lab's faults as data, and what each host's kernel must be told to make
 * them real. Faults are per directed host pair (from -> to) and are applied
 * on the sender's way out, inside the sender's namespace, so traffic between
 * a host and the current ("root") namespace is never touched: a client there
 * still reaches both sides of a partition.
 *
 * Two backends make the same faults:
 *
 * | fault                         | `netem` backend                  | `queue` backend (no sch_netem)                      |
 * |-------------------------------|----------------------------------|-----------------------------------------------------|
 * | partition, one-way cut, bridge| nftables `drop`                  | nftables `drop`                                     |
 * | loss                          | `tc netem loss`                  | nftables `numgen random ... drop`                   |
 * | duplication                   | `tc netem duplicate`             | nftables `dup to <dst>`                             |
 * | delay, jitter, reordering     | `tc netem delay/reorder`         | iptables NFQUEUE + heck-delay-queue (holds verdicts)|
 *
 * A cut drops silently, as a real partition does: TCP connections across it
 * hang half-open until their own timeouts fire, UDP sends vanish.
 */
import { cutLinks, type PartitionSpec } from "@heck/sim";
import { hostOf, type LabPlan } from "./lab-plan.ts";

/** Random packet faults on one directed link. Percentages are 0-100. */
export interface Impairment {
  lossPct: number;
  delayMs: number;
  /** Each packet's delay is delayMs plus a uniform draw in [-jitterMs, +jitterMs], never below 0. */
  jitterMs: number;
  duplicatePct: number;
  /** This share of packets leaves at once, ahead of the delayed ones (netem's `reorder`; needs a delay). */
  reorderPct: number;
}

/** A perfect link. */
export const NO_IMPAIRMENT: Impairment = Object.freeze({ lossPct: 0, delayMs: 0, jitterMs: 0, duplicatePct: 0, reorderPct: 0 });

/** Which kernel mechanism makes delay, loss and duplication (partitions are nftables in both). */
export type Backend = "netem" | "queue";

/** Everything a lab's network is doing wrong right now. */
export interface FaultState {
  /** Directed links whose packets are dropped, sorted. */
  cuts: Array<[string, string]>;
  /** Impaired directed links, sorted by (from, to); never an all-zero impairment. */
  impairments: Array<{ from: string; to: string; impairment: Impairment }>;
}

/** No faults. */
export const HEALTHY: FaultState = Object.freeze({ cuts: [], impairments: [] }) as FaultState;

const byLink = (a: { from: string; to: string } | [string, string], b: { from: string; to: string } | [string, string]): number => {
  const [af, at] = Array.isArray(a) ? a : [a.from, a.to];
  const [bf, bt] = Array.isArray(b) ? b : [b.from, b.to];
  return af < bf ? -1 : af > bf ? 1 : at < bt ? -1 : at > bt ? 1 : 0;
};

function uniqueCuts(links: Array<[string, string]>): Array<[string, string]> {
  const seen = new Set<string>();
  const out: Array<[string, string]> = [];
  for (const [f, t] of links) {
    const k = `${f}>${t}`;
    if (f === t || seen.has(k)) continue;
    seen.add(k);
    out.push([f, t]);
  }
  return out.sort(byLink);
}

function checkHosts(plan: LabPlan, names: readonly string[]): void {
  for (const n of names) hostOf(plan, n);
}

/** Replaces every cut with the links `spec` cuts (hosts of the lab only). */
export function withPartition(state: FaultState, plan: LabPlan, spec: PartitionSpec): FaultState {
  const all = plan.hosts.map((h) => h.name);
  const named = spec.kind === "groups" ? spec.groups.flat() : spec.kind === "one-way" ? [...spec.from, ...spec.to] : [...spec.left, spec.bridge, ...spec.right];
  checkHosts(plan, named);
  if (spec.kind === "groups" && spec.groups.some((g) => g.length === 0)) throw new RangeError("partition: a group is empty");
  return { ...state, cuts: uniqueCuts(cutLinks(spec, all)) };
}

/** Adds one-way cuts: packets from any of `from` to any of `to` are lost (the reverse still flows). */
export function withOneWayCut(state: FaultState, plan: LabPlan, from: readonly string[], to: readonly string[]): FaultState {
  checkHosts(plan, [...from, ...to]);
  const added = cutLinks({ kind: "one-way", from: [...from], to: [...to] }, plan.hosts.map((h) => h.name));
  return { ...state, cuts: uniqueCuts([...state.cuts, ...added]) };
}

/** Validates an impairment; returns an error naming the field, or undefined. */
export function checkImpairment(i: Impairment): string | undefined {
  for (const [field, max] of [
    ["lossPct", 100],
    ["duplicatePct", 100],
    ["reorderPct", 100],
    ["delayMs", 60_000],
    ["jitterMs", 60_000],
  ] as const) {
    const v = i[field];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > max) return `${field}: must be a number in 0..${max}, got ${String(v)}`;
  }
  if (i.reorderPct > 0 && i.delayMs === 0) return "reorderPct: reordering needs a delay (the reordered share leaves at once, ahead of the delayed packets): set delayMs too";
  if (i.jitterMs > 0 && i.delayMs === 0) return "jitterMs: jitter needs a delay to vary around: set delayMs too";
  return undefined;
}

const isPerfect = (i: Impairment): boolean => i.lossPct === 0 && i.delayMs === 0 && i.jitterMs === 0 && i.duplicatePct === 0 && i.reorderPct === 0;

/**
 * Sets the given fields of the impairment on every directed link from `from`
 * to `to` (default: every host), keeping fields not given. Throws RangeError
 * on a bad value or an unknown host.
 */
export function withImpairment(state: FaultState, plan: LabPlan, change: Partial<Impairment>, from?: readonly string[], to?: readonly string[]): FaultState {
  const all = plan.hosts.map((h) => h.name);
  const src = from ?? all;
  const dst = to ?? all;
  checkHosts(plan, [...src, ...dst]);
  const current = new Map(state.impairments.map((x) => [`${x.from}>${x.to}`, x]));
  for (const f of src) {
    for (const t of dst) {
      if (f === t) continue;
      const k = `${f}>${t}`;
      const next: Impairment = { ...(current.get(k)?.impairment ?? NO_IMPAIRMENT), ...change };
      const bad = checkImpairment(next);
      if (bad !== undefined) throw new RangeError(`${f} -> ${t}: ${bad}`);
      if (isPerfect(next)) current.delete(k);
      else current.set(k, { from: f, to: t, impairment: next });
    }
  }
  return { ...state, impairments: [...current.values()].sort(byLink) };
}

/** Removes cuts, impairments, or both. */
export function healed(state: FaultState, what: "all" | "cuts" | "impairments" = "all"): FaultState {
  return { cuts: what === "impairments" ? state.cuts : [], impairments: what === "cuts" ? state.impairments : [] };
}

// ---------------------------------------------------------------------------
// Rendering: what one host's kernel is told.
// ---------------------------------------------------------------------------

/** The nftables table every host's rules live in (replaced whole on every change). */
export const NFT_TABLE = "hecklab";
/** The NFQUEUE number the delay queue reads in every host (queues are per namespace). */
export const QUEUE_NUMBER = 7700;
/** The iptables chain (mangle table) holding the NFQUEUE rules. */
export const IPTABLES_CHAIN = "HECKLAB";

/** Probability in percent as the integer bound of `numgen random mod 10000 < bound` (0.01 % resolution). */
export const permyriad = (pct: number): number => Math.round(pct * 100);

/** What the kernel of one host must do, for one backend. */
export interface HostRules {
  /** A complete `nft -f -` script: replaces the host's table in one transaction. */
  nft: string;
  /** Queue backend: the delay queue's rules ("<addr> <delay_us> <jitter_us> <reorder_ppm>"), one per impaired destination with a delay. */
  queueRules: string[];
  /** Queue backend: destinations whose packets go to NFQUEUE. */
  queueDestinations: string[];
  /** Netem backend: a `tc -batch -` script that builds the host's egress qdiscs, or [] for none. */
  tcBatch: string[];
}

/** Renders host `hostName`'s rules for `state`. */
export function renderHostRules(plan: LabPlan, state: FaultState, hostName: string, backend: Backend, device = "eth0"): HostRules {
  hostOf(plan, hostName);
  const addr = (name: string): string => hostOf(plan, name).address;
  const lines: string[] = [];
  for (const [f, t] of state.cuts) if (f === hostName) lines.push(`ip daddr ${addr(t)} drop`);
  const mine = state.impairments.filter((x) => x.from === hostName);
  const queueRules: string[] = [];
  const queueDestinations: string[] = [];
  const tcBatch: string[] = [];
  if (backend === "queue") {
    for (const { to, impairment: i } of mine) {
      const a = addr(to);
      if (i.lossPct > 0) lines.push(`ip daddr ${a} numgen random mod 10000 < ${permyriad(i.lossPct)} drop`);
      if (i.duplicatePct > 0) lines.push(`ip daddr ${a} numgen random mod 10000 < ${permyriad(i.duplicatePct)} dup to ${a} device "${device}"`);
      if (i.delayMs > 0) {
        queueRules.push(`${a} ${Math.round(i.delayMs * 1000)} ${Math.round(i.jitterMs * 1000)} ${Math.round(i.reorderPct * 10_000)}`);
        queueDestinations.push(a);
      }
    }
  } else if (mine.length > 0) {
    // One htb class per impaired destination, each with its own netem; everything else takes class 1:1 untouched.
    tcBatch.push(`qdisc add dev ${device} root handle 1: htb default 1`);
    tcBatch.push(`class add dev ${device} parent 1: classid 1:1 htb rate 10gbit`);
    mine.forEach(({ to, impairment: i }, j) => {
      const id = 10 + j;
      const netem = [
        ...(i.delayMs > 0 ? [`delay ${i.delayMs}ms${i.jitterMs > 0 ? ` ${i.jitterMs}ms` : ""}`] : []),
        ...(i.lossPct > 0 ? [`loss ${i.lossPct}%`] : []),
        ...(i.duplicatePct > 0 ? [`duplicate ${i.duplicatePct}%`] : []),
        ...(i.reorderPct > 0 ? [`reorder ${i.reorderPct}%`] : []),
      ].join(" ");
      tcBatch.push(`class add dev ${device} parent 1: classid 1:${id} htb rate 10gbit`);
      tcBatch.push(`qdisc add dev ${device} parent 1:${id} handle ${id}: netem limit 100000 ${netem}`);
      tcBatch.push(`filter add dev ${device} parent 1: protocol ip prio 1 u32 match ip dst ${addr(to)}/32 flowid 1:${id}`);
    });
  }
  const nft = [
    // "add then delete" makes the delete safe when the table does not exist yet; all in one transaction.
    `table ip ${NFT_TABLE}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    `  chain out {`,
    // Before iptables' mangle (-150), so a dropped packet is never queued for delay.
    `    type filter hook output priority -200; policy accept;`,
    ...lines.map((l) => `    ${l}`),
    `  }`,
    `}`,
    ``,
  ].join("\n");
  return { nft, queueRules, queueDestinations, tcBatch };
}

/** The fault state in readable lines (for `heck-net ls` and logs); ["none"] when healthy. */
export function describeFaults(state: FaultState): string[] {
  const out: string[] = [];
  // Fold symmetric pairs into "a <-/-> b" so a partition reads as one.
  const cut = new Set(state.cuts.map(([f, t]) => `${f}>${t}`));
  const done = new Set<string>();
  for (const [f, t] of state.cuts) {
    if (done.has(`${f}>${t}`)) continue;
    done.add(`${f}>${t}`);
    if (cut.has(`${t}>${f}`)) {
      done.add(`${t}>${f}`);
      out.push(`cut ${f} <-/-> ${t}`);
    } else out.push(`cut ${f} -/-> ${t}`);
  }
  for (const { from, to, impairment: i } of state.impairments) out.push(`${from} -> ${to}: ${describeImpairment(i)}`);
  return out.length === 0 ? ["none"] : out;
}

/** "loss 10%, delay 200±50 ms, duplicate 1%, reorder 25%". */
export function describeImpairment(i: Impairment): string {
  const parts: string[] = [];
  if (i.lossPct > 0) parts.push(`loss ${i.lossPct}%`);
  if (i.delayMs > 0) parts.push(`delay ${i.delayMs}${i.jitterMs > 0 ? `±${i.jitterMs}` : ""} ms`);
  if (i.duplicatePct > 0) parts.push(`duplicate ${i.duplicatePct}%`);
  if (i.reorderPct > 0) parts.push(`reorder ${i.reorderPct}%`);
  return parts.join(", ") || "none";
}

/** Parses "10%", "10" (percent) or "0.5%"; returns undefined when not a percentage in 0..100. */
export function parsePercent(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim());
  if (!m) return undefined;
  const v = Number(m[1]);
  return v >= 0 && v <= 100 ? v : undefined;
}

/** Parses "200ms", "200" (ms), "1.5s"; returns undefined when not a duration in 0..60 s. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (!m) return undefined;
  const v = Number(m[1]) * (m[2] === "s" ? 1000 : 1);
  return v >= 0 && v <= 60_000 ? v : undefined;
}
