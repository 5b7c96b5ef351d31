/**
 * Coordination against real processes: a 3-member cluster started through
 * the CLI, driven by Debian's etcdctl (leases, put --lease, lock with a lock
 * hand-off across a leader kill, elect with a takeover, users, roles and
 * auth, member add then starting the new member, snapshot save) and by the
 * etcd3 npm client (lease, lock, election).
 *
 * Ports 15440-15459 belong to this file. Bounded: about a minute.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd3 } from "etcd3";
import { CLI_BIN, LocalCluster } from "../src/io/local-cluster.ts";
import { tempDir } from "./support/cluster.ts";
import { eventually } from "./support/grpc.ts";

const exec = promisify(execFile);
let cluster: LocalCluster;
let dir: string;
let cleanup: () => void;
const children: ChildProcess[] = [];

beforeAll(async () => {
  const t = tempDir();
  dir = t.dir;
  cleanup = t.cleanup;
  cluster = await LocalCluster.up({ nodes: 3, basePort: 15440, dataDir: t.dir, serverArgs: ["--request-timeout-ms", "2000"], leaderTimeoutMs: 30_000 });
}, 45_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await cluster?.down();
  cleanup?.();
});

const endpoints = () => cluster.nodes.map((n) => n.grpc).join(",");
const env = { ...process.env, ETCDCTL_API: "3" };

/** Runs etcdctl against every member; resolves with stdout, or with stderr when `failing` (it must fail then). */
async function etcdctl(args: string[], options: { failing?: boolean; endpoints?: string } = {}): Promise<string> {
  const run = exec("etcdctl", [`--endpoints=${options.endpoints ?? endpoints()}`, "--command-timeout=8s", ...args], { env, timeout: 15_000 });
  if (!options.failing) return (await run).stdout;
  const err = (await run.then(
    () => null,
    (e: { stderr: string }) => e,
  )) as { stderr: string } | null;
  expect(err, `etcdctl ${args.join(" ")} should fail`).not.toBeNull();
  return err!.stderr;
}

/** Starts a long-running etcdctl (lock, elect) and collects its stdout. */
function background(args: string[]): { child: ChildProcess; out: () => string } {
  const child = spawn("etcdctl", [`--endpoints=${endpoints()}`, ...args], { env });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", () => {});
  return { child, out: () => out };
}

describe("Debian's etcdctl: leases", () => {
  it("grant, put --lease, timetolive --keys, keep-alive, list, revoke (the key goes with the lease)", async () => {
    const granted = await etcdctl(["lease", "grant", "30"]);
    const id = /^lease ([0-9a-f]{16}) granted with TTL\(30s\)$/.exec(granted.trim())?.[1];
    expect(id, granted).toBeDefined();
    expect(await etcdctl(["put", "--lease", id!, "leased", "v"])).toBe("OK\n");
    expect(await etcdctl(["lease", "timetolive", "--keys", id!])).toMatch(new RegExp(`^lease ${id} granted with TTL\\(30s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)\\n$`));
    expect(await etcdctl(["lease", "keep-alive", "--once", id!])).toBe(`lease ${id} keepalived with TTL(30)\n`);
    expect(await etcdctl(["lease", "list"])).toContain(id!);
    expect(await etcdctl(["lease", "revoke", id!])).toBe(`lease ${id} revoked\n`);
    expect(await etcdctl(["get", "leased"])).toBe("");
    expect(await etcdctl(["lease", "revoke", id!], { failing: true })).toContain("etcdserver: requested lease not found");
    expect(await etcdctl(["lease", "grant", "9000000001"], { failing: true })).toContain("etcdserver: too large lease TTL");
  }, 30_000);
});

describe("Debian's etcdctl: locks and elections", () => {
  it("hands a lock over when the holder dies together with the Raft leader; never two holders", async () => {
    // The holder's lease is short, so the hand-off is quick; the waiter's is long enough that its own client does
    // not give its lease up while keep-alives wait out the election (etcd's clients count a lease lost after one
    // TTL without an answer).
    const a = background(["lock", "--ttl=2", "handoff"]);
    const keyA = (await eventually("the first holder's key", () => a.out().trim() || undefined)).split("\n")[0]!;
    const b = background(["lock", "--ttl=15", "handoff"]);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(b.out()).toBe("");
    // Kill the holder and the Raft leader at once: the lease must expire by the new leader's clock.
    const leader = await cluster.waitForLeader();
    a.child.kill("SIGKILL");
    await cluster.kill9(leader);
    const keyB = (await eventually("the second contender to get the lock", () => b.out().trim() || undefined, 30_000)).split("\n")[0]!;
    expect(keyB).not.toBe(keyA);
    // When b holds the lock, a's key is gone: never two holders.
    const holders = await etcdctl(["get", "--prefix", "--keys-only", "handoff/"]);
    expect(holders.split("\n").filter(Boolean)).toEqual([keyB]);
    b.child.kill("SIGTERM");
    cluster.restart(leader);
    await cluster.waitForLeader();
  }, 60_000);

  it("a second campaigner takes over when the first is killed, and an observer sees both", async () => {
    const first = background(["elect", "el", "first"]);
    await eventually("the first leader", () => (first.out().includes("first") ? true : undefined));
    const second = background(["elect", "el", "second"]);
    const observer = background(["elect", "-l", "el"]);
    await eventually("the observer to see the first leader", () => (observer.out().includes("first") ? true : undefined));
    expect(second.out()).toBe("");
    first.child.kill("SIGTERM");
    await eventually("the second to be elected", () => (second.out().includes("second") ? true : undefined), 15_000);
    await eventually("the observer to see the takeover", () => (observer.out().includes("second") ? true : undefined));
    second.child.kill("SIGTERM");
    observer.child.kill("SIGTERM");
  }, 30_000);
});

describe("Debian's etcdctl: users, roles and auth", () => {
  it("refuses a user without permission and lets root through", async () => {
    await etcdctl(["user", "add", "root:rootpw"]);
    await etcdctl(["user", "add", "bob:bobpw"]);
    await etcdctl(["role", "add", "ops"]);
    await etcdctl(["role", "grant-permission", "ops", "--prefix=true", "readwrite", "ops/"]);
    await etcdctl(["user", "grant-role", "bob", "ops"]);
    expect(await etcdctl(["auth", "enable"])).toBe("Authentication Enabled\n");
    expect(await etcdctl(["--user=bob:bobpw", "put", "ops/x", "1"])).toBe("OK\n");
    expect(await etcdctl(["--user=bob:bobpw", "put", "elsewhere", "1"], { failing: true })).toContain("etcdserver: permission denied");
    expect(await etcdctl(["put", "elsewhere", "1"], { failing: true })).toContain("etcdserver: user name is empty");
    expect(await etcdctl(["--user=root:rootpw", "put", "elsewhere", "1"])).toBe("OK\n");
    expect(await etcdctl(["--user=root:rootpw", "auth", "disable"])).toBe("Authentication Disabled\n");
  }, 30_000);
});

describe("Debian's etcdctl: membership and snapshots", () => {
  it("member add, then the new member starts with the id etcdctl printed and is promoted once caught up", async () => {
    const peer = "127.0.0.1:15449";
    const added = await etcdctl(["member", "add", "newbie", `--peer-urls=http://${peer}`]);
    const id = /Member ([0-9a-f]{16}) added to cluster/.exec(added)?.[1];
    expect(id, added).toBeDefined();
    const peers = [...cluster.nodes.map((n) => `${n.id}=${n.peer}`), `${id}=${peer}`].join(",");
    const child = spawn(process.execPath, [CLI_BIN, "server", "--id", id!, "--join", "--peers", peers, "--data-dir", path.join(dir, id!), "--http", "127.0.0.1:15450", "--grpc", "127.0.0.1:15451"], { stdio: "ignore" });
    children.push(child);
    await eventually(
      "the new member to be started and a voter",
      async () => {
        const line = (await etcdctl(["member", "list"])).split("\n").find((l) => l.startsWith(id!));
        return line && /, started, /.test(line) && line.endsWith(", false") ? line : undefined;
      },
      30_000,
      250,
    );
    expect(await etcdctl(["get", "elsewhere", "--print-value-only"], { endpoints: "127.0.0.1:15451" })).toBe("1\n");
    expect(await etcdctl(["member", "remove", id!])).toMatch(/removed from cluster/);
    expect(await etcdctl(["member", "list"])).not.toContain(id!);
    child.kill("SIGTERM");
  }, 60_000);

  it("snapshot save writes the state in a file etcdctl accepts (raft-kv's format inside etcd's checksummed frame)", async () => {
    const file = path.join(dir, "snap.db");
    const out = await exec("etcdctl", [`--endpoints=${cluster.nodes[0]!.grpc}`, "snapshot", "save", file], { env, timeout: 15_000 });
    expect(out.stdout).toContain(`Snapshot saved at ${file}`);
    const bytes = fs.readFileSync(file);
    expect(bytes.subarray(0, 14).toString("latin1")).toBe("HECKRAFT-SNAP\n");
    expect(bytes.length % 512).toBe(32);
  }, 30_000);
});

describe("heck-raft's own lease and lock commands", () => {
  const heck = async (...args: string[]) => (await exec(process.execPath, [CLI_BIN, "--endpoints", cluster.nodes.map((n) => n.http).join(","), ...args], { timeout: 20_000 })).stdout;

  it("lease grant, put --lease, timetolive --keys, revoke; lock runs a command holding the lock and its fencing token", async () => {
    const granted = /^lease ([0-9a-f]{16}) granted with TTL\(30s\)\n$/.exec(await heck("lease", "grant", "30"));
    expect(granted).not.toBeNull();
    const id = granted![1]!;
    expect(await heck("put", "cli/leased", "v", "--lease", id)).toBe("OK\n");
    expect(await heck("lease", "timetolive", "--keys", id)).toMatch(new RegExp(`^lease ${id} granted with TTL\\(30s\\), remaining\\(\\d+s\\), attached keys\\(\\[cli/leased\\]\\)\\n$`));
    expect(await heck("lease", "revoke", id)).toBe(`lease ${id} revoked\n`);
    expect(await etcdctl(["get", "cli/leased"])).toBe("");
    const out = await heck("lock", "cli-job", "--", "sh", "-c", 'echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV"');
    expect(out).toMatch(/^cli-job\/[0-9a-f]+ \d+\n$/);
    // The command ran holding the lock; afterwards the lock key is gone.
    expect(await etcdctl(["get", "--prefix", "cli-job/"])).toBe("");
  }, 60_000);
});

describe("the etcd3 npm client against the processes", () => {
  it("lease, lock and election", async () => {
    const etcd = new Etcd3({ hosts: cluster.nodes.map((n) => `http://${n.grpc}`) });
    try {
      const lease = etcd.lease(2);
      await lease.put("npm/leased").value("1");
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await etcd.get("npm/leased").string()).toBe("1");
      await lease.revoke();
      expect(await etcd.get("npm/leased").string()).toBeNull();
      expect(await etcd.lock("npm/lock").do(async () => "locked")).toBe("locked");
      const e = etcd.election("npm/el", 2);
      const c = e.campaign("me");
      await new Promise<void>((r) => c.on("elected", () => r()));
      expect(await e.leader()).toBe("me");
      await c.resign();
    } finally {
      etcd.close();
    }
  }, 30_000);
});
