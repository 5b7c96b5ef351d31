/**
 * `heck-crdt`: run a node, a local cluster, or talk to one. Parsing and
 * validation only; the work is in src/io.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal } from "@heck/cli-kit";
import { keyringFromBase64 } from "@heck/sim/io";
import { hostPortOf } from "@heck/sim/http";
import { isValidNodeId } from "./core/causality/dot.ts";
import { isSyncAlgorithm } from "./core/sync/delta-sync.ts";
import { call, keyUrl, nodeBase } from "./io/client.ts";
import { clusterUp, healCluster, partitionCluster, readCluster, recordRestart } from "./io/cluster.ts";
import { startCrdtNode } from "./io/embed.ts";

// `heck-crdt ls | head` closes the pipe early: that ends the output, it is no error.
handleClosedPipes();

const program = exitCodesForUsageErrors(new Command("heck-crdt"))
  .description("Stage 5: a key-value store converging without coordination: gossip, delta-state CRDTs, dotted version vectors.")
  .showHelpAfterError();

const int = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
  return n;
};
/** `--key` accumulates: repeated flags and comma lists both add keys, in order (the first is the primary). */
const collectKeys = (v: string, previous: string[]): string[] => [...previous, ...v.split(",").map((k) => k.trim()).filter((k) => k !== "")];
const defaultNode = process.env.HECK_CRDT_NODE ?? "http://127.0.0.1:17100";
const nodeOption = () => new Option("--node <url>", "a node's HTTP address, host:port or http://host:port (env HECK_CRDT_NODE)").default(defaultNode);

function print(json: boolean, body: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(body) + "\n" : human() + "\n");
}
/** Exits with a message: `EXIT_FAILED` (1) when the operation did not happen, `EXIT_USAGE` (2) for bad flags. */
function fail(message: string, code: number = EXIT_FAILED): never {
  process.stderr.write(`heck-crdt: ${message}\n`);
  process.exit(code);
}
async function run(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    fail((e as Error).message);
  }
}

program
  .command("node")
  .description("run one node in the foreground")
  .requiredOption("--id <id>", "replica id, stable across restarts ([A-Za-z0-9_.-]{1,64})")
  .requiredOption("--data-dir <dir>", "where the state and the delta log live")
  .option("--peers <list>", "comma-separated gossip addresses of the other nodes (host:port)", "")
  .option("--host <host>", "interface for gossip and HTTP", "127.0.0.1")
  .option("--port <port>", "gossip port (UDP+TCP); 0 picks one", int("--port", 0, 65535), 0)
  .option("--http-port <port>", "HTTP API port; 0 picks one", int("--http-port", 0, 65535), 0)
  .option("--sync-interval-ms <ms>", "anti-entropy period", int("--sync-interval-ms", 10, 600_000), 1000)
  .option("--fanout <n>", "peers contacted per round", int("--fanout", 1, 1000), 3)
  .addOption(new Option("--mode <mode>", "write mode for new keys").choices(["lww", "mv"]).default("lww"))
  .addOption(new Option("--algorithm <a>", "synchronisation algorithm").choices(["state", "classic", "bp", "rr", "bprr"]).default("bprr"))
  .option("--snapshot-every <n>", "write a snapshot after this many WAL records", int("--snapshot-every", 1, 1_000_000), 512)
  .option("--key <base64>", "encrypt gossip with AES-256-GCM: a 32-byte key in base64; repeat or comma-separate for a keyring, primary first", collectKeys, [])
  .option("--json", "print the ready line as JSON")
  .action(async (o: { id: string; dataDir: string; peers: string; host: string; port: number; httpPort: number; syncIntervalMs: number; fanout: number; mode: "lww" | "mv"; algorithm: string; snapshotEvery: number; key: string[]; json?: boolean }) => {
    if (!isValidNodeId(o.id)) fail("--id must match [A-Za-z0-9_.-]{1,64}", EXIT_USAGE);
    if (!isSyncAlgorithm(o.algorithm)) fail("--algorithm is invalid", EXIT_USAGE);
    const peers = o.peers.split(",").map((p) => p.trim()).filter((p) => p !== "");
    for (const p of peers) if (!/^[^\s:]+:\d{1,5}$/.test(p) && !/^\[[^\]]+\]:\d{1,5}$/.test(p)) fail(`--peers: ${JSON.stringify(p)} is not host:port`, EXIT_USAGE);
    if (o.key.length > 0) {
      try {
        keyringFromBase64(o.key);
      } catch (e) {
        fail(`--key: ${(e as Error).message}`, EXIT_USAGE);
      }
    }
    await run(async () => {
      const node = await startCrdtNode({
        id: o.id,
        dataDir: o.dataDir,
        host: o.host,
        port: o.port,
        peers,
        syncIntervalMs: o.syncIntervalMs,
        fanout: o.fanout,
        defaultMode: o.mode,
        algorithm: o.algorithm as "bprr",
        core: { snapshotEveryRecords: o.snapshotEvery },
        http: { host: o.host, port: o.httpPort },
        ...(o.key.length > 0 ? { keys: o.key } : {}),
      });
      // --json carries host:port, as every stage's lines do; people get a URL to click.
      const info = { id: node.id, pid: process.pid, http: hostPortOf(node.httpUrl ?? "") ?? null, gossip: node.address };
      print(Boolean(o.json), info, () => `node ${info.id} up: http ${node.httpUrl}, gossip ${info.gossip}, pid ${info.pid}`);
      // Restarted by hand into a `cluster up` directory: keep its cluster.json true to what runs.
      try {
        if (info.http !== null) recordRestart(o.dataDir, { id: info.id, pid: info.pid, http: info.http, gossip: info.gossip });
      } catch (e) {
        process.stderr.write(`heck-crdt: could not record this node's pid in its cluster.json: ${(e as Error).message}\n`);
      }
      onShutdownSignal(() => {
        node.close().then(
          () => process.exit(EXIT_OK),
          () => process.exit(EXIT_FAILED),
        );
      });
    });
  });

const cluster = program.command("cluster").description("a local cluster of node processes");
cluster
  .command("up")
  .description("start n nodes, print one JSON line when they are up, stay in the foreground until SIGINT/SIGTERM")
  .option("--nodes <n>", "how many nodes", int("--nodes", 1, 100), 5)
  .option("--base-port <port>", "HTTP ports base..base+n-1, gossip ports base+100..", int("--base-port", 1024, 64_000), 17100)
  .option("--data-dir <dir>", "parent of every node's data directory (default under the git-ignored .heck/)", ".heck/crdt-cluster")
  .option("--sync-interval-ms <ms>", "anti-entropy period", int("--sync-interval-ms", 10, 600_000))
  .option("--fanout <n>", "peers contacted per round", int("--fanout", 1, 1000))
  .option("--key <base64>", "encrypt gossip between the nodes (see node --key); repeat or comma-separate, primary first", collectKeys, [])
  .option("--netns", "each node on its own host in a network lab (needs root): its own address, kernel faults with heck-net")
  .option("--json", "print the node list as JSON")
  .action(async (o: { nodes: number; basePort: number; dataDir: string; syncIntervalMs?: number; fanout?: number; key: string[]; netns?: boolean; json?: boolean }) => {
    if (o.key.length > 0) {
      try {
        keyringFromBase64(o.key);
      } catch (e) {
        fail(`--key: ${(e as Error).message}`, EXIT_USAGE);
      }
    }
    await run(async () => {
      const c = await clusterUp({
        nodes: o.nodes,
        basePort: o.basePort,
        dataDir: o.dataDir,
        netns: o.netns === true,
        ...(o.key.length > 0 ? { nodeArgs: ["--key", o.key.join(",")] } : {}),
        ...(o.syncIntervalMs !== undefined ? { syncIntervalMs: o.syncIntervalMs } : {}),
        ...(o.fanout !== undefined ? { fanout: o.fanout } : {}),
      });
      const out = { nodes: c.nodes.map((n) => ({ id: n.id, pid: n.pid, http: n.http, netns: n.netns, host: n.host })) };
      print(Boolean(o.json), out, () =>
        [
          ...c.nodes.map((n) => `${n.id}  pid ${n.pid}  http ${nodeBase(n.http)}  gossip ${n.gossip}${n.netns ? `  netns ${n.netns}` : ""}`),
          ...(c.lab ? [`cut the network in the kernel: pnpm heck-net partition n1 ${c.nodes.slice(1).map((n) => n.id).join(",")}   (then pnpm heck-net heal)`] : []),
          "Ctrl-C stops the cluster.",
        ].join("\n"),
      );
      let stopping = false;
      onShutdownSignal(() => {
        stopping = true;
        c.stop().then(() => process.exit(EXIT_OK));
      });
      for (const child of c.children) {
        child.once("exit", (code, signal) => {
          if (!stopping) process.stderr.write(`heck-crdt: node pid ${child.pid} exited (${signal ?? code})\n`);
        });
      }
    });
  });

program
  .command("put <key> <value>")
  .description("write a value")
  .addOption(nodeOption())
  .addOption(new Option("--mode <mode>", "lww or mv (default: the key's mode, else the node's)").choices(["lww", "mv"]))
  .option("--ts <ms>", "LWW timestamp (default: now)")
  .option("--context <token>", "MV: the context of your read; replaces exactly those versions")
  .option("--json-value", "send the value as JSON rather than text")
  .option("--json", "print the response as JSON")
  .action(async (key: string, value: string, o: { node: string; mode?: string; ts?: string; context?: string; jsonValue?: boolean; json?: boolean }) => {
    await run(async () => {
      const res = await call("PUT", keyUrl(o.node, key, { mode: o.mode, ts: o.ts, context: o.context }), value, o.jsonValue ? { "content-type": "application/json" } : {});
      if (res.status !== 200) fail(String(res.body.error ?? `HTTP ${res.status}`));
      print(Boolean(o.json), res.body, () => (res.body.applied ? `ok ${key} (dot ${String(res.body.dot)}, context ${String(res.body.context)})` : `not applied: ${String(res.body.reason)}`));
      // A write that lost to a newer version did not happen: a script must be able to tell.
      if (!res.body.applied) process.exitCode = EXIT_FAILED;
    });
  });

program
  .command("get <key>")
  .description("read a key: its value, or all concurrent values in MV mode, and the context to write back")
  .addOption(nodeOption())
  .option("--json", "print the response as JSON")
  .action(async (key: string, o: { node: string; json?: boolean }) => {
    await run(async () => {
      const res = await call("GET", keyUrl(o.node, key));
      if (res.status !== 200 && res.status !== 404) fail(String(res.body.error ?? `HTTP ${res.status}`));
      const b = res.body as { exists?: boolean; values?: unknown[]; context?: string; mode?: string };
      print(Boolean(o.json), res.body, () =>
        b.exists ? `${(b.values ?? []).map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join("\n")}\n(${b.mode}, context ${b.context})` : `${key}: not found`,
      );
      if (!b.exists) process.exitCode = EXIT_FAILED;
    });
  });

program
  .command("del <key>")
  .description("delete a key")
  .addOption(nodeOption())
  .addOption(new Option("--mode <mode>", "lww or mv").choices(["lww", "mv"]))
  .option("--ts <ms>", "LWW timestamp (default: now)")
  .option("--context <token>", "MV: remove exactly the versions of this read")
  .option("--json", "print the response as JSON")
  .action(async (key: string, o: { node: string; mode?: string; ts?: string; context?: string; json?: boolean }) => {
    await run(async () => {
      const res = await call("DELETE", keyUrl(o.node, key, { mode: o.mode, ts: o.ts, context: o.context }));
      if (res.status !== 200) fail(String(res.body.error ?? `HTTP ${res.status}`));
      print(Boolean(o.json), res.body, () => (res.body.applied ? `deleted ${key}` : `not applied: ${String(res.body.reason)}`));
      if (!res.body.applied) process.exitCode = EXIT_FAILED;
    });
  });

program
  .command("ls [prefix]")
  .description("list keys with a value, by prefix")
  .addOption(nodeOption())
  .option("--limit <n>", "most keys", int("--limit", 1, 100_000), 1000)
  .option("--json", "print the response as JSON")
  .action(async (prefix: string | undefined, o: { node: string; limit: number; json?: boolean }) => {
    await run(async () => {
      const u = new URL(`${nodeBase(o.node)}/v1/kv`);
      u.searchParams.set("prefix", prefix ?? "");
      u.searchParams.set("limit", String(o.limit));
      const res = await call("GET", u.toString());
      if (res.status !== 200) fail(String(res.body.error ?? `HTTP ${res.status}`));
      print(Boolean(o.json), res.body, () => ((res.body.keys as string[]) ?? []).join("\n"));
    });
  });

program
  .command("status")
  .description("a node's version vector, peers and bytes sent")
  .addOption(nodeOption())
  .option("--json", "print the response as JSON")
  .action(async (o: { node: string; json?: boolean }) => {
    await run(async () => {
      const res = await call("GET", `${nodeBase(o.node)}/v1/status`);
      if (res.status !== 200) fail(String(res.body.error ?? `HTTP ${res.status}`));
      const s = res.body as {
        id: string;
        vector: Record<string, number>;
        peers: Array<{ address: string; id: string | null; acked: number }>;
        stats: { bytesSent: number; messagesSent: number; bytesReceived: number };
        sizes: { keys: number; logEntries: number };
        faults: { blocked: string[] };
        encryption?: { enabled: boolean; decryptFailures: number };
      };
      print(Boolean(o.json), s, () =>
        [
          `node ${s.id}: ${s.sizes.keys} keys, ${s.sizes.logEntries} log entries`,
          `vector ${JSON.stringify(s.vector)}`,
          `sent ${s.stats.bytesSent} bytes in ${s.stats.messagesSent} messages, received ${s.stats.bytesReceived} bytes`,
          `gossip encryption ${s.encryption?.enabled ? `on (${s.encryption.decryptFailures} packets/frames refused)` : "off"}`,
          ...s.peers.map((p) => `peer ${p.id ?? "?"} ${p.address} acked ${p.acked}${s.faults.blocked.includes(p.address) ? " (blocked)" : ""}`),
        ].join("\n"),
      );
    });
  });

program
  .command("partition <groups...>")
  .description('cut a running cluster into groups, e.g. "partition n1,n2 n3,n4,n5" (unlisted nodes form one more group)')
  .option("--data-dir <dir>", "the cluster's data directory (holds cluster.json)", ".heck/crdt-cluster")
  .option("--json", "print what each node now blocks as JSON")
  .action(async (groups: string[], o: { dataDir: string; json?: boolean }) => {
    await run(async () => {
      const nodes = readCluster(o.dataDir);
      const parsed = groups.map((g) => g.split(",").map((s) => s.trim()).filter((s) => s !== ""));
      const blocked = await partitionCluster(nodes, parsed);
      print(Boolean(o.json), { blocked }, () => `partitioned: ${parsed.map((g) => `{${g.join(",")}}`).join(" | ")}`);
    });
  });

program
  .command("heal")
  .description("remove every partition of a running cluster")
  .option("--data-dir <dir>", "the cluster's data directory (holds cluster.json)", ".heck/crdt-cluster")
  .option("--json", "print the result as JSON")
  .action(async (o: { dataDir: string; json?: boolean }) => {
    await run(async () => {
      const nodes = readCluster(o.dataDir);
      await healCluster(nodes);
      print(Boolean(o.json), { healed: nodes.map((n) => n.id) }, () => `healed ${nodes.map((n) => n.id).join(", ")}`);
    });
  });

const sizeList = (v: string): number[] => {
  const out = v.split(",").map((x) => Number(x.trim()));
  for (const n of out) if (!Number.isInteger(n) || n < 2 || n > 100_000) throw new InvalidArgumentError(`--sizes must be integers 2..100000, comma-separated, got ${v}`);
  return out;
};

program
  .command("ladder [which]")
  .description("the simpler designs this store replaces, on the same seeded network: gossip (push, pull, push-pull, rumors) and causality (Lamport clocks, version vectors); which: gossip, causality or both")
  .option("--seed <n>", "simulation seed (same seed, same tables)", int("--seed", 0, 0xffffffff), 1)
  .option("--sizes <list>", "cluster sizes of the gossip ladder", sizeList, [16, 64, 256, 1024])
  .option("--trials <n>", "gossip runs per cell (the table shows the median)", int("--trials", 1, 99), 3)
  .option("--json", "print one JSON line { rungs: [{ name, broke, ladder, ...figures }] }")
  .action(async (which: string | undefined, o: { seed: number; sizes: number[]; trials: number; json?: boolean }) => {
    const pick = which ?? "both";
    if (!["gossip", "causality", "both"].includes(pick)) fail(`ladder: which must be gossip, causality or both, got ${JSON.stringify(which)}`);
    // Loaded on demand: the other commands do not need the ladders.
    const { formatCrdtLadders, crdtLaddersJson, runCrdtLadders } = await import("./ladder/ladders.ts");
    const result = runCrdtLadders({ seed: o.seed, sizes: o.sizes, trials: o.trials, gossip: pick !== "causality", causality: pick !== "gossip" });
    process.stdout.write(`${o.json ? crdtLaddersJson(result) : formatCrdtLadders(result)}\n`);
  });

await program.parseAsync();
