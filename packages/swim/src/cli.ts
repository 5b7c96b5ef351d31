import { Command } from "commander";

const program = new Command("heck-swim").description("Stage 3: SWIM membership and failure detection with Lifeguard.");
program.parse();
