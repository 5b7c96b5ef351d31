/**
 * Lease reads (`--read-mode lease`, §6.4.1) under a paused leader, with real
 * processes: the leader is stopped with SIGSTOP for longer than the election
 * timeout while the others elect a new leader and accept a write; a read sent
 * to the old leader while it is stopped waits in its socket and is the first
 * thing it handles when it resumes. Its lease is counted in ticks driven by a
 * timer, and a stopped process runs no timer: unless the driver notices the
 * jump of the monotonic clock and ages the lease by it, the old leader still
 * trusts its lease and answers with the value from before the pause (this
 * test fails that way when RaftNode.ticksMissed does nothing). With the
 * jump noticed, it must confirm its leadership first, and the read fails
 * with an error saying why until it reaches the others again.
 * Ports 15460-15479 belong to this file.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import { expect, it, describe } from "vitest";
import { LocalCluster } from "../src/io/local-cluster.ts";
import { RaftKvHttpClient } from "../src/io/http-client.ts";
import { tempDir } from "./support/cluster.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens a connection to `address` and sends a GET of `key` (HTTP/1.0: the
 * answer ends with the connection). Resolves once the request is written,
 * with the answer's promise inside an object: an async function that
 * returned the promise itself would wait for the answer, which a stopped
 * process never gives.
 */
async function sendGet(address: string, key: string): Promise<{ answer: Promise<{ status: number; body: string }> }> {
  const [host, port] = address.split(":") as [string, string];
  const socket = net.connect(Number(port), host);
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    let raw = "";
    socket.on("data", (c: Buffer) => (raw += c.toString()));
    socket.on("error", reject);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within 15 s of the request; received: ${JSON.stringify(raw.slice(0, 300))}`));
    }, 15_000);
    socket.on("end", () => {
      clearTimeout(timer);
      const split = raw.indexOf("\r\n\r\n");
      resolve({ status: Number(/^HTTP\/1\.\d (\d{3})/.exec(raw)?.[1] ?? 0), body: split < 0 ? "" : raw.slice(split + 4) });
    });
  });
  // Nobody awaits the answer until the process resumes; a failure before then is reported there.
  answer.catch(() => {});
  // The kernel completes the handshake for a stopped process (its listen backlog): "connect" comes without it.
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  await new Promise<void>((resolve) => socket.write(`GET /v1/kv/${encodeURIComponent(key)} HTTP/1.0\r\nHost: ${address}\r\n\r\n`, () => resolve()));
  return { answer };
}

/** Sets a member's own fault layer (POST /v1/faults): it drops peer traffic to and from the blocked members. */
async function setFaults(http: string, body: { block: string[] } | { unblock: "all" }): Promise<void> {
  const res = await fetch(`http://${http}/v1/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
  expect(res.status).toBe(200);
}

describe("lease reads under a paused leader (real processes)", () => {
  it("a leader stopped past the election timeout does not answer from its old lease when it resumes, and answers again once it reaches the others", async () => {
    const t = tempDir();
    const cluster = await LocalCluster.up({ nodes: 3, basePort: 15460, dataDir: t.dir, serverArgs: ["--read-mode", "lease", "--request-timeout-ms", "2000"], leaderTimeoutMs: 60_000 });
    try {
      const old = await cluster.waitForLeader();
      const others = cluster.nodes.map((n) => n.id).filter((id) => id !== old);
      const everyone = new RaftKvHttpClient({ endpoints: cluster.nodes.map((n) => n.http), timeoutMs: 5_000 });
      const onOld = new RaftKvHttpClient({ endpoints: [cluster.node(old).http], timeoutMs: 5_000 });
      await everyone.put("lease/k", "old");
      // The old leader serves this read from its lease.
      expect((await onOld.get("lease/k"))?.value).toBe("old");
      const term = (await cluster.status(old))!.term;

      cluster.signal(old, "SIGSTOP");
      try {
        // The others stop talking to it (both ways), so that when it resumes nothing from the new
        // leader reaches it first: the read below is decided by its lease alone. Without this, the
        // new leader's heartbeats queued in its sockets depose it before it parses the read.
        for (const id of others) await setFaults(cluster.node(id).http, { block: [old] });
        // The others elect a new leader (a later term) and accept a write while the old one is stopped.
        let leader: string | undefined;
        const until = performance.now() + 30_000;
        while (leader === undefined && performance.now() < until) {
          for (const id of others) {
            const s = await cluster.status(id, 500);
            if (s?.role === "leader" && s.term > term) leader = id;
          }
          if (leader === undefined) await sleep(100);
        }
        expect(leader, "the others elected no leader while the old one was stopped").toBeDefined();
        await new RaftKvHttpClient({ endpoints: others.map((id) => cluster.node(id).http), timeoutMs: 5_000 }).put("lease/k", "new");
        const { answer } = await sendGet(cluster.node(old).http, "lease/k");
        cluster.signal(old, "SIGCONT");
        const { status, body } = await answer;
        // Its lease aged by the pause, so it must confirm its leadership with a heartbeat round, which
        // nobody answers: the read fails with an error that says why (a client retries elsewhere).
        // Answering 200 here would be the value from before the pause.
        expect(status, `the first read on ${old} after SIGCONT answered ${status} ${body.slice(0, 200)}`).toBeGreaterThanOrEqual(500);
        expect((JSON.parse(body) as { error: { code: string } }).error.code).toMatch(/^(timeout|no_leader|not_leader)$/);
      } finally {
        cluster.signal(old, "SIGCONT");
        for (const id of others) await setFaults(cluster.node(id).http, { unblock: "all" });
      }
      // Its log says why: the clock jumped past the lease.
      expect(readFileSync(`${t.dir}/${old}.log`, "utf8")).toMatch(/the clock jumped \d+ ticks .* the lease aged by as much/);
      // Healed, it learns of the new term and reads what was written meanwhile.
      let value: string | undefined;
      const until = performance.now() + 30_000;
      while (value !== "new" && performance.now() < until) {
        value = await onOld.get("lease/k").then((kv) => kv?.value, () => undefined);
        if (value !== "new") await sleep(200);
      }
      expect(value).toBe("new");
    } finally {
      await cluster.down();
      t.cleanup();
    }
  }, 120_000);
});
