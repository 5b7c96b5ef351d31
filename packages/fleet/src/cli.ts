import { Command } from "commander";

const program = new Command("heck-fleet").description("A fleet of real HTTP origin servers on loopback with controllable behaviour, for tests, benchmarks and demos.");
program.parse();
