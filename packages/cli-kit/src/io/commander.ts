import type { Command } from "commander";
import { EXIT_OK, EXIT_USAGE } from "../exit-codes.ts";

/**
 * Makes commander's parse errors (unknown option, missing or invalid
 * argument, `program.error(...)`) exit with {@link EXIT_USAGE} instead of 1,
 * after commander has printed its message; `--help` and `--version` still
 * exit 0. Call it on the program before adding subcommands: commander copies
 * the setting to each one as it is created.
 */
export function exitCodesForUsageErrors<T extends Command>(program: T): T {
  program.exitOverride((err) => {
    process.exit(err.exitCode === EXIT_OK ? EXIT_OK : EXIT_USAGE);
  });
  return program;
}

/** Prints `<program>: <message>` on stderr and exits {@link EXIT_USAGE}: for validation commander cannot do (a bad config file, flags that conflict). */
export function usageError(program: string, message: string): never {
  process.stderr.write(`${program}: ${message}\n`);
  process.exit(EXIT_USAGE);
}
