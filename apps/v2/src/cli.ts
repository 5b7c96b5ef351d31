/**
 * `heck`: the v2 command line. Parses and validates, wires the pieces,
 * calls the driver; no logic of its own.
 *
 *   heck agent --id n1 --bind 127.0.0.1:7946 --api 127.0.0.1:8946 [--join host:port] [--store crdt|raft|etcd] [--config file]
 *   heck origins add|rm|ls|get ...   heck members   heck ownership      (talk to any agent: --api, --token)
 *   heck cluster up --nodes 5 --origins 1000 --store crdt [--netns] [--json]
 *   heck compare [--quick] [--mode sim|real|all]      (raft vs CRDTs on the same workload; writes docs/compare/)
 *   heck ladder [--seed n] [--sizes 3,5,9,17] [--json] (the cost of coordination: raft, raft for the list only, CRDTs)
 *   heck soak --store crdt --agents 7 --origins 2000 --duration 15m [--faults kernel|app] [--seed n]
 */
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT_USAGE, exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal } from "@heck/cli-kit";
// The commands' definitions only: the experiment loads when `compare` or `ladder` runs.
import { registerCompareCommand, registerLadderCommand } from "@heck/compare/command";
import { decodeAgentConfig } from "./core/config.ts";
import { AgentClient, ApiError } from "./io/client.ts";
import { busyMachineNote, clusterBanner, clusterUp } from "./io/cluster.ts";
import { registerSoakCommand } from "./soak/command.ts";
import type { OriginView } from "./io/api.ts";

// `heck origins ls | head` closes the pipe early: that ends the output, it is no error.
handleClosedPipes();

const fail = (msg: string, code = EXIT_USAGE): never => {
  process.stderr.write(`heck: ${msg}\n`);
  process.exit(code);
};

const intArg = (flag: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer in ${min}..${max}`);
  return n;
};

const program = exitCodesForUsageErrors(new Command("heck"))
  .description(
    "Stage 6 of Heck: a distributed health checker. Agents form a SWIM cluster, split the origins by rendezvous hashing\n" +
      "(one checker per origin), check them with the v1 engine, and share results through a store (crdt-kv, raft-kv or etcd),\n" +
      "so any agent answers for every origin.",
  )
  .showHelpAfterError();

// ---------------------------------------------------------------------------
// heck agent
// ---------------------------------------------------------------------------

/** Flag name -> config field, for flags that map one to one. */
const AGENT_FLAGS: [string, string, string, "string" | "int"][] = [
  ["--id <name>", "id", "member name, unique in the cluster (A-Z a-z 0-9 _ . -)", "string"],
  ["--bind <host:port>", "bind", "SWIM gossip address, UDP+TCP (default 127.0.0.1:7946)", "string"],
  ["--join <host:port,...>", "join", "SWIM addresses of running agents to join through (retried with backoff, like Consul's retry_join)", "string"],
  ["--join-timeout-ms <ms>", "joinTimeoutMs", "give up joining after this long (default 30000; 0 = retry forever)", "int"],
  ["--api <host:port>", "api", "HTTP API and dashboard address (default 127.0.0.1:8946; port 0 = any)", "string"],
  ["--store <kind>", "store", "shared state: crdt (default, coordination-free), raft (consensus), etcd", "string"],
  ["--data-dir <dir>", "dataDir", "where the crdt replica or raft member keeps its data (default .heck/data/<id>)", "string"],
  ["--crdt-port <port>", "crdtPort", "crdt gossip port on the bind host (default 0 = any)", "int"],
  ["--crdt-sync-interval-ms <ms>", "crdtSyncIntervalMs", "crdt anti-entropy period (default 200)", "int"],
  ["--raft-peers <id=host:port,...>", "raftPeers", "raft-kv members' peer addresses; an agent listed here embeds a member", "string"],
  ["--raft-grpc <host:port>", "raftGrpc", "this raft member's etcd gRPC address (for agents that are not members)", "string"],
  ["--raft-endpoints <host:port,...>", "raftEndpoints", "gRPC endpoints of raft-kv members, for agents that are not members", "string"],
  ["--etcd-endpoints <host:port,...>", "etcdEndpoints", "etcd client endpoints (--store etcd)", "string"],
  ["--prefix <p>", "prefix", 'key prefix in the store (default "heck/")', "string"],
  ["--token <t>", "token", "bearer token for the API (required unless --api is loopback; env HECK_TOKEN)", "string"],
  ["--gossip-key <base64>", "gossipKey", "AES-256 key for SWIM gossip (required unless --bind is loopback; env HECK_GOSSIP_KEY)", "string"],
  ["--replicas <k>", "replicas", "checkers per origin: primary + idle backups (default 1: one check per origin per interval)", "int"],
  ["--interval-ms <ms>", "intervalMs", "default check interval (default 2000)", "int"],
  ["--timeout-ms <ms>", "timeoutMs", "default check timeout (default 1000)", "int"],
  ["--rise <n>", "rise", "successes in a row to become healthy (default 2)", "int"],
  ["--fall <n>", "fall", "failures in a row to become unhealthy (default 3)", "int"],
  ["--refresh-ms <ms>", "refreshMs", "rewrite an unchanged record after this long (default 5 x interval)", "int"],
  ["--handoff-grace-ms <ms>", "handoffGraceMs", "keep checking a lost origin until its new owner writes, at most this long (default 2 x interval + 1 s)", "int"],
  ["--promote-after-ms <ms>", "promoteAfterMs", "backups take over a record older than rank x this (default 3 x refresh when replicas > 1)", "int"],
  ["--swim-preset <name>", "swimPreset", "SWIM timings: lan (memberlist defaults), wan, local", "string"],
  ["--max-concurrent-checks <n>", "maxConcurrentChecks", "checks in flight per agent (default 1000)", "int"],
];

/** A YAML (or JSON) file's contents. yaml is loaded by the two commands that read one, not at every start. */
async function readYamlFile(file: string): Promise<unknown> {
  const { parse } = await import("yaml");
  return parse(readFileSync(file, "utf8")) as unknown;
}

const agentCmd = program
  .command("agent")
  .description("run an agent: join the cluster, check the origins it owns, share results, serve the API and dashboard")
  .option("--config <file>", "YAML or JSON file with the same fields (camelCase: id, bind, join, api, store, ...; origins: [...]); flags win")
  .option("--swim-config <json>", 'SWIM config overrides as JSON, e.g. \'{"probeIntervalMs":200}\' (fields of @heck/swim SwimConfig)')
  .option("--json", "print one JSON line { id, pid, api, gossip, store } when up", false);
for (const [flag, , help] of AGENT_FLAGS) agentCmd.option(flag, help);
agentCmd.action(async (opts: Record<string, string | boolean | undefined>) => {
  let raw: Record<string, unknown> = {};
  if (typeof opts.config === "string") {
    try {
      const parsed = await readYamlFile(opts.config);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) fail(`--config ${opts.config}: must hold an object of settings`);
      raw = parsed as Record<string, unknown>;
    } catch (e) {
      fail(`--config ${opts.config}: ${(e as Error).message}`);
    }
  }
  if (process.env.HECK_TOKEN && raw.token === undefined) raw.token = process.env.HECK_TOKEN;
  if (process.env.HECK_GOSSIP_KEY && raw.gossipKey === undefined) raw.gossipKey = process.env.HECK_GOSSIP_KEY;
  for (const [flag, field, , kind] of AGENT_FLAGS) {
    const key = flag.slice(2, flag.indexOf(" ")).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = opts[key];
    if (typeof v !== "string") continue;
    if (kind === "int") {
      if (!/^-?\d+$/.test(v)) fail(`${flag.split(" ")[0]}: must be an integer, got ${JSON.stringify(v)}`);
      raw[field] = Number(v);
    } else raw[field] = v;
  }
  if (typeof opts.swimConfig === "string") {
    try {
      raw.swim = { ...((raw.swim as object | undefined) ?? {}), ...(JSON.parse(opts.swimConfig) as object) };
    } catch (e) {
      fail(`--swim-config: not JSON (${(e as Error).message})`);
    }
  }
  const decoded = decodeAgentConfig(raw);
  if (!decoded.ok) fail(`bad configuration:\n  ${decoded.message.split("\n").join("\n  ")}`);
  const config = (decoded as { ok: true; value: import("./core/config.ts").AgentConfig }).value;
  // The agent (every store's client, SWIM, the checker) loads only for this command, so the client
  // commands and the refusals of bad flags start in a fraction of the time.
  const { Agent, configOriginErrors } = await import("./io/agent.ts");
  const originErrors = configOriginErrors(config);
  if (originErrors.length > 0) fail(`bad configuration:\n  ${originErrors.join("\n  ")}`);
  let agent: Awaited<ReturnType<typeof Agent.start>>;
  try {
    agent = await Agent.start(config);
  } catch (e) {
    return fail(`agent ${config.id} could not start: ${(e as Error).message}`, 1);
  }
  if (opts.json) process.stdout.write(JSON.stringify({ id: config.id, pid: process.pid, api: agent.apiAddress, gossip: agent.gossipAddress, store: config.store }) + "\n");
  else process.stdout.write(`heck agent ${config.id}: API and dashboard http://${agent.apiAddress}/, gossip ${agent.gossipAddress}, store ${config.store}. Ctrl-C leaves gracefully.\n`);
  // Ctrl-C or SIGTERM: a graceful leave (others record `left`, and hand-offs complete). Started through
  // pnpm, one Ctrl-C arrives as SIGINT and then SIGTERM: onShutdownSignal reads them as one request.
  // A second Ctrl-C stops at once.
  onShutdownSignal(() => void agent.leave());
  await agent.whenStopped();
  process.exit(0);
});

// ---------------------------------------------------------------------------
// Clients: origins, members, ownership
// ---------------------------------------------------------------------------

interface ClientOpts {
  api: string;
  token: string;
  json: boolean;
}

function withClient(cmd: Command): Command {
  return cmd
    .option("--api <host:port>", "any agent's API (env HECK_API)", process.env.HECK_API ?? "127.0.0.1:8946")
    .option("--token <t>", "bearer token (env HECK_TOKEN)", process.env.HECK_TOKEN ?? "")
    .option("--json", "print JSON", false);
}

async function run<T>(opts: ClientOpts, fn: (c: AgentClient) => Promise<T>, human: (v: T) => string): Promise<void> {
  try {
    const v = await fn(new AgentClient(opts.api, opts.token));
    process.stdout.write(opts.json ? JSON.stringify(v) + "\n" : human(v));
  } catch (e) {
    fail(e instanceof ApiError ? e.message : (e as Error).message, 1);
  }
}

const age = (ms: number | null) => (ms === null ? "-" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

const originRows = (list: OriginView[]) => table([["ID", "STATUS", "OBSERVER", "AGE", "OWNER", "URL"], ...list.map((o) => [o.id, o.status, o.observer ?? "-", age(o.ageMs), o.owners[0] ?? "-", o.url])]);

const origins = program.command("origins").description("the replicated origin list: add, remove, list, get (through any agent)");
withClient(
  origins
    .command("add")
    .description("add an origin to the cluster (or several with --file)")
    .argument("[id]", "origin id")
    .argument("[url]", "http(s)://... or tcp://host:port")
    .option("--file <file>", "a JSON or YAML list of origins ({ id, url, intervalMs, ... })")
    .addOption(new Option("--interval-ms <ms>", "check interval").argParser(intArg("--interval-ms", 10, 86_400_000)))
    .addOption(new Option("--timeout-ms <ms>", "check timeout").argParser(intArg("--timeout-ms", 1, 600_000))),
).action(async (id: string | undefined, url: string | undefined, opts: ClientOpts & { file?: string; intervalMs?: number; timeoutMs?: number }) => {
  let body: unknown;
  if (opts.file !== undefined) {
    try {
      body = await readYamlFile(opts.file);
    } catch (e) {
      fail(`--file ${opts.file}: ${(e as Error).message}`);
    }
  } else {
    if (id === undefined || url === undefined) fail("origins add: give <id> <url>, or --file");
    body = { id, url, ...(opts.intervalMs !== undefined ? { intervalMs: opts.intervalMs } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) };
  }
  await run(opts, (c) => c.call("POST", "/v1/origins", body), (v) => `added ${Array.isArray(v) ? `${v.length} origins` : (v as { id: string }).id}\n`);
});
withClient(origins.command("rm").description("remove an origin from the cluster").argument("<id>")).action(async (id: string, opts: ClientOpts) => {
  await run(opts, (c) => c.call("DELETE", `/v1/origins/${encodeURIComponent(id)}`).then(() => ({ removed: id })), () => `removed ${id}\n`);
});
withClient(
  origins
    .command("ls")
    .description("list origins with status, observer and age, as the agent sees them")
    .addOption(new Option("--status <s>", "only this status").choices(["healthy", "unhealthy", "unknown"])),
).action(async (opts: ClientOpts & { status?: string }) => {
  await run(opts, (c) => c.get<OriginView[]>(`/v1/origins${opts.status ? `?status=${opts.status}` : ""}`), (list) => (list.length === 0 ? "no origins\n" : originRows(list)));
});
withClient(origins.command("get").description("one origin: status, observer, last check, age, owners").argument("<id>")).action(async (id: string, opts: ClientOpts) => {
  await run(opts, (c) => c.get<OriginView>(`/v1/origins/${encodeURIComponent(id)}`), (o) =>
    table([
      ["id", o.id],
      ["url", o.url],
      ["status", o.status],
      ["observer", o.observer ?? "-"],
      ["checked at", o.checkedAt ?? "-"],
      ["age", age(o.ageMs)],
      ["since", o.since ?? "-"],
      ["latency", o.latencyMs === null ? "-" : `${o.latencyMs} ms`],
      ["last error", o.lastError ?? "-"],
      ["owners", o.owners.join(", ")],
    ]),
  );
});

withClient(program.command("members").description("the SWIM members an agent knows, with state and API address")).action(async (opts: ClientOpts) => {
  await run(opts, (c) => c.get<{ id: string; state: string; incarnation: number; api: string | null; addr: string }[]>("/v1/members"), (ms) =>
    table([["ID", "STATE", "INCARNATION", "GOSSIP", "API"], ...ms.map((m) => [m.id, m.state, String(m.incarnation), m.addr, m.api ?? "-"])]),
  );
});

withClient(program.command("ownership").description("the rendezvous ownership table an agent computes").option("--origin <id>", "only this origin")).action(
  async (opts: ClientOpts & { origin?: string }) => {
    await run(opts, (c) => c.get<{ members: string[]; replicas: number; load: Record<string, number>; origins: { id: string; owners: string[] }[] }>(`/v1/ownership${opts.origin ? `?origin=${encodeURIComponent(opts.origin)}` : ""}`), (t) =>
      opts.origin
        ? table([["ORIGIN", "OWNERS (primary first)"], ...t.origins.map((o) => [o.id, o.owners.join(", ")])])
        : `${t.members.length} members, k = ${t.replicas}\n` + table([["MEMBER", "ORIGINS OWNED"], ...Object.entries(t.load).map(([m, n]) => [m, String(n)])]),
    );
  },
);

// ---------------------------------------------------------------------------
// heck cluster up
// ---------------------------------------------------------------------------

program
  .command("cluster")
  .description("local clusters for demos and tests")
  .command("up")
  .description("start n agent processes and a heck-fleet of m origins on loopback (or each agent on its own host with --netns); Ctrl-C stops everything")
  .addOption(new Option("--nodes <n>", "agents").default(5).argParser(intArg("--nodes", 1, 64)))
  .addOption(new Option("--origins <m>", "origins served by a heck-fleet").default(100).argParser(intArg("--origins", 0, 20_000)))
  .addOption(new Option("--store <kind>", "shared state").choices(["crdt", "raft", "etcd"]).default("crdt"))
  .addOption(new Option("--base-port <p>", "first port (see the layout in src/io/cluster.ts)").default(18000).argParser(intArg("--base-port", 1024, 65000)))
  .addOption(new Option("--interval-ms <ms>", "check interval").default(1000).argParser(intArg("--interval-ms", 50, 60_000)))
  .addOption(new Option("--replicas <k>", "checkers per origin").default(1).argParser(intArg("--replicas", 1, 16)))
  .addOption(new Option("--swim-preset <name>", "SWIM timings").choices(["lan", "wan", "local"]).default("local"))
  .option("--etcd-endpoints <list>", "use this etcd instead of starting a local one (--store etcd)")
  .option("--data-dir <dir>", "keep agents' data and logs here (default: a temp dir; at stop its data goes and the agents' logs stay)")
  .option("--netns", "each agent on its own host in a network lab (needs root): its own address, kernel faults with heck-net", false)
  .option("--json", 'print one JSON line { "nodes": [ { "id", "pid", "api", "netns", "host" } ], "fleet": { "pid", "control" }, "token"? } once every agent is up', false)
  .action(async (opts: { nodes: number; origins: number; store: "crdt" | "raft" | "etcd"; basePort: number; intervalMs: number; replicas: number; swimPreset: "lan" | "wan" | "local"; etcdEndpoints?: string; dataDir?: string; netns: boolean; json: boolean }) => {
    const log = opts.json ? () => undefined : (l: string) => process.stderr.write(`heck cluster: ${l}\n`);
    const busy = busyMachineNote(loadavg()[0]!, availableParallelism(), opts);
    if (busy !== undefined) log(busy);
    let cluster;
    try {
      cluster = await clusterUp({
        nodes: opts.nodes,
        origins: opts.origins,
        store: opts.store,
        basePort: opts.basePort,
        intervalMs: opts.intervalMs,
        replicas: opts.replicas,
        swimPreset: opts.swimPreset,
        host: "127.0.0.1",
        netns: opts.netns,
        log,
        ...(opts.etcdEndpoints ? { etcdEndpoints: opts.etcdEndpoints.split(",").map((s) => s.trim()) } : {}),
        ...(opts.dataDir ? { dataDir: opts.dataDir } : { keepLogs: true }),
      });
    } catch (e) {
      // On a busy machine, most start-up failures are the CPU wait: say so again beside the error.
      return fail(`cluster up: ${(e as Error).message}${busy === undefined ? "" : `\n  (${busy})`}`, 1);
    }
    if (opts.json) process.stdout.write(JSON.stringify(cluster.contract()) + "\n");
    else process.stdout.write(clusterBanner(cluster, { store: opts.store, origins: opts.origins, intervalMs: opts.intervalMs }));
    onShutdownSignal(() => {
      log("stopping...");
      cluster.stop().then(
        () => {
          // Always said, --json or not (on stderr, so the contract line stays alone on stdout).
          process.stderr.write(opts.dataDir ? `heck cluster: stopped; data and logs are in ${cluster.dataDir}\n` : `heck cluster: stopped; the agents' logs are kept in ${cluster.dataDir} (rm -r ${cluster.dataDir} removes them)\n`);
          process.exit(0);
        },
        () => process.exit(1),
      );
    });
  });

// heck compare and heck ladder: raft vs CRDTs (and etcd) on the same workload,
// and the cost of coordination as N grows (@heck/compare). Real mode starts
// its agents with this very CLI.
registerCompareCommand(program, { heck: [process.execPath, fileURLToPath(new URL("../bin/heck.js", import.meta.url))], cwd: fileURLToPath(new URL("..", import.meta.url)) });
registerLadderCommand(program);
// heck soak: a long, seeded fault schedule on real hosts (src/soak).
registerSoakCommand(program);

await program.parseAsync();
