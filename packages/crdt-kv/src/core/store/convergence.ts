/**
 * How many anti-entropy rounds replicas need to converge once a partition
 * heals, from the configuration and the network's loss rate: the bound the
 * real-network tests hold the store to.
 *
 * Every round a replica picks `fanout` of its n - 1 peers at random and,
 * while a peer has not acknowledged its delta-interval, sends it again (the
 * interval stays in the log until acknowledged: Almeida et al., Algorithm 2).
 * So an update held by replica i reaches replica j in a given round at least
 * when i picks j (probability q = min(fanout, n - 1) / (n - 1)) and every
 * message of the exchange arrives (s = (1 - loss)^m: m = 3 with peer vectors,
 * probe, answer and push; m = 1 without, the push alone). Rounds are
 * independent, so after R rounds the direct path i -> j has failed with
 * probability at most (1 - q s)^R. Gossip through third replicas only
 * helps, and is ignored. A union over the n (n - 1) ordered pairs gives
 *
 *   R = ceil( ln(n (n - 1) / epsilon) / -ln(1 - q s) )
 *
 * rounds, after which every update has reached every replica except with
 * probability epsilon. Counted in rounds rather than milliseconds, the bound
 * holds however busy the machine is; a round takes syncIntervalMs plus the
 * exchange's m one-way delays.
 */

/** Inputs of {@link convergenceRounds}. */
export interface ConvergenceInputs {
  /** Replicas in the cluster. */
  nodes: number;
  /** Peers contacted per round (KvNodeConfig.fanout). */
  fanout: number;
  /** Probability that one message is lost, 0 <= loss < 1. */
  lossRate: number;
  /** KvNodeConfig.peerVectors: an exchange is three messages instead of one. */
  peerVectors: boolean;
  /** Accepted probability of not having converged by the bound. Default 1e-3. */
  epsilon?: number;
}

/** Rounds after a heal by which every replica holds every update, except with probability epsilon (formula in the file comment). */
export function convergenceRounds(c: ConvergenceInputs): number {
  if (!Number.isInteger(c.nodes) || c.nodes < 2) return 0;
  if (!(c.lossRate >= 0 && c.lossRate < 1)) throw new RangeError(`lossRate: must be in [0, 1), got ${c.lossRate}`);
  const epsilon = c.epsilon ?? 1e-3;
  const q = Math.min(c.fanout, c.nodes - 1) / (c.nodes - 1);
  const s = (1 - c.lossRate) ** (c.peerVectors ? 3 : 1);
  const perRound = q * s;
  if (perRound >= 1) return 1;
  return Math.ceil(Math.log((c.nodes * (c.nodes - 1)) / epsilon) / -Math.log(1 - perRound));
}

/** The same bound in milliseconds: rounds x (syncIntervalMs + the exchange's one-way delays), plus one interval for the first round's phase. */
export function convergenceBoundMs(c: ConvergenceInputs & { syncIntervalMs: number; maxOneWayDelayMs: number }): number {
  const hops = c.peerVectors ? 3 : 1;
  return (convergenceRounds(c) + 1) * (c.syncIntervalMs + hops * c.maxOneWayDelayMs);
}
