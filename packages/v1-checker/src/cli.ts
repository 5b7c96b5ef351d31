import { Command } from "commander";

const program = new Command("heck-v1").description("Stage 1: one process polls n origins every interval and answers what is healthy.");
program.parse();
