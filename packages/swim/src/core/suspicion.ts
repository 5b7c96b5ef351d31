/**
 * Lifeguard's dynamic suspicion timeout (Dadgar et al. 2018, §IV-B), as a
 * value with a deadline instead of a timer.
 *
 * A suspicion starts at `maxMs` and shrinks towards `minMs` as independent
 * members confirm it: after `c` of the `k` expected confirmations the
 * timeout is `max(minMs, maxMs - (maxMs - minMs) * log(c + 1) / log(k + 1))`
 * from the start. The logarithm makes the first confirmations count most.
 * A member suspected by one possibly unhealthy node therefore gets the long
 * timeout to refute, while a failure several members see is declared after
 * `minMs`. With `k < 1` there is nothing to wait for and the timeout is
 * `minMs` (memberlist does the same for tiny clusters).
 */
export class Suspicion {
  private readonly confirmations = new Set<string>();
  private deadline: number;

  /**
   * @param from the member whose accusation started it (never counted again)
   * @param k confirmations expected before the timeout reaches `minMs`
   */
  constructor(
    from: string,
    readonly k: number,
    readonly minMs: number,
    readonly maxMs: number,
    readonly startMs: number,
  ) {
    this.confirmations.add(from);
    this.deadline = startMs + (k < 1 ? minMs : maxMs);
  }

  /** When the suspect is declared dead unless it refutes first. */
  get deadlineMs(): number {
    return this.deadline;
  }

  /** Independent confirmations so far (the original accuser not counted). */
  get confirmationCount(): number {
    return this.confirmations.size - 1;
  }

  /**
   * Records an accusation from `from`. Returns true if it was new and
   * counted (the caller then re-gossips it so others can count it too);
   * false for a repeat accuser or once `k` confirmations are in.
   */
  confirm(from: string): boolean {
    if (this.k < 1 || this.confirmationCount >= this.k || this.confirmations.has(from)) return false;
    this.confirmations.add(from);
    this.deadline = this.startMs + remainingTimeoutMs(this.confirmationCount, this.k, this.minMs, this.maxMs);
    return true;
  }
}

/** The total timeout after `c` of `k` confirmations, floored to the millisecond and never below `minMs`. */
export function remainingTimeoutMs(c: number, k: number, minMs: number, maxMs: number): number {
  const frac = Math.log(c + 1) / Math.log(k + 1);
  const raw = Math.floor(maxMs - frac * (maxMs - minMs));
  return Math.max(minMs, raw);
}
