/**
 * Runs `heck compare` on its own until it is wired into apps/v2's `heck`:
 *
 * ```sh
 * node_modules/.bin/tsx apps/v2/src/compare/main.ts compare --quick
 * ```
 */
import { Command } from "commander";
import { registerCompareCommand } from "./command.ts";

const program = new Command("heck").description("Heck v2 (compare only: the standalone entry of `heck compare`)");
registerCompareCommand(program);
await program.parseAsync(process.argv);
