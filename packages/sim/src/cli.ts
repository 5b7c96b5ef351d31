import { Command } from "commander";

const program = new Command("heck-sim").description("Deterministic simulation kit: seed sweeps and trace tools.");
program.parse();
