import type { CheckError, HealthStatus, Transition } from "./types.ts";

/**
 * Anti-flap thresholds as HAProxy defines them (`rise`/`fall`), starting
 * from `unknown`:
 *
 * ```
 *            rise successes in a row              rise successes in a row
 *  unknown ------------------------> healthy <---------------------------+
 *     |                                 |                                |
 *     | fall failures in a row          | fall failures in a row         |
 *     +-------------------------------> unhealthy -----------------------+
 * ```
 *
 * A success resets the failure run and vice versa, so a target that
 * alternates never leaves its state when rise and fall are above 1. The
 * history of transitions is bounded (a ring of `historySize`).
 */
export class HealthTracker {
  status: HealthStatus = "unknown";
  /** When the current status began (the target's creation for `unknown`). */
  sinceMs: number;
  consecutiveSuccesses = 0;
  consecutiveFailures = 0;
  private readonly ring: Transition[] = [];
  private ringStart = 0;

  /**
   * `rise`/`fall` must be at least 1; `historySize` at least 1. `initial`
   * (default `unknown`) lets a new owner of a target carry on from the status
   * the previous owner saw, since `initialSinceMs`, instead of starting blind.
   */
  constructor(
    readonly id: string,
    public rise: number,
    public fall: number,
    nowMs: number,
    private readonly historySize = 20,
    initial: HealthStatus = "unknown",
    initialSinceMs = nowMs,
  ) {
    this.status = initial;
    this.sinceMs = initial === "unknown" ? nowMs : initialSinceMs;
  }

  /**
   * Feeds one check outcome. Returns the transition it caused, if any (it is
   * also appended to the history).
   */
  record(ok: boolean, nowMs: number, error?: CheckError): Transition | undefined {
    if (ok) {
      this.consecutiveSuccesses++;
      this.consecutiveFailures = 0;
      if (this.status !== "healthy" && this.consecutiveSuccesses >= this.rise) {
        return this.become("healthy", nowMs, `${this.consecutiveSuccesses} successful check${this.consecutiveSuccesses === 1 ? "" : "s"} in a row (rise ${this.rise})`);
      }
    } else {
      this.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
      if (this.status !== "unhealthy" && this.consecutiveFailures >= this.fall) {
        const why = error ? `${error.kind}: ${error.message}` : "check failed";
        return this.become("unhealthy", nowMs, `${this.consecutiveFailures} failed check${this.consecutiveFailures === 1 ? "" : "s"} in a row (fall ${this.fall}); last: ${why}`, error);
      }
    }
    return undefined;
  }

  /** Transitions, oldest first, at most `historySize`. */
  history(): Transition[] {
    return [...this.ring.slice(this.ringStart), ...this.ring.slice(0, this.ringStart)];
  }

  private become(to: HealthStatus, nowMs: number, reason: string, error?: CheckError): Transition {
    const t: Transition = { id: this.id, from: this.status, to, atMs: nowMs, reason };
    if (error) t.errorKind = error.kind;
    this.status = to;
    this.sinceMs = nowMs;
    if (this.ring.length < this.historySize) this.ring.push(t);
    else {
      this.ring[this.ringStart] = t;
      this.ringStart = (this.ringStart + 1) % this.historySize;
    }
    return t;
  }
}
