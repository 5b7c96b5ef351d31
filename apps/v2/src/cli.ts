import { Command } from "commander";

const program = new Command("heck").description("Stage 6: the distributed health checker composed from every stage.");
program.parse();
