import { Command } from "commander";

const program = new Command("heck-raft").description("Stage 4: a Raft-replicated key-value store that speaks a subset of etcd's API.");
program.parse();
