/**
 * Protocol configuration, in the spirit of memberlist's `config.go`: every
 * field states what it controls, the formula it enters, the trade-off of
 * moving it, and why its default is what it is. The three presets carry
 * memberlist's own values (`DefaultLANConfig`, `DefaultWANConfig`,
 * `DefaultLocalConfig`, memberlist 0.2.2), so a heck cluster and a memberlist
 * cluster with "the same config" really run the same timings.
 */

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
 * The detection time this config promises: every live member declares a
 * crashed member dead within this long of the crash, without relying on
 * gossip at all. Each live member probes every other within 2(n-1) of its
 * probe periods (SWIM §4.3's shuffled round robin), a period is at most
 * `probeIntervalMs * awarenessMaxMultiplier` long (Lifeguard's backoff), and
 * once it suspects, its timer runs at most `suspicionMaxTimeoutMult * min`.
 * Gossip makes the typical case far shorter (the benchmark measures it); this
 * is the worst case the timers alone guarantee.
 */
export function detectionBoundMs(config: SwimConfig, n: number): number {
  const worstPeriod = config.probeIntervalMs * config.awarenessMaxMultiplier;
  return (2 * Math.max(1, n - 1) + 1) * worstPeriod + config.suspicionMaxTimeoutMult * suspicionTimeoutMs(config, n);
}
