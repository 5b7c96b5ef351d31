/**
 * What the soak measures, from samples the runner feeds in (pure: every
 * input carries its time):
 *
 * - the fleet's request counters, sampled every `pollMs`: when each origin
 *   was last checked, so coverage (was it checked within the allowed gap?),
 *   the longest gap, and checks per origin per interval, kept apart for
 *   healed time and for time under a partition (where both sides checking
 *   is expected);
 * - every agent's answers: full origin lists, empty or partial ones, and no
 *   answer at all (a killed or paused agent);
 * - after each heal, how long until every agent reports the same status for
 *   every origin.
 *
 * Coverage is counted at every fleet sample outside the moments of a fault
 * start (the allowed gap after each start, when an origin may rightly wait
 * for detection and take-over): an origin is covered at time t when its last
 * check is at most `allowedGapMs` (+ one sample period, the counters'
 * resolution) old.
 */

/** The cluster's state, for attributing checks: nothing wrong, a partition, or another fault. */
export type SoakMode = "healed" | "partitioned" | "other";

/** Options of {@link SoakMeter}. */
export interface SoakMeterOptions {
  origins: number;
  intervalMs: number;
  /** interval + detection bound + take-over window. */
  allowedGapMs: number;
  /** How often the fleet is sampled: the resolution of every gap. */
  pollMs: number;
  /** Samples before this (the warm-up, while first checks spread over an interval) only set the baseline. */
  countFromMs?: number;
}

/** What the meter saw, ready to print. */
export interface SoakFigures {
  coveragePct: number;
  coverageSamples: number;
  longestGapMs: number;
  longestGapOrigin: number;
  longestGapFromMs: number;
  longestGapToMs: number;
  checksPerOriginPerInterval: Record<SoakMode, number | null>;
  agreementMs: { count: number; p50: number | null; p99: number | null; max: number | null; notReached: number };
  answers: { full: number; empty: number; partial: number; none: number };
  /** Worst partial or empty answer seen: agent, time, origins listed. */
  worstAnswer: { agent: string; atMs: number; origins: number } | null;
  lostOrigins: number;
}

/** Accumulates samples; see the file comment. */
export class SoakMeter {
  private lastCount: Float64Array | undefined;
  private readonly lastCheckAt: Float64Array;
  private lastSampleMs: number | undefined;
  private readonly excluded: Array<[number, number]> = [];
  private mode: SoakMode = "healed";
  private readonly modeMs: Record<SoakMode, number> = { healed: 0, partitioned: 0, other: 0 };
  private readonly modeChecks: Record<SoakMode, number> = { healed: 0, partitioned: 0, other: 0 };
  private covered = 0;
  private counted = 0;
  private longest = { gapMs: 0, origin: -1, fromMs: 0, toMs: 0 };
  private readonly agreements: Array<number | null> = [];
  private readonly answers = { full: 0, empty: 0, partial: 0, none: 0 };
  private worstAnswer: SoakFigures["worstAnswer"] = null;
  private lost = 0;

  constructor(private readonly o: SoakMeterOptions) {
    this.lastCheckAt = new Float64Array(o.origins);
  }

  /** A fault started: coverage is not counted for the allowed gap after it. */
  faultStarted(atMs: number): void {
    this.excluded.push([atMs, atMs + this.o.allowedGapMs]);
  }

  /** What the cluster is going through from now on (for checks per origin per interval). */
  setMode(mode: SoakMode): void {
    this.mode = mode;
  }

  /** The fleet's request counters at `atMs` (origin i = index i). */
  observeCounts(atMs: number, counts: ArrayLike<number>): void {
    if (this.lastCount === undefined || this.lastSampleMs === undefined || atMs < (this.o.countFromMs ?? 0)) {
      this.lastCount = Float64Array.from(counts);
      this.lastCheckAt.fill(atMs);
      this.lastSampleMs = atMs;
      return;
    }
    let increments = 0;
    for (let i = 0; i < this.o.origins; i++) {
      const c = counts[i] ?? 0;
      const before = this.lastCount[i]!;
      if (c > before) {
        increments += c - before;
        const gap = atMs - this.lastCheckAt[i]!;
        if (gap > this.longest.gapMs) this.longest = { gapMs: gap, origin: i, fromMs: this.lastCheckAt[i]!, toMs: atMs };
        this.lastCheckAt[i] = atMs;
      }
      this.lastCount[i] = c;
    }
    this.modeMs[this.mode] += atMs - this.lastSampleMs;
    this.modeChecks[this.mode] += increments;
    this.lastSampleMs = atMs;
    if (this.excluded.some(([from, to]) => atMs >= from && atMs <= to)) return;
    const limit = this.o.allowedGapMs + this.o.pollMs;
    for (let i = 0; i < this.o.origins; i++) {
      this.counted += 1;
      if (atMs - this.lastCheckAt[i]! <= limit) this.covered += 1;
    }
  }

  /** The longest gap still open at `atMs` (an origin nobody has checked since), folded into the longest gap. */
  closeOpenGaps(atMs: number): void {
    for (let i = 0; i < this.o.origins; i++) {
      const gap = atMs - this.lastCheckAt[i]!;
      if (gap > this.longest.gapMs) this.longest = { gapMs: gap, origin: i, fromMs: this.lastCheckAt[i]!, toMs: atMs };
    }
  }

  /** One agent's answer to "list your origins": how many it listed (null: no answer). */
  observeAnswer(agent: string, atMs: number, listed: number | null): void {
    if (listed === null) this.answers.none += 1;
    else if (listed === this.o.origins) this.answers.full += 1;
    else {
      if (listed === 0) this.answers.empty += 1;
      else this.answers.partial += 1;
      if (this.worstAnswer === null || listed < this.worstAnswer.origins) this.worstAnswer = { agent, atMs, origins: listed };
    }
  }

  /** Time from a heal until every agent agreed on every origin's status; null when it did not happen before the next fault. */
  observeAgreement(ms: number | null): void {
    this.agreements.push(ms);
  }

  /** Origins missing from some agent's list at the end. */
  observeLost(count: number): void {
    this.lost = count;
  }

  figures(): SoakFigures {
    const reached = this.agreements.filter((x): x is number => x !== null).sort((a, b) => a - b);
    const q = (p: number) => (reached.length === 0 ? null : reached[Math.min(reached.length - 1, Math.ceil(p * reached.length) - 1)]!);
    const perInterval = (m: SoakMode) => (this.modeMs[m] < this.o.intervalMs ? null : this.modeChecks[m] / this.o.origins / (this.modeMs[m] / this.o.intervalMs));
    return {
      coveragePct: this.counted === 0 ? 100 : (100 * this.covered) / this.counted,
      coverageSamples: this.counted,
      longestGapMs: this.longest.gapMs,
      longestGapOrigin: this.longest.origin,
      longestGapFromMs: this.longest.fromMs,
      longestGapToMs: this.longest.toMs,
      checksPerOriginPerInterval: { healed: perInterval("healed"), partitioned: perInterval("partitioned"), other: perInterval("other") },
      agreementMs: { count: this.agreements.length, p50: q(0.5), p99: q(0.99), max: reached.at(-1) ?? null, notReached: this.agreements.length - reached.length },
      answers: { ...this.answers },
      worstAnswer: this.worstAnswer,
      lostOrigins: this.lost,
    };
  }
}
