import { Command } from "commander";

const program = new Command("heck-ownership").description("Stage 2: which node checks which origin: rendezvous hashing and the alternatives.");
program.parse();
