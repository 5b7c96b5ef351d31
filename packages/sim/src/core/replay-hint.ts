/**
 * How a failure report tells the reader to replay a seed. The report is
 * built here, in pure code that cannot know which test ran it, so the
 * command is a hook: `@heck/sim/testing` sets it to the failing test file's
 * own command (`HECK_SEED=<n> pnpm vitest run packages/swim/test/...`), and
 * the sweep CLI prints its own. It only shapes a message; no run reads it.
 */
let hint: (seed: number) => string = (seed) => `HECK_SEED=${seed}, set when rerunning the test that printed this`;

/** Sets how reports name the replay command for a seed. */
export function setReplayHint(fn: (seed: number) => string): void {
  hint = fn;
}

/** The replay command for `seed`, as reports print it. */
export function replayHint(seed: number): string {
  return hint(seed);
}
