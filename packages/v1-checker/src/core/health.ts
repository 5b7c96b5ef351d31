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
  /** Starts empty and grows one transition at a time: most targets only ever see one or two. */
  private ring: Transition[] = [];
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
        return this.become("healthy", nowMs, riseReason(this.consecutiveSuccesses, this.rise));
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
    // An array literal has exactly the room it needs; a push onto [] would reserve 17 slots per target.
    if (this.ring.length === 0) this.ring = [t];
    else if (this.ring.length < this.historySize) this.ring.push(t);
    else {
      this.ring[this.ringStart] = t;
      this.ringStart = (this.ringStart + 1) % this.historySize;
    }
    return t;
  }
}

/**
 * The reason of a rise, shared between targets: at 10,000 targets nearly
 * every one becomes healthy with the same sentence, and each copy would be a
 * rope of several string pieces kept in its history.
 */
const riseReasons = new Map<number, string>();

function riseReason(successes: number, rise: number): string {
  const key = successes * 1024 + rise;
  let reason = riseReasons.get(key);
  if (reason === undefined) {
    reason = [successes, ` successful check${successes === 1 ? "" : "s"} in a row (rise `, rise, ")"].join("");
    if (riseReasons.size < 1024) riseReasons.set(key, reason);
  }
  return reason;
}
