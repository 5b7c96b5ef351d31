/**
 * The `heck` CLI as a user runs it: bad configs refused with the field
 * named, the security rule (no auth/encryption off loopback), and the
 * client commands against a real agent with a bearer token.
 */
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KvDriver } from "@heck/crdt-kv";
import { afterAll, describe, expect, it } from "vitest";
import { pnpmCommand, REPO_ROOT, sendRawTcp } from "@heck/cli-kit/testing";
import { until } from "./support/wait.ts";

// Ports 19500-19599 belong to this file.
const HECK = fileURLToPath(new URL("../bin/heck.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "heck-v2-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `heck ...` to completion without blocking the event loop, so independent cases run concurrently. */
const heckAsync = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [HECK, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("exit", (status) => resolve({ status, stdout, stderr }));
  });

describe("heck agent refuses bad configuration, naming the field", () => {
  it.each([
    [["agent", "--id", "bad id"], /id: required, 1-64 characters/],
    [["agent", "--id", "a", "--api", "0.0.0.0:19500"], /token: the API binds 0\.0\.0\.0, which is not loopback/],
    [["agent", "--id", "a", "--bind", "0.0.0.0:19501", "--api", "127.0.0.1:0"], /gossipKey: gossip binds 0\.0\.0\.0/],
    [["agent", "--id", "a", "--store", "etcd"], /etcdEndpoints: --store etcd needs/],
    [["agent", "--id", "a", "--store", "raft"], /raftPeers: --store raft needs/],
    [["agent", "--id", "a", "--store", "zookeeper"], /store: must be crdt, raft or etcd/],
    [["agent", "--id", "a", "--interval-ms", "soon"], /--interval-ms: must be an integer/],
    [["agent", "--id", "a", "--bind", "nowhere"], /bind: must be "host:port"/],
    [["agent", "--id", "a", "--token", "short"], /token: must be at least 16 characters/],
    [["agent", "--id", "a", "--swim-config", "{nope"], /--swim-config: not JSON/],
  ])("%j", { concurrent: true, timeout: 30_000 }, async (args, message) => {
    const r = await heckAsync(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("names unknown fields in a config file", { concurrent: true, timeout: 30_000 }, async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "id: a\nintervalMS: 500\n");
    const r = await heckAsync("agent", "--config", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/intervalMS: unknown field/);
  });

  it("refuses a config origin that v1 would not check, naming it by index, before anything binds", { concurrent: true, timeout: 30_000 }, async () => {
    const file = join(dir, "bad-origin.json");
    const origins = [{ id: "ok", url: "http://127.0.0.1:1/health" }, { id: "x", url: "ftp://nope" }, { id: "ok", url: "http://127.0.0.1:2/health" }];
    writeFileSync(file, JSON.stringify({ id: "a", api: "127.0.0.1:0", bind: "127.0.0.1:0", dataDir: join(dir, "a"), origins }));
    const r = await heckAsync("agent", "--config", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad configuration:\n {2}origins\[1\]\.url: must start with http:\/\/, https:\/\/ or tcp:\/\//);
    expect(r.stderr).toMatch(/origins\[2\]\.id: "ok" appears twice/);
    // Refused before the agent made its data directory.
    expect(existsSync(join(dir, "a"))).toBe(false);
  });
});

describe("a running agent with a token, through the CLI", () => {
  it("guards the API with the bearer token and serves origins, members and ownership", async () => {
    const token = "s3cret-token-for-tests";
    const file = join(dir, "agent.yaml");
    writeFileSync(file, `id: solo\nbind: 127.0.0.1:19510\napi: 127.0.0.1:19511\ncrdtPort: 19512\ndataDir: ${join(dir, "solo")}\ntoken: ${token}\nintervalMs: 500\norigins:\n  - { id: web, url: "http://127.0.0.1:1/health" }\n`);
    const child = spawn(process.execPath, [HECK, "agent", "--config", file, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
          if (out.includes("\n")) resolve(out.split("\n")[0]!);
        });
        child.once("exit", (code) => reject(new Error(`agent exited ${code}`)));
      });
      expect(JSON.parse(line)).toMatchObject({ id: "solo", api: "127.0.0.1:19511", store: "crdt" });
      expect((await fetch("http://127.0.0.1:19511/v1/origins")).status).toBe(401);
      expect((await fetch("http://127.0.0.1:19511/v1/origins", { headers: { authorization: "Bearer wrong-token-xxxxxxx" } })).status).toBe(401);
      expect((await fetch("http://127.0.0.1:19511/healthz")).status).toBe(200);
      // Garbage at each door: bytes that are not HTTP and a body that is not JSON at the API, and at the
      // SWIM and crdt gossip ports a packet and a TCP stream that decode to nothing. Each is dropped
      // and counted where the agent shows its counters.
      const badBody = await fetch("http://127.0.0.1:19511/v1/origins", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{not json" });
      expect(badBody.status).toBe(400);
      const udp = createSocket("udp4");
      for (const port of [19510, 19512]) await new Promise((r) => udp.send(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x7b, 0x22]), port, "127.0.0.1", r));
      udp.close();
      for (const port of [19510, 19512, 19511]) {
        await sendRawTcp(`127.0.0.1:${port}`, port === 19511 ? Buffer.from("\x16\x03\x01garbage\r\n\r\n") : Buffer.from([0xee, 0x00, 0x00, 0x00, 0x01, 0x7b]));
      }
      const malformed = async () => ((await (await fetch("http://127.0.0.1:19511/healthz")).json()) as { malformed: Record<string, number> }).malformed;
      await until(async () => Object.values(await malformed()).every((n) => n > 1), 10_000, "each piece of garbage counted");
      expect(await malformed()).toEqual({ api: 2, swim: 2, store: 2 });
      const metrics = await (await fetch("http://127.0.0.1:19511/metrics", { headers: { authorization: `Bearer ${token}` } })).text();
      expect(metrics).toMatch(/^heck_malformed_messages\{source="swim",member="solo"\} 2$/m);
      const api = ["--api", "127.0.0.1:19511", "--token", token];
      // Each command is a process start of a second or two: those that do not depend on each other run at once.
      const [ls, bad, get, getNope, membersOut, ownership, noToken, unreachable] = await Promise.all([
        heckAsync("origins", "ls", ...api),
        heckAsync("origins", "add", "x", "gopher://nope", ...api),
        heckAsync("origins", "get", "web", "--json", ...api),
        heckAsync("origins", "get", "nope", ...api),
        heckAsync("members", "--json", ...api),
        heckAsync("ownership", ...api),
        heckAsync("members", "--api", "127.0.0.1:19511"),
        heckAsync("members", "--api", "127.0.0.1:19599"),
      ]);
      expect(ls.status).toBe(0);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/url/);
      expect((JSON.parse(get.stdout) as { owners: string[] }).owners).toEqual(["solo"]);
      expect(getNope.stderr).toMatch(/no origin "nope"/);
      const members = JSON.parse(membersOut.stdout) as { id: string; state: string; api: string }[];
      expect(members).toEqual([expect.objectContaining({ id: "solo", state: "alive", api: "127.0.0.1:19511" })]);
      expect(ownership.stdout).toMatch(/solo\s+1/);
      expect(noToken.stderr).toMatch(/bearer token/);
      expect(unreachable.stderr).toMatch(/cannot reach the agent/);
      const add = await heckAsync("origins", "add", "api-2", "http://127.0.0.1:2/health", ...api);
      expect(add.stdout).toMatch(/added api-2/);
      const [dup, lsJson] = await Promise.all([heckAsync("origins", "add", "api-2", "http://127.0.0.1:2/health", ...api), heckAsync("origins", "ls", "--json", ...api)]);
      expect(dup.status).toBe(1);
      expect(dup.stderr).toMatch(/already exists/);
      expect((JSON.parse(lsJson.stdout) as { id: string }[]).map((o) => o.id).sort()).toEqual(["api-2", "web"]);
      expect((await heckAsync("origins", "rm", "api-2", ...api)).stdout).toMatch(/removed api-2/);
      expect((await fetch("http://127.0.0.1:19511/v1/origins/api-2", { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    expect(child.exitCode).toBe(0);
  }, 90_000);
});

describe.concurrent("joining like Consul's retry_join", () => {
  /** Starts `heck agent ... --json` and resolves with the child once its contract line is out. */
  const startAgent = (args: string[]) => {
    const child = spawn(process.execPath, [HECK, "agent", ...args, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const up = new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (c: Buffer) => c.toString().includes("\n") && resolve());
      child.once("exit", (code) => reject(new Error(`agent exited ${code}: ${stderr}`)));
    });
    return { child, up, stderr: () => stderr };
  };
  const stop = async (child: ReturnType<typeof spawn>) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  };

  it("keeps retrying a seed that is not up yet, and joins once it is", async () => {
    // b starts first and joins a, which only comes up a second later.
    const b = startAgent(["--id", "jb", "--bind", "127.0.0.1:19522", "--api", "127.0.0.1:19523", "--join", "127.0.0.1:19520", "--data-dir", join(dir, "jb"), "--swim-preset", "local"]);
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      expect(b.child.exitCode).toBe(null);
      const a = startAgent(["--id", "ja", "--bind", "127.0.0.1:19520", "--api", "127.0.0.1:19521", "--data-dir", join(dir, "ja"), "--swim-preset", "local"]);
      try {
        await a.up;
        await b.up;
        const members = (await (await fetch("http://127.0.0.1:19523/v1/members")).json()) as { id: string; state: string }[];
        expect(members.map((m) => `${m.id}:${m.state}`).sort()).toEqual(["ja:alive", "jb:alive"]);
      } finally {
        await stop(a.child);
      }
    } finally {
      await stop(b.child);
    }
  }, 40_000);

  it("with a gossip key: an agent holding it joins and shares the origin list; one with another key cannot join", async () => {
    const key = randomBytes(32).toString("base64");
    const common = ["--swim-preset", "local", "--gossip-key", key];
    const a = startAgent(["--id", "ka", "--bind", "127.0.0.1:19530", "--api", "127.0.0.1:19531", "--data-dir", join(dir, "ka"), ...common]);
    try {
      await a.up;
      const b = startAgent(["--id", "kb", "--bind", "127.0.0.1:19532", "--api", "127.0.0.1:19533", "--join", "127.0.0.1:19530", "--data-dir", join(dir, "kb"), ...common]);
      try {
        await b.up;
        const members = (await (await fetch("http://127.0.0.1:19533/v1/members")).json()) as { id: string; state: string }[];
        expect(members.map((m) => `${m.id}:${m.state}`).sort()).toEqual(["ka:alive", "kb:alive"]);
        // An agent with another key tries to join meanwhile (its verdict is read below): it starts now
        // because its start-up and its join timeout are most of this test's time.
        const wrongKeyJoin = heckAsync("agent", "--id", "kc", "--bind", "127.0.0.1:19534", "--api", "127.0.0.1:19535", "--join", "127.0.0.1:19530", "--join-timeout-ms", "2000", "--data-dir", join(dir, "kc"), "--swim-preset", "local", "--gossip-key", randomBytes(32).toString("base64"));
        // The origin list crosses the store's gossip between the two.
        const add = await fetch("http://127.0.0.1:19531/v1/origins", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "k-origin", url: "http://127.0.0.1:1/health" }) });
        expect(add.status).toBe(201);
        await until(async () => (await fetch("http://127.0.0.1:19533/v1/origins/k-origin")).status === 200, 10_000, "origin replicated to kb");
        // ... sealed with the key: a crdt-kv replica with another key gossiping straight at ka's
        // store port is refused (counted) and changes nothing.
        const health = async () => ((await (await fetch("http://127.0.0.1:19531/healthz")).json()) as { store: { detail: string } }).store.detail;
        expect(await health()).toMatch(/gossip encrypted/);
        const crdtAddress = /crdt-kv (\S+),/.exec(await health())![1]!;
        const intruder = await KvDriver.start({ id: "intruder", dataDir: join(dir, "intruder"), peers: [crdtAddress], syncIntervalMs: 50, keys: [randomBytes(32).toString("base64")] });
        try {
          intruder.put("heck/origins/evil", { id: "evil", url: "http://127.0.0.1:1/evil" });
          await until(async () => /gossip encrypted \(\d+ refused\)/.test(await health()), 10_000, "wrong-key gossip refused and counted");
          expect((await fetch("http://127.0.0.1:19531/v1/origins/evil")).status).toBe(404);
        } finally {
          await intruder.close();
        }
        // Another key: every packet of it is dropped, so no seed ever answers.
        const r = await wrongKeyJoin;
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/join: none of 127\.0\.0\.1:19530 answered within 2000 ms/);
        const after = (await (await fetch("http://127.0.0.1:19531/v1/members")).json()) as { id: string }[];
        expect(after.map((m) => m.id).sort()).toEqual(["ka", "kb"]);
      } finally {
        await stop(b.child);
      }
    } finally {
      await stop(a.child);
    }
  }, 60_000);

  it("Ctrl-C on `pnpm heck agent` leaves gracefully: the others record left, not dead", async () => {
    // A terminal's Ctrl-C reaches the whole foreground process group: pnpm and the agent under it. pnpm
    // relays it to the agent as SIGTERM a moment later; the agent must still take the graceful path once.
    const seed = startAgent(["--id", "sa", "--bind", "127.0.0.1:19540", "--api", "127.0.0.1:19541", "--data-dir", join(dir, "sa"), "--swim-preset", "local"]);
    try {
      await seed.up;
      const pnpm = pnpmCommand();
      const args = ["heck", "agent", "--id", "sb", "--bind", "127.0.0.1:19542", "--api", "127.0.0.1:19543", "--join", "127.0.0.1:19540", "--data-dir", join(dir, "sb"), "--swim-preset", "local"];
      const child = spawn(pnpm.command, [...pnpm.args, ...args], { cwd: REPO_ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      const stateOfSb = async () => ((await (await fetch("http://127.0.0.1:19541/v1/members")).json()) as { id: string; state: string }[]).find((m) => m.id === "sb")?.state;
      try {
        await until(async () => (await stateOfSb()) === "alive", 30_000, "sb joined");
        process.kill(-child.pid!, "SIGINT");
        await until(async () => ["left", "dead"].includes((await stateOfSb()) ?? ""), 30_000, "sb gone from the seed's view");
        expect(await stateOfSb(), out).toBe("left");
        await exited;
      } finally {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }
    } finally {
      await stop(seed.child);
    }
  }, 90_000);

  it("gives up after --join-timeout-ms with an error naming the seeds", { timeout: 30_000 }, async () => {
    const r = await heckAsync("agent", "--id", "jc", "--bind", "127.0.0.1:19524", "--api", "127.0.0.1:19525", "--join", "127.0.0.1:19526,127.0.0.1:19527", "--join-timeout-ms", "1500", "--data-dir", join(dir, "jc"), "--swim-preset", "local");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/agent jc could not start: join: none of 127\.0\.0\.1:19526, 127\.0\.0\.1:19527 answered within 1500 ms/);
  });

  it("a restarted agent answers 503 'starting' while it joins and loads its origins, never an empty list", { timeout: 60_000 }, async () => {
    // The state behind agents seen answering 0 origins: a restarted agent's API listens while it
    // joins (for as long as its seeds are slow, starved of CPU or across a partition) and before
    // its store's origin list is loaded, and it used to answer 200 with "origins": 0 meanwhile.
    const args = ["--id", "ra", "--bind", "127.0.0.1:19550", "--api", "127.0.0.1:19551", "--data-dir", join(dir, "ra"), "--swim-preset", "local"];
    const first = startAgent(args);
    try {
      await first.up;
      const ids = ["r1", "r2", "r3"];
      const add = await fetch("http://127.0.0.1:19551/v1/origins", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ids.map((id) => ({ id, url: "http://127.0.0.1:1/health" }))) });
      expect(add.status).toBe(201);
    } finally {
      first.child.kill("SIGKILL");
      await new Promise((r) => first.child.once("exit", r));
    }
    // Back from kill -9 with its data, joining a seed that is not up yet.
    const again = startAgent([...args, "--join", "127.0.0.1:19552", "--join-timeout-ms", "0"]);
    try {
      let health: Response | undefined;
      await until(async () => (health = await fetch("http://127.0.0.1:19551/healthz").catch(() => undefined)) !== undefined, 20_000, "ra's API listening");
      expect(health!.status).toBe(503);
      expect(health!.headers.get("retry-after")).toBe("1");
      expect(await health!.json()).toEqual({ status: "starting", id: "ra", starting: "joining the cluster through 127.0.0.1:19552" });
      const list = await fetch("http://127.0.0.1:19551/v1/origins");
      expect(list.status).toBe(503);
      expect(((await list.json()) as { error: string }).error).toMatch(/^starting: this agent is joining the cluster through 127\.0\.0\.1:19552; ask again shortly/);
      const seed = startAgent(["--id", "rs", "--bind", "127.0.0.1:19552", "--api", "127.0.0.1:19553", "--data-dir", join(dir, "rs"), "--swim-preset", "local"]);
      try {
        await seed.up;
        await again.up;
        const up = (await (await fetch("http://127.0.0.1:19551/healthz")).json()) as { status: string; origins: number };
        expect(up).toMatchObject({ status: "ok", origins: 3 });
        expect(((await (await fetch("http://127.0.0.1:19551/v1/origins")).json()) as { id: string }[]).map((o) => o.id)).toEqual(["r1", "r2", "r3"]);
      } finally {
        await stop(seed.child);
      }
    } finally {
      await stop(again.child);
    }
  });

  it("refuses a bad --join-timeout-ms, naming the field", { timeout: 30_000 }, async () => {
    const r = await heckAsync("agent", "--id", "jd", "--join-timeout-ms", "-5");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/joinTimeoutMs: must be an integer in 0\.\.86400000/);
  });
});
