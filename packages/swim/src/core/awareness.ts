/**
 * Lifeguard's local health awareness (Dadgar et al. 2018, §IV-A).
 *
 * SWIM assumes the node doing the probing is healthy. A node that is itself
 * slow (CPU starved, GC pauses, a saturated NIC) misses acks that were sent
 * in time and falsely suspects healthy members. Lifeguard makes the node
 * measure its own health from evidence it already has: a probe that got no
 * ack and fewer nacks than expected, or having to refute a suspicion of
 * itself, raises a score; a successful probe lowers it. The probe period is
 * multiplied by `score + 1`, so a sick node probes, and accuses, less.
 */
export class Awareness {
  private current = 0;

  /** @param max the multiplier's upper bound (awarenessMaxMultiplier); the score stays in [0, max - 1]. */
  constructor(readonly max: number) {}

  /** The health score: 0 is healthy, max - 1 is the worst. */
  get score(): number {
    return this.current;
  }

  /** Adds `delta` (may be negative), clamped to [0, max - 1]. */
  applyDelta(delta: number): void {
    this.current = Math.min(this.max - 1, Math.max(0, this.current + delta));
  }

  /** `timeoutMs * (score + 1)`: the scaled probe period. */
  scale(timeoutMs: number): number {
    return timeoutMs * (this.current + 1);
  }
}
