/**
 * Real processes on loopback: a 3-member cluster started through the CLI
 * (`LocalCluster`, as `heck-raft cluster up` does), Debian's etcdctl against
 * it, and a bounded nemesis (kill -9, SIGSTOP/SIGCONT, partitions through the
 * transport fault layer) while clients write and read. The history is then
 * checked linearizable with @heck/sim's checker, and every acknowledged write
 * must still be there.
 *
 * Garbage sent to each of a member's doors (peer, gRPC, HTTP) is refused,
 * counted in its status's `malformed`, and the member keeps serving.
 *
 * Ports 15400-15419 belong to this file. Bounded: about 12 s of faults.
 */
import { execFile, spawn } from "node:child_process";
import http2 from "node:http2";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendRawTcp } from "@heck/cli-kit/testing";
import { createPrng } from "@heck/sim";
import { encodeFrame } from "@heck/sim/io";
import { LocalCluster } from "../src/io/local-cluster.ts";
import type { ServerMalformedCounts } from "../src/io/node-info.ts";
import { RaftKvHttpClient } from "../src/io/http-client.ts";
import { tempDir } from "./support/cluster.ts";
import { checkRegisterWorkload, startRegisterWorkload } from "./support/register-workload.ts";

const exec = promisify(execFile);
let cluster: LocalCluster;
let cleanup: () => void;
const seed = Number(process.env.HECK_SEED ?? Math.floor(Math.random() * 2 ** 31));

beforeAll(async () => {
  const t = tempDir();
  cleanup = t.cleanup;
  cluster = await LocalCluster.up({ nodes: 3, basePort: 15400, dataDir: t.dir, serverArgs: ["--request-timeout-ms", "2000"], leaderTimeoutMs: 30_000 });
}, 45_000);

afterAll(async () => {
  await cluster?.down();
  cleanup?.();
});

async function etcdctl(...args: string[]): Promise<string> {
  const endpoints = cluster.nodes.map((n) => n.grpc).join(",");
  const { stdout, stderr } = await exec("etcdctl", [`--endpoints=${endpoints}`, "--command-timeout=5s", ...args], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 10_000 });
  // etcdctl 3.4 prints `endpoint health` results on stderr.
  return args[0] === "endpoint" && args[1] === "health" ? stderr + stdout : stdout;
}

describe("Debian's etcdctl against a raft-kv cluster", () => {
  it("put, get --prefix, del, txn", async () => {
    expect(await etcdctl("put", "dir/a", "1")).toBe("OK\n");
    await etcdctl("put", "dir/b", "2");
    expect(await etcdctl("get", "--prefix", "dir/")).toBe("dir/a\n1\ndir/b\n2\n");
    expect(await etcdctl("del", "dir/a")).toBe("1\n");
    const txn = spawn("etcdctl", [`--endpoints=${cluster.nodes[0]!.grpc}`, "txn"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let out = "";
    txn.stdout.on("data", (d: Buffer) => (out += d.toString()));
    txn.stdin.end('value("dir/b") = "2"\n\nput dir/b 3\n\nput dir/b failed\n\n');
    await new Promise((r) => txn.on("exit", r));
    expect(out).toBe("SUCCESS\n\nOK\n");
    expect(await etcdctl("get", "dir/b", "--print-value-only")).toBe("3\n");
  }, 30_000);

  it("watch, member list, endpoint status and endpoint health", async () => {
    const w = spawn("etcdctl", [`--endpoints=${cluster.nodes[1]!.grpc}`, "watch", "--prefix", "wat/"], { env: { ...process.env, ETCDCTL_API: "3" } });
    let out = "";
    w.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 700));
    await etcdctl("put", "wat/x", "hello");
    await etcdctl("del", "wat/x");
    const deadline = Date.now() + 5_000;
    while (!out.includes("DELETE") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    w.kill("SIGTERM");
    expect(out.trimEnd()).toBe("PUT\nwat/x\nhello\nDELETE\nwat/x");
    const members = await etcdctl("member", "list");
    expect(members.trim().split("\n").map((l) => l.split(", ").slice(1, 3).join(" "))).toEqual(["started n1", "started n2", "started n3"]);
    const status = await etcdctl("endpoint", "status");
    expect(status.trim().split("\n").filter((l) => l.includes(", true, false, ")).length).toBe(1); // exactly one leader
    const health = await etcdctl("endpoint", "health");
    expect(health.match(/is healthy/g)?.length).toBe(3);
  }, 30_000);
});

/** One gRPC call with a raw request message; resolves with its grpc-status. */
async function grpcCall(address: string, path: string, message: Uint8Array): Promise<string | undefined> {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => {});
  try {
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc" });
    const header = Buffer.alloc(5);
    header.writeUInt32BE(message.length, 1);
    stream.end(Buffer.concat([header, message]));
    stream.on("data", () => {});
    return await new Promise<string | undefined>((resolve, reject) => {
      let status: string | undefined;
      const take = (h: http2.IncomingHttpHeaders) => (status = (h["grpc-status"] as string | undefined) ?? status);
      stream.on("response", take);
      stream.on("trailers", take);
      stream.on("close", () => resolve(status));
      stream.on("error", reject);
    });
  } finally {
    session.close();
  }
}

describe("garbage at every door of a member", () => {
  it("is refused, counted in /v1/status's malformed, and the member keeps serving", async () => {
    const n = cluster.nodes[1]!;
    const status = async () => (await (await fetch(`http://${n.http}/v1/status`)).json()) as { malformed: ServerMalformedCounts; malformedFrames: number };
    const before = (await status()).malformed;
    // Peer port: bytes that are not the transport's framing, and a proper hello followed by a frame that decodes to nothing.
    await sendRawTcp(n.peer, Buffer.from([0xee, 0x00, 0x00, 0x00, 0x01, 0x7b]));
    await sendRawTcp(n.peer, Buffer.concat([encodeFrame(new TextEncoder().encode("127.0.0.1:1")), encodeFrame(new Uint8Array([0xff, 0x13, 0x37, 0x00]))]));
    // gRPC: a Put whose message is not protobuf.
    expect(await grpcCall(n.grpc, "/etcdserverpb.KV/Put", new Uint8Array([0xff, 0xff, 0xff]))).toBe("13");
    // HTTP: bytes that are not HTTP, and a body that is not JSON.
    await sendRawTcp(n.http, Buffer.from("\x16\x03\x01garbage\r\n\r\n"));
    expect((await fetch(`http://${n.http}/v1/txn`, { method: "POST", body: "{not json" })).status).toBe(400);
    const deadline = Date.now() + 5_000;
    while ((await status()).malformed.peer < before.peer + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const after = await status();
    expect(after.malformed).toEqual({ peer: before.peer + 2, grpc: before.grpc + 1, api: before.api + 2 });
    // The peer frame that decoded to nothing is the one malformedFrames has always counted.
    expect(after.malformedFrames).toBeGreaterThanOrEqual(1);
    expect(await etcdctl("put", "after/garbage", "ok")).toBe("OK\n");
    expect(await etcdctl("get", "after/garbage", "--print-value-only")).toBe("ok\n");
  }, 30_000);
});

describe("nemesis: kill -9, SIGSTOP/SIGCONT and partitions while clients write and read", () => {
  it(`the history is linearizable and no acknowledged write is lost (HECK_SEED=${seed})`, async () => {
    const prng = createPrng(seed);
    const endpoints = cluster.nodes.map((n) => n.http);
    const runMs = 12_000;
    const start = performance.now();
    const now = () => performance.now() - start;
    const log: string[] = [];
    const workload = startRegisterWorkload({ endpoints, prng, now });

    const leader = async (): Promise<string> => {
      for (let i = 0; i < 100; i++) {
        for (const n of cluster.nodes) {
          if (!n.process) continue;
          const s = await cluster.status(n.id, 300);
          if (s?.role === "leader") return n.id;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return cluster.nodes[0]!.id;
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // A restarted member may still be starting: retry the admin call for a while.
    const setFaults = async (id: string, body: { block?: string[]; unblock?: "all" }) => {
      const http = cluster.node(id).http;
      const c = new RaftKvHttpClient({ endpoints: [http] });
      for (let i = 0; i < 100; i++) {
        try {
          await c.faults(http, body);
          return;
        } catch {
          await sleep(100);
        }
      }
    };
    const partition = async (isolated: string, on: boolean) => {
      const others = cluster.nodes.filter((n) => n.id !== isolated).map((n) => n.id);
      await setFaults(isolated, on ? { block: others } : { unblock: "all" });
      for (const o of others) await setFaults(o, on ? { block: [isolated] } : { unblock: "all" });
    };
    const answering = async (id: string) => {
      for (let i = 0; i < 100 && (await cluster.status(id, 300)) === null; i++) await sleep(100);
    };

    const nemesis = async () => {
      const faults = ["kill-leader", "pause-follower", "partition-leader", "kill-random", "pause-leader"];
      for (const f of faults) {
        if (now() > runMs - 1_500) break;
        const l = await leader();
        const victim = f.endsWith("random") || f.endsWith("follower") ? prng.pick(cluster.nodes.filter((n) => n.id !== l || f.endsWith("random"))).id : l;
        log.push(`${now().toFixed(0)}ms ${f} ${victim}`);
        if (f.startsWith("kill")) {
          await cluster.kill9(victim);
          await sleep(800);
          cluster.restart(victim);
          await answering(victim);
        } else if (f.startsWith("pause")) {
          cluster.signal(victim, "SIGSTOP");
          await sleep(1_500);
          cluster.signal(victim, "SIGCONT");
        } else {
          await partition(victim, true);
          await sleep(1_800);
          await partition(victim, false);
        }
        await sleep(700);
      }
    };

    await nemesis();
    while (now() < runMs) await sleep(100);
    await workload.stop();

    // Heal everything and let the cluster settle.
    for (const n of cluster.nodes) if (!n.process) cluster.restart(n.id);
    for (const n of cluster.nodes) cluster.signal(n.id, "SIGCONT");
    for (const n of cluster.nodes) await setFaults(n.id, { unblock: "all" });
    await cluster.waitForLeader(20_000);

    // Final linearizable reads join the history: the last acknowledged writes must be visible.
    const verdict = await checkRegisterWorkload(workload, endpoints, now);
    if (verdict.linearizable !== true) console.error(`HECK_SEED=${seed}\nfaults: ${log.join("; ")}\n${verdict.report}`);
    expect(verdict.completed).toBeGreaterThan(40);
    expect(verdict.linearizable).toBe(true);

    if (verdict.lost.length > 0) console.error(`HECK_SEED=${seed} lost acknowledged writes: ${JSON.stringify(verdict.lost)}\nfaults: ${log.join("; ")}`);
    expect(workload.acked.size).toBeGreaterThan(5);
    expect(verdict.lost).toEqual([]);
  }, 60_000);
});
