/**
 * `heck-swim`: run a member (`agent`), look at one (`members`), rotate keys
 * (`keygen`, `keys`), say goodbye (`leave`), or run a seeded simulation
 * (`sim`). Parsing and wiring only: the protocol is in src/core, the
 * sockets in src/io.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal } from "@heck/cli-kit";
import { callJson, hostPortOf } from "@heck/sim/http";
import { ConfigError, presetConfig, resolveConfig, withoutLifeguard, type PresetName, type SwimConfig } from "./core/config.ts";
import type { MemberEvent } from "./core/types.ts";
import { startHttpApi, type MemberJson } from "./io/http-api.ts";
import { generateKey, KeyringError, parseKey } from "@heck/sim/io";
import { startMember } from "./io/member.ts";
import { swimClusterUp, type SwimCluster } from "./io/local-cluster.ts";
import { parseMemberlistKey } from "./io/memberlist-keyring.ts";
import { formatScenario, runScenario } from "./sim/scenario.ts";

// `heck-swim members | head -3` closes the pipe early: that ends the output, it is no error.
// A running agent whose log reader goes away leaves the cluster gracefully instead.
let onClosedPipe: () => void = () => process.exit(EXIT_OK);
handleClosedPipes(() => onClosedPipe());

const program = exitCodesForUsageErrors(new Command("heck-swim")).description("Stage 3: SWIM membership and failure detection with Lifeguard.");

function int(name: string, min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
}

function rate(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`must be a probability in [0, 1], got ${v}`);
  return n;
}

function list(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(",").map((s) => s.trim()).filter((s) => s.length > 0)];
}

const presetOption = new Option("--preset <name>", "timing preset (memberlist's defaults)").choices(["lan", "wan", "local"]).default("lan");

/** Timing overrides shared by `agent` and `sim`. */
function withTimingOptions(cmd: Command): Command {
  return cmd
    .addOption(presetOption)
    .option("--probe-interval <ms>", "protocol period", int("--probe-interval", 1))
    .option("--probe-timeout <ms>", "direct ack timeout before indirect probes", int("--probe-timeout", 1))
    .option("--suspicion-mult <n>", "suspicion timeout multiplier", int("--suspicion-mult", 1))
    .option("--gossip-interval <ms>", "gossip round interval", int("--gossip-interval", 0))
    .option("--push-pull-interval <ms>", "full state exchange interval (0 = off)", int("--push-pull-interval", 0))
    .option("--reconnect-interval <ms>", "push-pull with one random dead member this often, what re-merges a healed partition (0 = off)", int("--reconnect-interval", 0))
    .option("--gossip-to-the-dead <ms>", "keep gossiping to a member this long after declaring it dead, so a live one hears and refutes", int("--gossip-to-the-dead", 0))
    .option("--no-lifeguard", "plain SWIM: no health multiplier, fixed suspicion timeout, no buddy system");
}

function configFrom(opts: Record<string, unknown>): SwimConfig {
  const overrides: Partial<SwimConfig> = {};
  if (opts.probeInterval !== undefined) overrides.probeIntervalMs = opts.probeInterval as number;
  if (opts.probeTimeout !== undefined) overrides.probeTimeoutMs = opts.probeTimeout as number;
  if (opts.suspicionMult !== undefined) overrides.suspicionMult = opts.suspicionMult as number;
  if (opts.gossipInterval !== undefined) overrides.gossipIntervalMs = opts.gossipInterval as number;
  if (opts.pushPullInterval !== undefined) overrides.pushPullIntervalMs = opts.pushPullInterval as number;
  if (opts.reconnectInterval !== undefined) overrides.reconnectIntervalMs = opts.reconnectInterval as number;
  if (opts.gossipToTheDead !== undefined) overrides.gossipToTheDeadMs = opts.gossipToTheDead as number;
  const config = resolveConfig(overrides, presetConfig(opts.preset as PresetName));
  return opts.lifeguard === false ? withoutLifeguard(config) : config;
}

/** Exits with a message: `EXIT_USAGE` (2) for bad flags, `EXIT_FAILED` (1) when the operation did not happen. */
function fail(message: string, code: number = EXIT_FAILED): never {
  process.stderr.write(`heck-swim: ${message}\n`);
  process.exit(code);
}

// ---- agent -------------------------------------------------------------------

withTimingOptions(
  program
    .command("agent")
    .description("run a member over UDP and TCP, with an HTTP endpoint listing members")
    .requiredOption("--bind <host:port>", "UDP+TCP address to listen on (port 0 picks one)")
    .option("--name <name>", "unique member name (default: the bind address)")
    .option("--advertise <host>", "host to advertise when binding 0.0.0.0")
    .option("--join <addrs>", "members to join through (comma-separated or repeated); retried until one answers", list, [])
    .option("--retry-join <addrs>", "same as --join (Consul's name)", list, [])
    .option("--retry-max <n>", "give up (exit 1) after this many join attempts; 0 = never", int("--retry-max"), 0)
    .option("--retry-interval <ms>", "longest wait between join attempts (backoff from 1 s)", int("--retry-interval", 1), 30_000)
    .option("--http <host:port>", "HTTP endpoint for /v1/members and admin commands", "127.0.0.1:0")
    .option("--key <base64>", "encryption key (repeat for a keyring; the first encrypts): 32 bytes, or 16, 24 or 32 with --wire memberlist", list, [])
    .addOption(new Option("--wire <format>", "what to speak on --bind: heck's codec, or hashicorp/memberlist 0.2.2's wire").choices(["heck", "memberlist"]).default("heck"))
    .option("--compress", "LZW-compress what we send, as memberlist's EnableCompression (--wire memberlist only)")
    .option("--meta <text>", "metadata to publish (at most 512 bytes)", "")
    .option("--seed <n>", "seed for this member's random choices", int("--seed"))
    .option("--json", "print events as JSON lines"),
).action(async (opts: Record<string, unknown>) => {
  let config: SwimConfig;
  try {
    config = configFrom(opts);
  } catch (e) {
    fail(e instanceof ConfigError ? e.message : String(e), EXIT_USAGE);
  }
  const json = opts.json === true;
  const print = (event: string, fields: Record<string, unknown>): void => {
    const t = Date.now();
    if (json) process.stdout.write(`${JSON.stringify({ t, event, ...fields })}\n`);
    else {
      const time = new Date(t).toISOString().slice(11, 23);
      const rest = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
      process.stdout.write(`${time} ${event.padEnd(7)} ${rest}\n`);
    }
  };
  let member;
  try {
    member = await startMember({
      bind: opts.bind as string,
      ...(opts.name !== undefined ? { name: opts.name as string } : {}),
      ...(opts.advertise !== undefined ? { advertiseHost: opts.advertise as string } : {}),
      meta: opts.meta as string,
      config,
      wire: opts.wire as "heck" | "memberlist",
      ...(opts.compress === true ? { compress: true } : {}),
      keys: (opts.key as string[]).map((k) => (opts.wire === "memberlist" ? parseMemberlistKey(k) : parseKey(k))),
      ...(opts.seed !== undefined ? { seed: opts.seed as number } : {}),
      log: (level, message) => process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`),
    });
  } catch (e) {
    if (e instanceof KeyringError || e instanceof ConfigError || e instanceof TypeError) fail(e.message, EXIT_USAGE);
    fail(`could not start: ${(e as Error).message}`);
  }
  const self = member.name;
  member.subscribe((e: MemberEvent) => {
    print(e.type, { self, member: e.member.name, addr: e.member.addr, incarnation: e.member.incarnation, state: e.member.state });
  });
  let exiting = false;
  const exit = async (graceful: boolean): Promise<void> => {
    if (exiting) return;
    exiting = true;
    if (graceful) {
      const complete = await member.leave(5000);
      print("bye", { self, goodbyeComplete: complete });
    }
    await api.close();
    await member.shutdown();
    process.exit(EXIT_OK);
  };
  const api = await startHttpApi(member, { listen: opts.http as string, onLeave: () => void exit(false) });
  print("ready", { self, addr: member.address, http: api.address, pid: process.pid, members: member.members().length, encrypted: member.keyring !== undefined, ...(member.wire !== "heck" ? { wire: member.wire } : {}) });
  // Ctrl-C or SIGTERM: a graceful leave (others record `left`, not `dead`); a second Ctrl-C stops at once.
  onShutdownSignal(() => void exit(true));
  onClosedPipe = () => void exit(true);
  // Join like Consul's retry_join: a seed that is not up yet is retried with backoff, never fatal
  // unless --retry-max bounds the attempts.
  const seeds = [...(opts.join as string[]), ...(opts.retryJoin as string[])];
  if (seeds.length > 0) {
    member.retryJoin(seeds, { maxAttempts: opts.retryMax as number, maxIntervalMs: opts.retryInterval as number }).then(
      (p) => print("joined", { self, via: p.succeeded.join(","), attempts: p.attempts, members: member.members().length }),
      async (e: Error) => {
        if (exiting) return;
        exiting = true;
        process.stderr.write(`heck-swim: ${e.message}\n`);
        await api.close();
        await member.shutdown();
        process.exit(EXIT_FAILED);
      },
    );
  }
});

// ---- cluster up ----------------------------------------------------------------

program
  .command("cluster")
  .description("local clusters of agent processes")
  .command("up")
  .description("start n agents (on loopback, or each on its own host with --netns), print them once all see each other alive; Ctrl-C stops them")
  .option("--nodes <n>", "members a1..an", int("--nodes", 1), 5)
  .option("--base-port <p>", "member i gossips on p+i and serves HTTP on p+100+i", int("--base-port", 1024), 14001)
  .addOption(new Option("--preset <name>", "timing preset for every member").choices(["lan", "wan", "local"]).default("local"))
  .option("--data-dir <dir>", "where each member's event log goes (<dir>/<name>.log)", ".heck/swim-cluster")
  .option("--netns", "each member on its own host in a network lab (needs root); faults with heck-net", false)
  .option("--json", 'print one JSON line { "nodes": [ { "name", "pid", "addr", "http", "netns", "host" } ] } when up', false)
  .action(async (o: { nodes: number; basePort: number; preset: string; dataDir: string; netns: boolean; json: boolean }) => {
    if (o.nodes > 64) fail(`--nodes must be at most 64, got ${o.nodes}`);
    let cluster: SwimCluster;
    try {
      cluster = await swimClusterUp({ nodes: o.nodes, basePort: o.basePort, dataDir: o.dataDir, netns: o.netns, agentArgs: ["--preset", o.preset] });
    } catch (e) {
      return fail(`cluster up: ${(e as Error).message}`);
    }
    const nodes = cluster.nodes.map(({ name, pid, addr, http, netns, host }) => ({ name, pid, addr, http, netns, host }));
    if (o.json) process.stdout.write(`${JSON.stringify({ nodes })}\n`);
    else {
      const second = nodes[1] ?? nodes[0]!;
      process.stdout.write(
        [
          ...nodes.map((n) => `${n.name.padEnd(4)} pid ${String(n.pid).padEnd(7)} gossip ${n.addr.padEnd(21)} http ${n.http}${n.netns ? `  netns ${n.netns}` : ""}`),
          `events in ${o.dataDir}/<name>.log`,
          ``,
          `  pnpm heck-swim members --http ${nodes[0]!.http}`,
          `  kill -9 ${second.pid}        # ${second.name} crashes: the others suspect it, then declare it dead`,
          ...(cluster.lab ? [`  pnpm heck-net isolate ${second.name}      # cut ${second.name} off in the kernel (pnpm heck-net heal to undo)`, `  pnpm heck-net loss 30%       # lose 30% of packets between every pair`] : []),
          ``,
          `Ctrl-C stops every member.`,
          ``,
        ].join("\n"),
      );
    }
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      cluster.stop().then(() => process.exit(0));
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    setInterval(() => undefined, 1 << 30);
  });

// ---- members / leave / keys ----------------------------------------------------

async function call(address: string, method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  // --http takes host:port (what --json lines print) or http://host:port.
  const http = hostPortOf(address) ?? address;
  const res = await callJson(method, `http://${http}${path}`, body !== undefined ? { body } : {});
  if (!res.json) throw new Error(`${http}${path}: HTTP ${res.status}, not JSON: ${res.text.slice(0, 200)}`);
  if (res.status >= 400) throw new Error(`${http}${path}: ${(res.body as { error?: string }).error ?? `HTTP ${res.status}`}`);
  return res.body;
}

program
  .command("members")
  .description("list the members an agent sees")
  .requiredOption("--http <host:port>", "the agent's HTTP endpoint")
  .option("--json", "print the JSON array as GET /v1/members returns it")
  .action(async (opts: { http: string; json?: boolean }) => {
    let members: MemberJson[];
    try {
      members = (await call(opts.http, "GET", "/v1/members")) as MemberJson[];
    } catch (e) {
      fail((e as Error).message);
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(members)}\n`);
      return;
    }
    const rows = [["NAME", "ADDR", "STATE", "INCARNATION", "META"], ...members.map((m) => [m.name, m.addr, m.state, String(m.incarnation), m.meta])];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
  });

program
  .command("leave")
  .description("make an agent leave gracefully (it exits afterwards)")
  .requiredOption("--http <host:port>", "the agent's HTTP endpoint")
  .action(async (opts: { http: string }) => {
    try {
      process.stdout.write(`${JSON.stringify(await call(opts.http, "POST", "/v1/leave"))}\n`);
    } catch (e) {
      fail((e as Error).message);
    }
  });

program
  .command("keygen")
  .description("print a new random AES-256 key (base64)")
  .action(() => {
    process.stdout.write(`${generateKey()}\n`);
  });

const keys = program.command("keys").description("rotate encryption keys on running agents (install, use, remove)");
for (const [verb, what] of [
  ["list", "show key fingerprints, primary first"],
  ["install", "add a key for decryption"],
  ["use", "make an installed key the one that encrypts"],
  ["remove", "drop a key that is no longer primary"],
] as const) {
  const cmd = keys
    .command(verb)
    .description(what)
    .requiredOption("--http <host:port>", "agent HTTP endpoint (comma-separated or repeated for several agents)", list, []);
  if (verb !== "list") cmd.requiredOption("--key <base64>", "the key");
  cmd.action(async (opts: { http: string[]; key?: string }) => {
    if (opts.key !== undefined) {
      try {
        // Every size any wire takes (16, 24, 32 bytes); each agent then checks its own wire's.
        parseMemberlistKey(opts.key);
      } catch (e) {
        fail((e as Error).message, EXIT_USAGE);
      }
    }
    let failed = false;
    for (const http of opts.http) {
      try {
        const result = verb === "list" ? await call(http, "GET", "/v1/keys") : await call(http, "POST", `/v1/keys/${verb}`, { key: opts.key });
        process.stdout.write(`${http} ${JSON.stringify(result)}\n`);
      } catch (e) {
        failed = true;
        process.stderr.write(`heck-swim: ${(e as Error).message}\n`);
      }
    }
    if (failed) process.exit(EXIT_FAILED);
  });
}

// ---- sim ---------------------------------------------------------------------

withTimingOptions(
  program
    .command("sim")
    .description("a seeded simulation: detection times, false positives and message load")
    .option("--nodes <n>", "cluster size", int("--nodes", 2), 100)
    .option("--loss <p>", "packet loss probability", rate, 0)
    .option("--seed <n>", "simulation seed (same seed, same run)", int("--seed"), 1)
    .option("--kill <k>", "members to crash after warm-up", int("--kill"), 1)
    .option("--slow <k>", "members with a lagging CPU (Lifeguard's slow node)", int("--slow"), 0)
    .option("--lag <ms>", "how late a slow member handles its work, at most", int("--lag"), 5000)
    .option("--join", "start from n1 alone, every other member joining through it at once, and time the join")
    .option("--json", "print the result as JSON"),
).action((opts: Record<string, unknown>) => {
  let config: SwimConfig;
  try {
    config = configFrom(opts);
  } catch (e) {
    fail(e instanceof ConfigError ? e.message : String(e), EXIT_USAGE);
  }
  const nodes = opts.nodes as number;
  if ((opts.kill as number) >= nodes) fail(`--kill must be below --nodes (${nodes}), got ${String(opts.kill)}`, EXIT_USAGE);
  const result = runScenario({
    nodes,
    seed: opts.seed as number,
    lossRate: opts.loss as number,
    kill: opts.kill as number,
    config,
    slow: opts.slow as number,
    lagMs: opts.lag as number,
    join: opts.join === true,
  });
  if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${formatScenario(result)}\n`);
});

// ---- ladder ------------------------------------------------------------------

function sizes(v: string): number[] {
  const out = v.split(",").map((s) => Number(s.trim()));
  for (const n of out) if (!Number.isInteger(n) || n < 3) throw new InvalidArgumentError(`sizes must be integers >= 3, comma-separated, got ${v}`);
  return out;
}

program
  .command("ladder")
  .description("the simpler failure detectors SWIM replaces, run on the same seeded network: what each one breaks")
  .option("--seed <n>", "simulation seed (same seed, same table)", int("--seed"), 1)
  .option("--sizes <list>", "cluster sizes of the scale experiment", sizes, [10, 100, 1000])
  .option("--json", "print one JSON line { rungs: [{ name, broke, ...figures }] }")
  .action(async (opts: { seed: number; sizes: number[]; json?: boolean }) => {
    // Loaded on demand, so starting an agent does not compile the ladder.
    const { formatLadder, ladderJson, runLadder } = await import("./ladder/ladder.ts");
    const result = runLadder({ seed: opts.seed, sizes: opts.sizes });
    process.stdout.write(`${opts.json ? ladderJson(result) : formatLadder(result)}\n`);
  });

program.parseAsync().catch((e: unknown) => fail((e as Error).message));
