/**
 * Retrying a join until a seed answers, as Consul and Serf users know it
 * (`retry_join`, `retry_interval`, `retry_max`): agents of one cluster are
 * started by different people and machines in any order, so a seed that is
 * not up yet is the normal case, not an error.
 *
 * The schedule is a deadline, not a timer: after an attempt in which no seed
 * answered, the next one is due after a wait that starts at
 * `initialIntervalMs` and doubles up to `maxIntervalMs`; each wait is drawn
 * uniformly from its upper half ("equal jitter") so that agents that failed
 * together do not retry in lock step. With `maxAttempts` 0 it never gives up.
 */
import type { Prng } from "@heck/sim";

/** How `SwimNode.join` retries when no seed answers. */
export interface JoinRetryPolicy {
  /** Attempts in all, the first included; 0 retries until a seed answers (Consul's retry_max default). */
  maxAttempts: number;
  /** The wait before the second attempt; each later wait doubles. Default 1 s. */
  initialIntervalMs: number;
  /** The longest wait between attempts (Consul's retry_interval). Default 30 s. */
  maxIntervalMs: number;
}

/** Consul's defaults: retry forever, backing off from 1 s to at most 30 s. */
export function defaultJoinRetryPolicy(): JoinRetryPolicy {
  return { maxAttempts: 0, initialIntervalMs: 1000, maxIntervalMs: 30_000 };
}

/**
 * Fills unspecified fields from the defaults and validates; throws a
 * RangeError naming the bad field.
 */
export function resolveJoinRetryPolicy(partial: Partial<JoinRetryPolicy> = {}): JoinRetryPolicy {
  const policy = { ...defaultJoinRetryPolicy(), ...partial };
  if (partial.maxIntervalMs !== undefined && partial.initialIntervalMs === undefined) {
    // A cap below the default start (say 200 ms in a test) starts at the cap.
    policy.initialIntervalMs = Math.min(policy.initialIntervalMs, policy.maxIntervalMs);
  }
  for (const [field, min] of [
    ["maxAttempts", 0],
    ["initialIntervalMs", 1],
    ["maxIntervalMs", 1],
  ] as const) {
    const v = policy[field];
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${field}: must be an integer >= ${min}, got ${String(v)}`);
  }
  if (policy.initialIntervalMs > policy.maxIntervalMs) {
    throw new RangeError(`initialIntervalMs: must not exceed maxIntervalMs (${policy.maxIntervalMs}), got ${policy.initialIntervalMs}`);
  }
  return policy;
}

/** Where a retried join stands. */
export type JoinRetryState = "trying" | "waiting" | "joined" | "gave-up" | "stopped";

/** The retry schedule of one join: attempts made, and when the next is due. */
export class JoinRetry {
  private attemptCount = 1;
  private waitMs: number;
  private state: JoinRetryState = "trying";
  private dueMs = Infinity;

  /** Starts counting with the first attempt already under way. */
  constructor(
    readonly seeds: readonly string[],
    readonly policy: JoinRetryPolicy,
  ) {
    this.waitMs = policy.initialIntervalMs;
  }

  /** Attempts started so far, the first included. */
  get attempts(): number {
    return this.attemptCount;
  }

  /** Where it stands. */
  get status(): JoinRetryState {
    return this.state;
  }

  /** When the next attempt is due (Infinity unless waiting). */
  get nextAttemptMs(): number {
    return this.dueMs;
  }

  /** True while more attempts may follow (an attempt is under way or due). */
  get active(): boolean {
    return this.state === "trying" || this.state === "waiting";
  }

  /** A seed answered: no more attempts. */
  succeeded(): void {
    if (!this.active) return;
    this.state = "joined";
    this.dueMs = Infinity;
  }

  /** The application left or gave up: no more attempts. */
  stop(): void {
    if (!this.active) return;
    this.state = "stopped";
    this.dueMs = Infinity;
  }

  /**
   * The attempt under way ended with no seed answering. Schedules the next
   * one (returning its due time) or gives up after `maxAttempts`.
   */
  attemptFailed(nowMs: number, prng: Prng): number {
    if (this.state !== "trying") return this.dueMs;
    if (this.policy.maxAttempts > 0 && this.attemptCount >= this.policy.maxAttempts) {
      this.state = "gave-up";
      return Infinity;
    }
    const half = Math.floor(this.waitMs / 2);
    this.dueMs = nowMs + this.waitMs - prng.nextInt(0, half);
    this.waitMs = Math.min(this.policy.maxIntervalMs, this.waitMs * 2);
    this.state = "waiting";
    return this.dueMs;
  }

  /** The due attempt starts now. */
  attemptStarted(): void {
    if (this.state !== "waiting") return;
    this.attemptCount++;
    this.dueMs = Infinity;
    this.state = "trying";
  }
}
