/**
 * `heck-raft`: run a raft-kv server or a local cluster, and talk to one.
 * Parsing and validation only; the work is in src/io.
 */
import v8 from "node:v8";
import { Command, InvalidArgumentError, Option } from "commander";
import { parseKey } from "@heck/sim/io";
import { startServer, parseListen } from "./io/embed.ts";
import { LocalCluster } from "./io/local-cluster.ts";
import { RaftKvHttpClient, RaftKvHttpError, type HttpKeyValue, type HttpWatchEvent } from "./io/http-client.ts";
import { ServerError } from "./core/replica/errors.ts";

const DEFAULT_ENDPOINTS = process.env.HECK_RAFT_ENDPOINTS ?? "127.0.0.1:15001,127.0.0.1:15004,127.0.0.1:15007";

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return n;
  };
}

function hostPort(name: string) {
  return (v: string): string => {
    try {
      parseListen(v, name);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
    return v;
  };
}

/** Parses "n1=127.0.0.1:9001,n2=..." into a map, naming the bad entry. */
function parsePeers(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(",").filter((p) => p.trim() !== "")) {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})=([^\s:]+:\d{1,5})$/.exec(part.trim());
    if (!m) throw new InvalidArgumentError(`--peers: ${JSON.stringify(part)} is not id=host:port`);
    if (out[m[1]!]) throw new InvalidArgumentError(`--peers: ${m[1]} given twice`);
    out[m[1]!] = m[2]!;
  }
  if (Object.keys(out).length === 0) throw new InvalidArgumentError("--peers: give at least one id=host:port");
  return out;
}

/** Collects repeated `--key` values, checking each is a base64 AES-256 key. */
function collectKey(value: string, previous: string[] = []): string[] {
  try {
    parseKey(value);
  } catch (error) {
    throw new InvalidArgumentError(`--key: ${(error as Error).message.replace(/^key: /, "")}`);
  }
  return [...previous, value.trim()];
}

/**
 * Keys from `--key`, else from HECK_RAFT_KEYS (comma-separated; `cluster up`
 * hands its keys to the servers this way, out of their command lines and logs).
 */
function peerKeys(flags: string[] | undefined): string[] | undefined {
  if (flags !== undefined && flags.length > 0) return flags;
  const env = process.env[KEYS_ENV];
  if (env === undefined || env.trim() === "") return undefined;
  const keys = env.split(",").map((k) => k.trim()).filter(Boolean);
  keys.forEach((k, i) => {
    try {
      parseKey(k);
    } catch (error) {
      throw new InvalidArgumentError(`${KEYS_ENV}[${i}]: ${(error as Error).message.replace(/^key: /, "")}`);
    }
  });
  return keys;
}
const KEYS_ENV = "HECK_RAFT_KEYS";
const KEY_HELP = "encrypt peer traffic (AES-256-GCM) with this base64 32-byte key (`openssl rand -base64 32`); repeat for rotation, the first is the primary. Client APIs stay plaintext";

interface GlobalOpts {
  endpoints: string;
  json: boolean;
  timeoutMs: number;
}

function client(g: GlobalOpts): RaftKvHttpClient {
  return new RaftKvHttpClient({ endpoints: g.endpoints.split(",").map((e) => e.trim()).filter(Boolean), timeoutMs: g.timeoutMs });
}

function print(g: GlobalOpts, json: unknown, text: string): void {
  process.stdout.write((g.json ? JSON.stringify(json) : text) + "\n");
}

function fail(error: unknown, json: boolean): never {
  const code = error instanceof RaftKvHttpError || error instanceof ServerError ? error.code : "error";
  const message = error instanceof Error ? error.message : String(error);
  if (json) process.stdout.write(JSON.stringify({ error: { code, message } }) + "\n");
  else process.stderr.write(`heck-raft: ${message}\n`);
  process.exit(1);
}

function showKv(kv: HttpKeyValue): string {
  return `${kv.key}\n${kv.value}`;
}

/**
 * A server process optimizes its hot code sooner than V8's defaults, which
 * suit short-lived pages: by default a function waits for 66 KB of bytecode
 * run and 500 calls after each inline-cache change before TurboFan compiles
 * it, so after a start or a failover the new leader serves thousands of
 * requests from the interpreter and baseline code. Measured with
 * `bench/profile.ts seq 2000` (300 puts of warm-up, load ~20, two alternating
 * pairs): leader 385-410 µs of CPU per put with these flags against 520-600
 * without, followers 170-190 against 220-290, p50 0.95-1.0 ms against
 * 1.1-1.7 ms. After 5,000 puts of warm-up the two are alike (leader
 * 240-360 µs per put either way).
 * Set at run time, before the request paths get hot; costs some compilation
 * early.
 */
function tierUpSooner(): void {
  v8.setFlagsFromString("--interrupt-budget=4096");
  v8.setFlagsFromString("--minimum-invocations-after-ic-update=10");
}

const program = new Command("heck-raft")
  .description("Stage 4: a Raft-replicated key-value store that speaks a subset of etcd's API.")
  .option("--endpoints <list>", "HTTP API host:port list of the cluster", DEFAULT_ENDPOINTS)
  .option("--json", "machine-readable output (one JSON object per line)", false)
  .addOption(new Option("--timeout-ms <ms>", "give up a request after this long").default(10_000).argParser(int("--timeout-ms", 1, 600_000)))
  .showHelpAfterError();

const g = (): GlobalOpts => program.opts<GlobalOpts>();

program
  .command("server")
  .description("run one raft-kv member in the foreground until SIGINT/SIGTERM")
  .requiredOption("--id <id>", "this member's id, e.g. n1")
  .requiredOption("--peers <list>", "founding members: n1=127.0.0.1:9001,n2=...", parsePeers)
  .requiredOption("--data-dir <dir>", "where the WAL and snapshots live")
  .option("--http <host:port>", "JSON HTTP API listen address", hostPort("--http"))
  .option("--grpc <host:port>", "etcd v3 gRPC API listen address", hostPort("--grpc"))
  .option("--peer-listen <host:port>", "peer listen address (default: this id's entry in --peers)", hostPort("--peer-listen"))
  .option("--join", "start empty and wait to be added with `members add` (not a founder)", false)
  .addOption(new Option("--tick-ms <ms>", "Raft tick length").default(50).argParser(int("--tick-ms", 1, 10_000)))
  .addOption(new Option("--election-tick <n>", "election timeout in ticks (randomized up to 2x)").default(10).argParser(int("--election-tick", 2, 1000)))
  .addOption(new Option("--heartbeat-tick <n>", "heartbeat interval in ticks").default(1).argParser(int("--heartbeat-tick", 1, 1000)))
  .addOption(new Option("--commit-broadcast-delay-ms <ms>", "a leader may wait this long for the next append to carry a new commit index to followers; -1 = at once").default(10).argParser((v: string) => (v === "-1" ? -1 : int("--commit-broadcast-delay-ms", 0, 1000)(v))))
  .addOption(new Option("--snapshot-entries <n>", "snapshot and compact the log every n applied entries").default(10_000).argParser(int("--snapshot-entries", 1, 100_000_000)))
  .addOption(new Option("--request-timeout-ms <ms>", "client requests time out after this long").default(5_000).argParser(int("--request-timeout-ms", 10, 600_000)))
  .option("--cluster-token <token>", "groups members into one cluster (etcd's cluster id is derived from it)", "heck-raft")
  .addOption(new Option("--read-mode <mode>", "linearizable reads: ReadIndex with a heartbeat round (safe) or the leader lease (lease, assumes bounded clock drift)").choices(["safe", "lease"]).default("safe"))
  .option("--key <base64>", `${KEY_HELP} (or ${KEYS_ENV}=k1,k2)`, collectKey)
  .action(async (o: { id: string; peers: Record<string, string>; dataDir: string; http?: string; grpc?: string; peerListen?: string; join: boolean; tickMs: number; electionTick: number; heartbeatTick: number; commitBroadcastDelayMs: number; snapshotEntries: number; requestTimeoutMs: number; clusterToken: string; readMode: "safe" | "lease"; key?: string[] }) => {
    if (o.heartbeatTick >= o.electionTick) fail(new Error("--heartbeat-tick must be smaller than --election-tick"), g().json);
    if (!o.join && !o.peers[o.id] && !o.peerListen) fail(new Error(`--peers must include ${o.id}=host:port (or use --join with --peer-listen)`), g().json);
    let keys: string[] | undefined;
    try {
      keys = peerKeys(o.key);
    } catch (error) {
      fail(error, g().json);
    }
    tierUpSooner();
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({
        id: o.id,
        peers: o.peers,
        dataDir: o.dataDir,
        http: o.http ?? null,
        grpc: o.grpc ?? null,
        ...(o.peerListen ? { peerListen: o.peerListen } : {}),
        join: o.join,
        tickMs: o.tickMs,
        electionTick: o.electionTick,
        heartbeatTick: o.heartbeatTick,
        commitBroadcastDelayMs: o.commitBroadcastDelayMs,
        snapshotEntries: o.snapshotEntries,
        requestTimeoutMs: o.requestTimeoutMs,
        clusterToken: o.clusterToken,
        readOnlyOption: o.readMode === "lease" ? "leaseBased" : "safe",
        ...(keys !== undefined ? { keys } : {}),
        log: (line) => process.stderr.write(`${new Date().toISOString()} [${o.id}] ${line}\n`),
        onRemoved: () => {
          process.stderr.write(`${new Date().toISOString()} [${o.id}] removed from the cluster; exiting\n`);
          void server.stop().finally(() => process.exit(0));
        },
      });
    } catch (error) {
      fail(error, g().json);
    }
    print(g(), { id: server.id, pid: process.pid, peer: server.peerAddress, http: server.httpAddress, grpc: server.grpcAddress }, `${server.id} serving: peer ${server.peerAddress}, http ${server.httpAddress ?? "-"}, grpc ${server.grpcAddress ?? "-"} (pid ${process.pid})`);
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      server.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });

const cluster = program.command("cluster").description("a local cluster of server processes");
cluster
  .command("up")
  .description("start n members on loopback; prints them once a leader is elected; stops them on SIGINT/SIGTERM")
  .addOption(new Option("--nodes <n>", "number of members").default(3).argParser(int("--nodes", 1, 9)))
  .addOption(new Option("--base-port <p>", "member i uses p+3i (peer), p+3i+1 (http), p+3i+2 (grpc)").default(15000).argParser(int("--base-port", 1024, 65000)))
  .option("--data-dir <dir>", "parent of the members' data dirs and logs", ".heck/raft-cluster")
  .option("--server-args <args>", "extra flags for every `heck-raft server`, space-separated", "")
  .option("--key <base64>", KEY_HELP, collectKey)
  .action(async (o: { nodes: number; basePort: number; dataDir: string; serverArgs: string; key?: string[] }) => {
    // The servers inherit our environment: the keys reach them without showing in their command lines or logs.
    if (o.key !== undefined) process.env[KEYS_ENV] = o.key.join(",");
    let c: LocalCluster;
    try {
      c = await LocalCluster.up({ nodes: o.nodes, basePort: o.basePort, dataDir: o.dataDir, serverArgs: o.serverArgs.split(/\s+/).filter(Boolean), log: (l) => process.stderr.write(`heck-raft cluster: ${l}\n`) });
    } catch (error) {
      fail(error, g().json);
    }
    const nodes = c.nodes.map((n) => ({ id: n.id, pid: n.pid, http: n.http, grpc: n.grpc }));
    if (g().json) process.stdout.write(JSON.stringify({ nodes }) + "\n");
    else {
      const leader = await c.waitForLeader().catch(() => "?");
      process.stdout.write(nodes.map((n) => `${n.id}  pid ${n.pid}  http ${n.http}  grpc ${n.grpc}${n.id === leader ? "  (leader)" : ""}`).join("\n") + `\nlogs in ${o.dataDir}/<id>.log; Ctrl-C stops the cluster\n`);
    }
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      c.down().then(() => process.exit(0));
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    // Stay in the foreground: the timer keeps the event loop alive until a signal arrives.
    setInterval(() => {}, 1 << 30);
  });

program
  .command("put <key> <value>")
  .description("set a key (with --if-* flags: compare-and-set)")
  .option("--if-value <v>", "only if the current value is v")
  .addOption(new Option("--if-version <n>", "only if the key's version is n (0 = does not exist)").argParser(int("--if-version", 0, Number.MAX_SAFE_INTEGER)))
  .addOption(new Option("--if-mod-revision <n>", "only if the key was last modified at revision n").argParser(int("--if-mod-revision", 0, Number.MAX_SAFE_INTEGER)))
  .action(async (key: string, value: string, o: { ifValue?: string; ifVersion?: number; ifModRevision?: number }) => {
    try {
      const c = client(g());
      if (o.ifValue === undefined && o.ifVersion === undefined && o.ifModRevision === undefined) {
        const revision = await c.put(key, value);
        print(g(), { revision }, "OK");
        return;
      }
      const r = await c.cas(key, { ...(o.ifValue !== undefined ? { value: o.ifValue } : {}), ...(o.ifVersion !== undefined ? { version: o.ifVersion } : {}), ...(o.ifModRevision !== undefined ? { modRevision: o.ifModRevision } : {}) }, value);
      print(g(), r, r.succeeded ? "OK" : `FAILED: compare did not hold (current: ${r.current ? JSON.stringify(r.current.value) : "absent"})`);
      if (!r.succeeded) process.exitCode = 1;
    } catch (error) {
      fail(error, g().json);
    }
  });

program
  .command("get <key>")
  .description("read a key (or every key under a prefix)")
  .option("--prefix", "treat key as a prefix", false)
  .option("--serializable", "read the local state of the endpoint (may be stale) instead of a linearizable read", false)
  .addOption(new Option("--limit <n>", "at most n keys").argParser(int("--limit", 1, 1_000_000)))
  .action(async (key: string, o: { prefix: boolean; serializable: boolean; limit?: number }) => {
    try {
      const c = client(g());
      if (o.prefix) {
        const r = await c.range(key, { serializable: o.serializable, ...(o.limit ? { limit: o.limit } : {}) });
        print(g(), r, r.kvs.map(showKv).join("\n"));
        return;
      }
      const kv = await c.get(key, { serializable: o.serializable });
      if (!kv) {
        print(g(), { key, found: false }, "");
        if (!g().json) process.stderr.write(`key ${key} not found\n`);
        process.exitCode = 1;
        return;
      }
      print(g(), kv, showKv(kv));
    } catch (error) {
      fail(error, g().json);
    }
  });

program
  .command("del <key>")
  .description("delete a key (or every key under a prefix)")
  .option("--prefix", "treat key as a prefix", false)
  .action(async (key: string, o: { prefix: boolean }) => {
    try {
      const deleted = await client(g()).delete(key, { prefix: o.prefix });
      print(g(), { deleted }, String(deleted));
    } catch (error) {
      fail(error, g().json);
    }
  });

program
  .command("watch <key>")
  .description("print changes to a key (or prefix) until interrupted")
  .option("--prefix", "watch every key under the prefix", false)
  .addOption(new Option("--from-revision <n>", "replay from this revision").argParser(int("--from-revision", 1, Number.MAX_SAFE_INTEGER)))
  .option("--prev-kv", "include the previous value", false)
  .action((key: string, o: { prefix: boolean; fromRevision?: number; prevKv: boolean }) => {
    const c = client(g());
    const stop = c.watch(
      o.prefix ? { prefix: key } : { key },
      { ...(o.fromRevision ? { fromRevision: o.fromRevision } : {}), prevKv: o.prevKv },
      (events: HttpWatchEvent[], revision: number) => {
        for (const e of events) print(g(), { revision, ...e }, e.type === "put" ? `PUT\n${e.key}\n${e.value ?? ""}` : `DELETE\n${e.key}`);
      },
      (reason) => fail(new Error(`watch ended: ${reason}`), g().json),
    );
    process.on("SIGINT", () => {
      stop();
      process.exit(0);
    });
  });

program
  .command("status")
  .description("status of every endpoint: role, leader, term, indexes")
  .action(async () => {
    const c = client(g());
    const rows = await Promise.all(
      g()
        .endpoints.split(",")
        .map((e) => e.trim())
        .filter(Boolean)
        .map(async (endpoint) => {
          try {
            return { endpoint, ...(await c.status(endpoint)) };
          } catch (error) {
            return { endpoint, error: error instanceof Error ? error.message : String(error) };
          }
        }),
    );
    if (g().json) {
      process.stdout.write(JSON.stringify({ endpoints: rows }) + "\n");
      return;
    }
    for (const r of rows as Array<Record<string, unknown>>) {
      if (r.error) process.stdout.write(`${String(r.endpoint)}  DOWN (${String(r.error)})\n`);
      else process.stdout.write(`${String(r.endpoint)}  ${String(r.id)}  ${String(r.role).padEnd(9)} leader=${String(r.leader)} term=${String(r.term)} commit=${String(r.commitIndex)} applied=${String(r.appliedIndex)} revision=${String(r.revision)}\n`);
    }
  });

const members = program.command("members").description("list, add or remove members");
members
  .command("list")
  .action(async () => {
    try {
      const list = await client(g()).members();
      print(g(), { members: list }, list.map((m) => `${String(m.id)}  ${m.learner ? "learner" : "voter  "}  peer ${String(m.peerAddress)}  http ${String(m.httpAddress) || "-"}  grpc ${(m.clientUrls as string[]).join(",") || "-"}`).join("\n"));
    } catch (error) {
      fail(error, g().json);
    }
  });
members
  .command("add <id> <peer-address>")
  .description("add a member (start it with `server --join` first); it joins as a learner and is promoted once caught up")
  .option("--learner", "keep it a non-voting learner", false)
  .action(async (id: string, peer: string, o: { learner: boolean }) => {
    try {
      const list = await client(g()).addMember(id, peer, o.learner);
      print(g(), { members: list }, `added ${id}; members: ${list.map((m) => String(m.id)).join(", ")}`);
    } catch (error) {
      fail(error, g().json);
    }
  });
members
  .command("remove <id>")
  .action(async (id: string) => {
    try {
      const list = await client(g()).removeMember(id);
      print(g(), { members: list }, `removed ${id}; members: ${list.map((m) => String(m.id)).join(", ")}`);
    } catch (error) {
      fail(error, g().json);
    }
  });

program
  .command("transfer-leader <id>")
  .description("hand leadership to member <id> (Raft §3.10)")
  .action(async (id: string) => {
    try {
      await client(g()).transferLeadership(id);
      print(g(), { leader: id }, `leader is now ${id}`);
    } catch (error) {
      fail(error, g().json);
    }
  });

const fault = program.command("fault").description("partition a node from peers through its transport's fault layer (experiments)");
fault
  .command("block <ids...>")
  .description("cut the node at --endpoints (first one) off from these member ids")
  .action(async (ids: string[]) => {
    try {
      const endpoint = g().endpoints.split(",")[0]!.trim();
      const r = await client(g()).faults(endpoint, { block: ids });
      print(g(), r, `${endpoint} now blocks ${r.blocked.join(", ") || "nobody"}`);
    } catch (error) {
      fail(error, g().json);
    }
  });
fault
  .command("heal")
  .description("remove every block on the node at --endpoints (first one)")
  .action(async () => {
    try {
      const endpoint = g().endpoints.split(",")[0]!.trim();
      const r = await client(g()).faults(endpoint, { unblock: "all", dropRate: 0 });
      print(g(), r, `${endpoint} healed`);
    } catch (error) {
      fail(error, g().json);
    }
  });

program
  .command("ladder")
  .description("primary-backup, then Raft, through the same partition on the same seeded network, judged by the linearizability checker (--json: one line)")
  .option("--seed <n>", "simulation seed (same seed, same table)", int("--seed", 0, 0xffffffff), 1)
  .option("--explain", "also print the checker's smallest failing history for each rung that fails")
  // --json is the program's own option: one JSON line { rungs: [{ name, broke, ...figures }] }.
  .action(async (o: { seed: number; explain?: boolean }) => {
    // Loaded on demand: the server and client commands do not need the ladder.
    const { agreementLadderJson, formatAgreementLadder, runAgreementLadder } = await import("./ladder/ladder.ts");
    const result = runAgreementLadder({ seed: o.seed });
    process.stdout.write(`${g().json ? agreementLadderJson(result) : formatAgreementLadder(result, o.explain === true)}\n`);
  });

await program.parseAsync();
