import { CHECK_ERROR_KINDS, type CheckErrorKind, type CheckResult } from "./types.ts";

/** Upper bounds (seconds) of the check latency histogram: loopback answers in well under a millisecond, a timeout in seconds. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Upper bounds (seconds) of the schedule lag histogram: the goal is p99 under 0.1 s. */
export const LAG_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * A fixed-bucket histogram in the Prometheus sense: cumulative counts are
 * derived when read, so `observe` is one bucket search and three additions
 * into preallocated arrays (no allocation per observation).
 */
export class BucketHistogram {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  /** `bounds` are the bucket upper bounds, ascending. */
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts one observation of `v`. */
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }

  /** Cumulative count of observations <= bounds[i] (i = bounds.length gives the total). */
  cumulative(i: number): number {
    let c = 0;
    for (let k = 0; k <= i; k++) c += this.counts[k]!;
    return c;
  }

  /** Forgets every observation. */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/**
 * A histogram with logarithmic buckets, for quantiles with a bounded relative
 * error (`precision`, default 1%) over many decades, in the spirit of
 * HdrHistogram. Values at or below `min` share the first bucket; values above
 * `max` the last. Observing is one logarithm and one increment.
 */
export class LogHistogram {
  readonly counts: Float64Array;
  count = 0;
  private readonly logBase: number;

  constructor(
    readonly min = 1e-3,
    readonly max = 1e6,
    readonly precision = 0.01,
  ) {
    this.logBase = Math.log1p(precision);
    this.counts = new Float64Array(Math.ceil(Math.log(max / min) / this.logBase) + 2);
  }

  /** Counts one observation of `v`. */
  observe(v: number): void {
    const i = v <= this.min ? 0 : Math.min(this.counts.length - 1, 1 + Math.floor(Math.log(v / this.min) / this.logBase));
    this.counts[i]!++;
    this.count++;
  }

  /**
   * The `q` quantile (0-1, nearest rank) as its bucket's upper edge: never
   * below the exact value, at most `precision` above it. NaN when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === 0 ? this.min : this.min * Math.exp(i * this.logBase);
    }
    return this.max;
  }

  /** A copy, e.g. to take the difference of two moments with {@link since}. */
  copy(): LogHistogram {
    const h = new LogHistogram(this.min, this.max, this.precision);
    h.counts.set(this.counts);
    h.count = this.count;
    return h;
  }

  /** The observations made after `earlier` (a copy of this histogram taken before). */
  since(earlier: LogHistogram): LogHistogram {
    const h = this.copy();
    for (let i = 0; i < h.counts.length; i++) h.counts[i]! -= earlier.counts[i]!;
    h.count -= earlier.count;
    return h;
  }
}

/** Outcome labels of the latency histogram: `ok`, then every error kind. */
export const OUTCOMES: readonly ("ok" | CheckErrorKind)[] = ["ok", ...CHECK_ERROR_KINDS];
const OUTCOME_INDEX: Readonly<Record<string, number>> = Object.fromEntries(OUTCOMES.map((o, i) => [o, i]));

/**
 * Engine-wide check statistics, kept as the checks finish: a latency
 * histogram per outcome and a schedule-lag histogram. Metrics, `/healthz`
 * and the benchmark read these instead of listening to every result, so a
 * check costs two bucket searches here and no event object.
 */
export class CheckStats {
  /** Index i is the histogram of outcome OUTCOMES[i], in seconds. */
  readonly latency: BucketHistogram[] = OUTCOMES.map(() => new BucketHistogram(LATENCY_BUCKETS_S));
  /** Start minus due time, in seconds (negative lags count as 0). */
  readonly lag = new BucketHistogram(LAG_BUCKETS_S);
  /** Lag in ms with 1% resolution, for quantiles (the demo, benchmarks). */
  readonly lagMs = new LogHistogram();
  /** Latency of every check in ms with 1% resolution. */
  readonly latencyMs = new LogHistogram();

  /** Records one finished check and the lag it started with. */
  record(result: CheckResult, lagMs: number): void {
    const i = result.ok ? 0 : (OUTCOME_INDEX[result.error?.kind ?? "network"] ?? OUTCOME_INDEX["network"]!);
    this.latency[i]!.observe(result.latencyMs / 1000);
    this.latencyMs.observe(result.latencyMs);
    const lag = lagMs > 0 ? lagMs : 0;
    this.lag.observe(lag / 1000);
    this.lagMs.observe(lag);
  }
}
