/**
 * Protocol configuration, in the spirit of memberlist's `config.go`: every
 * field states what it controls, the formula it enters, the trade-off of
 * moving it, and why its default is what it is. The three presets carry
 * memberlist's own values (`DefaultLANConfig`, `DefaultWANConfig`,
 * `DefaultLocalConfig`, memberlist 0.2.2), so a heck cluster and a memberlist
 * cluster with "the same config" really run the same timings.
 *
 * It also derives what a config promises: the suspicion timeout, the
 * retransmit limit, and the failure-detection bounds
 * ({@link detectionBoundNoLossMs}, {@link detectionBoundMs}).
 */
import { remainingTimeoutMs } from "./suspicion.ts";

/** Every knob of the SWIM + Lifeguard protocol core. Times are milliseconds. */
export interface SwimConfig {
  // ---- Failure detection (SWIM §3.1, §4.2) --------------------------------

  /**
   * Length of one protocol period: each period a node probes one member.
   * Lower detects failures sooner but costs more packets (2 per node per
   * period in steady state). Default 1 s (lan): SWIM's expected first
   * detection is e/(e-1) ~ 1.58 periods, so ~1.6 s on average.
   */
  probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking others (indirect probe).
   * Should be the 99th percentile round trip of the network. Not scaled by
   * local health: waiting longer does not make a lost UDP packet arrive
   * (memberlist's reasoning). Default 500 ms (lan).
   */
  probeTimeoutMs: number;
  /**
   * `k` in SWIM §3.1: how many members are asked to ping a target that missed
   * its direct ack. More means fewer false positives from one lossy path, at
   * k*4 extra packets per failed probe. Default 3.
   */
  indirectChecks: number;
  /**
   * Skip the reliable-stream (TCP) ping that runs beside the indirect probes.
   * The stream ping catches a member whose UDP is blocked but which is
   * otherwise alive. Default false: it is cheap and only runs on failures.
   */
  disableStreamPings: boolean;

  // ---- Suspicion (SWIM §4.2, Lifeguard §IV-B) -----------------------------

  /**
   * Base suspicion timeout, in probe periods, before a suspect is declared
   * dead: `min = suspicionMult * max(1, log10(n)) * probeIntervalMs`. Larger
   * gives a slow but live member more time to refute. Default 4 (lan): at
   * n <= 10 that is 4 s, at n = 100, 8 s.
   */
  suspicionMult: number;
  /**
   * Lifeguard's dynamic suspicion: the timeout starts at
   * `max = suspicionMaxTimeoutMult * min` and falls towards `min` as
   * independent members confirm the suspicion:
   * `timeout = max(min, max - (max - min) * log(c + 1) / log(k + 1))` with
   * `k = suspicionMult - 2` confirmations expected. 1 disables it (the fixed
   * SWIM timeout). Default 6: a lone accuser (often the unhealthy one) waits
   * 6x longer, while a real failure seen by several members is declared
   * after `min`.
   */
  suspicionMaxTimeoutMult: number;

  // ---- Local health awareness (Lifeguard §IV-A) ----------------------------

  /**
   * Upper bound of the local health multiplier. A node that misses acks and
   * nacks it expected, or has to refute suspicions of itself, raises a score
   * in [0, max - 1]; its probe period is multiplied by `score + 1`, so a
   * slow node probes less and accuses less. 1 disables it. Default 8 (probe
   * period backs off to at most 8 s).
   */
  awarenessMaxMultiplier: number;
  /**
   * Buddy system (Lifeguard §IV-C): when probing a member we suspect, put the
   * suspicion in the ping itself so the member learns of it first and can
   * refute at once instead of waiting for gossip to reach it. Heck also
   * attaches it to the ack when a suspect pings us, in case our own gossip of
   * the suspicion was lost. Default true.
   */
  buddySystem: boolean;

  // ---- Dissemination (SWIM §4.1) -------------------------------------------

  /**
   * Each membership update is retransmitted at most
   * `retransmitMult * ceil(log10(n + 1))` times by each node that learns it.
   * Higher makes an update less likely to miss a member (the miss
   * probability falls roughly as e^-retransmits) at the cost of bandwidth.
   * Default 4.
   */
  retransmitMult: number;
  /**
   * Interval between gossip rounds that send queued updates which did not
   * fit on pings and acks. 0 disables separate gossip (piggyback only).
   * Default 200 ms: five rounds per probe period spreads an update in well
   * under a second on a LAN.
   */
  gossipIntervalMs: number;
  /**
   * Members sent to per gossip round (the fan-out). Higher spreads faster,
   * costs more packets while updates are pending; nothing is sent when the
   * queue is empty. Default 3.
   */
  gossipNodes: number;
  /**
   * How long after a member is declared dead we keep gossiping to it, so a
   * falsely declared member hears about it and refutes. Default 30 s (same as
   * push-pull).
   */
  gossipToTheDeadMs: number;
  /**
   * Largest packet the protocol builds, in bytes (encryption overhead
   * included). Updates are packed into compound messages up to this size.
   * Default 1400: fits a 1500-byte Ethernet MTU with IP/UDP headers.
   */
  maxPacketBytes: number;

  // ---- Anti-entropy (memberlist push-pull) ---------------------------------

  /**
   * Interval between full state exchanges with one random member over a
   * stream. Above 32 members it is scaled by `ceil(log2(n) - log2(32)) + 1`
   * so the total push-pull load stays bounded. 0 disables periodic push-pull
   * (joins still use it). Default 30 s (lan): rare, because it sends the
   * whole member table.
   */
  pushPullIntervalMs: number;
  /**
   * Heck addition (not in memberlist): after joining, push-pull again with
   * the member we joined through at this delay, then at doubling delays
   * (2, 6, 14 s after the join by default) until the normal interval takes
   * over. The seed heard every join that went through it, so these
   * exchanges teach a member everyone who joined up to then, whatever
   * gossip missed: memberlist, without them, was measured to leave a member
   * unaware of another for 34-78 s until a random push-pull repaired it.
   * 0 disables the ramp. Default 2 s.
   */
  pushPullRampStartMs: number;
  /**
   * Heck addition: a ping from a sender we do not know as alive/suspect
   * (unknown, dead or left) starts a push-pull with it, at most once per
   * `probeIntervalMs * 10` per sender. Because every member pings every
   * other within one round-robin round, this bounds how long a member can
   * stay unknown to another, whatever gossip missed. Default true.
   */
  syncUnknownSenders: boolean;
  /**
   * Timeout for a stream exchange (dial, push-pull reply, stream ping).
   * Default 10 s (lan), like memberlist's TCPTimeout.
   */
  streamTimeoutMs: number;

  // ---- Bookkeeping ----------------------------------------------------------

  /**
   * How long a dead or left member stays in the table before it is reaped
   * (forgotten). While it stays, `members()` reports it as dead/left and
   * reconnect attempts may reach it. Longer keeps history and lets a
   * partition heal after a long split; shorter forgets crashed names sooner.
   * memberlist reaps after gossipToTheDeadMs and has no reconnect; Serf, the
   * layer Consul puts on top, keeps failed members for 24 h and reconnects:
   * heck follows Serf. Default 24 h.
   */
  reapDeadAfterMs: number;
  /**
   * Every this often, push-pull with one random *dead* (not left) member
   * still in the table (Serf's reconnect). After a partition heals, one such
   * exchange across the cut makes both sides refute and re-merge; a crashed
   * member costs one failed dial per interval. 0 disables it. Default 30 s,
   * Serf's ReconnectInterval.
   */
  reconnectIntervalMs: number;
  /**
   * After this long, a dead member's name may be taken over by a node at a
   * different address. 0 means never (only a member that left can move).
   * Default 0, as memberlist.
   */
  deadNodeReclaimMs: number;
}

/** Largest node metadata payload, in bytes (memberlist's MetaMaxSize). */
export const META_MAX_BYTES = 512;
/** Longest node name or address, in UTF-8 bytes (one length byte on the wire). */
export const NAME_MAX_BYTES = 255;
/** Push-pull scaling threshold: above this many members the interval grows (memberlist). */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/** memberlist's `DefaultLANConfig`: a LAN with sub-millisecond RTT and rare loss. */
export function lanConfig(): SwimConfig {
  return {
    probeIntervalMs: 1000, // a failure check every second
    probeTimeoutMs: 500, // a generous LAN round trip
    indirectChecks: 3, // three other paths before suspecting
    disableStreamPings: false, // TCP fallback only runs on failed probes
    suspicionMult: 4, // 4 * log10(n) probe periods to refute
    suspicionMaxTimeoutMult: 6, // a lone accuser waits 6x longer
    awarenessMaxMultiplier: 8, // probe period backs off to at most 8 s
    buddySystem: true, // tell the suspect first
    retransmitMult: 4, // 4 * ceil(log10(n+1)) sends per update
    gossipIntervalMs: 200, // five gossip rounds per probe period
    gossipNodes: 3, // fan-out per round
    gossipToTheDeadMs: 30_000, // same as push-pull
    maxPacketBytes: 1400, // fits a 1500-byte MTU
    pushPullIntervalMs: 30_000, // full state exchange is expensive: rarely
    pushPullRampStartMs: 2000, // heck: early repair after a join
    syncUnknownSenders: true, // heck: a ping from a stranger triggers a sync
    streamTimeoutMs: 10_000, // memberlist's TCPTimeout
    reapDeadAfterMs: 86_400_000, // Serf: remember failed members for a day
    reconnectIntervalMs: 30_000, // Serf: try one failed member every 30 s
    deadNodeReclaimMs: 0, // names of dead nodes are never taken over
  };
}

/** memberlist's `DefaultWANConfig`: higher latency and loss, slower but surer. */
export function wanConfig(): SwimConfig {
  return {
    ...lanConfig(),
    streamTimeoutMs: 30_000,
    suspicionMult: 6, // more time to refute over a lossy WAN
    pushPullIntervalMs: 60_000,
    probeTimeoutMs: 3000, // WAN round trips
    probeIntervalMs: 5000,
    gossipNodes: 4, // gossip less often, but to one more node
    gossipIntervalMs: 500,
    gossipToTheDeadMs: 60_000,
  };
}

/** memberlist's `DefaultLocalConfig`: loopback or one rack; fast and light. */
export function localConfig(): SwimConfig {
  return {
    ...lanConfig(),
    streamTimeoutMs: 1000,
    indirectChecks: 1,
    retransmitMult: 2,
    suspicionMult: 3,
    pushPullIntervalMs: 15_000,
    probeTimeoutMs: 200,
    probeIntervalMs: 1000,
    gossipIntervalMs: 100,
    gossipToTheDeadMs: 15_000,
    reconnectIntervalMs: 15_000,
  };
}

/** The preset names accepted by {@link presetConfig} and the CLI's `--preset`. */
export type PresetName = "lan" | "wan" | "local";

/** Returns a fresh copy of the named preset. */
export function presetConfig(name: PresetName): SwimConfig {
  switch (name) {
    case "lan":
      return lanConfig();
    case "wan":
      return wanConfig();
    case "local":
      return localConfig();
  }
}

/**
 * Turns the three Lifeguard extensions off (plain SWIM with memberlist's
 * dissemination): no health multiplier, a fixed suspicion timeout, no buddy
 * system. Used by the Lifeguard on/off comparisons.
 */
export function withoutLifeguard(config: SwimConfig): SwimConfig {
  return { ...config, awarenessMaxMultiplier: 1, suspicionMaxTimeoutMult: 1, buddySystem: false };
}

/** A config field that failed validation, named so a CLI can print it. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "ConfigError";
  }
}

const INTEGER_FIELDS: ReadonlyArray<[keyof SwimConfig, number]> = [
  ["probeIntervalMs", 1],
  ["probeTimeoutMs", 1],
  ["indirectChecks", 0],
  ["suspicionMult", 1],
  ["suspicionMaxTimeoutMult", 1],
  ["awarenessMaxMultiplier", 1],
  ["retransmitMult", 1],
  ["gossipIntervalMs", 0],
  ["gossipNodes", 0],
  ["gossipToTheDeadMs", 0],
  ["maxPacketBytes", 200],
  ["pushPullIntervalMs", 0],
  ["pushPullRampStartMs", 0],
  ["streamTimeoutMs", 1],
  ["reapDeadAfterMs", 0],
  ["reconnectIntervalMs", 0],
  ["deadNodeReclaimMs", 0],
];

/**
 * Fills unspecified fields from `base` (lan by default) and validates every
 * field; throws a {@link ConfigError} naming the first bad field.
 */
export function resolveConfig(partial: Partial<SwimConfig> = {}, base: SwimConfig = lanConfig()): SwimConfig {
  for (const key of Object.keys(partial)) {
    if (!(key in base)) throw new ConfigError(key, "unknown config field");
  }
  const config: SwimConfig = { ...base, ...partial };
  for (const [field, min] of INTEGER_FIELDS) {
    const value = config[field];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(field, `must be an integer >= ${min}, got ${String(value)}`);
    }
  }
  for (const field of ["disableStreamPings", "buddySystem", "syncUnknownSenders"] as const) {
    if (typeof config[field] !== "boolean") throw new ConfigError(field, `must be a boolean, got ${String(config[field])}`);
  }
  if (config.probeTimeoutMs > config.probeIntervalMs) {
    throw new ConfigError("probeTimeoutMs", `must not exceed probeIntervalMs (${config.probeIntervalMs}), got ${config.probeTimeoutMs}`);
  }
  if (config.maxPacketBytes > 65_000) {
    throw new ConfigError("maxPacketBytes", `must fit in one UDP datagram (<= 65000), got ${config.maxPacketBytes}`);
  }
  return config;
}

/** The base suspicion timeout for `n` members: `suspicionMult * max(1, log10(n)) * probeIntervalMs`. */
export function suspicionTimeoutMs(config: SwimConfig, n: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  // Rounded to the millisecond, as memberlist keeps three decimals of the scale.
  return Math.round(config.suspicionMult * nodeScale * config.probeIntervalMs);
}

/** How many times each node sends one update: `retransmitMult * ceil(log10(n + 1))`. */
export function retransmitLimit(config: SwimConfig, n: number): number {
  return config.retransmitMult * Math.max(1, Math.ceil(Math.log10(n + 1)));
}

/** The push-pull interval for `n` members, scaled up past 32 members (memberlist's pushPullScale). */
export function pushPullIntervalFor(config: SwimConfig, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return config.pushPullIntervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return multiplier * config.pushPullIntervalMs;
}

/**
 * Lifeguard's `k` (§IV-B): how many independent confirmations a suspicion
 * waits for before its timeout has shrunk to the minimum,
 * `suspicionMult - 2`, or 0 when the cluster (n members, the accuser and
 * the suspect not counted) cannot supply that many (memberlist's rule).
 */
export function expectedConfirmations(config: SwimConfig, n: number): number {
  const k = config.suspicionMult - 2;
  return n - 2 < k ? 0 : Math.max(0, k);
}

/**
 * A suspicion's timeout, from its start, after `c` confirmations:
 * `max(min, max - (max - min) * log(c + 1) / log(k + 1))` (Lifeguard §IV-B),
 * with `min = suspicionTimeoutMs(n)` and `max = suspicionMaxTimeoutMult * min`;
 * just `min` when no confirmations are expected.
 */
export function suspicionTimeoutAfterMs(config: SwimConfig, n: number, c: number): number {
  const k = expectedConfirmations(config, n);
  const min = suspicionTimeoutMs(config, n);
  if (k < 1) return min;
  return remainingTimeoutMs(Math.min(c, k), k, min, config.suspicionMaxTimeoutMult * min);
}

/**
 * How long an update takes to reach every member by gossip, at most, with no
 * loss: one round until the holder's next gossip round, `ceil(log_{f+1} n)`
 * rounds for the infection to cover the cluster (each holder tells `f =
 * gossipNodes` others a round, so holders multiply by up to f + 1, SWIM §4.1),
 * and `ceil(L / f)` more rounds in which the last holders still send (each
 * send uses one of an update's `L = retransmitLimit(n)` transmissions; after
 * them nobody sends it any more, so an update that has not arrived by then
 * never arrives by gossip). A round is `gossipIntervalMs`; without separate
 * gossip, updates ride on pings only: one per probe period.
 */
export function disseminationBoundMs(config: SwimConfig, n: number): number {
  const gossip = config.gossipIntervalMs > 0 && config.gossipNodes > 0;
  const fanout = gossip ? config.gossipNodes : 1;
  const roundMs = gossip ? config.gossipIntervalMs : config.probeIntervalMs;
  const spread = Math.ceil(Math.log(Math.max(2, n)) / Math.log(fanout + 1) - 1e-9);
  const tail = Math.ceil(retransmitLimit(config, n) / fanout);
  return (1 + spread + tail) * roundMs;
}

/**
 * The chance that a given live member, probing in shuffled round-robin order
 * over its `n - 1` peers, has *not* started a probe of one given member within
 * its next `m` probe periods (SWIM §4.3). The window covers `a` slots of the
 * current round and `m - a` of the next; the target sits in each round at a
 * uniformly random slot, independently, so the chance is
 * `(1 - a/(n-1)) * (1 - (m-a)/(n-1))`, at most `(1 - m/(2(n-1)))^2` whatever
 * `a` is, and 0 once `m >= 2n - 3` (the window then holds a whole round).
 */
export function probeMissProbability(n: number, m: number): number {
  const peers = n - 1;
  if (peers < 1) return 1;
  if (m >= 2 * peers - 1) return 0;
  const x = Math.max(0, 1 - m / (2 * peers));
  return x * x;
}

/**
 * The smallest number of probe periods `m` after which, with probability at
 * least `1 - epsilon`, at least `j` of the `n - 1` live members have started
 * a probe of a crashed member. Each does so independently (its own shuffle)
 * with probability at least `p = 1 - probeMissProbability(n, m)`, so the count
 * is at least Binomial(n - 1, p) and we need `P(Bin(n - 1, p) < j) <= epsilon`.
 * Infinity if fewer than `j` members could probe at all.
 */
export function probePeriodsForAccusers(n: number, j: number, epsilon: number): number {
  const peers = n - 1;
  if (j > peers) return Infinity;
  if (j <= 0) return 0;
  for (let m = 1; ; m++) {
    const q = probeMissProbability(n, m);
    if (binomialBelow(peers, 1 - q, j) <= epsilon) return m;
  }
}

/** P(Binomial(trials, p) < j), summed in log space so large `trials` do not underflow to nonsense. */
function binomialBelow(trials: number, p: number, j: number): number {
  if (p >= 1) return 0;
  if (p <= 0) return 1;
  let total = 0;
  let logChoose = 0; // log C(trials, i)
  for (let i = 0; i < j; i++) {
    if (i > 0) logChoose += Math.log(trials - i + 1) - Math.log(i);
    total += Math.exp(logChoose + i * Math.log(p) + (trials - i) * Math.log1p(-p));
  }
  return Math.min(1, total);
}

/**
 * When every live member has declared a crashed member dead, at the latest,
 * given when the independent accusations were raised (`accusedAtMs`, sorted:
 * the times members' own probes of it failed), with no loss.
 *
 * The gossip path: the first accuser's timer runs from `a[0]`; after `c`
 * confirmations it fires at `a[0] + suspicionTimeoutAfterMs(c)`, and the c-th
 * confirmation (from accuser `a[c]`) reaches it within `D =
 * disseminationBoundMs`, so it declares by `G' = min over c of max(a[0] +
 * timeout(c), a[c] + D)`, and its verdict reaches everyone by `G = G' + D`.
 *
 * The fallback: gossip may miss a member (each update is sent only
 * `retransmitLimit` times per member, to random peers). A member that missed
 * the verdict, and perhaps the first accusation too, has its own timer
 * running from `a[1] + D` at the latest; at its minimum it is "stalled" and
 * at its next probe period (within `probeIntervalMs`) it asks a member
 * holding the verdict (see SwimNode's stalled-suspicion queries). So:
 *
 *   bound = max(G, a[1] + D + min) + probeIntervalMs
 *
 * A member that missed two of the first accusations and the verdict may take
 * longer; measured, that is about 1 crash in 20,000 at n = 8.
 */
export function deadlineAfterAccusationsMs(config: SwimConfig, n: number, accusedAtMs: readonly number[]): number {
  if (accusedAtMs.length === 0) return Infinity;
  const d = disseminationBoundMs(config, n);
  const first = accusedAtMs[0]!;
  const k = expectedConfirmations(config, n);
  let declared = Infinity;
  for (let c = 0; c <= Math.min(k, accusedAtMs.length - 1); c++) {
    const confirmedBy = c === 0 ? first : accusedAtMs[c]! + d;
    declared = Math.min(declared, Math.max(first + suspicionTimeoutAfterMs(config, n, c), confirmedBy));
  }
  const second = accusedAtMs[Math.min(1, accusedAtMs.length - 1)]!;
  return Math.max(declared + d, second + d + suspicionTimeoutMs(config, n)) + config.probeIntervalMs;
}

/** The default failure probability of {@link detectionBoundNoLossMs}: one crash in a million may take longer. */
export const DETECTION_BOUND_EPSILON = 1e-6;

/**
 * The time, after a member crashes, by which every live member has declared
 * it dead, with no packet loss and no slow members, except with probability
 * `epsilon` (per crash):
 *
 *   G = min over c = 0..k of max(T1 + timeout(c), Tc+1 + D) + D
 *   bound = max(G, T2 + D + min) + probeIntervalMs
 *
 * ({@link deadlineAfterAccusationsMs} explains both terms) where `Tj = (Mj +
 * 1) * probeIntervalMs` is when the j-th independent accusation has been
 * raised at the latest: `Mj` probe periods until j live members have started
 * a probe of it in their round-robin orders ({@link probePeriodsForAccusers},
 * each quantile at epsilon / (k + 2)), plus one
 * period for the probe to fail (the probe timeout only decides when the
 * indirect probes go out; the verdict waits for the period's end). `k` is
 * Lifeguard's expected confirmations, `timeout(c)` the suspicion timeout
 * after c of them, `D` the dissemination bound. With no loss a healthy
 * member's health score stays 0 (every helper nacks), so periods are not
 * stretched; a single crash is assumed (a second crashed member picked as a
 * helper would not nack). At n = 10 (lan) this is 19.2 s against a typical
 * 5.5 s: the slack is the honest tail of "nobody has probed it yet" (1 crash
 * in 1000 takes over 10 s), and `bench/detection-bound.ts` checks it.
 */
export function detectionBoundNoLossMs(config: SwimConfig, n: number, epsilon = DETECTION_BOUND_EPSILON): number {
  const k = expectedConfirmations(config, n);
  const share = epsilon / (k + 2);
  const accused: number[] = [];
  for (let j = 1; j <= Math.max(2, k + 1); j++) {
    const m = probePeriodsForAccusers(n, j, share);
    if (!Number.isFinite(m)) break;
    accused.push((m + 1) * config.probeIntervalMs);
  }
  return deadlineAfterAccusationsMs(config, n, accused);
}

/**
 * The detection time the timers alone guarantee, at any loss rate and with
 * any number of crashes, without relying on gossip at all: each live member
 * starts a probe of every other within `2n - 3` of its own probe periods
 * (a window that long always holds one whole shuffled round, SWIM §4.3),
 * each period at most `probeIntervalMs * awarenessMaxMultiplier` long
 * (Lifeguard's backoff); the probe fails one period later; and its own
 * suspicion timer then runs at most `suspicionMaxTimeoutMult * min`. Gossip
 * makes the real figure far shorter: see {@link detectionBoundNoLossMs}.
 */
export function detectionBoundMs(config: SwimConfig, n: number): number {
  const worstPeriod = config.probeIntervalMs * config.awarenessMaxMultiplier;
  return (2 * Math.max(1, n - 1)) * worstPeriod + config.suspicionMaxTimeoutMult * suspicionTimeoutMs(config, n);
}
