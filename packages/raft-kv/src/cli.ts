/**
 * `heck-raft`: run a raft-kv server or a local cluster, and talk to one.
 * Parsing and validation only; the work is in src/io.
 */
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import v8 from "node:v8";
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal } from "@heck/cli-kit";
import { parseKey } from "@heck/sim/io";
// The server and the local cluster are imported where a command needs them: gRPC and protobuf,
// which only a server loads, are most of a start, and every other command would pay for them.
import type { startServer } from "./io/embed.ts";
import type { LocalCluster } from "./io/local-cluster.ts";
import { parseListen } from "./io/listen.ts";
import { RaftKvHttpClient, RaftKvHttpError, type HttpKeyValue, type HttpWatchEvent } from "./io/http-client.ts";
import { ServerError } from "./core/replica/errors.ts";
import { keepLease } from "./io/client-coordination.ts";
import type { ServerTls } from "./io/grpc-server.ts";

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
  cacert?: string;
  cert?: string;
  certKey?: string;
  user?: string;
}

/** A PEM file's contents, or a usage error naming the flag. */
function pem(flag: string, file: string): Buffer {
  let text: Buffer;
  try {
    text = fs.readFileSync(file);
  } catch (error) {
    throw new InvalidArgumentError(`${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  if (!text.includes("-----BEGIN ")) throw new InvalidArgumentError(`${flag}: ${file} is not a PEM file (no "-----BEGIN" line)`);
  return text;
}

function client(g: GlobalOpts): RaftKvHttpClient {
  if ((g.cert === undefined) !== (g.certKey === undefined)) fail(new InvalidArgumentError("--cert and --cert-key go together (a client certificate and its key)"), g.json);
  const tls = g.cacert || g.cert ? { ...(g.cacert ? { ca: pem("--cacert", g.cacert) } : {}), ...(g.cert ? { cert: pem("--cert", g.cert) } : {}), ...(g.certKey ? { key: pem("--cert-key", g.certKey) } : {}) } : undefined;
  let credentials: { user: string; password: string } | undefined;
  if (g.user !== undefined) {
    const i = g.user.indexOf(":");
    if (i <= 0) fail(new InvalidArgumentError("--user: give name:password"), g.json);
    credentials = { user: g.user.slice(0, i), password: g.user.slice(i + 1) };
  }
  return new RaftKvHttpClient({ endpoints: g.endpoints.split(",").map((e) => e.trim()).filter(Boolean), timeoutMs: g.timeoutMs, ...(tls ? { tls } : {}), ...(credentials ? { credentials } : {}) });
}

/** A lease id as etcdctl prints and takes it: hexadecimal. */
function hexId(v: string): number {
  if (!/^[0-9a-fA-F]{1,16}$/.test(v)) throw new InvalidArgumentError("a lease id is hexadecimal, as `lease grant` prints it");
  const n = Number.parseInt(v, 16);
  if (n === 0 || !Number.isSafeInteger(n)) throw new InvalidArgumentError("a lease id is a positive hexadecimal number below 2^53");
  return n;
}

/** 16 hex digits, as etcdctl shows lease ids. */
function hex(id: number): string {
  return id.toString(16).padStart(16, "0");
}

/** The server's TLS settings from etcd's flag names, checked together. */
function serverTls(o: { certFile?: string; keyFile?: string; trustedCaFile?: string; clientCertAuth?: boolean }): ServerTls | undefined {
  if (!o.certFile && !o.keyFile) {
    if (o.trustedCaFile || o.clientCertAuth) throw new InvalidArgumentError("--trusted-ca-file and --client-cert-auth need --cert-file and --key-file (client certificates are checked over TLS)");
    return undefined;
  }
  if (!o.certFile || !o.keyFile) throw new InvalidArgumentError("--cert-file and --key-file go together");
  if (o.clientCertAuth && !o.trustedCaFile) throw new InvalidArgumentError("--client-cert-auth needs --trusted-ca-file: the CA that signs client certificates");
  return {
    cert: pem("--cert-file", o.certFile),
    key: pem("--key-file", o.keyFile),
    ...(o.trustedCaFile ? { ca: pem("--trusted-ca-file", o.trustedCaFile) } : {}),
    ...(o.clientCertAuth ? { clientCertAuth: true } : {}),
  };
}

function print(g: GlobalOpts, json: unknown, text: string): void {
  process.stdout.write((g.json ? JSON.stringify(json) : text) + "\n");
}

/** Prints an error and exits: `EXIT_FAILED` (1) when the operation did not happen, `EXIT_USAGE` (2) for bad flags. */
function fail(error: unknown, json: boolean, exitCode: number = EXIT_FAILED): never {
  const code = error instanceof RaftKvHttpError || error instanceof ServerError ? error.code : "error";
  const message = error instanceof Error ? error.message : String(error);
  if (json) process.stdout.write(JSON.stringify({ error: { code, message } }) + "\n");
  else process.stderr.write(`heck-raft: ${message}\n`);
  process.exit(exitCode);
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

// `heck-raft get --prefix app/ | head` closes the pipe early: that ends the output, it is no error.
handleClosedPipes();

const program = exitCodesForUsageErrors(new Command("heck-raft"))
  .description("Stage 4: a Raft-replicated key-value store that speaks a subset of etcd's API.")
  .option("--endpoints <list>", "HTTP API host:port list of the cluster", DEFAULT_ENDPOINTS)
  .option("--json", "machine-readable output (one JSON object per line)", false)
  .addOption(new Option("--timeout-ms <ms>", "give up a request after this long").default(10_000).argParser(int("--timeout-ms", 1, 600_000)))
  .option("--cacert <file>", "HTTPS: trust servers whose certificate this CA (PEM) signed")
  .option("--cert <file>", "HTTPS: this client's certificate (PEM), for servers that ask for one")
  .option("--cert-key <file>", "HTTPS: the key of --cert (PEM)")
  .option("--user <name:password>", "with auth on: authenticate as this user")
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
  .addOption(new Option("--snapshot-entries <n>", "snapshot and compact the log every n applied entries").default(100_000).argParser(int("--snapshot-entries", 1, 100_000_000)))
  .addOption(new Option("--snapshot-bytes <n>", "or sooner, once the entries since the last snapshot hold n bytes").default(64 * 1024 * 1024).argParser(int("--snapshot-bytes", 1, Number.MAX_SAFE_INTEGER)))
  .addOption(new Option("--request-timeout-ms <ms>", "client requests time out after this long").default(5_000).argParser(int("--request-timeout-ms", 10, 600_000)))
  .option("--cluster-token <token>", "groups members into one cluster (etcd's cluster id is derived from it)", "heck-raft")
  .addOption(new Option("--read-mode <mode>", "linearizable reads: ReadIndex with a heartbeat round (safe) or the leader lease (lease, assumes bounded clock drift)").choices(["safe", "lease"]).default("safe"))
  .option("--key <base64>", `${KEY_HELP} (or ${KEYS_ENV}=k1,k2)`, collectKey)
  .option("--cert-file <file>", "serve the HTTP and gRPC APIs over TLS with this certificate (PEM), as etcd's flag")
  .option("--key-file <file>", "the key of --cert-file (PEM)")
  .option("--trusted-ca-file <file>", "the CA (PEM) that signs client certificates")
  .option("--client-cert-auth", "refuse clients without a certificate --trusted-ca-file signed; with auth on, the certificate's common name is the user", false)
  .action(async (o: { id: string; peers: Record<string, string>; dataDir: string; http?: string; grpc?: string; peerListen?: string; join: boolean; tickMs: number; electionTick: number; heartbeatTick: number; commitBroadcastDelayMs: number; snapshotEntries: number; snapshotBytes: number; requestTimeoutMs: number; clusterToken: string; readMode: "safe" | "lease"; key?: string[]; certFile?: string; keyFile?: string; trustedCaFile?: string; clientCertAuth: boolean }) => {
    if (o.heartbeatTick >= o.electionTick) fail(new Error("--heartbeat-tick must be smaller than --election-tick"), g().json, EXIT_USAGE);
    let tls: ServerTls | undefined;
    try {
      tls = serverTls(o);
    } catch (error) {
      fail(error, g().json, EXIT_USAGE);
    }
    if (!o.join && !o.peers[o.id] && !o.peerListen) fail(new Error(`--peers must include ${o.id}=host:port (or use --join with --peer-listen)`), g().json, EXIT_USAGE);
    let keys: string[] | undefined;
    try {
      keys = peerKeys(o.key);
    } catch (error) {
      fail(error, g().json, EXIT_USAGE);
    }
    tierUpSooner();
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      const embed = await import("./io/embed.ts");
      server = await embed.startServer({
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
        snapshotBytes: o.snapshotBytes,
        requestTimeoutMs: o.requestTimeoutMs,
        clusterToken: o.clusterToken,
        readOnlyOption: o.readMode === "lease" ? "leaseBased" : "safe",
        ...(keys !== undefined ? { keys } : {}),
        ...(tls ? { tls } : {}),
        log: (line) => process.stderr.write(`${new Date().toISOString()} [${o.id}] ${line}\n`),
        onRemoved: () => {
          process.stderr.write(`${new Date().toISOString()} [${o.id}] removed from the cluster; exiting\n`);
          void server.stop().finally(() => process.exit(EXIT_OK));
        },
      });
    } catch (error) {
      fail(error, g().json);
    }
    print(g(), { id: server.id, pid: process.pid, peer: server.peerAddress, http: server.httpAddress, grpc: server.grpcAddress }, `${server.id} serving: peer ${server.peerAddress}, http ${server.httpAddress ?? "-"}, grpc ${server.grpcAddress ?? "-"} (pid ${process.pid})`);
    onShutdownSignal(() => {
      server.stop().then(
        () => process.exit(EXIT_OK),
        () => process.exit(EXIT_FAILED),
      );
    });
  });

const cluster = program.command("cluster").description("a local cluster of server processes");
cluster
  .command("up")
  .description("start n members on loopback (or, with --netns, each on its own host); prints them once a leader is elected; stops them on SIGINT/SIGTERM")
  .addOption(new Option("--nodes <n>", "number of members").default(3).argParser(int("--nodes", 1, 9)))
  .addOption(new Option("--base-port <p>", "member i uses p+3i (peer), p+3i+1 (http), p+3i+2 (grpc)").default(15000).argParser(int("--base-port", 1024, 65000)))
  .option("--data-dir <dir>", "parent of the members' data dirs and logs", ".heck/raft-cluster")
  .option("--server-args <args>", "extra flags for every `heck-raft server`, space-separated", "")
  .option("--key <base64>", KEY_HELP, collectKey)
  .option("--cert-file <file>", "members serve TLS with this certificate (PEM); its SANs must name the members' addresses")
  .option("--key-file <file>", "the key of --cert-file (PEM)")
  .option("--trusted-ca-file <file>", "the CA (PEM) of client certificates (and of --cert-file, for the cluster's own status checks)")
  .option("--client-cert-auth", "members refuse clients without a certificate --trusted-ca-file signed", false)
  .option("--netns", "each member on its own host in a network lab (needs root): its own address, kernel faults with heck-net", false)
  .action(async (o: { nodes: number; basePort: number; dataDir: string; serverArgs: string; key?: string[]; certFile?: string; keyFile?: string; trustedCaFile?: string; clientCertAuth: boolean; netns: boolean }) => {
    // The servers inherit our environment: the keys reach them without showing in their command lines or logs.
    if (o.key !== undefined) process.env[KEYS_ENV] = o.key.join(",");
    let tls: ServerTls | undefined;
    try {
      tls = serverTls(o);
    } catch (error) {
      fail(error, g().json);
    }
    const tlsArgs = tls ? ["--cert-file", path.resolve(o.certFile!), "--key-file", path.resolve(o.keyFile!), ...(o.trustedCaFile ? ["--trusted-ca-file", path.resolve(o.trustedCaFile)] : []), ...(o.clientCertAuth ? ["--client-cert-auth"] : [])] : [];
    let c: LocalCluster;
    try {
      const { LocalCluster } = await import("./io/local-cluster.ts");
      c = await LocalCluster.up({
        nodes: o.nodes,
        basePort: o.basePort,
        dataDir: o.dataDir,
        netns: o.netns,
        serverArgs: [...o.serverArgs.split(/\s+/).filter(Boolean), ...tlsArgs],
        log: (l) => process.stderr.write(`heck-raft cluster: ${l}\n`),
        ...(tls ? { tls: { ca: tls.ca ?? tls.cert, cert: tls.cert, key: tls.key } } : {}),
      });
    } catch (error) {
      fail(error, g().json);
    }
    const nodes = c.nodes.map((n) => ({ id: n.id, pid: n.pid, http: n.http, grpc: n.grpc, netns: n.netns, host: n.host }));
    if (g().json) process.stdout.write(JSON.stringify({ nodes }) + "\n");
    else {
      const leader = await c.waitForLeader().catch(() => "?");
      const endpoints = nodes.map((n) => n.http).join(",");
      process.stdout.write(
        nodes.map((n) => `${n.id}  pid ${n.pid}  http ${n.http}  grpc ${n.grpc}${n.netns ? `  netns ${n.netns}` : ""}${n.id === leader ? "  (leader)" : ""}`).join("\n") +
          `\nlogs in ${o.dataDir}/<id>.log; Ctrl-C stops the cluster\n` +
          (o.netns ? `talk to it: pnpm heck-raft --endpoints ${endpoints} put k v\nisolate the leader: pnpm heck-net isolate ${leader}   (then pnpm heck-net heal)\n` : ""),
      );
    }
    onShutdownSignal(() => {
      c.down().then(() => process.exit(EXIT_OK));
    });
    // Stay in the foreground: the timer keeps the event loop alive until a signal arrives.
    setInterval(() => {}, 1 << 30);
  });

program
  .command("put <key> <value>")
  .description("set a key (with --if-* flags: compare-and-set)")
  .option("--if-value <v>", "only if the current value is v")
  .addOption(new Option("--if-version <n>", "only if the key's version is n (0 = does not exist)").argParser(int("--if-version", 0, Number.MAX_SAFE_INTEGER)))
  .addOption(new Option("--if-mod-revision <n>", "only if the key was last modified at revision n").argParser(int("--if-mod-revision", 0, Number.MAX_SAFE_INTEGER)))
  .addOption(new Option("--lease <id>", "attach the key to this lease (hex, as `lease grant` prints it): it goes when the lease goes").argParser(hexId))
  .action(async (key: string, value: string, o: { ifValue?: string; ifVersion?: number; ifModRevision?: number; lease?: number }) => {
    try {
      const c = client(g());
      if (o.lease !== undefined) {
        if (o.ifValue !== undefined || o.ifVersion !== undefined || o.ifModRevision !== undefined) throw new InvalidArgumentError("--lease does not combine with --if-* (use a txn)");
        print(g(), { revision: await c.putWithLease(key, value, o.lease) }, "OK");
        return;
      }
      if (o.ifValue === undefined && o.ifVersion === undefined && o.ifModRevision === undefined) {
        const revision = await c.put(key, value);
        print(g(), { revision }, "OK");
        return;
      }
      const r = await c.cas(key, { ...(o.ifValue !== undefined ? { value: o.ifValue } : {}), ...(o.ifVersion !== undefined ? { version: o.ifVersion } : {}), ...(o.ifModRevision !== undefined ? { modRevision: o.ifModRevision } : {}) }, value);
      print(g(), r, r.succeeded ? "OK" : `FAILED: compare did not hold (current: ${r.current ? JSON.stringify(r.current.value) : "absent"})`);
      if (!r.succeeded) process.exitCode = EXIT_FAILED;
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
        if (g().json) print(g(), { key, found: false }, "");
        else process.stderr.write(`key ${key} not found\n`);
        process.exitCode = EXIT_FAILED;
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
    onShutdownSignal(() => {
      stop();
      process.exit(EXIT_OK);
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

const lease = program.command("lease").description("leases: keys that live as long as someone renews them");
lease
  .command("grant <ttl>")
  .description("grant a lease of ttl seconds (raised to the server's minimum)")
  .action(async (ttl: string) => {
    try {
      const g0 = await client(g()).leaseGrant(int("ttl", 1, 9_000_000_000)(ttl));
      print(g(), g0, `lease ${hex(g0.id)} granted with TTL(${g0.ttl}s)`);
    } catch (error) {
      fail(error, g().json);
    }
  });
lease
  .command("revoke <id>")
  .description("revoke a lease: it and every key attached to it are gone, in one revision")
  .action(async (id: string) => {
    try {
      const n = hexId(id);
      const revision = await client(g()).leaseRevoke(n);
      print(g(), { id: n, revision }, `lease ${hex(n)} revoked`);
    } catch (error) {
      fail(error, g().json);
    }
  });
lease
  .command("timetolive <id>")
  .description("what the leader says is left of a lease")
  .option("--keys", "list the keys attached to it", false)
  .action(async (id: string, o: { keys: boolean }) => {
    try {
      const t = await client(g()).leaseTimeToLive(hexId(id), o.keys);
      const text = t.ttl < 0 ? `lease ${hex(t.id)} already expired` : `lease ${hex(t.id)} granted with TTL(${t.grantedTtl}s), remaining(${t.ttl}s)${o.keys ? `, attached keys([${t.keys.join(" ")}])` : ""}`;
      print(g(), t, text);
    } catch (error) {
      fail(error, g().json);
    }
  });
lease
  .command("list")
  .description("every lease")
  .action(async () => {
    try {
      const ids = await client(g()).leases();
      print(g(), { leases: ids }, [`found ${ids.length} leases`, ...ids.map(hex)].join("\n"));
    } catch (error) {
      fail(error, g().json);
    }
  });
lease
  .command("keep-alive <id>")
  .description("renew a lease every third of its TTL until interrupted (or once)")
  .option("--once", "renew once and exit", false)
  .action(async (id: string, o: { once: boolean }) => {
    try {
      const c = client(g());
      const n = hexId(id);
      const show = (ttl: number) => print(g(), { id: n, ttl }, `lease ${hex(n)} keepalived with TTL(${ttl})`);
      const first = await c.leaseKeepAlive(n);
      if (first <= 0) throw new ServerError("lease_not_found", `lease ${hex(n)} expired or revoked`);
      show(first);
      if (o.once) return;
      const kept = await keepLease(c, first, n, show);
      onShutdownSignal(() => void kept.stop(false).then(() => process.exit(EXIT_OK)));
      await kept.lost;
      fail(new ServerError("lease_not_found", `lease ${hex(n)} expired or revoked`), g().json);
    } catch (error) {
      fail(error, g().json);
    }
  });

program
  .command("lock <name> [command...]")
  .description("acquire lock <name> (waiting behind earlier holders); run the command while holding it, or hold it until interrupted")
  .addOption(new Option("--ttl <s>", "the lock's lease TTL: how long the lock outlives this process if it dies").default(60).argParser(int("--ttl", 1, 9_000_000_000)))
  .action(async (name: string, command: string[], o: { ttl: number }) => {
    try {
      const c = client(g());
      const kept = await keepLease(c, o.ttl);
      const stop = new AbortController();
      const release = async () => {
        stop.abort();
        await kept.stop(true);
      };
      onShutdownSignal(() => void release().then(() => process.exit(EXIT_OK)));
      const held = await c.lock(name, kept.id, stop.signal);
      if (command.length === 0) {
        // The create revision is the lock's fencing token: writes made under the lock should compare it (see the README).
        print(g(), held, `${held.key} (fencing token: create revision ${held.createRevision})`);
        await kept.lost;
        fail(new Error("lock lost: the lease expired (renewals failed for longer than its TTL)"), g().json);
      }
      // As etcdctl: the command learns the lock key and its revision (a fencing token for its writes).
      const child = spawn(command[0]!, command.slice(1), { stdio: "inherit", env: { ...process.env, ETCD_LOCK_KEY: held.key, ETCD_LOCK_REV: String(held.createRevision) } });
      const code = await new Promise<number>((r) => child.on("exit", (c0) => r(c0 ?? 1)));
      await c.unlock(held.key);
      await kept.stop(true);
      process.exitCode = code;
    } catch (error) {
      fail(error, g().json);
    }
  });

program
  .command("elect <name> [proposal]")
  .description("campaign to lead election <name> with a value, holding leadership until interrupted; or, with --listen, print each leader")
  .option("-l, --listen", "observe: print the leader now and on every change", false)
  .addOption(new Option("--ttl <s>", "the campaign's lease TTL").default(60).argParser(int("--ttl", 1, 9_000_000_000)))
  .action(async (name: string, proposal: string | undefined, o: { listen: boolean; ttl: number }) => {
    try {
      const c = client(g());
      if (o.listen) {
        c.observe(name, (kv) => print(g(), kv, `${kv.key}\n${kv.value}`), (reason) => fail(new Error(`observe ended: ${reason}`), g().json));
        return;
      }
      if (proposal === undefined) throw new InvalidArgumentError("give a proposal (the value to lead with), or --listen");
      const kept = await keepLease(c, o.ttl);
      const stop = new AbortController();
      const held: { leader?: Awaited<ReturnType<typeof c.campaign>> } = {};
      const resign = async () => {
        stop.abort();
        if (held.leader) await c.resign(held.leader).catch(() => {});
        await kept.stop(true);
      };
      onShutdownSignal(() => void resign().then(() => process.exit(EXIT_OK)));
      held.leader = await c.campaign(name, kept.id, proposal, stop.signal);
      print(g(), held.leader, `${held.leader.key}\n${proposal}`);
      await kept.lost;
      fail(new Error("leadership lost: the lease expired"), g().json);
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
