/**
 * fast-check with Heck's replay convention: a failure prints HECK_SEED=<n>,
 * and HECK_SEED=<n> in the environment replays exactly that run.
 */
import fc from "fast-check";

/** Runs a property; on failure throws with HECK_SEED=<seed> and fast-check's report. */
export function check<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, numRuns = 100): void {
  const env = process.env.HECK_SEED;
  const params: fc.Parameters<Ts> = env === undefined ? { numRuns } : { numRuns, seed: Number(env) };
  const details = fc.check(property, params);
  if (details.failed) {
    throw new Error(`property failed: replay with HECK_SEED=${details.seed}\n${fc.defaultReportMessage(details) ?? ""}`);
  }
}

/** Member ids: short, often colliding-looking strings, including host:port forms and unicode. */
export const memberId = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/),
  fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `10.0.0.${a}:${p}`),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 4 }),
);

/** A membership of distinct ids. */
export const memberIds = (min: number, max: number) => fc.uniqueArray(memberId, { minLength: min, maxLength: max });

/** Origin ids (distinct when used as an array). */
export const originId = fc.oneof(fc.stringMatching(/^https:\/\/[a-z]{1,8}\.example\/[a-z]{0,5}$/), fc.string({ minLength: 1, maxLength: 12 }));
export const originIds = (min: number, max: number) => fc.uniqueArray(originId, { minLength: min, maxLength: max });
