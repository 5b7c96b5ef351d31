/**
 * What every Heck command line shares, so that they behave alike:
 *
 * - exit codes: 0 done, 1 the operation did not happen (not found, not
 *   applied, no answer), 2 called wrong (bad flags or input, nothing done);
 * - a closed pipe (`... | head -3`) ends the output quietly, exit 0;
 * - Ctrl-C and SIGTERM take the graceful path once, also when the command
 *   was started through `pnpm <bin>` (pnpm relays a Ctrl-C as a second
 *   signal); a second Ctrl-C forces the exit.
 *
 * ```ts
 * import { exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal } from "@heck/cli-kit";
 * handleClosedPipes();
 * const program = exitCodesForUsageErrors(new Command("heck-x"));
 * onShutdownSignal(() => void agent.leave());
 * ```
 *
 * @packageDocumentation
 */
export { EXIT_OK, EXIT_FAILED, EXIT_USAGE } from "./exit-codes.ts";
export { handleClosedPipes } from "./io/closed-pipe.ts";
export { onShutdownSignal, type ShutdownOptions } from "./io/shutdown.ts";
export { exitCodesForUsageErrors, usageError } from "./io/commander.ts";
