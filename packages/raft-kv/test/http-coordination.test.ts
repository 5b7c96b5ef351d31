/**
 * Leases, locks and elections on the JSON HTTP API, through the package's
 * own HTTP client (what `heck-raft lease`, `lock` and `elect` use), and bad
 * input to each new route.
 *
 * Ports 15290-15299 belong to this file (peers); HTTP and gRPC on free ports.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, http, tempDir } from "./support/cluster.ts";
import { eventually } from "./support/grpc.ts";
import { RaftKvHttpClient, RaftKvHttpError } from "../src/io/http-client.ts";
import { keepLease } from "../src/io/client-coordination.ts";

let cluster: TestCluster;
let cleanup: () => void;
let client: RaftKvHttpClient;
let follower: string;

beforeAll(async () => {
  const t = tempDir();
  cleanup = t.cleanup;
  cluster = await TestCluster.start(3, 15290, t.dir);
  follower = (await cluster.follower()).httpAddress!;
  client = new RaftKvHttpClient({ endpoints: [follower] });
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
  cleanup?.();
});

describe("leases over HTTP", () => {
  it("grants, attaches a key, renews, reports and revokes (through a follower)", async () => {
    const g = await client.leaseGrant(30);
    expect(g.ttl).toBe(30);
    await client.putWithLease("h/leased", "v", g.id);
    expect(await client.leaseKeepAlive(g.id)).toBe(30);
    const t = await client.leaseTimeToLive(g.id, true);
    expect([t.grantedTtl, t.keys]).toEqual([30, ["h/leased"]]);
    expect(t.ttl).toBeGreaterThan(25);
    expect(await client.leases()).toContain(g.id);
    await client.leaseRevoke(g.id);
    expect(await client.get("h/leased")).toBeNull();
    expect(await client.leaseKeepAlive(g.id)).toBe(0);
    expect((await client.leaseTimeToLive(g.id)).ttl).toBe(-1);
  });

  it("keepLease renews every third of the TTL, so a 1 s lease outlives several TTLs, and reports the loss when revoked", async () => {
    const kept = await keepLease(client, 1);
    await client.putWithLease("h/kept", "v", kept.id);
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await client.get("h/kept"))?.value).toBe("v");
    await client.leaseRevoke(kept.id);
    await kept.lost;
    await kept.stop(false);
  });
});

describe("locks and elections over HTTP", () => {
  it("a second lock waits until the first is released, and a waiter that disconnects leaves the line", async () => {
    const a = await client.leaseGrant(30);
    const b = await client.leaseGrant(30);
    const c = await client.leaseGrant(30);
    const first = await client.lock("h-lock", a.id);
    let secondDone = false;
    const second = client.lock("h-lock", b.id).then((r) => ((secondDone = true), r));
    // A third contender gives up while waiting: its key must not stay in the line.
    const abort = new AbortController();
    const third = client.lock("h-lock", c.id, abort.signal).catch((e: unknown) => e);
    await eventually("three keys in line", async () => ((await client.range("h-lock/")).kvs.length === 3 ? true : undefined));
    abort.abort();
    await third;
    await eventually("the third key to go", async () => ((await client.range("h-lock/")).kvs.length === 2 ? true : undefined));
    expect(secondDone).toBe(false);
    await client.unlock(first.key);
    const got = await second;
    expect(got.createRevision).toBeGreaterThan(first.createRevision);
    await client.unlock(got.key);
    for (const l of [a, b, c]) await client.leaseRevoke(l.id);
  });

  it("elects, reports the leader, streams changes to an observer, and hands over on resignation", async () => {
    const seen: string[] = [];
    const stop = client.observe("h-el", (kv) => seen.push(kv.value));
    const a = await client.leaseGrant(30);
    const b = await client.leaseGrant(30);
    const leaderA = await client.campaign("h-el", a.id, "alpha");
    const pendingB = client.campaign("h-el", b.id, "beta");
    expect((await client.electionLeader("h-el")).value).toBe("alpha");
    await client.resign(leaderA);
    const leaderB = await pendingB;
    expect((await client.electionLeader("h-el")).value).toBe("beta");
    await eventually("the observer to see both", () => (seen.includes("alpha") && seen.includes("beta") ? true : undefined));
    stop();
    await client.resign(leaderB);
    await client.leaseRevoke(a.id);
    await client.leaseRevoke(b.id);
  });
});

describe("bad input to the coordination routes", () => {
  const cases: Array<[string, string, string, unknown, number, string]> = [
    ["a grant without ttl", "POST", "/v1/leases", {}, 400, "invalid_argument"],
    ["a negative ttl", "POST", "/v1/leases", { ttl: -1 }, 400, "invalid_argument"],
    ["a ttl above etcd's maximum", "POST", "/v1/leases", { ttl: 9_000_000_001 }, 400, "lease_ttl_too_large"],
    ["a lease id that is not a number", "GET", "/v1/leases/abc", undefined, 400, "invalid_argument"],
    ["revoking an unknown lease", "DELETE", "/v1/leases/12345", undefined, 404, "lease_not_found"],
    ["renewing an unknown lease", "POST", "/v1/leases/12345/keepalive", undefined, 404, "lease_not_found"],
    ["a put to an unknown lease", "PUT", "/v1/kv/x", { value: "v", lease: 12345 }, 404, "lease_not_found"],
    ["a lock on an unknown lease", "POST", "/v1/locks/x", { lease: 12345 }, 404, "lease_not_found"],
    ["an unlock without key", "POST", "/v1/unlock", {}, 400, "invalid_argument"],
    ["a proclaim without leader", "POST", "/v1/elections/x/proclaim", { value: "v" }, 400, "invalid_argument"],
    ["the leader of an empty election", "GET", "/v1/elections/nobody", undefined, 404, "no_election_leader"],
    ["authenticating while auth is off", "POST", "/v1/auth/authenticate", { name: "root", password: "x" }, 412, "auth_not_enabled"],
    ["the wrong method", "PUT", "/v1/leases", { ttl: 5 }, 405, "method_not_allowed"],
  ];
  it.each(cases)("%s", async (_what, method, path, body, status, code) => {
    const r = await http(follower, method, path, body);
    expect([r.status, r.body.error.code]).toEqual([status, code]);
  });

  it("keeps serving after all of it", async () => {
    await client.put("h/after", "ok");
    expect((await client.get("h/after"))?.value).toBe("ok");
    await expect(client.leaseRevoke(999)).rejects.toBeInstanceOf(RaftKvHttpError);
  });
});
