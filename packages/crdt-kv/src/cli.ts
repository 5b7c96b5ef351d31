import { Command } from "commander";

const program = new Command("heck-crdt").description("Stage 5: a key-value store converging without coordination: gossip, delta-state CRDTs, dotted version vectors.");
program.parse();
