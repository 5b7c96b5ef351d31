/**
 * Seed lists for tests: a fixed set every CI run covers, a few fresh random
 * seeds (printed, so a failure can be replayed), or exactly `HECK_SEED` when
 * the environment sets it. This reads the environment and Math.random, so it
 * lives at the edge (src/io), never in a core.
 */

/** Options for {@link seedsFromEnv}. */
export interface SeedListOptions {
  /** Seeds run every time (regressions found earlier belong here). */
  fixed: readonly number[];
  /** How many fresh random seeds to add. Default 0. `HECK_RANDOM_SEEDS=<n>` overrides it. */
  random?: number;
  /** Where to print the random seeds. Default console.log. */
  log?: (line: string) => void;
  /** The environment to read. Default process.env. */
  env?: Record<string, string | undefined>;
}

/** Parses a seed written by a human: a non-negative integer below 2^32. */
export function parseSeed(text: string, name = "HECK_SEED"): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) throw new RangeError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  const n = Number(trimmed);
  if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new RangeError(`${name} must be below 2^32, got ${text}`);
  return n;
}

/**
 * The seeds a simulation test should run: `[HECK_SEED]` when set (replay),
 * otherwise `fixed` plus `random` fresh seeds, which are printed as
 * `random seeds: HECK_SEED=123 HECK_SEED=456` so a failure can be replayed.
 *
 * ```ts
 * it.each(seedsFromEnv({ fixed: [1, 2, 3], random: 2 }))("survives faults, seed %i", (seed) => runSeeded({ seed, ... }));
 * ```
 */
export function seedsFromEnv(options: SeedListOptions): number[] {
  const env = options.env ?? process.env;
  const replay = env.HECK_SEED;
  if (replay !== undefined && replay.trim() !== "") return [parseSeed(replay)];
  const count = env.HECK_RANDOM_SEEDS !== undefined && env.HECK_RANDOM_SEEDS.trim() !== "" ? parseSeed(env.HECK_RANDOM_SEEDS, "HECK_RANDOM_SEEDS") : (options.random ?? 0);
  const seeds = [...options.fixed];
  const fresh: number[] = [];
  for (let i = 0; i < count; i++) {
    let s: number;
    do s = Math.floor(Math.random() * 0x100000000);
    while (seeds.includes(s));
    fresh.push(s);
    seeds.push(s);
  }
  if (fresh.length > 0) (options.log ?? console.log)(`random seeds: ${fresh.map((s) => `HECK_SEED=${s}`).join(" ")}`);
  return seeds;
}
