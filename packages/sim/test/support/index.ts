/**
 * `@heck/sim/testing`: helpers for other packages' tests: seed lists for
 * simulation tests and the transport contract suite. Importing it makes
 * failure reports name the failing test file's own replay command.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { setReplayHint } from "../../src/core/replay-hint.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
// `pnpm test` would rerun every package; this runs the one file that failed, from the repository root.
setReplayHint((seed) => {
  const file = expect.getState().testPath;
  return file === undefined ? `HECK_SEED=${seed} pnpm test` : `HECK_SEED=${seed} pnpm vitest run ${path.relative(repoRoot, file)}`;
});

export { seedsFromEnv, parseSeed, type SeedListOptions } from "../../src/io/seeds.ts";
export {
  describeTransportContract,
  simHarness,
  realHarness,
  type TransportHarness,
  type ControlledTransport,
} from "./transport-contract.ts";
export { EchoNode, TaggingNode, type EchoMessage, type TaggedMessage } from "./echo.ts";
export { linearizableHistory, bruteForceLinearizable, type HistoryShape } from "./kv-histories.ts";
export { NaiveLeaderNode, type Heartbeat } from "./leader.ts";
export { byteMutation, mutateBytes, textMutation, mutateText, type ByteMutation, type TextMutation } from "./mutations.ts";
