/**
 * The ownership benchmark: `pnpm --filter @heck/ownership bench`.
 *
 * For 10,000 and 100,000 origins over 10 and 100 members, for every scheme
 * (and the npm `hashring` package, a ketama ring, on the same inputs in the
 * same run): lookups per second, full-table time, max/mean and standard
 * deviation of load, and origins moved on one add and one remove as a ratio
 * of the optimum (n/(m+1) and n/m), averaged over several members. Then the
 * papers' reference figures beside ours, and a last line of JSON.
 *
 * Timings are this process's CPU time (a busy shared machine stretches wall
 * time far more), medians of 3 full tables and of 15 passes of 10,000 lookups
 * after a warm-up, interleaved across schemes so load bursts hit all of them
 * alike. HECK_BENCH_QUICK=1 runs only the small configurations (a smoke test).
 */
import { loadavg } from "node:os";
import HashRing from "hashring";
import { assign, assignWith, createScheme, loadStats, prepareOrigins, type Member, type OwnershipTable, type PreparedOrigins, type SchemeName } from "../src/index.ts";
import { isPrime } from "../src/core/maglev.ts";
import { RingScheme } from "../src/core/ring.ts";
import { MaglevScheme } from "../src/core/maglev.ts";

const QUICK = process.env.HECK_BENCH_QUICK === "1";
const ORIGIN_COUNTS = QUICK ? [10_000] : [10_000, 100_000];
const MEMBER_COUNTS = [10, 100];
const RUNS = 3;
const LOOKUP_RUNS = 15;
const LOOKUP_PASS = 10_000;
const BOUNDED_EPS = 0.05;
const ADD_TRIALS = 10;
// Removing every member in turn makes "moved on one remove" exact for a
// minimal scheme (the removed loads sum to n); past this many origin x member
// table cells per removal sweep, a spread-out sample of members is used.
const REMOVE_ALL_MAX_CELLS = Number(process.env.HECK_BENCH_REMOVE_ALL_MAX_CELLS ?? 1_000_000);
const REMOVE_SAMPLE = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * CPU time (user + system) of this process while `fn` runs, in ms. On a
 * shared 2-core machine other processes stretch wall time several-fold;
 * our own CPU time moves far less. Wall time is kept for the headline too.
 */
function timeMs(fn: () => void, wall?: number[]): number {
  const c = process.cpuUsage();
  const t = performance.now();
  fn();
  wall?.push(performance.now() - t);
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000;
}

/** What the benchmark needs from a scheme, ours or the npm package. */
interface Contender {
  readonly label: string;
  /** Remove every member in turn at every size (the headline claim), not a sample. */
  readonly removeAll?: boolean;
  /** Owner of every origin, in order, from scratch (the full-table figure). */
  fullTable(origins: readonly string[], members: readonly string[]): readonly string[];
  /** Owners for a membership with origins already hashed (for movement trials). */
  owners(prepared: PreparedOrigins, members: readonly string[]): readonly string[];
  /** A lookup function over a fixed membership (for lookups per second). */
  lookup(members: readonly string[]): (origin: string) => string | undefined;
}

function ours(label: string, scheme: SchemeName, opts: { vnodes?: number; eps?: number; removeAll?: boolean } = {}): Contender {
  const schemeOpts = opts.vnodes === undefined ? {} : { vnodes: opts.vnodes };
  const table = (t: OwnershipTable) => t.owners;
  return {
    label,
    removeAll: opts.removeAll ?? false,
    fullTable: (origins, members) =>
      table(assign(origins, members, { scheme, ...schemeOpts, ...(opts.eps === undefined ? {} : { boundedLoadEpsilon: opts.eps }) })),
    owners: (prepared, members) => table(assignWith(createScheme(scheme, members, schemeOpts), prepared, opts.eps)),
    lookup: (members) => {
      const s = createScheme(scheme, members, schemeOpts);
      return (o) => s.ownerOf(o);
    },
  };
}

// hashring as a user would configure it: the defaults (ketama, md5, 40 x 4 =
// 160 points per server, an LRU cache of 5000 keys that our unique keys miss).
const hashring: Contender = {
  label: "npm hashring 3.2.0 (ketama, 160 pts)",
  fullTable: (origins, members) => {
    const ring = new HashRing([...members]);
    return origins.map((o) => ring.get(o));
  },
  owners: (prepared, members) => {
    const ring = new HashRing([...members]);
    return prepared.ids.map((o) => ring.get(o));
  },
  lookup: (members) => {
    const ring = new HashRing([...members]);
    return (o) => ring.get(o);
  },
};

const contenders: Contender[] = [
  ours("rendezvous", "rendezvous", { removeAll: true }),
  ours(`rendezvous + bounded (eps=${BOUNDED_EPS})`, "rendezvous", { eps: BOUNDED_EPS }),
  ours("ring (100 vnodes)", "ring", { vnodes: 100 }),
  ours("ring (1000 vnodes)", "ring", { vnodes: 1000 }),
  ours("jump", "jump"),
  ours("maglev (M=65537)", "maglev"),
  hashring,
];

interface Result {
  origins: number;
  members: number;
  label: string;
  lookupsPerSec: number;
  /** CPU time of one full table (median); wall time beside it. */
  fullTableMs: number;
  fullTableWallMs: number;
  maxOverMean: number;
  stdDevPct: number;
  removeOverOptimal: number;
  /** True when only a spread-out sample of members was removed. */
  removeSampled: boolean;
  addOverOptimal: number;
  removeCollateral: number;
  addCollateral: number;
}

function loadOf(owners: readonly string[], members: readonly string[]): { maxOverMean: number; stdDevPct: number } {
  const counts = new Map(members.map((m) => [m, 0]));
  for (const o of owners) counts.set(o, counts.get(o)! + 1);
  const table: OwnershipTable = {
    scheme: "rendezvous",
    label: "",
    members: members.map((id): Member => ({ id, weight: 1 })),
    origins: owners.map((_, i) => String(i)),
    owners,
    loads: counts,
  };
  const s = loadStats(table);
  return { maxOverMean: s.maxOverMean, stdDevPct: s.stdDevPct };
}

/** Moved count and collateral (moves between members present before and after). */
function movement(before: readonly string[], after: readonly string[], stayed: Set<string>): { moved: number; collateral: number } {
  let moved = 0;
  let collateral = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    if (stayed.has(before[i]!) && stayed.has(after[i]!)) collateral++;
  }
  return { moved, collateral };
}

/**
 * Timings for every contender on one configuration, interleaved: each round
 * times every contender once, so a burst of load on this shared machine hits
 * all of them alike and the ratios stay meaningful. Medians over rounds.
 */
interface Timing {
  fullTableMs: number;
  fullTableWallMs: number;
  lookupsPerSec: number;
  load: { maxOverMean: number; stdDevPct: number };
}

function timeAll(origins: string[], members: string[]): Timing[] {
  // Lookups first, while the heap is small (the big tables' garbage collection
  // would otherwise land in some passes and not others). One call per origin,
  // string in, owner out (hashing included), over LOOKUP_PASS distinct origins
  // per pass (more than hashring's 5000-key cache).
  const pass = origins.slice(0, Math.min(origins.length, LOOKUP_PASS));
  const lookups = contenders.map((c) => c.lookup(members));
  for (const lookup of lookups) for (const o of pass) lookup(o); // warm the JIT
  const lookupTimes = contenders.map(() => [] as number[]);
  // Each round starts at a different contender, so going first (or right after
  // a particular other one) is not a bias any contender always carries.
  const rotated = (r: number) => contenders.map((_, k) => (r + k) % contenders.length);
  for (let r = 0; r < LOOKUP_RUNS; r++) {
    for (const i of rotated(r)) {
      const lookup = lookups[i]!;
      lookupTimes[i]!.push(
        timeMs(() => {
          for (let j = 0; j < pass.length; j++) lookup(pass[j]!);
        }),
      );
    }
  }
  // Warm-up runs, not timed; their tables give the load figures, then go.
  const loads = contenders.map((c) => loadOf(c.fullTable(origins, members), members));
  const fullTimes = contenders.map(() => [] as number[]);
  const fullWall = contenders.map(() => [] as number[]);
  for (let r = 0; r < RUNS; r++) {
    for (const i of rotated(r)) fullTimes[i]!.push(timeMs(() => contenders[i]!.fullTable(origins, members), fullWall[i]));
  }
  return contenders.map((_, i) => ({
    fullTableMs: median(fullTimes[i]!),
    fullTableWallMs: median(fullWall[i]!),
    lookupsPerSec: pass.length / (median(lookupTimes[i]!) / 1000),
    load: loads[i]!,
  }));
}

function measure(c: Contender, timing: Timing, prepared: PreparedOrigins, members: string[]): Result {
  const n = prepared.ids.length;
  const m = members.length;
  const load = timing.load;
  const baseOwners = c.owners(prepared, members);
  // Remove: members spread over the list (for jump, position matters), survivors keep their order.
  const trials = c.removeAll === true || n * m <= REMOVE_ALL_MAX_CELLS ? m : Math.min(REMOVE_SAMPLE, m);
  const removeIdx = Array.from({ length: trials }, (_, t) => Math.floor((t * m) / trials));
  let removeMoved = 0;
  let removeCollateral = 0;
  for (const idx of removeIdx) {
    const after = members.filter((_, j) => j !== idx);
    const mv = movement(baseOwners, c.owners(prepared, after), new Set(after));
    removeMoved += mv.moved;
    removeCollateral += mv.collateral;
  }
  let addMoved = 0;
  let addCollateral = 0;
  for (let t = 0; t < ADD_TRIALS; t++) {
    const after = [...members, `new-${t}`];
    const mv = movement(baseOwners, c.owners(prepared, after), new Set(members));
    addMoved += mv.moved;
    addCollateral += mv.collateral;
  }
  return {
    origins: n,
    members: m,
    label: c.label,
    lookupsPerSec: timing.lookupsPerSec,
    fullTableMs: timing.fullTableMs,
    fullTableWallMs: timing.fullTableWallMs,
    maxOverMean: load.maxOverMean,
    stdDevPct: load.stdDevPct,
    removeOverOptimal: removeMoved / removeIdx.length / (n / m),
    removeSampled: removeIdx.length < m,
    addOverOptimal: addMoved / ADD_TRIALS / (n / (m + 1)),
    removeCollateral: removeCollateral / removeIdx.length,
    addCollateral: addCollateral / ADD_TRIALS,
  };
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
}

const results: Result[] = [];
const started = performance.now();
// Timings on a shared machine are only as good as its idleness: print the load so a reader can judge.
const loadStart = loadavg()[0]!;
console.log(
  `ownership benchmark: node ${process.version}, load average ${loadStart.toFixed(2)}; CPU times (user+system of this process), interleaved across schemes, median of ${RUNS} full tables and of ${LOOKUP_RUNS} passes of ${LOOKUP_PASS} lookups after a warm-up, eps=${BOUNDED_EPS}; movement averaged over ` +
    `${ADD_TRIALS} adds and removing every member (* = a spread of ${REMOVE_SAMPLE} members, when origins x members > ${REMOVE_ALL_MAX_CELLS})`,
);
for (const n of ORIGIN_COUNTS) {
  const origins = Array.from({ length: n }, (_, i) => `https://origin-${i + 1}.example/health`);
  const prepared = prepareOrigins(origins);
  for (const m of MEMBER_COUNTS) {
    const members = Array.from({ length: m }, (_, i) => `10.0.${i >> 8}.${i & 255}:8080`);
    console.log(`\n${n} origins x ${m} members`);
    const widths = [38, 12, 13, 9, 8, 12, 8, 10, 8];
    console.log(row(["scheme", "lookups/s", "table cpu ms", "max/mean", "std dev", "rm/optimal", "rm coll", "add/opt", "add coll"], widths));
    const timings = timeAll(origins, members);
    for (const [i, c] of contenders.entries()) {
      const r = measure(c, timings[i]!, prepared, members);
      results.push(r);
      console.log(
        row(
          [
            r.label,
            Math.round(r.lookupsPerSec).toLocaleString("en-US"),
            r.fullTableMs.toFixed(1),
            r.maxOverMean.toFixed(3),
            `${r.stdDevPct.toFixed(1)}%`,
            `${r.removeOverOptimal.toFixed(3)}x${r.removeSampled ? "*" : ""}`,
            r.removeCollateral.toFixed(0),
            `${r.addOverOptimal.toFixed(3)}x`,
            r.addCollateral.toFixed(0),
          ],
          widths,
        ),
      );
    }
  }
}

// The papers' reference figures, measured on the schemes themselves (no origins, so no sampling noise).
const members100 = Array.from({ length: 100 }, (_, i) => `10.0.${i >> 8}.${i & 255}:8080`);
const shareSd = (vnodes: number) => {
  const shares = new RingScheme(members100, { vnodes }).arcShares();
  return Math.sqrt(shares.reduce((s, x) => s + (x * 100 - 1) ** 2, 0) / 100) * 100;
};
const ring100Sd = shareSd(100);
const ring1000Sd = shareSd(1000);
const nextPrime = (x: number) => {
  while (!isPrime(x)) x++;
  return x;
};
const maglevSpread = (n: number, size: number) => {
  const counts = new MaglevScheme(members100.slice(0, n), { tableSize: size }).slotCounts();
  return ((Math.max(...counts) - Math.min(...counts)) / (size / n)) * 100;
};
const maglev100N = maglevSpread(100, nextPrime(100 * 100));
const maglev65537 = maglevSpread(100, 65537);

const pick = (label: string, n: number, m: number) => results.find((r) => r.label === label && r.origins === n && r.members === m)!;
const nMax = ORIGIN_COUNTS[ORIGIN_COUNTS.length - 1]!;
const hrw = pick("rendezvous", nMax, 100);
const bounded = pick(`rendezvous + bounded (eps=${BOUNDED_EPS})`, nMax, 100);
const hr = pick("npm hashring 3.2.0 (ketama, 160 pts)", nMax, 100);
const boundedWorst = Math.max(...results.filter((r) => r.label.startsWith("rendezvous + bounded")).map((r) => r.maxOverMean));
const hrwWorstRemove = results.filter((r) => r.label === "rendezvous");

const refRows: Array<[string, string, string]> = [
  ["ring, 100 vnodes: std dev of a member's share", "~10% (Lamping & Veach, on Karger)", `${ring100Sd.toFixed(1)}%`],
  ["ring, 1000 vnodes: std dev of a member's share", "~3.2% (same)", `${ring1000Sd.toFixed(1)}%`],
  ["maglev, M >= 100 x N: slot spread (max - min) / mean", "at most ~1% (Maglev §3.4)", `${maglev100N.toFixed(2)}% (M=${nextPrime(10000)}, N=100); ${maglev65537.toFixed(2)}% (M=65537)`],
  [`rendezvous at ${nMax} x 100: moved / optimal`, "exactly 1, no collateral (HRW)", `remove ${hrw.removeOverOptimal.toFixed(3)}x, add ${hrw.addOverOptimal.toFixed(3)}x, collateral ${hrw.removeCollateral + hrw.addCollateral}`],
  ["bounded loads: worst max/mean", `<= 1 + eps = ${(1 + BOUNDED_EPS).toFixed(2)} (Mirrokni et al.)`, boundedWorst.toFixed(3)],
  [`full table ${nMax} x 100 (hash, build, place)`, "goal: under 1 s", `${hrw.fullTableMs.toFixed(0)} ms CPU (${hrw.fullTableWallMs.toFixed(0)} ms wall)`],
  [`lookups/s at ${nMax} x 100`, `npm hashring: ${Math.round(hr.lookupsPerSec).toLocaleString("en-US")}`, `rendezvous ${Math.round(hrw.lookupsPerSec).toLocaleString("en-US")} (${(hrw.lookupsPerSec / hr.lookupsPerSec).toFixed(2)}x)`],
];
console.log("\nreference figures beside ours");
console.log(`${"figure".padEnd(52)}  ${"reference".padEnd(40)}  ours`);
for (const r of refRows) console.log(`${r[0].padEnd(52)}  ${r[1].padEnd(40)}  ${r[2]}`);
console.log(`rendezvous moved/optimal on remove at every size: ${hrwWorstRemove.map((r) => r.removeOverOptimal.toFixed(3)).join(", ")}`);
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s; load average (1 min) ${loadStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`);

const byKey = Object.fromEntries(
  results.map((r) => [
    `${r.label} @ ${r.origins}x${r.members}`,
    {
      lookupsPerSec: Math.round(r.lookupsPerSec),
      fullTableMs: +r.fullTableMs.toFixed(1),
      fullTableWallMs: +r.fullTableWallMs.toFixed(1),
      maxOverMean: +r.maxOverMean.toFixed(4),
      stdDevPct: +r.stdDevPct.toFixed(2),
      removeOverOptimal: +r.removeOverOptimal.toFixed(4),
      addOverOptimal: +r.addOverOptimal.toFixed(4),
      removeCollateral: r.removeCollateral,
      addCollateral: r.addCollateral,
    },
  ]),
);
console.log(
  JSON.stringify({
    hrwMovedOnRemoveOverOptimal: +hrw.removeOverOptimal.toFixed(4),
    hrwMovedOnAddOverOptimal: +hrw.addOverOptimal.toFixed(4),
    hrwCollateralMoves: hrw.removeCollateral + hrw.addCollateral,
    boundedMaxOverMean: +bounded.maxOverMean.toFixed(4),
    boundedMaxOverMeanWorst: +boundedWorst.toFixed(4),
    fullTable100kx100Ms: +hrw.fullTableMs.toFixed(1),
    fullTable100kx100WallMs: +hrw.fullTableWallMs.toFixed(1),
    hrwLookupsPerSec: Math.round(hrw.lookupsPerSec),
    hashringLookupsPerSec: Math.round(hr.lookupsPerSec),
    hashringFullTableMs: +hr.fullTableMs.toFixed(1),
    ring100ShareStdDevPct: +ring100Sd.toFixed(2),
    ring1000ShareStdDevPct: +ring1000Sd.toFixed(2),
    maglevSlotSpreadPct: +maglev100N.toFixed(3),
    originsForHeadline: nMax,
    loadAverage1mAtStart: +loadStart.toFixed(2),
    results: byKey,
  }),
);
