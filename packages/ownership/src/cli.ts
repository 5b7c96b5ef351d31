/**
 * `heck-ownership`: who owns which origin, what moves on a membership change,
 * and every scheme side by side. Parsing, validation and wiring only; the
 * work is in src/core (tables, diffs, reports) and src/io (the origins file).
 */
import { Command, Option } from "commander";
import { EXIT_USAGE, exitCodesForUsageErrors, handleClosedPipes } from "@heck/cli-kit";
import { compareSchemes, DEFAULT_BOUNDED_LOAD_EPSILON } from "./core/compare.ts";
import { createScheme, isSchemeName, type SchemeOptions } from "./core/create-scheme.ts";
import { OwnershipInputError } from "./core/errors.ts";
import { normalizeMembers, type MemberInput } from "./core/members.ts";
import { prepareOrigins } from "./core/origins.ts";
import { parseMemberList } from "./core/parse.ts";
import { diffReport, formatCompare, formatDiff, formatTable, tableReport } from "./core/report.ts";
import { SCHEME_NAMES, type SchemeName } from "./core/scheme.ts";
import { assignWith } from "./core/table.ts";
import { loadOrigins } from "./io/origins-file.ts";

interface CommonOptions {
  members: string;
  scheme: string;
  epsilon?: string;
  vnodes?: string;
  tableSize?: string;
  json?: boolean;
}

function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?[0-9]+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new OwnershipInputError(flag, `must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function epsilon(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new OwnershipInputError("--epsilon", `must be a number >= 0, got ${JSON.stringify(value)}`);
  return n;
}

function schemeName(value: string): SchemeName {
  if (!isSchemeName(value)) throw new OwnershipInputError("--scheme", `must be one of ${SCHEME_NAMES.join(", ")}, got ${JSON.stringify(value)}`);
  return value;
}

function schemeOptions(o: CommonOptions): SchemeOptions {
  const vnodes = integer(o.vnodes, "--vnodes", 1);
  const tableSize = integer(o.tableSize, "--table-size", 2);
  return { ...(vnodes === undefined ? {} : { vnodes }), ...(tableSize === undefined ? {} : { maglevTableSize: tableSize }) };
}

function members(spec: string): MemberInput[] {
  const list = parseMemberList(spec);
  normalizeMembers(list, "--members"); // duplicates are reported against the flag
  return list;
}

function print(json: boolean | undefined, report: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${text()}\n`);
}

/** Adds the options every subcommand shares. */
function common(cmd: Command, withOrigins: boolean): Command {
  cmd.requiredOption("-m, --members <list>", "members, comma-separated, id=weight sets a weight (a,b=2,c); or a count N for n1..nN");
  if (withOrigins) cmd.requiredOption("-o, --origins <file|count>", "a file with one origin per line, or a count (origin-1 .. origin-N)");
  return cmd
    .addOption(new Option("-s, --scheme <name>", "ownership scheme").choices(SCHEME_NAMES).default("rendezvous"))
    .option("--vnodes <n>", "ring: virtual nodes per member (default 160)")
    .option("--table-size <prime>", "maglev: lookup table size (default 65537)")
    .option("--json", "print JSON instead of text");
}

handleClosedPipes();

const program = exitCodesForUsageErrors(new Command("heck-ownership"))
  .description("Which node checks which origin: rendezvous hashing (default), a ring with vnodes, jump hash and Maglev.")
  .showHelpAfterError();

common(program.command("owners").argument("<origin>", "the origin to look up").description("one origin's owner and failover order"), false)
  .option("-k, --k <n>", "how many members to list", "3")
  .action((origin: string, o: CommonOptions & { k: string }) => {
    const scheme = createScheme(schemeName(o.scheme), members(o.members), schemeOptions(o));
    const k = integer(o.k, "--k", 1)!;
    const owners = scheme.ownersOf(origin, k);
    print(o.json, { command: "owners", scheme: scheme.name, label: scheme.label, origin, owners }, () =>
      [`${scheme.label}: ${origin}`, ...owners.map((id, i) => `  ${i + 1}. ${id}${i === 0 ? "  (owner)" : "  (takes over if all above are down)"}`)].join("\n"),
    );
  });

common(program.command("table").description("who owns every origin, and the load per member"), true)
  .option("-k, --k <n>", "failover list length shown per origin", "2")
  .option("-e, --epsilon <eps>", "bounded loads: cap each member at ceil((1+eps) x its fair share)")
  .option("--limit <n>", "origin rows shown in text output (0: all)", "20")
  .action((o: CommonOptions & { origins: string; k: string; limit: string }) => {
    const scheme = createScheme(schemeName(o.scheme), members(o.members), schemeOptions(o));
    const origins = prepareOrigins(loadOrigins(o.origins));
    const k = integer(o.k, "--k", 1)!;
    const table = assignWith(scheme, origins, epsilon(o.epsilon));
    const report = tableReport(table, scheme, origins, k);
    print(o.json, report, () => formatTable(report, integer(o.limit, "--limit", 0)!));
  });

common(program.command("diff").description("what moves when members are added or removed"), true)
  .option("-a, --add <list>", "members that join (id or id=weight, comma-separated)")
  .option("-r, --remove <list>", "members that leave (comma-separated ids)")
  .option("-e, --epsilon <eps>", "bounded loads: cap each member at ceil((1+eps) x its fair share)")
  .option("--limit <n>", "moved origins listed in text output (0: all)", "20")
  .action((o: CommonOptions & { origins: string; add?: string; remove?: string; limit: string }) => {
    if (o.add === undefined && o.remove === undefined) throw new OwnershipInputError("diff", "give --add <ids> and/or --remove <ids>");
    const before = members(o.members);
    const ids = normalizeMembers(before, "--members").map((m) => m.id);
    const removed = o.remove === undefined ? [] : normalizeMembers(parseMemberList(o.remove, "--remove"), "--remove").map((m) => m.id);
    for (const r of removed) if (!ids.includes(r)) throw new OwnershipInputError("--remove", `${JSON.stringify(r)} is not one of --members (${ids.join(",")})`);
    const added = o.add === undefined ? [] : parseMemberList(o.add, "--add");
    for (const a of normalizeMembers(added, "--add")) if (ids.includes(a.id)) throw new OwnershipInputError("--add", `${JSON.stringify(a.id)} is already a member`);
    // Survivors keep their order (jump hash numbers buckets by it); newcomers are appended.
    const after = [...before.filter((m) => !removed.includes(typeof m === "string" ? m : m.id)), ...added];
    if (after.length === 0) throw new OwnershipInputError("--remove", "would remove every member; nobody would own the origins");
    const name = schemeName(o.scheme);
    const opts = schemeOptions(o);
    const eps = epsilon(o.epsilon);
    const origins = prepareOrigins(loadOrigins(o.origins));
    const beforeScheme = createScheme(name, before, opts);
    const report = diffReport(assignWith(beforeScheme, origins, eps), assignWith(createScheme(name, after, opts), origins, eps), beforeScheme, origins);
    print(o.json, report, () => formatDiff(report, integer(o.limit, "--limit", 0)!));
  });

common(program.command("compare").description("every scheme on the same input: balance, and movement on one remove and one add"), true)
  .option("-r, --remove <id>", "the member that dies (default: the first in --members)")
  .option("-a, --add <id>", "the member that joins (default: new)")
  .option("-e, --epsilon <eps>", `eps of the bounded-loads row (default ${DEFAULT_BOUNDED_LOAD_EPSILON})`)
  .action((o: CommonOptions & { origins: string; add?: string; remove?: string }) => {
    const ms = members(o.members);
    const origins = prepareOrigins(loadOrigins(o.origins));
    const eps = epsilon(o.epsilon);
    const rows = compareSchemes(origins, ms, {
      ...schemeOptions(o),
      ...(o.remove === undefined ? {} : { remove: o.remove }),
      ...(o.add === undefined ? {} : { add: o.add }),
      ...(eps === undefined ? {} : { boundedLoadEpsilon: eps }),
    });
    const report = { command: "compare" as const, origins: origins.ids.length, members: normalizeMembers(ms), rows };
    print(o.json, report, () => formatCompare(report));
  });

program
  .command("ladder")
  .description("the simpler placements rendezvous replaces, on the same seeded draw: balance, movement, and what each breaks")
  .option("--seed <n>", "draws the origins and the member that leaves (same seed, same table)", "1")
  .option("--members <n>", "members n1..nN", "10")
  .option("--origins <n>", "origins drawn from the seed", "10000")
  .option("--json", "print one JSON line { rungs: [{ name, broke, ...figures }] }")
  .action(async (o: { seed: string; members: string; origins: string; json?: boolean }) => {
    const seed = integer(o.seed, "--seed", 0)!;
    const m = integer(o.members, "--members", 2)!;
    const n = integer(o.origins, "--origins", 1)!;
    // Loaded on demand: the other commands do not need the ladder.
    const { formatLadder, ladderJson, runLadder } = await import("./ladder/ladder.ts");
    const result = runLadder({ seed, members: m, origins: n });
    process.stdout.write(`${o.json ? ladderJson(result) : formatLadder(result)}\n`);
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof OwnershipInputError) {
    process.stderr.write(`heck-ownership: error: ${err.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    throw err;
  }
}
